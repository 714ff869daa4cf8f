package google_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/adapters/google/googletest"
	"github.com/passhub/passhub/core"
)

const (
	issuerID = "3388000000012345678"
	saEmail  = "passhub@passhub-test.iam.gserviceaccount.com"
)

// One RSA key for the whole run: generating 2048-bit keys is slow.
var (
	keyOnce sync.Once
	keyJSON []byte
	keyRSA  *rsa.PrivateKey
)

func testKey(t *testing.T) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		keyJSON, keyRSA, err = googletest.NewServiceAccountKey(saEmail, "https://oauth2.googleapis.com/token")
		if err != nil {
			panic(err)
		}
	})
	return keyJSON, keyRSA
}

// keyFor is the test key with token_uri pointing at srv, trusted by it.
func keyFor(t *testing.T, srv *googletest.Server) []byte {
	t.Helper()
	raw, key := testKey(t)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["token_uri"] = srv.TokenURL
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	srv.Trust(saEmail, &key.PublicKey)
	return out
}

type env struct {
	srv    *googletest.Server
	client *google.Client
	sa     *google.ServiceAccount
}

func newEnv(t *testing.T, opts googletest.Options) *env {
	t.Helper()
	srv := googletest.Start(t, opts)
	sa, err := google.ParseServiceAccount(keyFor(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	c, err := google.NewClient(issuerID, sa, google.ClientConfig{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, client: c, sa: sa}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func template(style core.Style) core.Template {
	return core.Template{
		ID:               "tpl_01hzx8k2",
		Name:             "Acme Rewards",
		Style:            style,
		Description:      "Acme loyalty card",
		OrganizationName: "Acme Coffee",
		Colors:           core.Colors{Background: "rgb(16, 32, 48)"},
		Fields: core.FieldLayout{
			Primary:   []core.Field{{Key: "name", Label: "Member"}},
			Secondary: []core.Field{{Key: "tier", Label: "Tier", Value: "Bronze"}},
			Back:      []core.Field{{Key: "terms.text", Label: "Terms", Value: "No cash value"}},
		},
		Barcode: &core.Barcode{Format: core.BarcodeQR, Message: "{{passId}}", AltText: "{{externalId}}"},
	}
}

func pass() core.Pass {
	return core.Pass{
		ID:         "pass_01hzx8m3q4",
		TemplateID: "tpl_01hzx8k2",
		ExternalID: "cust-42",
		Data:       map[string]any{"name": "Ada Lovelace"},
		Lifecycle:  core.LifecycleActive,
	}
}

func classOpts() google.ClassOptions {
	return google.ClassOptions{
		CallbackURL: "https://passhub.example.com/google/callback",
		LogoURL:     "https://passhub.example.com/google/images/tpl_01hzx8k2/logo.png",
	}
}

// jsonOf decodes raw JSON for comparisons.
func jsonOf(t *testing.T, raw []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return v
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// get reads a dotted path of decoded JSON ("barcode.type").
func get(m map[string]any, path string) any {
	var cur any = m
	for _, p := range splitPath(path) {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return append(out, p[start:])
}
