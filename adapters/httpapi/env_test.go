package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/apple"
	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/adapters/google/callback"
	"github.com/passhub/passhub/adapters/google/googletest"
	"github.com/passhub/passhub/adapters/secretbox"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/connectors"
	"github.com/passhub/passhub/core"
)

// env is a server over a real SQLite store with one workspace ("acme")
// holding a key of every role, and a second workspace ("other").
type env struct {
	t testing.TB
	// google is the fake Google (Wallet API and token endpoint) and
	// signer the root and intermediate keys its callbacks are signed with.
	google  *googletest.Server
	signer  *callback.TestSigner
	keysURL string
	store   *sqlite.Store
	svc     *core.Service
	srv     *Server
	logs    *syncBuffer
	commits atomic.Int64

	wsID                  string
	admin, editor, viewer string
	otherWS, other        string
}

type envOption func(*Config)

func openSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatalf("opening sqlite: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	st := openSQLite(t)
	return newEnvWith(t, st, core.NewService(st), opts...)
}

func newEnvWith(t testing.TB, st *sqlite.Store, svc *core.Service, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, store: st, svc: svc, logs: &syncBuffer{}}
	ws, secret, err := svc.CreateWorkspace(ctx, "acme", "")
	must(t, err)
	e.wsID, e.admin = ws.ID, secret
	e.editor, err = svc.CreateAPIKey(ctx, ws.ID, "editor", core.RoleEditor, "")
	must(t, err)
	e.viewer, err = svc.CreateAPIKey(ctx, ws.ID, "viewer", core.RoleViewer, "")
	must(t, err)
	other, secret, err := svc.CreateWorkspace(ctx, "other", "")
	must(t, err)
	e.otherWS, e.other = other.ID, secret

	cfg := Config{
		Service:     svc,
		Idempotency: st,
		Readiness:   map[string]core.Pinger{"store": st},
		Logger:      slog.New(slog.NewJSONHandler(e.logs, nil)),
		Version:     "test",
		OnCommit:    func() { e.commits.Add(1) },
		Apple:       appleConfig(t, st),
	}
	cfg.Google = e.googleConfig(t, st)
	cfg.Connectors = &ConnectorsConfig{Intake: connectors.New(st, testBox(t), testPublicURL), Store: st}
	cfg.Webhooks = webhooksConfig(t, st)
	for _, o := range opts {
		o(&cfg)
	}
	e.srv, err = New(cfg)
	must(t, err)
	return e
}

// testPublicURL is the public URL the test server believes it has.
const testPublicURL = "https://passhub.test"

// appleConfig wires the Apple side over st. The pusher never sends here
// (no worker runs); it only records template push jobs.
func appleConfig(t testing.TB, st *sqlite.Store) *AppleConfig {
	t.Helper()
	issuer := apple.NewIssuer(st, testBox(t), testPublicURL, 100)
	return &AppleConfig{
		PassKit:   core.NewPassKit(st),
		Issuer:    issuer,
		Pusher:    apple.NewPusher(st, issuer, nil, slog.New(slog.DiscardHandler)),
		Store:     st,
		PublicURL: testPublicURL,
	}
}

func testBox(t testing.TB) *secretbox.Box {
	t.Helper()
	key := make([]byte, secretbox.KeySize)
	_, err := rand.Read(key)
	must(t, err)
	box, err := secretbox.New(key)
	must(t, err)
	return box
}

// googleConfig wires the Google side over st, a fake Google and a keys
// server publishing a test root signing key.
func (e *env) googleConfig(t testing.TB, st *sqlite.Store) *GoogleConfig {
	t.Helper()
	e.google = googletest.Start(t, googletest.Options{})
	e.signer = callback.NewTestSigner()
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(e.signer.KeysJSON(time.Now().Add(24 * time.Hour)))
	}))
	t.Cleanup(keys.Close)
	e.keysURL = keys.URL
	return &GoogleConfig{
		Wallet:   google.NewWallet(st, testBox(t), google.WalletConfig{BaseURL: e.google.URL, PublicURL: testPublicURL, Origins: []string{testPublicURL}}),
		Verifier: callback.NewVerifier(callback.Config{KeysURL: keys.URL}),
		Store:    st,
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// response is a recorded answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// req describes a request; Body is sent as is when a string, else as JSON.
type req struct {
	Method, Path, Key string
	Body              any
	Header            map[string]string
	// Chunked hides the body length, as a chunked upload does.
	Chunked bool
}

func (e *env) do(r req) response {
	e.t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		must(e.t, err)
		body = bytes.NewReader(raw)
	}
	if r.Chunked && body != nil {
		body = io.MultiReader(body) // not a type NewRequest can measure
	}
	hr := httptest.NewRequest(r.Method, r.Path, body)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Chunked {
		hr.ContentLength = -1
	}
	if r.Key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Key)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, hr)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// ok does r and fails the test unless the answer has status want; it
// decodes the body into out when out is not nil.
func (e *env) ok(r req, want int, out any) response {
	e.t.Helper()
	res := e.do(r)
	if res.Status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", r.Method, r.Path, res.Status, want, res.Body)
	}
	if out != nil {
		if err := json.Unmarshal(res.Body, out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", r.Method, r.Path, res.Body, err)
		}
	}
	return res
}

// problem asserts res is a problem document with status and field.
func problem(t testing.TB, res response, status int, field string) Problem {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d; body %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); ct != ContentTypeProblem {
		t.Fatalf("Content-Type %q, want %q; body %s", ct, ContentTypeProblem, res.Body)
	}
	var p Problem
	if err := json.Unmarshal(res.Body, &p); err != nil {
		t.Fatalf("decoding problem %s: %v", res.Body, err)
	}
	if p.Status != status || p.Title == "" || p.Detail == "" || !strings.HasPrefix(p.Type, problemTypePrefix) {
		t.Fatalf("incomplete problem %+v", p)
	}
	if p.Field != field {
		t.Fatalf("problem field %q, want %q (%s)", p.Field, field, p.Detail)
	}
	return p
}

// template creates a minimal valid template with key and returns its ID.
func (e *env) template(key, name string) string {
	e.t.Helper()
	var tpl core.Template
	e.ok(req{Method: "POST", Path: "/v1/templates", Key: key, Body: map[string]any{
		"name": name, "style": "storeCard", "organizationName": "Acme",
		"fields": map[string]any{"primary": []any{map[string]any{"key": "points", "label": "Points"}}},
	}}, http.StatusCreated, &tpl)
	return tpl.ID
}

// pass creates a pass and returns it.
func (e *env) pass(key string, body map[string]any) core.Pass {
	e.t.Helper()
	var p core.Pass
	e.ok(req{Method: "POST", Path: "/v1/passes", Key: key, Body: body}, http.StatusCreated, &p)
	return p
}

// syncBuffer is a log sink safe for concurrent requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines decodes the JSON log lines.
func (b *syncBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}
