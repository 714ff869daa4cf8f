package google_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/core"
)

func TestParseServiceAccount(t *testing.T) {
	raw, key := testKey(t)
	base := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	must(t, err)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))

	tests := []struct {
		name     string
		edit     func(m map[string]any)
		raw      string // instead of the edited key
		badField string // "" = valid
		tokenURI string
	}{
		{name: "PKCS#8 key as Google issues it", edit: func(map[string]any) {}, tokenURI: "https://oauth2.googleapis.com/token"},
		{name: "PKCS#1 key", edit: func(m map[string]any) { m["private_key"] = pkcs1 }, tokenURI: "https://oauth2.googleapis.com/token"},
		{name: "token_uri defaults to Google's", edit: func(m map[string]any) { delete(m, "token_uri") }, tokenURI: google.DefaultTokenURI},
		{name: "loopback http token_uri (fakes)", edit: func(m map[string]any) { m["token_uri"] = "http://127.0.0.1:8080/token" }, tokenURI: "http://127.0.0.1:8080/token"},
		{name: "not JSON", raw: "{not json", badField: "serviceAccount"},
		{name: "wrong type", edit: func(m map[string]any) { m["type"] = "authorized_user" }, badField: "serviceAccount.type"},
		{name: "missing type", edit: func(m map[string]any) { delete(m, "type") }, badField: "serviceAccount.type"},
		{name: "missing client_email", edit: func(m map[string]any) { delete(m, "client_email") }, badField: "serviceAccount.client_email"},
		{name: "missing private_key", edit: func(m map[string]any) { delete(m, "private_key") }, badField: "serviceAccount.private_key"},
		{name: "private_key not PEM", edit: func(m map[string]any) { m["private_key"] = "MIIEvQIBADANBg" }, badField: "serviceAccount.private_key"},
		{name: "private_key garbage PEM", edit: func(m map[string]any) {
			m["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")}))
		}, badField: "serviceAccount.private_key"},
		{name: "private_key not RSA", edit: func(m map[string]any) { m["private_key"] = ecPEM }, badField: "serviceAccount.private_key"},
		{name: "token_uri relative", edit: func(m map[string]any) { m["token_uri"] = "/token" }, badField: "serviceAccount.token_uri"},
		{name: "token_uri plain http on the network", edit: func(m map[string]any) { m["token_uri"] = "http://oauth2.example.com/token" }, badField: "serviceAccount.token_uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.raw)
			if tt.edit != nil {
				m := base()
				tt.edit(m)
				var err error
				in, err = json.Marshal(m)
				must(t, err)
			}
			sa, err := google.ParseServiceAccount(in)
			if tt.badField == "" {
				if err != nil {
					t.Fatalf("ParseServiceAccount: %v", err)
				}
				if sa.ClientEmail != saEmail || sa.PrivateKey == nil || !sa.PrivateKey.Equal(key) || sa.TokenURI != tt.tokenURI || sa.PrivateKeyID == "" {
					t.Fatalf("parsed %+v", sa)
				}
				return
			}
			var fe *core.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("err = %v, want a core.FieldError", err)
			}
			if fe.Field != tt.badField {
				t.Fatalf("field = %q (%v), want %q", fe.Field, err, tt.badField)
			}
		})
	}
}
