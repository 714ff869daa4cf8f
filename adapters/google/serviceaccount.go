package google

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"

	"github.com/passhub/passhub/core"
)

// DefaultTokenURI is Google's OAuth token endpoint, used when a key has no
// token_uri.
const DefaultTokenURI = "https://oauth2.googleapis.com/token"

// Scope is the OAuth scope of the Google Wallet API.
const Scope = "https://www.googleapis.com/auth/wallet_object.issuer"

// ServiceAccount is a Google Cloud service account key: it obtains OAuth
// tokens (JWT bearer grant) and signs save-to-wallet JWTs.
type ServiceAccount struct {
	ClientEmail  string
	PrivateKeyID string
	PrivateKey   *rsa.PrivateKey
	TokenURI     string
	ProjectID    string
}

type serviceAccountJSON struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// ParseServiceAccount reads a JSON key as downloaded from the Google Cloud
// console. Errors are core.FieldErrors naming the key field
// ("serviceAccount.private_key").
func ParseServiceAccount(jsonKey []byte) (*ServiceAccount, error) {
	var k serviceAccountJSON
	if err := json.Unmarshal(jsonKey, &k); err != nil {
		return nil, core.Invalid("serviceAccount", "is not a JSON service account key: %v", err)
	}
	if k.Type != "service_account" {
		return nil, core.Invalid("serviceAccount.type", "must be \"service_account\", got %q", k.Type)
	}
	if k.ClientEmail == "" {
		return nil, core.Invalid("serviceAccount.client_email", "is required")
	}
	if k.PrivateKey == "" {
		return nil, core.Invalid("serviceAccount.private_key", "is required")
	}
	key, err := parseRSAKey([]byte(k.PrivateKey))
	if err != nil {
		return nil, core.Invalid("serviceAccount.private_key", "%v", err)
	}
	tokenURI := k.TokenURI
	if tokenURI == "" {
		tokenURI = DefaultTokenURI
	}
	if err := checkServiceURL(tokenURI); err != nil {
		return nil, core.Invalid("serviceAccount.token_uri", "%v", err)
	}
	return &ServiceAccount{
		ClientEmail:  k.ClientEmail,
		PrivateKeyID: k.PrivateKeyID,
		PrivateKey:   key,
		TokenURI:     tokenURI,
		ProjectID:    k.ProjectID,
	}, nil
}

// parseRSAKey reads a PEM RSA private key, PKCS#8 (Google's format) or
// PKCS#1.
func parseRSAKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("is not a PEM private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("is not a PKCS#8 or PKCS#1 private key")
	}
	k, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("must be an RSA key, got %T", parsed)
	}
	return k, nil
}

// pkcs8PEM is the key as PEM, the form golang.org/x/oauth2/jwt reads.
func (sa *ServiceAccount) pkcs8PEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(sa.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("encoding service account key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// checkServiceURL accepts absolute https URLs, and http ones on loopback
// hosts (test fakes): bearer tokens and signed assertions never cross a
// network in clear text.
func checkServiceURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("must be an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("must use https (http only on loopback)")
	}
	return fmt.Errorf("must be an https URL")
}
