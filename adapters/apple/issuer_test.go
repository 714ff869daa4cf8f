package apple

import (
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/apple/testpki"
	"github.com/passhub/passhub/adapters/secretbox"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/core"
)

// newTestIssuer is an issuer over a real SQLite store.
func newTestIssuer(t *testing.T) (*Issuer, *sqlite.Store) {
	t.Helper()
	key := make([]byte, secretbox.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return NewIssuer(store, box, testPublicURL, 16), store
}

func upload(p *testpki.PKI) Upload {
	return Upload{PassTypeIdentifier: p.PassTypeID, TeamIdentifier: p.TeamID, Certificate: string(p.CertPEM), PrivateKey: string(p.KeyPEM), WWDRCertificate: string(p.WWDRPEM)}
}

func TestIssuerSealsTheKeyAndParsesItOncePerUpload(t *testing.T) {
	iss, store := newTestIssuer(t)
	pki := testpki.Default()
	info, err := iss.Save(t.Context(), "ws_a", upload(pki))
	if err != nil {
		t.Fatal(err)
	}
	if info.PassTypeIdentifier != pki.PassTypeID || info.Certificate.SHA256 == "" {
		t.Fatalf("info %+v", info)
	}
	rec, err := store.AppleCredentials(t.Context(), "ws_a")
	if err != nil {
		t.Fatal(err)
	}
	first, err := iss.Parsed(rec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := iss.Parsed(rec)
	if err != nil || again != first {
		t.Fatal("the same upload was parsed twice")
	}
	// A sealed key moved to another workspace does not open.
	moved := rec
	moved.WorkspaceID, moved.UpdatedAt = "ws_b", rec.UpdatedAt.Add(time.Second)
	if _, err := iss.Parsed(moved); err == nil {
		t.Fatal("a key sealed for ws_a opened for ws_b")
	}
	// A new upload is parsed anew.
	time.Sleep(time.Millisecond)
	if _, err := iss.Save(t.Context(), "ws_a", upload(pki)); err != nil {
		t.Fatal(err)
	}
	rec, err = store.AppleCredentials(t.Context(), "ws_a")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := iss.Parsed(rec)
	if err != nil || fresh == first {
		t.Fatalf("a new upload reused the old parse (err %v)", err)
	}
}

func TestIssuerPackagesFromTheCacheWithAFreshSignature(t *testing.T) {
	iss, store := newTestIssuer(t)
	pki := testpki.Default()
	if _, err := iss.Save(t.Context(), "ws_a", upload(pki)); err != nil {
		t.Fatal(err)
	}
	rec, err := store.AppleCredentials(t.Context(), "ws_a")
	if err != nil {
		t.Fatal(err)
	}
	tpl, p := testTemplate(core.StyleStoreCard), testPass()
	tpl.Images = map[string]string{"icon": "iVBORw0KGgo="}
	one, err := iss.Package(rec, tpl, p)
	if err != nil {
		t.Fatal(err)
	}
	if iss.cache.Len() != 1 {
		t.Fatalf("cache holds %d entries, want 1", iss.cache.Len())
	}
	two, err := iss.Package(rec, tpl, p)
	if err != nil {
		t.Fatal(err)
	}
	a, b := unzip(t, one), unzip(t, two)
	for name := range a {
		if name != FileSignature && string(a[name]) != string(b[name]) {
			t.Fatalf("%s differs between two packages of one version", name)
		}
	}
	// Another version is another entry.
	p.Version++
	if _, err := iss.Package(rec, tpl, p); err != nil {
		t.Fatal(err)
	}
	if iss.cache.Len() != 2 {
		t.Fatalf("cache holds %d entries, want 2", iss.cache.Len())
	}
	// Without credentials there is nothing to sign with.
	if _, _, err := iss.Credentials(t.Context(), "ws_none"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing credentials: %v", err)
	}
}
