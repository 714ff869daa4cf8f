package apple

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/passhub/passhub/adapters/apple/testpki"
)

// p12 encodes key and cert (and chain) as a base64 .p12, the way the API
// receives it.
func p12(t testing.TB, enc *pkcs12.Encoder, key any, cert *x509.Certificate, chain []*x509.Certificate, password string) string {
	t.Helper()
	der, err := enc.Encode(key, cert, chain, password)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func TestParseUploadAcceptsPEMAndP12(t *testing.T) {
	p := getPKI(t)
	ec := ecKey(t)
	ecCert := p.issue(testPassTypeID, ec.Public(), p.wwdr, p.wwdrKey, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(p.key)})
	base := Upload{PassTypeIdentifier: testPassTypeID, TeamIdentifier: testTeamID, WWDRCertificate: string(p.wwdrPEM)}
	with := func(f func(*Upload)) Upload { u := base; f(&u); return u }

	tests := []struct {
		name     string
		upload   Upload
		wantCert *x509.Certificate
	}{
		{"PEM certificate and PKCS#8 key", with(func(u *Upload) { u.Certificate, u.PrivateKey = string(p.certPEM), string(p.keyPEM) }), p.cert},
		{"PEM certificate and PKCS#1 key", with(func(u *Upload) { u.Certificate, u.PrivateKey = string(p.certPEM), string(pkcs1) }), p.cert},
		{"PEM certificate and EC key", with(func(u *Upload) {
			u.Certificate = string(certPEM(ecCert))
			u.PrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}))
		}), ecCert},
		{"identifiers with stray whitespace", with(func(u *Upload) {
			u.PassTypeIdentifier, u.TeamIdentifier = " "+testPassTypeID+"\n", testTeamID+" "
			u.Certificate, u.PrivateKey = string(p.certPEM), string(p.keyPEM)
		}), p.cert},
		{"p12 (modern encryption) with the right password", with(func(u *Upload) {
			u.P12, u.P12Password = p12(t, pkcs12.Modern, p.key, p.cert, nil, "s3cret"), "s3cret"
		}), p.cert},
		{"p12 (legacy 3DES, as older Keychain exports) with the right password", with(func(u *Upload) {
			u.P12, u.P12Password = p12(t, pkcs12.Legacy, p.key, p.cert, nil, "s3cret"), "s3cret"
		}), p.cert},
		{"p12 with an empty password", with(func(u *Upload) { u.P12 = p12(t, pkcs12.Modern, p.key, p.cert, nil, "") }), p.cert},
		{"p12 in wrapped base64", with(func(u *Upload) {
			b := p12(t, pkcs12.Modern, p.key, p.cert, nil, "pw")
			var lines []string
			for len(b) > 64 {
				lines, b = append(lines, b[:64]), b[64:]
			}
			u.P12, u.P12Password = strings.Join(append(lines, b), "\n"), "pw"
		}), p.cert},
		{"p12 carrying the WWDR, no wwdrCertificate given", with(func(u *Upload) {
			u.WWDRCertificate = ""
			u.P12, u.P12Password = p12(t, pkcs12.Modern, p.key, p.cert, []*x509.Certificate{p.wwdr}, "pw"), "pw"
		}), p.cert},
		{"p12 listing the WWDR before the certificate", with(func(u *Upload) {
			u.P12, u.P12Password = p12(t, pkcs12.Modern, p.key, p.wwdr, []*x509.Certificate{p.cert}, "pw"), "pw"
		}), p.cert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseUpload(tt.upload, testNow)
			if err != nil {
				t.Fatalf("ParseUpload: %v", err)
			}
			if c.PassTypeIdentifier != testPassTypeID || c.TeamIdentifier != testTeamID {
				t.Errorf("identifiers = %q %q", c.PassTypeIdentifier, c.TeamIdentifier)
			}
			if !c.Certificate.Equal(tt.wantCert) || !c.WWDR.Equal(p.wwdr) || c.Key == nil {
				t.Errorf("credentials not populated: cert %v wwdr %v", c.Certificate.Subject, c.WWDR.Subject)
			}
		})
	}
}

func TestParseUploadNamesTheFieldToFix(t *testing.T) {
	p := getPKI(t)
	okPEM := Upload{PassTypeIdentifier: testPassTypeID, TeamIdentifier: testTeamID, Certificate: string(p.certPEM), PrivateKey: string(p.keyPEM), WWDRCertificate: string(p.wwdrPEM)}
	okP12 := Upload{PassTypeIdentifier: testPassTypeID, TeamIdentifier: testTeamID, P12: p12(t, pkcs12.Modern, p.key, p.cert, nil, "right"), P12Password: "right", WWDRCertificate: string(p.wwdrPEM)}
	pemWith := func(f func(*Upload)) Upload { u := okPEM; f(&u); return u }
	p12With := func(f func(*Upload)) Upload { u := okP12; f(&u); return u }

	expired := p.issue(testPassTypeID, p.key.Public(), p.wwdr, p.wwdrKey, testNow.AddDate(-2, 0, 0), testNow.AddDate(0, 0, -1))
	notYet := p.issue(testPassTypeID, p.key.Public(), p.wwdr, p.wwdrKey, testNow.AddDate(0, 0, 1), testNow.AddDate(1, 0, 0))
	otherUID := p.issue("pass.com.example.other", p.key.Public(), p.wwdr, p.wwdrKey, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))

	// An expired WWDR that did issue a current certificate.
	oldCA, err := testpki.NewCA("Old WWDR", p.wwdrKey, testNow.AddDate(-10, 0, 0), testNow.AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	byOldCA := p.issue(testPassTypeID, p.key.Public(), oldCA, p.wwdrKey, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))
	// A WWDR-looking CA that did not issue the certificate.
	otherCAKey := ecKey(t)
	otherCA, err := testpki.NewCA("Another CA", otherCAKey, testNow.AddDate(-1, 0, 0), testNow.AddDate(5, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   []byte("not really encrypted"),
	})
	pkcs8Encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("opaque")})
	otherRSA, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // a throwaway mismatching key
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		upload    Upload
		wantField string
		wantIn    string
	}{
		{"neither PEM nor p12", pemWith(func(u *Upload) { u.Certificate, u.PrivateKey = "", "" }), "certificate", "p12"},
		{"both PEM and p12", pemWith(func(u *Upload) { u.P12 = okP12.P12 }), "p12", "not both"},
		{"certificate without key", pemWith(func(u *Upload) { u.PrivateKey = "" }), "privateKey", "required"},
		{"key without certificate", pemWith(func(u *Upload) { u.Certificate = "" }), "certificate", "required"},
		{"no pass type identifier", pemWith(func(u *Upload) { u.PassTypeIdentifier = " " }), "passTypeIdentifier", "required"},
		{"no team identifier", pemWith(func(u *Upload) { u.TeamIdentifier = "" }), "teamIdentifier", "required"},
		{"certificate is garbage", pemWith(func(u *Upload) { u.Certificate = "garbage" }), "certificate", "PEM"},
		{"key is garbage", pemWith(func(u *Upload) { u.PrivateKey = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }), "privateKey", "parsing"},
		{"key field holds the certificate", pemWith(func(u *Upload) { u.PrivateKey = string(p.certPEM) }), "privateKey", "certificate, not a private key"},
		{"key is encrypted PKCS#8", pemWith(func(u *Upload) { u.PrivateKey = string(pkcs8Encrypted) }), "privateKey", "encrypted"},
		{"key is legacy-encrypted PEM", pemWith(func(u *Upload) { u.PrivateKey = string(legacyEncrypted) }), "privateKey", "encrypted"},
		{"key does not match the certificate", pemWith(func(u *Upload) { u.PrivateKey = string(keyPEM(otherRSA)) }), "privateKey", "does not match"},
		{"certificate expired", pemWith(func(u *Upload) { u.Certificate = string(certPEM(expired)) }), "certificate", "expired"},
		{"certificate not yet valid", pemWith(func(u *Upload) { u.Certificate = string(certPEM(notYet)) }), "certificate", "not valid before"},
		{"certificate UID is another pass type", pemWith(func(u *Upload) { u.Certificate = string(certPEM(otherUID)) }), "passTypeIdentifier", "pass.com.example.other"},
		{"team differs from the certificate OU", pemWith(func(u *Upload) { u.TeamIdentifier = "OTHERTEAM1" }), "teamIdentifier", "does not match"},
		{"WWDR missing", pemWith(func(u *Upload) { u.WWDRCertificate = "" }), "wwdrCertificate", "required"},
		{"WWDR is garbage", pemWith(func(u *Upload) { u.WWDRCertificate = "garbage" }), "wwdrCertificate", "PEM"},
		{"WWDR expired", pemWith(func(u *Upload) {
			u.Certificate, u.WWDRCertificate = string(certPEM(byOldCA)), string(certPEM(oldCA))
		}), "wwdrCertificate", "expired"},
		{"WWDR did not issue the certificate", pemWith(func(u *Upload) { u.WWDRCertificate = string(certPEM(otherCA)) }), "wwdrCertificate", "did not sign"},
		{"WWDR field holds the pass certificate", pemWith(func(u *Upload) { u.WWDRCertificate = string(p.certPEM) }), "wwdrCertificate", "not Apple's WWDR"},
		{"p12 with the wrong password", p12With(func(u *Upload) { u.P12Password = "wrong" }), "p12Password", "does not open"},
		{"p12 is not base64", p12With(func(u *Upload) { u.P12 = "%%% not base64 %%%" }), "p12", "base64"},
		{"p12 is base64 garbage", p12With(func(u *Upload) { u.P12 = base64.StdEncoding.EncodeToString([]byte("garbage")) }), "p12", "PKCS#12"},
		{"p12 certificate expired", p12With(func(u *Upload) { u.P12 = p12(t, pkcs12.Modern, p.key, expired, nil, "right") }), "p12", "expired"},
		{"p12 certificate for another pass type", p12With(func(u *Upload) { u.P12 = p12(t, pkcs12.Modern, p.key, otherUID, nil, "right") }), "passTypeIdentifier", "does not match"},
		{"p12 without a WWDR and none given", p12With(func(u *Upload) { u.WWDRCertificate = "" }), "wwdrCertificate", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUpload(tt.upload, testNow)
			assertFieldError(t, err, tt.wantField, tt.wantIn)
		})
	}
}

func TestKeyPEMRoundTripsThroughParsePEM(t *testing.T) {
	p := getPKI(t)
	for name, key := range map[string]crypto.Signer{"RSA": p.key, "ECDSA": ecKey(t)} {
		t.Run(name, func(t *testing.T) {
			c := p.creds()
			c.Key = key
			out, err := KeyPEM(c)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(out), "-----BEGIN PRIVATE KEY-----") {
				t.Fatalf("not PKCS#8 PEM: %.40s", out)
			}
			back, err := parseKeyPEM(out)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Error("round trip changed the key")
			}
		})
	}
	if _, err := KeyPEM(&Credentials{}); err == nil {
		t.Error("KeyPEM without a key: want an error")
	}
}

func TestCertificateInfo(t *testing.T) {
	p := getPKI(t)
	info := CertificateInfo(p.cert)
	sum := sha256.Sum256(p.cert.Raw)
	if info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256 = %s", info.SHA256)
	}
	if info.Serial != p.cert.SerialNumber.Text(16) {
		t.Errorf("Serial = %s, want %s", info.Serial, p.cert.SerialNumber.Text(16))
	}
	if !info.NotBefore.Equal(p.cert.NotBefore) || !info.NotAfter.Equal(p.cert.NotAfter) {
		t.Errorf("validity = %s..%s", info.NotBefore, info.NotAfter)
	}
	for _, want := range []string{"UID=" + testPassTypeID, "CN=Pass Type ID: " + testPassTypeID, "OU=" + testTeamID} {
		if !strings.Contains(info.Subject, want) {
			t.Errorf("Subject %q lacks %q", info.Subject, want)
		}
	}
	if !strings.Contains(info.Issuer, "Worldwide Developer Relations") {
		t.Errorf("Issuer = %q", info.Issuer)
	}
	if (CertificateInfo(nil) != Info{}) {
		t.Error("CertificateInfo(nil) is not the zero Info")
	}
}
