// Package secretbox encrypts secrets at rest (private keys, webhook
// secrets) with the master key: AES-256-GCM with a random nonce per seal.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the master key length in bytes.
const KeySize = 32

// version prefixes every sealed value so the scheme can change later
// without guessing what old ciphertexts are.
const version byte = 1

// ErrOpen is returned for a ciphertext that is corrupt or sealed with
// another key.
var ErrOpen = errors.New("secretbox: cannot open sealed value (wrong master key or corrupt data)")

// Box seals and opens values with one master key.
type Box struct{ aead cipher.AEAD }

// New returns a Box for a 32-byte master key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating GCM: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext; context binds the ciphertext to where it is
// stored (e.g. "apple-key:ws_123") so it cannot be moved to another row.
func (b *Box) Seal(plaintext []byte, context string) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails since Go 1.24
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, plaintext, []byte(context))
}

// Open decrypts what Seal made with the same context.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
