package apple

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/passhub/passhub/core"
)

// Upload is the credentials a workspace admin sends, as the API receives
// them: either Certificate and PrivateKey (PEM) or P12 (a base64 .p12 /
// .pfx export, with P12Password), plus Apple's WWDR intermediate (PEM).
// Field names match the API's JSON body so that it converts directly.
type Upload struct {
	PassTypeIdentifier string `json:"passTypeIdentifier"`
	TeamIdentifier     string `json:"teamIdentifier"`
	Certificate        string `json:"certificate"`
	PrivateKey         string `json:"privateKey"`
	P12                string `json:"p12"`
	P12Password        string `json:"p12Password"`
	WWDRCertificate    string `json:"wwdrCertificate"`
}

// JSON field names of Upload, as errors name them.
const (
	fieldPassTypeID  = "passTypeIdentifier"
	fieldTeamID      = "teamIdentifier"
	fieldCertificate = "certificate"
	fieldPrivateKey  = "privateKey"
	fieldP12         = "p12"
	fieldP12Password = "p12Password"
	fieldWWDR        = "wwdrCertificate"
)

// ParseUpload reads and validates uploaded credentials at now. Every
// failure is a core.FieldError naming the JSON field to fix.
//
// Exactly one of (certificate + privateKey) or p12 must be given. A PEM
// key may be PKCS#1, PKCS#8 or SEC 1 (EC), unencrypted. A p12 is decoded
// with p12Password (empty is a valid password); when no WWDR certificate
// is given, one inside the p12 that issued the certificate is used.
// Then the credentials must pass Credentials.Validate, and the WWDR
// certificate must be current too.
func ParseUpload(u Upload, now time.Time) (*Credentials, error) {
	u.PassTypeIdentifier = strings.TrimSpace(u.PassTypeIdentifier)
	u.TeamIdentifier = strings.TrimSpace(u.TeamIdentifier)
	if u.PassTypeIdentifier == "" {
		return nil, core.Invalid(fieldPassTypeID, "is required")
	}
	if u.TeamIdentifier == "" {
		return nil, core.Invalid(fieldTeamID, "is required")
	}
	hasPEM := strings.TrimSpace(u.Certificate) != "" || strings.TrimSpace(u.PrivateKey) != ""
	hasP12 := strings.TrimSpace(u.P12) != ""
	switch {
	case hasPEM && hasP12:
		return nil, core.Invalid(fieldP12, "give either certificate and privateKey, or p12, not both")
	case !hasPEM && !hasP12:
		return nil, core.Invalid(fieldCertificate, "is required: give certificate and privateKey (PEM), or p12")
	}

	c := &Credentials{PassTypeIdentifier: u.PassTypeIdentifier, TeamIdentifier: u.TeamIdentifier}
	var chain []*x509.Certificate // extra certificates that came with a p12
	if hasP12 {
		key, cert, rest, err := decodeP12(u.P12, u.P12Password)
		if err != nil {
			return nil, err
		}
		c.Certificate, c.Key, chain = cert, key, rest
	} else {
		if strings.TrimSpace(u.Certificate) == "" {
			return nil, core.Invalid(fieldCertificate, "is required with privateKey")
		}
		if strings.TrimSpace(u.PrivateKey) == "" {
			return nil, core.Invalid(fieldPrivateKey, "is required with certificate")
		}
		cert, err := parseCertPEM([]byte(u.Certificate))
		if err != nil {
			return nil, core.Invalid(fieldCertificate, "%v", err)
		}
		key, err := parseUploadKeyPEM([]byte(u.PrivateKey))
		if err != nil {
			return nil, core.Invalid(fieldPrivateKey, "%v", err)
		}
		c.Certificate, c.Key = cert, key
	}

	if strings.TrimSpace(u.WWDRCertificate) != "" {
		wwdr, err := parseCertPEM([]byte(u.WWDRCertificate))
		if err != nil {
			return nil, core.Invalid(fieldWWDR, "%v", err)
		}
		c.WWDR = wwdr
	} else {
		for _, ca := range chain {
			if c.Certificate.CheckSignatureFrom(ca) == nil {
				c.WWDR = ca
				break
			}
		}
		if c.WWDR == nil {
			return nil, core.Invalid(fieldWWDR, "is required: Apple's WWDR intermediate certificate (G4) that issued the Pass Type ID certificate, in PEM")
		}
	}
	if now.After(c.WWDR.NotAfter) {
		return nil, core.Invalid(fieldWWDR, "expired on %s; download the current WWDR intermediate from Apple", c.WWDR.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(c.WWDR.NotBefore) {
		return nil, core.Invalid(fieldWWDR, "is not valid before %s", c.WWDR.NotBefore.UTC().Format(time.RFC3339))
	}
	if subjectUID(c.WWDR) != "" && !c.WWDR.IsCA {
		return nil, core.Invalid(fieldWWDR, "is a Pass Type ID certificate, not Apple's WWDR intermediate")
	}

	if err := c.Validate(now); err != nil {
		return nil, uploadField(err, hasP12)
	}
	return c, nil
}

// uploadField renames Validate's fields to the upload's JSON names: the
// key is "privateKey", the WWDR "wwdrCertificate", and what came out of
// a p12 is the p12's fault.
func uploadField(err error, fromP12 bool) error {
	var fe *core.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	field := fe.Field
	switch field {
	case "key":
		field = fieldPrivateKey
	case "wwdr":
		field = fieldWWDR
	}
	if fromP12 && (field == fieldCertificate || field == fieldPrivateKey) {
		field = fieldP12
	}
	if field == fe.Field {
		return err
	}
	return &core.FieldError{Field: field, Reason: fe.Reason}
}

// decodeP12 reads a base64 PKCS#12 archive. The leaf is the certificate
// whose public key matches the private key (exports do not always put it
// first); the other certificates come back as the chain.
func decodeP12(b64, password string) (crypto.Signer, *x509.Certificate, []*x509.Certificate, error) {
	data, err := decodeBase64(b64)
	if err != nil {
		return nil, nil, nil, core.Invalid(fieldP12, "is not valid base64 (send the .p12 file's bytes base64-encoded): %v", err)
	}
	rawKey, first, rest, err := pkcs12.DecodeChain(data, password)
	if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
		return nil, nil, nil, core.Invalid(fieldP12Password, "does not open the p12")
	}
	if err != nil {
		return nil, nil, nil, core.Invalid(fieldP12, "cannot be read as PKCS#12: %v", err)
	}
	key, err := signerOf(rawKey)
	if err != nil {
		return nil, nil, nil, core.Invalid(fieldP12, "%v", err)
	}
	all := append([]*x509.Certificate{first}, rest...)
	pub, _ := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	for i, c := range all {
		if pub != nil && pub.Equal(c.PublicKey) {
			chain := append(append([]*x509.Certificate{}, all[:i]...), all[i+1:]...)
			return key, c, chain, nil
		}
	}
	return nil, nil, nil, core.Invalid(fieldP12, "holds no certificate for its private key")
}

// decodeBase64 accepts standard or URL alphabets, padded or not, with
// line breaks (as base64 tools wrap them).
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	if strings.HasPrefix(s, "data:") { // a data: URL from a browser file reader
		if i := strings.Index(s, ","); i >= 0 {
			s = s[i+1:]
		}
	}
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// parseUploadKeyPEM is parseKeyPEM with clear answers for encrypted
// keys and for blocks that are not a private key.
func parseUploadKeyPEM(data []byte) (crypto.Signer, error) {
	errEncrypted := errors.New("is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem) or upload a p12 with its password")
	sawCert := false
	for rest := data; ; {
		block, r := pem.Decode(rest)
		if block == nil {
			break
		}
		rest = r
		switch block.Type {
		case "ENCRYPTED PRIVATE KEY":
			return nil, errEncrypted
		case "OPENSSH PRIVATE KEY":
			return nil, errors.New("is an OpenSSH key; want a PEM PKCS#1, PKCS#8 or EC private key")
		case "CERTIFICATE":
			sawCert = true
		}
	}
	key, err := parseKeyPEM(data)
	switch {
	case err == nil:
		return key, nil
	case strings.Contains(err.Error(), "is encrypted"):
		return nil, errEncrypted
	case sawCert && strings.Contains(err.Error(), "holds no PEM private key"):
		return nil, errors.New("holds a certificate, not a private key")
	}
	return nil, err
}

func signerOf(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("has unsupported key type %T (want RSA or ECDSA)", key)
	}
}

// KeyPEM returns the credentials' private key as PKCS#8 PEM, the form
// stored (sealed) and read back by ParsePEM.
func KeyPEM(creds *Credentials) ([]byte, error) {
	if creds == nil || creds.Key == nil {
		return nil, errors.New("apple: no private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(creds.Key)
	if err != nil {
		return nil, fmt.Errorf("apple: encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Info describes a certificate for display; it holds nothing secret.
type Info struct {
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
	// Serial is the serial number in lowercase hex.
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// SHA256 is the fingerprint of the DER certificate, lowercase hex.
	SHA256 string `json:"sha256"`
}

// CertificateInfo describes c (the zero Info for nil).
func CertificateInfo(c *x509.Certificate) Info {
	if c == nil {
		return Info{}
	}
	sum := sha256.Sum256(c.Raw)
	serial := ""
	if c.SerialNumber != nil {
		serial = c.SerialNumber.Text(16)
	}
	return Info{
		Subject:   nameString(c.Subject),
		Issuer:    nameString(c.Issuer),
		Serial:    serial,
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
		SHA256:    hex.EncodeToString(sum[:]),
	}
}

// attrNames are the short names of the attributes Apple's certificates use.
var attrNames = map[string]string{
	"2.5.4.3":                   "CN",
	"2.5.4.6":                   "C",
	"2.5.4.7":                   "L",
	"2.5.4.8":                   "ST",
	"2.5.4.10":                  "O",
	"2.5.4.11":                  "OU",
	"0.9.2342.19200300.100.1.1": "UID",
}

// nameString prints a distinguished name in certificate order with
// readable attribute names ("UID=pass.com.example, CN=..., OU=TEAMID"),
// where pkix.Name.String would print the UID as an OID and hex.
func nameString(n pkix.Name) string {
	if len(n.Names) == 0 {
		return n.String()
	}
	parts := make([]string, 0, len(n.Names))
	for _, a := range n.Names {
		k, ok := attrNames[a.Type.String()]
		if !ok {
			k = a.Type.String()
		}
		parts = append(parts, k+"="+fmt.Sprint(a.Value))
	}
	return strings.Join(parts, ", ")
}
