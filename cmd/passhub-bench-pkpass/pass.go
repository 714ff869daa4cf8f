package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/passhub/passhub/adapters/apple"
	"github.com/passhub/passhub/adapters/apple/sample"
	"github.com/passhub/passhub/adapters/apple/testpki"
	"github.com/passhub/passhub/core"
)

// The pass is BenchmarkRenderAndSign's: adapters/apple/sample's store card
// (TestBenchPassIsTheBenchmarks still compares the rendering with the
// package's golden file).
const (
	benchPublicURL = "https://passhub.example.com"
	benchSerial    = "pas_01HXYZ"
	// serialPrefix starts the distinct serial number each measured pass
	// gets (on both sides: "pas_" + the loop counter).
	serialPrefix = "pas_"
)

func benchTemplate() core.Template { return sample.Template(core.StyleStoreCard) }

func benchPass() core.Pass {
	p := sample.Pass()
	p.ID = benchSerial
	return p
}

func benchOptions(creds *apple.Credentials) apple.RenderOptions {
	return creds.Options(benchPublicURL)
}

// benchImages are the benchmark's images: PNG signatures with a tag, not
// decodable pictures (Wallet's image decoding is not under test, and
// neither side decodes them).
func benchImages() map[string][]byte {
	return map[string][]byte{
		"icon":    []byte("\x89PNG\r\n\x1a\nicon"),
		"icon@2x": []byte("\x89PNG\r\n\x1a\nicon@2x"),
		"logo":    []byte("\x89PNG\r\n\x1a\nlogo"),
	}
}

// pictureImages are decodable PNGs at the sizes Apple asks for (icon
// 29×29 pt, logo up to 160×50 pt, at @1x, @2x and @3x): bands of flat
// colour with one pixel in noiseOneIn random, about 48 KB in all, which
// deflate shrinks by about 2%, as it does PNG data. They show how the
// rates move when hashing and zipping the images is not free; the
// issue's figure uses benchImages. The same bytes every run.
func pictureImages() (map[string][]byte, error) {
	sizes := map[string][2]int{
		"icon": {29, 29}, "icon@2x": {58, 58}, "icon@3x": {87, 87},
		"logo": {160, 50}, "logo@2x": {320, 100}, "logo@3x": {480, 150},
	}
	const noiseOneIn = 24
	rng := rand.New(rand.NewPCG(7, 7))
	names := make([]string, 0, len(sizes))
	for name := range sizes {
		names = append(names, name)
	}
	sort.Strings(names)
	out := map[string][]byte{}
	for _, name := range names {
		wh := sizes[name]
		img := image.NewNRGBA(image.Rect(0, 0, wh[0], wh[1]))
		for y := range wh[1] {
			for x := range wh[0] {
				c := color.NRGBA{R: uint8(x * 8 / wh[0] * 32), G: uint8(y * 4 / wh[1] * 64), B: 160, A: 255}
				if rng.IntN(noiseOneIn) == 0 {
					c.R, c.G, c.B = uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256))
				}
				img.SetNRGBA(x, y, c)
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", name, err)
		}
		out[name] = buf.Bytes()
	}
	return out, nil
}

// Layout of the inputs directory both sides read.
const (
	dirCerts     = "certs"
	dirModel     = "model.pass"
	fileCert     = "signerCert.pem"
	fileKey      = "signerKey.pem"
	fileWWDR     = "wwdr.pem"
	fileDynamic  = "dynamic.json"
	fileRendered = "passhub.pass.json"
)

// dynamic is what the peer sets on each pass, as a passkit-generator user
// does: the model holds the template-level keys, and per pass the serial
// number, the authentication token, the field values and the barcode are
// added. Values are exactly what passhub renders for the benchmark pass.
type dynamic struct {
	SerialPrefix        string                       `json:"serialPrefix"`
	AuthenticationToken string                       `json:"authenticationToken"`
	Fields              map[string][]json.RawMessage `json:"fields"`
	// Barcode.message has "{{serialNumber}}" where the serial goes.
	Barcode map[string]any `json:"barcode"`
}

// writeInputs writes the pass certificate, key and WWDR certificate of a
// fresh test PKI (testpki: RSA-2048, the shape of Apple's), the peer's
// model (pass.json without the per-pass keys, and the images), the
// per-pass values and passhub's full pass.json for the benchmark pass.
func writeInputs(dir string, images map[string][]byte) error {
	pki, err := testpki.New(testpki.Options{})
	if err != nil {
		return fmt.Errorf("making the test PKI: %w", err)
	}
	creds, err := apple.ParsePEM(pki.CertPEM, pki.KeyPEM, pki.WWDRPEM, pki.PassTypeID, pki.TeamID, time.Now())
	if err != nil {
		return fmt.Errorf("parsing the test PKI: %w", err)
	}
	rendered, err := apple.Render(benchTemplate(), benchPass(), benchOptions(creds))
	if err != nil {
		return fmt.Errorf("rendering the benchmark pass: %w", err)
	}
	model, dyn, err := splitForPeer(rendered, benchSerial)
	if err != nil {
		return err
	}
	dynJSON, err := json.MarshalIndent(dyn, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", fileDynamic, err)
	}
	files := map[string][]byte{
		filepath.Join(dirCerts, fileCert):    pki.CertPEM,
		filepath.Join(dirCerts, fileKey):     pki.KeyPEM,
		filepath.Join(dirCerts, fileWWDR):    pki.WWDRPEM,
		filepath.Join(dirModel, "pass.json"): model,
		fileDynamic:                          dynJSON,
		fileRendered:                         rendered,
	}
	for name, img := range images {
		files[filepath.Join(dirModel, name+".png")] = img
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("writing inputs: %w", err)
		}
		if err := os.WriteFile(path, content, 0o600); err != nil {
			return fmt.Errorf("writing inputs: %w", err)
		}
	}
	return nil
}

// perPassKeys are the pass.json keys that the peer sets per pass rather
// than taking from the model. authenticationToken stays in the model too:
// passkit-generator's schema refuses a webServiceURL without it. The
// legacy "barcode" key (before iOS 9) is dropped: passkit-generator 3 has
// no way to write it.
var perPassKeys = []string{"serialNumber", "barcodes", "barcode"}

// splitForPeer turns passhub's pass.json into the peer's model pass.json
// (template-level keys, the style's field lists empty) and the per-pass
// values.
func splitForPeer(rendered []byte, serial string) ([]byte, dynamic, error) {
	var pass map[string]json.RawMessage
	if err := json.Unmarshal(rendered, &pass); err != nil {
		return nil, dynamic{}, fmt.Errorf("reading rendered pass.json: %w", err)
	}
	dyn := dynamic{SerialPrefix: serialPrefix, Fields: map[string][]json.RawMessage{}}
	if err := json.Unmarshal(pass["authenticationToken"], &dyn.AuthenticationToken); err != nil {
		return nil, dynamic{}, fmt.Errorf("reading authenticationToken: %w", err)
	}
	var barcodes []map[string]any
	if err := json.Unmarshal(pass["barcodes"], &barcodes); err != nil || len(barcodes) != 1 {
		return nil, dynamic{}, fmt.Errorf("reading barcodes: want one barcode (err %v)", err)
	}
	dyn.Barcode = barcodes[0]
	msg, _ := dyn.Barcode["message"].(string)
	if !strings.Contains(msg, serial) {
		return nil, dynamic{}, fmt.Errorf("barcode message %q does not carry the serial number", msg)
	}
	dyn.Barcode["message"] = strings.ReplaceAll(msg, serial, "{{serialNumber}}")
	for _, k := range perPassKeys {
		delete(pass, k)
	}
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(pass["storeCard"], &sections); err != nil {
		return nil, dynamic{}, fmt.Errorf("reading storeCard: %w", err)
	}
	for name, raw := range sections {
		var fields []json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, dynamic{}, fmt.Errorf("reading storeCard.%s: %w", name, err)
		}
		dyn.Fields[name] = fields
	}
	pass["storeCard"] = json.RawMessage("{}")
	model, err := marshalSorted(pass)
	if err != nil {
		return nil, dynamic{}, err
	}
	return model, dyn, nil
}

func marshalSorted(m map[string]json.RawMessage) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.WriteString("{\n")
	for i, k := range keys {
		kj, _ := json.Marshal(k)
		var v bytes.Buffer
		if err := json.Compact(&v, m[k]); err != nil {
			return nil, fmt.Errorf("encoding model pass.json: %w", err)
		}
		fmt.Fprintf(&buf, "  %s: %s", kj, v.Bytes())
		if i < len(keys)-1 {
			buf.WriteString(",")
		}
		buf.WriteString("\n")
	}
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}
