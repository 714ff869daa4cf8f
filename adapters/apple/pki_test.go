package apple

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
	"math/big"
	"sync"
	"testing"
	"time"
)

// A generated stand-in for Apple's PKI: a fake WWDR CA and a Pass Type ID
// certificate it issued, shaped like Apple's (UID = pass type ID, OU = team).
const (
	testPassTypeID = "pass.com.example.test"
	testTeamID     = "TEAM123456"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type testPKI struct {
	wwdr     *x509.Certificate
	wwdrKey  *rsa.PrivateKey
	cert     *x509.Certificate
	key      *rsa.PrivateKey
	wwdrPEM  []byte
	certPEM  []byte
	keyPEM   []byte
	serialMu sync.Mutex
	serial   int64
}

var (
	pkiOnce sync.Once
	pki     *testPKI
)

// getPKI makes the RSA keys once: generating them dominates test time.
func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		p := &testPKI{}
		var err error
		if p.wwdrKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if p.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject: pkix.Name{
				CommonName:         "Fake Apple Worldwide Developer Relations Certification Authority",
				OrganizationalUnit: []string{"G4"},
				Organization:       []string{"Fake Apple Inc."},
				Country:            []string{"US"},
			},
			NotBefore:             testNow.AddDate(-5, 0, 0),
			NotAfter:              testNow.AddDate(10, 0, 0),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p.wwdrKey.PublicKey, p.wwdrKey)
		if err != nil {
			panic(err)
		}
		if p.wwdr, err = x509.ParseCertificate(der); err != nil {
			panic(err)
		}
		p.serial = 1
		p.cert = p.issue(testPassTypeID, p.key.Public(), p.wwdr, p.wwdrKey, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))
		p.wwdrPEM = certPEM(p.wwdr)
		p.certPEM = certPEM(p.cert)
		p.keyPEM = keyPEM(p.key)
		pki = p
	})
	return pki
}

// issue makes a Pass Type ID certificate for uid, signed by parent.
func (p *testPKI) issue(uid string, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer, notBefore, notAfter time.Time) *x509.Certificate {
	p.serialMu.Lock()
	p.serial++
	serial := p.serial
	p.serialMu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject: pkix.Name{
			CommonName:         "Pass Type ID: " + uid,
			OrganizationalUnit: []string{testTeamID},
			Organization:       []string{"Example Ltd"},
			Country:            []string{"US"},
			ExtraNames:         []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: uid}},
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return cert
}

func (p *testPKI) creds() *Credentials {
	return &Credentials{PassTypeIdentifier: testPassTypeID, TeamIdentifier: testTeamID, Certificate: p.cert, Key: p.key, WWDR: p.wwdr}
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
