package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"go.mozilla.org/pkcs7"
)

// packageCheck is what verifying one .pkpass found. Both sides must pass
// every check, so they are known to do the same kind of work: a manifest
// of SHA-1 hashes over every file, a detached PKCS#7 signature over it
// that OpenSSL verifies up to the WWDR certificate, with signingTime.
type packageCheck struct {
	Bytes           int      `json:"bytes"`
	Files           []string `json:"files"`
	Compression     string   `json:"compression"` // of the zip entries: deflate, store or mixed
	ManifestSHA1OK  bool     `json:"manifestSha1Ok"`
	OpenSSL         string   `json:"openssl"`
	DigestAlgorithm string   `json:"digestAlgorithm"`
	SignatureAlg    string   `json:"signatureAlgorithm"`
	SigningTime     bool     `json:"signingTime"`
	Certificates    []string `json:"certificates"` // common names embedded in the signature
	passJSON        []byte
}

var (
	oidSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSA           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

func oidName(oid asn1.ObjectIdentifier) string {
	switch {
	case oid.Equal(oidSHA1):
		return "SHA-1"
	case oid.Equal(oidSHA256):
		return "SHA-256"
	case oid.Equal(oidRSA):
		return "RSA (PKCS#1 v1.5)"
	case oid.Equal(oidSHA1WithRSA):
		return "SHA-1 with RSA"
	case oid.Equal(oidSHA256WithRSA):
		return "SHA-256 with RSA"
	}
	return oid.String()
}

// verifyPackage unzips pkpass, checks the manifest against every file and
// has OpenSSL verify the signature over manifest.json with wwdrPEM as the
// only trust anchor. work is a scratch directory. An error means the
// package is not a valid signed pass.
func verifyPackage(pkpass, wwdrPEM []byte, work string) (packageCheck, error) {
	c := packageCheck{Bytes: len(pkpass)}
	zr, err := zip.NewReader(bytes.NewReader(pkpass), int64(len(pkpass)))
	if err != nil {
		return c, fmt.Errorf("reading zip: %w", err)
	}
	files := map[string][]byte{}
	methods := map[uint16]bool{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return c, fmt.Errorf("opening %s: %w", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return c, fmt.Errorf("reading %s: %w", f.Name, err)
		}
		files[f.Name] = b
		c.Files = append(c.Files, f.Name)
		methods[f.Method] = true
	}
	sort.Strings(c.Files)
	switch {
	case len(methods) > 1:
		c.Compression = "mixed"
	case methods[zip.Deflate]:
		c.Compression = "deflate"
	case methods[zip.Store]:
		c.Compression = "store"
	}
	c.passJSON = files["pass.json"]
	manifestJSON, sig := files["manifest.json"], files["signature"]
	if c.passJSON == nil || manifestJSON == nil || sig == nil {
		return c, fmt.Errorf("package lacks pass.json, manifest.json or signature (has %v)", c.Files)
	}

	var manifest map[string]string
	if err := json.Unmarshal(manifestJSON, &manifest); err != nil {
		return c, fmt.Errorf("reading manifest.json: %w", err)
	}
	if len(manifest) != len(files)-2 {
		return c, fmt.Errorf("manifest lists %d files, the package has %d besides manifest and signature", len(manifest), len(files)-2)
	}
	for name, content := range files {
		if name == "manifest.json" || name == "signature" {
			continue
		}
		sum := sha1.Sum(content)
		if manifest[name] != hex.EncodeToString(sum[:]) {
			return c, fmt.Errorf("manifest[%s] = %q, want the SHA-1 of the file %x", name, manifest[name], sum)
		}
	}
	c.ManifestSHA1OK = true

	p7, err := pkcs7.Parse(sig)
	if err != nil {
		return c, fmt.Errorf("parsing signature: %w", err)
	}
	if len(p7.Content) != 0 {
		return c, fmt.Errorf("signature is not detached")
	}
	if len(p7.Signers) != 1 {
		return c, fmt.Errorf("signature has %d signers, want 1", len(p7.Signers))
	}
	c.DigestAlgorithm = oidName(p7.Signers[0].DigestAlgorithm.Algorithm)
	c.SignatureAlg = oidName(p7.Signers[0].DigestEncryptionAlgorithm.Algorithm)
	for _, a := range p7.Signers[0].AuthenticatedAttributes {
		c.SigningTime = c.SigningTime || a.Type.Equal(pkcs7.OIDAttributeSigningTime)
	}
	for _, cert := range p7.Certificates {
		c.Certificates = append(c.Certificates, cert.Subject.CommonName)
	}
	if !c.SigningTime {
		return c, fmt.Errorf("signature lacks the signingTime attribute Wallet requires")
	}

	// Full chain check (no -noverify): the WWDR certificate is the trust
	// anchor; -purpose any because pass certificates carry Apple's EKU.
	for name, b := range map[string][]byte{"signature": sig, "manifest.json": manifestJSON, "wwdr.pem": wwdrPEM} {
		if err := os.WriteFile(filepath.Join(work, name), b, 0o600); err != nil {
			return c, err
		}
	}
	cmd := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER",
		"-in", "signature", "-content", "manifest.json", "-CAfile", "wwdr.pem", "-purpose", "any", "-out", os.DevNull)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	c.OpenSSL = strings.TrimSpace(string(out))
	if err != nil || !strings.Contains(c.OpenSSL, "Verification successful") {
		return c, fmt.Errorf("openssl cms -verify: %v: %s", err, out)
	}
	return c, nil
}

// diffJSON lists where two JSON documents differ in meaning (key order
// and white space aside), as "path: a vs b" lines; nil when equal.
func diffJSON(a, b []byte) ([]string, error) {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return nil, err
	}
	var out []string
	walkDiff("", va, vb, &out)
	return out, nil
}

func walkDiff(path string, a, b any, out *[]string) {
	ma, aok := a.(map[string]any)
	mb, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range ma {
			keys[k] = true
		}
		for k := range mb {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		slices.Sort(sorted)
		for _, k := range sorted {
			p := k
			if path != "" {
				p = path + "." + k
			}
			va, ina := ma[k]
			vb, inb := mb[k]
			switch {
			case !inb:
				*out = append(*out, fmt.Sprintf("%s: only in passhub's", p))
			case !ina:
				*out = append(*out, fmt.Sprintf("%s: only in the peer's", p))
			default:
				walkDiff(p, va, vb, out)
			}
		}
		return
	}
	sa, aok := a.([]any)
	sb, bok := b.([]any)
	if aok && bok && len(sa) == len(sb) {
		for i := range sa {
			walkDiff(fmt.Sprintf("%s[%d]", path, i), sa[i], sb[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		*out = append(*out, fmt.Sprintf("%s: %s vs %s", path, ja, jb))
	}
}
