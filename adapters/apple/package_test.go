package apple

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/passhub/passhub/core"
)

// Minimal PNG-looking bytes; Wallet's image decoding is not under test.
var (
	iconPNG   = []byte("\x89PNG\r\n\x1a\nicon")
	icon2xPNG = []byte("\x89PNG\r\n\x1a\nicon@2x")
	logoPNG   = []byte("\x89PNG\r\n\x1a\nlogo")
)

func testImages() map[string][]byte {
	return map[string][]byte{"icon": iconPNG, "icon@2x": icon2xPNG, "logo": logoPNG}
}

func unzip(t *testing.T, pkpass []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pkpass), int64(len(pkpass)))
	if err != nil {
		t.Fatalf("reading zip: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = b
	}
	return files
}

func buildPackage(t *testing.T, style core.Style) map[string][]byte {
	t.Helper()
	passJSON, err := Render(testTemplate(style), testPass(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	pkpass, err := Package(passJSON, testImages(), getPKI(t).creds(), time.Now())
	if err != nil {
		t.Fatalf("Package: %v", err)
	}
	return unzip(t, pkpass)
}

func TestPackageHoldsEveryFileAndAMatchingManifest(t *testing.T) {
	for _, style := range core.Styles {
		t.Run(string(style), func(t *testing.T) {
			files := buildPackage(t, style)
			for _, name := range []string{"pass.json", "icon.png", "icon@2x.png", "logo.png", "manifest.json", "signature"} {
				if _, ok := files[name]; !ok {
					t.Errorf("package lacks %s", name)
				}
			}
			var manifest map[string]string
			if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
				t.Fatalf("manifest.json: %v", err)
			}
			if len(manifest) != len(files)-2 {
				t.Errorf("manifest lists %d files, package has %d besides manifest and signature", len(manifest), len(files)-2)
			}
			for name, content := range files {
				if name == "manifest.json" || name == "signature" {
					if _, listed := manifest[name]; listed {
						t.Errorf("manifest lists %s", name)
					}
					continue
				}
				sum := sha1.Sum(content)
				if manifest[name] != hex.EncodeToString(sum[:]) {
					t.Errorf("manifest[%s] = %q, want lowercase hex SHA-1 %x", name, manifest[name], sum)
				}
			}
		})
	}
}

func TestSignatureVerifiesWithGoAndCarriesSigningTime(t *testing.T) {
	p := getPKI(t)
	before := time.Now().Add(-time.Second).UTC().Truncate(time.Second)
	files := buildPackage(t, core.StyleStoreCard)

	p7, err := pkcs7.Parse(files["signature"])
	if err != nil {
		t.Fatalf("parsing signature: %v", err)
	}
	if len(p7.Content) != 0 {
		t.Errorf("signature is not detached: it carries %d content bytes", len(p7.Content))
	}
	p7.Content = files["manifest.json"]
	roots := x509.NewCertPool()
	roots.AddCert(p.wwdr)
	if err := p7.VerifyWithChain(roots); err != nil {
		t.Fatalf("verifying signature against the WWDR root: %v", err)
	}
	var hasWWDR bool
	for _, c := range p7.Certificates {
		hasWWDR = hasWWDR || c.Equal(p.wwdr)
	}
	if !hasWWDR {
		t.Error("signature does not embed the WWDR certificate")
	}
	if !p7.GetOnlySigner().Equal(p.cert) {
		t.Error("signer is not the Pass Type ID certificate")
	}
	var signingTime time.Time
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &signingTime); err != nil {
		t.Fatalf("signature lacks signingTime: %v", err)
	}
	if signingTime.Before(before) || signingTime.After(time.Now().Add(time.Second)) {
		t.Errorf("signingTime %s is not now", signingTime)
	}

	// A changed manifest must not verify.
	p7.Content = append([]byte(nil), files["manifest.json"]...)
	p7.Content[2] ^= 1
	if err := p7.VerifyWithChain(roots); err == nil {
		t.Error("tampered manifest verified")
	}
}

func TestSignatureVerifiesWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	files := buildPackage(t, core.StyleEventTicket)
	dir := t.TempDir()
	for name, b := range map[string][]byte{"signature": files["signature"], "manifest.json": files["manifest.json"], "wwdr.pem": getPKI(t).wwdrPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Full chain check (no -noverify): the fake WWDR is the trust anchor;
	// -purpose any because pass certificates carry Apple's own EKU.
	cmd := exec.Command(openssl, "smime", "-verify", "-binary", "-inform", "DER",
		"-in", "signature", "-content", "manifest.json", "-CAfile", "wwdr.pem", "-purpose", "any", "-out", os.DevNull)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl smime -verify: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("Verification successful")) {
		t.Errorf("openssl said: %s", out)
	}
}

func TestPackagesOfTheSameVersionDifferOnlyInSignature(t *testing.T) {
	a := buildPackage(t, core.StyleGeneric)
	time.Sleep(1100 * time.Millisecond) // signingTime has one-second resolution
	b := buildPackage(t, core.StyleGeneric)
	if len(a) != len(b) {
		t.Fatalf("file sets differ: %d vs %d", len(a), len(b))
	}
	for name := range a {
		if name == "signature" {
			continue
		}
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two packages of one pass version", name)
		}
	}
	if bytes.Equal(a["signature"], b["signature"]) {
		t.Error("signatures are identical although signed a second apart")
	}
}

func TestPackageRequiresIcon(t *testing.T) {
	passJSON, err := Render(testTemplate(core.StyleStoreCard), testPass(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Package(passJSON, map[string][]byte{"logo": logoPNG}, getPKI(t).creds(), testNow)
	assertFieldError(t, err, "images.icon", "required")
}

func TestPackageRejectsUnknownImage(t *testing.T) {
	_, err := BuildFiles([]byte("{}"), map[string][]byte{"icon": iconPNG, "../evil": logoPNG})
	assertFieldError(t, err, "images.../evil", "image name")
}

func TestSignRefusesExpiredCertificate(t *testing.T) {
	files, err := BuildFiles([]byte("{}"), testImages())
	if err != nil {
		t.Fatal(err)
	}
	_, err = files.Sign(getPKI(t).creds(), testNow.AddDate(2, 0, 0))
	assertFieldError(t, err, "certificate", "expired")
}

func TestDecodeImages(t *testing.T) {
	tpl := core.Template{Images: map[string]string{"icon@2x": "iVBORw0KGgo="}}
	images, err := DecodeImages(tpl.Images)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(images["icon@2x"], []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("icon@2x = %q", images["icon@2x"])
	}
	_, err = DecodeImages(map[string]string{"logo": "not base64!"})
	assertFieldError(t, err, "images.logo", "base64")
}

func TestCacheIsABoundedLRU(t *testing.T) {
	c := NewCache(2)
	f1, f2, f3 := &Files{}, &Files{}, &Files{}
	c.Add(CacheKey{PassID: "pas_1", Version: 1, TemplateVersion: 1}, f1)
	c.Add(CacheKey{PassID: "pas_1", Version: 2, TemplateVersion: 1}, f2)
	if got, ok := c.Get(CacheKey{PassID: "pas_1", Version: 1, TemplateVersion: 1}); !ok || got != f1 {
		t.Fatal("pas_1 v1 not cached")
	}
	c.Add(CacheKey{PassID: "pas_2", Version: 1, TemplateVersion: 1}, f3) // evicts pas_1 v2, the least recently used
	if _, ok := c.Get(CacheKey{PassID: "pas_1", Version: 2, TemplateVersion: 1}); ok {
		t.Error("pas_1 v2 should have been evicted")
	}
	if _, ok := c.Get(CacheKey{PassID: "pas_1", Version: 1, TemplateVersion: 2}); ok {
		t.Error("a newer template version was served the old rendering")
	}
	if _, ok := c.Get(CacheKey{PassID: "pas_1", Version: 1, TemplateVersion: 1}); !ok {
		t.Error("pas_1 v1 was used recently and should stay")
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
}

func TestCachedFilesSignLikeFreshOnes(t *testing.T) {
	p := getPKI(t)
	passJSON, err := Render(testTemplate(core.StyleStoreCard), testPass(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(8)
	files, err := BuildFiles(passJSON, testImages())
	if err != nil {
		t.Fatal(err)
	}
	c.Add(CacheKey{PassID: "pas_01HXYZ", Version: 7, TemplateVersion: 1}, files)
	cached, ok := c.Get(CacheKey{PassID: "pas_01HXYZ", Version: 7, TemplateVersion: 1})
	if !ok {
		t.Fatal("not cached")
	}
	sig, err := cached.Sign(p.creds(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pkpass, err := cached.Zip(sig, testNow)
	if err != nil {
		t.Fatal(err)
	}
	got := unzip(t, pkpass)
	if !bytes.Equal(got["pass.json"], passJSON) || !bytes.Equal(got["manifest.json"], files.Manifest) {
		t.Error("zip does not hold the cached files")
	}
}

// BenchmarkRenderAndSign renders and signs the same pass every time: the
// uncached path (a new pass version, or a cache miss). It runs on every
// GOMAXPROCS goroutine, so `-cpu 1,2` gives the one- and two-core rates.
func BenchmarkRenderAndSign(b *testing.B) {
	creds := getPKI(b).creds()
	tpl, p, opts, images := testTemplate(core.StyleStoreCard), testPass(), testOptions(), testImages()
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer() // the first run would count making the test PKI
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			passJSON, err := Render(tpl, p, opts)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := Package(passJSON, images, creds, now); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "passes/s")
}

// BenchmarkSignCached is what a device's download of an unchanged pass
// version costs: Issuer.Package finds the rendered files in its cache and
// only signs and zips. Same `-cpu` use as BenchmarkRenderAndSign.
func BenchmarkSignCached(b *testing.B) {
	pk := getPKI(b)
	tpl, p := testTemplate(core.StyleStoreCard), testPass()
	tpl.Images = map[string]string{}
	for name, img := range testImages() {
		tpl.Images[name] = base64.StdEncoding.EncodeToString(img)
	}
	rec := core.AppleCredentials{WorkspaceID: "wsp_bench", PassTypeIdentifier: testPassTypeID, TeamIdentifier: testTeamID, UpdatedAt: testNow}
	// The parsed credentials are remembered as Save would leave them, so
	// the issuer needs neither a store nor a key box.
	iss := NewIssuer(nil, nil, testPublicURL, 16)
	iss.remember(rec, pk.creds())
	if _, err := iss.Package(rec, tpl, p); err != nil { // fills the cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := iss.Package(rec, tpl, p); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "passes/s")
}
