// Package apple renders and signs Apple Wallet passes (.pkpass).
//
// It is self-contained: Render turns a template and a pass into pass.json,
// BuildFiles assembles the unsigned package (cacheable per pass version),
// and Files.Sign / Files.Zip produce the signed archive. Package does all
// three in one call.
package apple

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"slices"
	"time"

	"github.com/passhub/passhub/core"
)

// oidUID is the LDAP userID attribute; Apple puts the pass type
// identifier there in every Pass Type ID certificate.
var oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// Credentials sign the passes of one Pass Type ID.
type Credentials struct {
	PassTypeIdentifier string
	TeamIdentifier     string
	// Certificate is the Pass Type ID certificate issued by Apple.
	Certificate *x509.Certificate
	// Key is the certificate's private key.
	Key crypto.Signer
	// WWDR is the Apple Worldwide Developer Relations intermediate that
	// issued Certificate (G4 for certificates issued since 2022); devices
	// need it embedded in the signature.
	WWDR *x509.Certificate
}

// ParsePEM reads PEM certificate, key and WWDR certificate and validates
// them at now. Errors name the offending field (core.FieldError).
func ParsePEM(certPEM, keyPEM, wwdrPEM []byte, passTypeID, teamID string, now time.Time) (*Credentials, error) {
	c, err := parseCredentials(certPEM, keyPEM, wwdrPEM, passTypeID, teamID)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(now); err != nil {
		return nil, err
	}
	return c, nil
}

// parseCredentials only parses; stored credentials, validated on upload,
// are read back with it (a certificate expired since is reported when
// signing, and its metadata stays readable).
func parseCredentials(certPEM, keyPEM, wwdrPEM []byte, passTypeID, teamID string) (*Credentials, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, core.Invalid("certificate", "%v", err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, core.Invalid("key", "%v", err)
	}
	wwdr, err := parseCertPEM(wwdrPEM)
	if err != nil {
		return nil, core.Invalid("wwdr", "%v", err)
	}
	return &Credentials{PassTypeIdentifier: passTypeID, TeamIdentifier: teamID, Certificate: cert, Key: key, WWDR: wwdr}, nil
}

// Validate checks that the credentials can sign passes at now: the key
// belongs to the certificate, the certificate is current, was issued for
// this pass type identifier (and team, when it names one) and was signed
// by the WWDR certificate. Failures are core.FieldErrors so that an API
// answers 422 naming the field.
func (c *Credentials) Validate(now time.Time) error {
	if c.PassTypeIdentifier == "" {
		return core.Invalid("passTypeIdentifier", "is required")
	}
	if c.TeamIdentifier == "" {
		return core.Invalid("teamIdentifier", "is required")
	}
	if c.Certificate == nil {
		return core.Invalid("certificate", "is required")
	}
	if c.Key == nil {
		return core.Invalid("key", "is required")
	}
	if c.WWDR == nil {
		return core.Invalid("wwdr", "is required")
	}
	pub, ok := c.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(c.Certificate.PublicKey) {
		return core.Invalid("key", "does not match the certificate's public key")
	}
	if err := c.checkCurrent(now); err != nil {
		return err
	}
	uid := subjectUID(c.Certificate)
	if uid == "" {
		return core.Invalid("certificate", "has no subject UID; is it a Pass Type ID certificate?")
	}
	if uid != c.PassTypeIdentifier {
		return core.Invalid("passTypeIdentifier", "%q does not match the certificate's subject UID %q", c.PassTypeIdentifier, uid)
	}
	// Apple puts the team ID in the subject OU; a certificate without an
	// OU (not Apple-issued) is not held to it.
	if ous := c.Certificate.Subject.OrganizationalUnit; len(ous) > 0 && !slices.Contains(ous, c.TeamIdentifier) {
		return core.Invalid("teamIdentifier", "%q does not match the certificate's subject OU %q", c.TeamIdentifier, ous)
	}
	if err := c.Certificate.CheckSignatureFrom(c.WWDR); err != nil {
		return core.Invalid("wwdr", "did not sign the certificate (issuer %q): %v", c.Certificate.Issuer.String(), err)
	}
	return nil
}

// checkCurrent is the part of Validate that can change while the process
// runs, so signing repeats it.
func (c *Credentials) checkCurrent(now time.Time) error {
	if now.After(c.Certificate.NotAfter) {
		return core.Invalid("certificate", "expired on %s", c.Certificate.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(c.Certificate.NotBefore) {
		return core.Invalid("certificate", "is not valid before %s", c.Certificate.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func subjectUID(cert *x509.Certificate) string {
	for _, n := range cert.Subject.Names {
		if n.Type.Equal(oidUID) {
			if s, ok := n.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("holds no PEM CERTIFICATE block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		return cert, nil
	}
}

func parseKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("holds no PEM private key block")
		}
		if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // only to give a clear error
			return nil, fmt.Errorf("is encrypted; decrypt it first")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing private key: %w", err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("has unsupported key type %T (want RSA or ECDSA)", key)
		}
	}
}
