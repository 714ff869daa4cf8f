package apple

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/passhub/passhub/core"
)

// Package file names.
const (
	FilePass      = "pass.json"
	FileManifest  = "manifest.json"
	FileSignature = "signature"
)

// Files is the unsigned content of a pass package: every file but the
// signature. It depends only on the pass version (and template), so it can
// be cached and signed again whenever a device asks. Treat it as
// read-only once built.
type Files struct {
	// Data maps file name to content; it includes manifest.json.
	Data map[string][]byte
	// Manifest is manifest.json: file name to lowercase hex SHA-1 of every
	// other file.
	Manifest []byte
}

// DecodeImages turns template images (name → base64 PNG) into the raw
// bytes BuildFiles takes.
func DecodeImages(images map[string]string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(images))
	for name, b64 := range images {
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, core.Invalid("images."+name, "must be base64")
		}
		out[name] = raw
	}
	return out, nil
}

// BuildFiles assembles pass.json, the images (name "icon@2x" becomes file
// "icon@2x.png") and manifest.json. icon is required: Wallet rejects a
// pass without it.
func BuildFiles(passJSON []byte, images map[string][]byte) (*Files, error) {
	if len(images["icon"]) == 0 {
		return nil, core.Invalid("images.icon", "is required by Apple Wallet")
	}
	data := make(map[string][]byte, len(images)+2)
	data[FilePass] = passJSON
	for name, raw := range images {
		if !core.ImageNames[name] {
			return nil, core.Invalid("images."+name, "is not an Apple image name")
		}
		data[name+".png"] = raw
	}
	manifest := make(map[string]string, len(data))
	for name, content := range data {
		sum := sha1.Sum(content)
		manifest[name] = hex.EncodeToString(sum[:])
	}
	// encoding/json sorts map keys, so the manifest is deterministic.
	m, err := json.Marshal(manifest)
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	data[FileManifest] = m
	return &Files{Data: data, Manifest: m}, nil
}

// Sign returns the detached PKCS#7 signature (DER) over manifest.json,
// carrying the WWDR certificate and the signingTime attribute. now only
// checks that the certificate is current: the pkcs7 library stamps the
// signing time from the wall clock.
func (f *Files) Sign(creds *Credentials, now time.Time) ([]byte, error) {
	if creds == nil {
		return nil, fmt.Errorf("signing manifest: no credentials")
	}
	if err := creds.checkCurrent(now); err != nil {
		return nil, fmt.Errorf("signing manifest: %w", err)
	}
	sd, err := pkcs7.NewSignedData(f.Manifest)
	if err != nil {
		return nil, fmt.Errorf("signing manifest: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	// AddSignerChain adds the signingTime attribute devices insist on and
	// embeds the WWDR intermediate after the signer.
	if err := sd.AddSignerChain(creds.Certificate, creds.Key, []*x509.Certificate{creds.WWDR}, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("signing manifest: %w", err)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("signing manifest: %w", err)
	}
	return der, nil
}

// Zip writes the .pkpass archive: the files in a fixed order (pass.json,
// images sorted, manifest.json, signature), all stamped modified, so equal
// inputs give equal bytes.
func (f *Files) Zip(signature []byte, modified time.Time) ([]byte, error) {
	names := make([]string, 0, len(f.Data))
	for name := range f.Data {
		if name != FilePass && name != FileManifest {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = append([]string{FilePass}, names...)
	names = append(names, FileManifest)

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, fastDeflate)
	write := func(name string, content []byte) error {
		method := zip.Deflate
		if strings.HasSuffix(name, ".png") || name == FileSignature {
			// PNG data is deflated already (deflating it again costs
			// about a millisecond per 50 KB and saves some 2%), and a
			// signature is mostly certificates and random bytes.
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: modified.UTC()})
		if err != nil {
			return err
		}
		_, err = w.Write(content)
		return err
	}
	for _, name := range names {
		if err := write(name, f.Data[name]); err != nil {
			return nil, fmt.Errorf("zipping %s: %w", name, err)
		}
	}
	if err := write(FileSignature, signature); err != nil {
		return nil, fmt.Errorf("zipping signature: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zipping pass: %w", err)
	}
	return buf.Bytes(), nil
}

// fastDeflate compresses zip entries at flate.BestSpeed with writers
// kept for reuse: the JSON files of a pass are a few kilobytes, and
// resetting a writer of the default level (its 512 KB of hash tables)
// cost more than compressing them.
func fastDeflate(w io.Writer) (io.WriteCloser, error) {
	fw, _ := flateWriters.Get().(*flate.Writer)
	if fw == nil {
		var err error
		if fw, err = flate.NewWriter(w, flate.BestSpeed); err != nil {
			return nil, err
		}
	} else {
		fw.Reset(w)
	}
	return &pooledFlate{fw}, nil
}

var flateWriters sync.Pool

type pooledFlate struct{ *flate.Writer }

func (p *pooledFlate) Close() error {
	err := p.Writer.Close()
	flateWriters.Put(p.Writer)
	p.Writer = nil
	return err
}

// Package builds, signs and zips a .pkpass in one call.
func Package(passJSON []byte, images map[string][]byte, creds *Credentials, now time.Time) ([]byte, error) {
	files, err := BuildFiles(passJSON, images)
	if err != nil {
		return nil, fmt.Errorf("building pass files: %w", err)
	}
	sig, err := files.Sign(creds, now)
	if err != nil {
		return nil, err
	}
	return files.Zip(sig, now)
}
