package apple

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/passhub/passhub/core"
)

func TestParsePEMAcceptsValidCredentials(t *testing.T) {
	p := getPKI(t)
	c, err := ParsePEM(p.certPEM, p.keyPEM, p.wwdrPEM, testPassTypeID, testTeamID, testNow)
	if err != nil {
		t.Fatalf("ParsePEM: %v", err)
	}
	if c.PassTypeIdentifier != testPassTypeID || c.TeamIdentifier != testTeamID || !c.Certificate.Equal(p.cert) || !c.WWDR.Equal(p.wwdr) {
		t.Errorf("credentials not populated: %+v", c)
	}
}

func TestCredentialValidationNamesTheField(t *testing.T) {
	p := getPKI(t)

	// A foreign CA issues an otherwise perfect certificate.
	foreignKey := ecKey(t)
	foreignTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "Not Apple"},
		NotBefore: testNow.AddDate(-1, 0, 0), NotAfter: testNow.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, foreignTmpl, foreignTmpl, foreignKey.Public(), foreignKey)
	if err != nil {
		t.Fatal(err)
	}
	foreignCA, _ := x509.ParseCertificate(der)

	tests := []struct {
		name      string
		certPEM   []byte
		keyPEM    []byte
		wwdrPEM   []byte
		passType  string
		team      string
		wantField string
		wantIn    string
	}{
		{
			name:    "key does not match the certificate",
			certPEM: p.certPEM, keyPEM: keyPEM(ecKey(t)), wwdrPEM: p.wwdrPEM,
			passType: testPassTypeID, team: testTeamID,
			wantField: "key", wantIn: "does not match",
		},
		{
			name:    "certificate expired",
			certPEM: certPEM(p.issue(testPassTypeID, p.key.Public(), p.wwdr, p.wwdrKey, testNow.AddDate(-2, 0, 0), testNow.AddDate(0, 0, -1))),
			keyPEM:  p.keyPEM, wwdrPEM: p.wwdrPEM,
			passType: testPassTypeID, team: testTeamID,
			wantField: "certificate", wantIn: "expired",
		},
		{
			name:    "certificate UID is another pass type",
			certPEM: certPEM(p.issue("pass.com.example.other", p.key.Public(), p.wwdr, p.wwdrKey, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))),
			keyPEM:  p.keyPEM, wwdrPEM: p.wwdrPEM,
			passType: testPassTypeID, team: testTeamID,
			wantField: "passTypeIdentifier", wantIn: "pass.com.example.other",
		},
		{
			name:    "pass type identifier differs from the certificate UID",
			certPEM: p.certPEM, keyPEM: p.keyPEM, wwdrPEM: p.wwdrPEM,
			passType: "pass.com.example.wrong", team: testTeamID,
			wantField: "passTypeIdentifier", wantIn: "does not match",
		},
		{
			name:    "team differs from the certificate OU",
			certPEM: p.certPEM, keyPEM: p.keyPEM, wwdrPEM: p.wwdrPEM,
			passType: testPassTypeID, team: "OTHERTEAM1",
			wantField: "teamIdentifier", wantIn: "does not match",
		},
		{
			name:    "certificate issued by a foreign CA",
			certPEM: certPEM(p.issue(testPassTypeID, p.key.Public(), foreignCA, foreignKey, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))),
			keyPEM:  p.keyPEM, wwdrPEM: p.wwdrPEM,
			passType: testPassTypeID, team: testTeamID,
			wantField: "wwdr", wantIn: "did not sign",
		},
		{
			name:    "certificate is not PEM",
			certPEM: []byte("garbage"), keyPEM: p.keyPEM, wwdrPEM: p.wwdrPEM,
			passType: testPassTypeID, team: testTeamID,
			wantField: "certificate", wantIn: "PEM",
		},
		{
			name:    "key is missing",
			certPEM: p.certPEM, keyPEM: nil, wwdrPEM: p.wwdrPEM,
			passType: testPassTypeID, team: testTeamID,
			wantField: "key", wantIn: "PEM",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePEM(tt.certPEM, tt.keyPEM, tt.wwdrPEM, tt.passType, tt.team, testNow)
			assertFieldError(t, err, tt.wantField, tt.wantIn)
		})
	}
}

func assertFieldError(t *testing.T, err error, field, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error on %s, got nil", field)
	}
	var fe *core.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want core.FieldError on %s, got %T: %v", field, err, err)
	}
	if !errors.Is(err, core.ErrInvalid) {
		t.Errorf("error does not wrap core.ErrInvalid: %v", err)
	}
	if fe.Field != field {
		t.Errorf("field = %q, want %q (%v)", fe.Field, field, err)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q does not mention %q", err, contains)
	}
}
