// Package testpki generates a stand-in for Apple's Wallet PKI for tests:
// a fake Apple Worldwide Developer Relations (WWDR) CA and a Pass Type ID
// certificate it issued, shaped like Apple's (subject UID = pass type
// identifier, subject OU = team identifier, client-auth usage, so it also
// works as the APNs TLS client certificate).
//
// It is ordinary (non-test) code so that tests in other packages, and load
// harnesses, can use it. Nothing here is secure: never use it in production.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options.
const (
	PassTypeID = "pass.com.example.test"
	TeamID     = "TEAM123456"
)

// OIDUserID is the LDAP userID attribute (0.9.2342.19200300.100.1.1);
// Apple puts the pass type identifier there.
var OIDUserID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// Options shape a PKI. Zero values take the defaults.
type Options struct {
	PassTypeID string // default PassTypeID
	TeamID     string // default TeamID
	// Now anchors validity: the WWDR CA is valid from Now-5y to Now+10y,
	// the Pass Type ID certificate from Now-1y to Now+1y. Default
	// time.Now(); tests that validate at a fixed instant pass that
	// instant, tests that do real TLS handshakes keep the default.
	Now time.Time
	// FreshKeys generates new RSA keys instead of the process-wide cached
	// pair (RSA generation dominates the cost of a PKI).
	FreshKeys bool
}

// PKI is a fake WWDR CA and one Pass Type ID certificate it issued.
type PKI struct {
	PassTypeID string
	TeamID     string

	WWDR    *x509.Certificate
	WWDRKey *rsa.PrivateKey
	// Cert is the Pass Type ID certificate; Key its private key.
	Cert *x509.Certificate
	Key  *rsa.PrivateKey

	WWDRPEM []byte
	CertPEM []byte
	KeyPEM  []byte // PKCS#8
}

var (
	keysOnce             sync.Once
	cachedCA, cachedLeaf *rsa.PrivateKey
	keysErr              error
	serial               atomic.Int64
)

func sharedKeys() (ca, leaf *rsa.PrivateKey, err error) {
	keysOnce.Do(func() {
		if cachedCA, keysErr = rsa.GenerateKey(rand.Reader, 2048); keysErr != nil {
			return
		}
		cachedLeaf, keysErr = rsa.GenerateKey(rand.Reader, 2048)
	})
	return cachedCA, cachedLeaf, keysErr
}

// New makes a PKI.
func New(opts Options) (*PKI, error) {
	if opts.PassTypeID == "" {
		opts.PassTypeID = PassTypeID
	}
	if opts.TeamID == "" {
		opts.TeamID = TeamID
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	var caKey, leafKey *rsa.PrivateKey
	var err error
	if opts.FreshKeys {
		if caKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
		if leafKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
	} else if caKey, leafKey, err = sharedKeys(); err != nil {
		return nil, err
	}
	p := &PKI{PassTypeID: opts.PassTypeID, TeamID: opts.TeamID, WWDRKey: caKey, Key: leafKey}
	if p.WWDR, err = NewCA("Fake Apple Worldwide Developer Relations Certification Authority", caKey, opts.Now.AddDate(-5, 0, 0), opts.Now.AddDate(10, 0, 0)); err != nil {
		return nil, err
	}
	if p.Cert, err = p.Issue(opts.PassTypeID, leafKey.Public(), opts.Now.AddDate(-1, 0, 0), opts.Now.AddDate(1, 0, 0)); err != nil {
		return nil, err
	}
	p.WWDRPEM = CertPEM(p.WWDR)
	p.CertPEM = CertPEM(p.Cert)
	p.KeyPEM = KeyPEM(p.Key)
	return p, nil
}

// MustNew is New that panics on error.
func MustNew(opts Options) *PKI {
	p, err := New(opts)
	if err != nil {
		panic(err)
	}
	return p
}

var (
	defaultOnce sync.Once
	defaultPKI  *PKI
)

// Default is a process-wide PKI with the default options (valid around
// the time it was first asked for).
func Default() *PKI {
	defaultOnce.Do(func() { defaultPKI = MustNew(Options{}) })
	return defaultPKI
}

// NewCA makes a self-signed CA certificate for key.
func NewCA(commonName string, key crypto.Signer, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject: pkix.Name{
			CommonName:         commonName,
			OrganizationalUnit: []string{"G4"},
			Organization:       []string{"Fake Apple Inc."},
			Country:            []string{"US"},
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("testpki: creating CA: %w", err)
	}
	return x509.ParseCertificate(der)
}

// Issue makes a Pass Type ID certificate for uid (the pass type
// identifier) and pub, signed by the WWDR CA.
func (p *PKI) Issue(uid string, pub crypto.PublicKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	return IssuePassCert(uid, p.TeamID, pub, p.WWDR, p.WWDRKey, notBefore, notAfter)
}

// MustIssue is Issue that panics on error.
func (p *PKI) MustIssue(uid string, pub crypto.PublicKey, notBefore, notAfter time.Time) *x509.Certificate {
	c, err := p.Issue(uid, pub, notBefore, notAfter)
	if err != nil {
		panic(err)
	}
	return c
}

// IssuePassCert makes a certificate shaped like Apple's Pass Type ID
// certificates (UID = uid, OU = teamID, client-auth usage), signed by
// parent. An empty teamID leaves the OU out.
func IssuePassCert(uid, teamID string, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	subject := pkix.Name{
		CommonName:   "Pass Type ID: " + uid,
		Organization: []string{"Example Ltd"},
		Country:      []string{"US"},
		ExtraNames:   []pkix.AttributeTypeAndValue{{Type: OIDUserID, Value: uid}},
	}
	if teamID != "" {
		subject.OrganizationalUnit = []string{teamID}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, fmt.Errorf("testpki: issuing %q: %w", uid, err)
	}
	return x509.ParseCertificate(der)
}

// ECKey makes a P-256 key (fast, for "some other key" cases).
func ECKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// CertPEM encodes c as a PEM CERTIFICATE block.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPEM encodes k as a PKCS#8 PEM PRIVATE KEY block.
func KeyPEM(k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Pool is a CertPool holding the WWDR CA: the client CA pool a mock APNs
// server verifies Pass Type ID certificates against.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.WWDR)
	return pool
}
