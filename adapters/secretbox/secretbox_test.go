package secretbox

import (
	"bytes"
	"errors"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpen(t *testing.T) {
	box, err := New(key(1))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("-----BEGIN PRIVATE KEY-----")
	sealed := box.Seal(secret, "apple-key:ws_1")
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	if again := box.Seal(secret, "apple-key:ws_1"); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	got, err := box.Open(sealed, "apple-key:ws_1")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := New(key(2))
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"wrong key":     func() ([]byte, error) { return other.Open(sealed, "apple-key:ws_1") },
		"wrong context": func() ([]byte, error) { return box.Open(sealed, "apple-key:ws_2") },
		"tampered":      func() ([]byte, error) { return box.Open(tampered, "apple-key:ws_1") },
		"truncated":     func() ([]byte, error) { return box.Open(sealed[:5], "apple-key:ws_1") },
	} {
		if _, err := open(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
}

func TestNewRejectsShortKey(t *testing.T) {
	if _, err := New(make([]byte, 16)); err == nil {
		t.Fatal("16-byte key accepted")
	}
}
