package apple

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/apple/testpki"
)

// A generated stand-in for Apple's PKI: a fake WWDR CA and a Pass Type ID
// certificate it issued, shaped like Apple's (UID = pass type ID, OU = team).
// The generator lives in package testpki so that other packages' tests can
// share it.
const (
	testPassTypeID = testpki.PassTypeID
	testTeamID     = testpki.TeamID
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type testPKI struct {
	wwdr    *x509.Certificate
	wwdrKey *rsa.PrivateKey
	cert    *x509.Certificate
	key     *rsa.PrivateKey
	wwdrPEM []byte
	certPEM []byte
	keyPEM  []byte
}

var (
	pkiOnce sync.Once
	pki     *testPKI
)

// getPKI makes the PKI once, valid around testNow.
func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		p := testpki.MustNew(testpki.Options{PassTypeID: testPassTypeID, TeamID: testTeamID, Now: testNow})
		pki = &testPKI{
			wwdr: p.WWDR, wwdrKey: p.WWDRKey, cert: p.Cert, key: p.Key,
			wwdrPEM: p.WWDRPEM, certPEM: p.CertPEM, keyPEM: p.KeyPEM,
		}
	})
	return pki
}

// issue makes a Pass Type ID certificate for uid, signed by parent.
func (p *testPKI) issue(uid string, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer, notBefore, notAfter time.Time) *x509.Certificate {
	cert, err := testpki.IssuePassCert(uid, testTeamID, pub, parent, parentKey, notBefore, notAfter)
	if err != nil {
		panic(err)
	}
	return cert
}

func (p *testPKI) creds() *Credentials {
	return &Credentials{PassTypeIdentifier: testPassTypeID, TeamIdentifier: testTeamID, Certificate: p.cert, Key: p.key, WWDR: p.wwdr}
}

func certPEM(c *x509.Certificate) []byte { return testpki.CertPEM(c) }

func keyPEM(k crypto.Signer) []byte { return testpki.KeyPEM(k) }

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	return testpki.ECKey()
}
