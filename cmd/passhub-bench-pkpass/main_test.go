package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/apple"
	"github.com/passhub/passhub/adapters/apple/testpki"
)

func testCreds(t *testing.T, p *testpki.PKI) *apple.Credentials {
	t.Helper()
	creds, err := apple.ParsePEM(p.CertPEM, p.KeyPEM, p.WWDRPEM, p.PassTypeID, p.TeamID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

func TestBenchPassIsTheBenchmarks(t *testing.T) {
	got, err := apple.Render(benchTemplate(), benchPass(), benchOptions(testCreds(t, testpki.Default())))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../adapters/apple/testdata/storecard.pass.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the pass here is no longer BenchmarkRenderAndSign's (adapters/apple/testdata/storecard.pass.json):\n%s", got)
	}
}

// applyDynamic is what peer.mjs does with the model and the per-pass
// values, in Go: the split must lose nothing but the declared legacy key.
func applyDynamic(t *testing.T, model []byte, dyn dynamic, serial string) []byte {
	t.Helper()
	var pass map[string]any
	if err := json.Unmarshal(model, &pass); err != nil {
		t.Fatal(err)
	}
	pass["serialNumber"] = serial
	pass["authenticationToken"] = dyn.AuthenticationToken
	card := map[string]any{}
	for section, fields := range dyn.Fields {
		var fs []any
		for _, f := range fields {
			var v any
			if err := json.Unmarshal(f, &v); err != nil {
				t.Fatal(err)
			}
			fs = append(fs, v)
		}
		card[section] = fs
	}
	pass["storeCard"] = card
	bc := map[string]any{}
	for k, v := range dyn.Barcode {
		bc[k] = v
	}
	bc["message"] = strings.ReplaceAll(bc["message"].(string), "{{serialNumber}}", serial)
	pass["barcodes"] = []any{bc}
	out, err := json.Marshal(pass)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSplitForPeerKeepsEverythingButTheLegacyBarcode(t *testing.T) {
	creds := testCreds(t, testpki.Default())
	p := benchPass()
	p.ID = "pas_12345"
	rendered, err := apple.Render(benchTemplate(), p, benchOptions(creds))
	if err != nil {
		t.Fatal(err)
	}
	model, dyn, err := splitForPeer(rendered, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"serialNumber"`, `"barcodes"`, `"barcode"`, `"value"`} {
		if bytes.Contains(model, []byte(k)) {
			t.Errorf("model pass.json still has %s:\n%s", k, model)
		}
	}
	if got := dyn.Barcode["message"]; got != "{{serialNumber}}:cust-42" {
		t.Errorf("barcode message template = %v", got)
	}
	diffs, err := diffJSON(rendered, applyDynamic(t, model, dyn, p.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(diffs, []string{"barcode: only in passhub's"}) {
		t.Errorf("model + per-pass values differ from passhub's pass.json: %q", diffs)
	}
}

func TestSplitForPeerRefusesABarcodeWithoutTheSerial(t *testing.T) {
	rendered, err := apple.Render(benchTemplate(), benchPass(), benchOptions(testCreds(t, testpki.Default())))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := splitForPeer(rendered, "pas_other"); err == nil || !strings.Contains(err.Error(), "serial") {
		t.Errorf("err = %v, want one about the serial number", err)
	}
}

func TestDiffJSON(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want []string
	}{
		{"key order and spaces do not count", `{"a":1,"b":[1,2]}`, `{ "b": [1, 2], "a": 1 }`, nil},
		{"a key only on one side", `{"a":1,"x":{"y":2}}`, `{"a":1,"z":3}`, []string{"x: only in passhub's", "z: only in the peer's"}},
		{"a changed value deep down", `{"s":{"f":[{"v":1},{"v":2}]}}`, `{"s":{"f":[{"v":1},{"v":"2"}]}}`, []string{`s.f[1].v: 2 vs "2"`}},
		{"lists of other lengths", `{"l":[1]}`, `{"l":[1,2]}`, []string{"l: [1] vs [1,2]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := diffJSON([]byte(tt.a), []byte(tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("diffJSON = %q, want %q", got, tt.want)
			}
		})
	}
}

// passhubPackage runs the worker's -once path on fresh inputs.
func passhubPackage(t *testing.T) (pkpass, wwdrPEM []byte) {
	t.Helper()
	inputs := t.TempDir()
	if err := writeInputs(inputs, benchImages()); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "passhub.pkpass")
	if err := passhubWorker(inputs, 0, 0, out, io.Discard); err != nil {
		t.Fatal(err)
	}
	pkpass, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wwdrPEM, err = os.ReadFile(filepath.Join(inputs, dirCerts, fileWWDR))
	if err != nil {
		t.Fatal(err)
	}
	return pkpass, wwdrPEM
}

func TestVerifyPackageAcceptsPasshubsPackage(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	pkpass, wwdrPEM := passhubPackage(t)
	c, err := verifyPackage(pkpass, wwdrPEM, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := packageCheck{
		Bytes:           len(pkpass),
		Files:           []string{"icon.png", "icon@2x.png", "logo.png", "manifest.json", "pass.json", "signature"},
		Compression:     "mixed", // PNG entries stored, the rest deflated,
		ManifestSHA1OK:  true,
		OpenSSL:         "CMS Verification successful",
		DigestAlgorithm: "SHA-256",
		SignatureAlg:    "SHA-256 with RSA",
		SigningTime:     true,
	}
	c.passJSON = nil
	if !slices.Equal(c.Files, want.Files) || c.Compression != want.Compression || !c.ManifestSHA1OK ||
		c.OpenSSL != want.OpenSSL || c.DigestAlgorithm != want.DigestAlgorithm || c.SignatureAlg != want.SignatureAlg || !c.SigningTime {
		t.Errorf("check = %+v\nwant    %+v", c, want)
	}
	if len(c.Certificates) != 2 {
		t.Errorf("signature embeds %q, want the pass certificate and the WWDR", c.Certificates)
	}
}

// rezip rewrites a package with change applied to its files.
func rezip(t *testing.T, pkpass []byte, change func(name string, b []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pkpass), int64(len(pkpass)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
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
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(change(f.Name, b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestVerifyPackageRejectsBrokenPackages(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	pkpass, wwdrPEM := passhubPackage(t)
	foreign := testpki.MustNew(testpki.Options{FreshKeys: true})
	tests := []struct {
		name    string
		pkpass  []byte
		wwdr    []byte
		wantErr string
	}{
		{"an image changed after signing", rezip(t, pkpass, func(name string, b []byte) []byte {
			if name == "logo.png" {
				return append(b, 'x')
			}
			return b
		}), wwdrPEM, "manifest[logo.png]"},
		{"the manifest changed after signing", rezip(t, pkpass, func(name string, b []byte) []byte {
			if name == "manifest.json" {
				return bytes.Replace(b, []byte(`{`), []byte(`{ `), 1)
			}
			return b
		}), wwdrPEM, "openssl"},
		{"signed under another CA", pkpass, foreign.WWDRPEM, "openssl"},
		{"no signature", rezip(t, pkpass, func(name string, b []byte) []byte {
			if name == "signature" {
				return nil
			}
			return b
		}), wwdrPEM, "parsing signature"},
		{"not a zip", []byte("PK nonsense"), wwdrPEM, "reading zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifyPackage(tt.pkpass, tt.wwdr, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPasshubWorkerReportsWhatItMeasured(t *testing.T) {
	inputs := t.TempDir()
	if err := writeInputs(inputs, benchImages()); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := passhubWorker(inputs, 0, time.Millisecond, "", &out); err != nil {
		t.Fatal(err)
	}
	var res workerResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("worker printed %q: %v", out.Bytes(), err)
	}
	if res.Passes < 1 || res.Seconds <= 0 {
		t.Errorf("result = %+v, want at least one pass in a positive time", res)
	}
}

func TestPictureImagesAreApplesSizesAndDecode(t *testing.T) {
	images, err := pictureImages()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{
		"icon": {29, 29}, "icon@2x": {58, 58}, "icon@3x": {87, 87},
		"logo": {160, 50}, "logo@2x": {320, 100}, "logo@3x": {480, 150},
	}
	if len(images) != len(want) {
		t.Errorf("got %d images, want %d", len(images), len(want))
	}
	for name, wh := range want {
		cfg, err := png.DecodeConfig(bytes.NewReader(images[name]))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if cfg.Width != wh[0] || cfg.Height != wh[1] {
			t.Errorf("%s is %d×%d, want %d×%d", name, cfg.Width, cfg.Height, wh[0], wh[1])
		}
	}
	again, err := pictureImages()
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if !bytes.Equal(images[name], again[name]) {
			t.Errorf("%s differs between two calls", name)
		}
	}
	// passhub accepts them as a template's images.
	if _, err := apple.BuildFiles([]byte("{}"), images); err != nil {
		t.Error(err)
	}
}
