package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/passhub/passhub/core"
)

func TestOpenAPIDocumentsExactlyTheRoutes(t *testing.T) {
	e := newEnv(t)
	res := e.ok(req{Method: "GET", Path: "/openapi.json"}, http.StatusOK, nil)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Info    struct{ Version string }              `json:"info"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if doc.Info.Version != "test" {
		t.Errorf("info.version %q, want the configured version", doc.Info.Version)
	}
	documented := map[Route]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[Route{Method: strings.ToUpper(method), Path: path}] = true
		}
	}
	registered := map[Route]bool{}
	for _, r := range e.srv.Routes() {
		registered[r] = true
		if !documented[r] {
			t.Errorf("%s %s is served but not documented", r.Method, r.Path)
		}
	}
	for r := range documented {
		if !registered[r] {
			t.Errorf("%s %s is documented but not served", r.Method, r.Path)
		}
	}
	// Echo's own table agrees with ours.
	for _, r := range e.srv.echo.Routes() {
		if !registered[Route{Method: r.Method, Path: openapiPath(r.Path)}] {
			t.Errorf("echo serves %s %s outside the route table", r.Method, r.Path)
		}
	}
}

func openapiPath(echoPath string) string {
	parts := strings.Split(echoPath, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = "{" + p[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func TestOpenAPIReferencesResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(mustDoc(t), &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var target any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := target.(map[string]any)
					target = m[part]
				}
				if target == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	for _, schema := range []string{"Template", "Pass", "Event", "Problem"} {
		if doc["components"].(map[string]any)["schemas"].(map[string]any)[schema] == nil {
			t.Errorf("schema %s is missing", schema)
		}
	}
}

func mustDoc(t *testing.T) []byte {
	b, err := openapiDocument("x")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	ok := pingFunc(func(context.Context) error { return nil })
	down := pingFunc(func(context.Context) error { return errors.New("dial tcp 10.1.2.3:6379: connection refused") })
	hang := pingFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	tests := []struct {
		name   string
		checks map[string]core.Pinger
		status int
		failed []string
	}{
		{"every check answers", map[string]core.Pinger{"store": ok, "redis": ok}, http.StatusOK, nil},
		{"nothing to check", nil, http.StatusOK, nil},
		{"a check fails", map[string]core.Pinger{"store": ok, "redis": down}, http.StatusServiceUnavailable, []string{"redis"}},
		{"a check hangs", map[string]core.Pinger{"store": hang, "redis": down}, http.StatusServiceUnavailable, []string{"redis", "store"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) { c.Readiness = tt.checks })
			e.ok(req{Method: "GET", Path: "/healthz"}, http.StatusOK, nil)
			start := time.Now()
			res := e.do(req{Method: "GET", Path: "/readyz"})
			if took := time.Since(start); took > readinessTimeout+time.Second {
				t.Errorf("readiness took %s", took)
			}
			if tt.status == http.StatusOK {
				if res.Status != http.StatusOK {
					t.Fatalf("status %d: %s", res.Status, res.Body)
				}
				return
			}
			p := problem(t, res, tt.status, "")
			var names []string
			for _, pe := range p.Errors {
				names = append(names, pe.Field)
			}
			if !slices.Equal(names, tt.failed) || !strings.Contains(p.Detail, strings.Join(tt.failed, ", ")) {
				t.Errorf("failed checks %v (%q), want %v", names, p.Detail, tt.failed)
			}
			if strings.Contains(string(res.Body), "10.1.2.3") {
				t.Errorf("readiness answer leaks the cause: %s", res.Body)
			}
		})
	}
}

func TestMetricsByRoutePattern(t *testing.T) {
	e := newEnv(t)
	tplID := e.template(e.admin, "card")
	e.ok(req{Method: "GET", Path: "/v1/templates/" + tplID, Key: e.admin}, http.StatusOK, nil)
	e.do(req{Method: "GET", Path: "/v1/templates/tpl_nope", Key: e.admin})
	e.do(req{Method: "GET", Path: "/wp-login.php"})
	res := e.ok(req{Method: "GET", Path: "/metrics"}, http.StatusOK, nil)
	body := string(res.Body)
	for _, want := range []string{
		`passhub_http_requests_total{method="POST",route="/v1/templates",status="201"} 1`,
		`passhub_http_requests_total{method="GET",route="/v1/templates/{id}",status="200"} 1`,
		`passhub_http_requests_total{method="GET",route="/v1/templates/{id}",status="404"} 1`,
		`passhub_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`passhub_http_request_duration_seconds_count{method="GET",route="/v1/templates/{id}",status="200"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, tplID) || strings.Contains(body, "wp-login") {
		t.Errorf("metrics carry raw paths")
	}
}

func TestTwoServersShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		newEnv(t, func(c *Config) { c.Registerer, c.Gatherer = reg, reg })
	}
}

func TestRequestLogs(t *testing.T) {
	e := newEnv(t)
	tplID := e.template(e.admin, "card")
	secretData := "s3cr3t-customer-value"
	tests := []struct {
		name     string
		sent     string
		echoedAs func(string) bool
	}{
		{"a sane request ID is honoured", "abc-123.XYZ_9", func(s string) bool { return s == "abc-123.XYZ_9" }},
		{"an insane one is replaced", "<script>\n", func(s string) bool { return s != "" && !strings.Contains(s, "<") }},
		{"a missing one is generated", "", func(s string) bool { return len(s) >= 16 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(req{Method: "POST", Path: "/v1/passes", Key: e.editor,
				Body:   `{"templateId":"` + tplID + `","data":{"note":"` + secretData + `"}}`,
				Header: map[string]string{"X-Request-ID": tt.sent}})
			id := res.Header.Get("X-Request-ID")
			if !tt.echoedAs(id) {
				t.Fatalf("X-Request-ID answered %q for %q", id, tt.sent)
			}
			lines := e.logs.lines(t)
			last := lines[len(lines)-1]
			want := map[string]any{"request_id": id, "method": "POST", "route": "/v1/passes", "status": float64(201), "workspace_id": e.wsID}
			for k, v := range want {
				if last[k] != v {
					t.Errorf("log %s = %v, want %v (%v)", k, last[k], v, last)
				}
			}
			if _, ok := last["latency_ms"]; !ok {
				t.Errorf("log has no latency: %v", last)
			}
		})
	}
	logs := e.logs.String()
	for _, secret := range []string{e.admin, e.editor, secretData, "Authorization", "Bearer"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

func TestOnCommit(t *testing.T) {
	e := newEnv(t)
	tplID := e.template(e.admin, "card") // 1
	tests := []struct {
		name  string
		r     req
		wakes bool
	}{
		{"a created pass", req{Method: "POST", Path: "/v1/passes", Key: e.editor, Body: `{"templateId":"` + tplID + `","externalId":"a"}`}, true},
		{"a replaced pass", req{Method: "PUT", Path: "/v1/templates/" + tplID + "/passes/a", Key: e.editor, Body: `{"data":{"x":1}}`}, true},
		{"a read", req{Method: "GET", Path: "/v1/passes", Key: e.editor}, false},
		{"a refused write", req{Method: "POST", Path: "/v1/passes", Key: e.editor, Body: `{}`}, false},
		{"a forbidden write", req{Method: "POST", Path: "/v1/passes", Key: e.viewer, Body: `{"templateId":"` + tplID + `"}`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.commits.Load()
			e.do(tt.r)
			if woke := e.commits.Load() > before; woke != tt.wakes {
				t.Fatalf("OnCommit called: %v, want %v", woke, tt.wakes)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "Service") {
		t.Fatalf("New without a Service: %v", err)
	}
	st := openSQLite(t)
	svc := core.NewService(st)
	if _, err := New(Config{Service: svc, Registerer: prometheus.NewRegistry()}); err == nil {
		t.Fatal("a Registerer without a Gatherer must be refused")
	}
	if _, err := New(Config{Service: svc, Readiness: map[string]core.Pinger{"redis": nil}}); err == nil {
		t.Fatal("a nil Pinger must be refused")
	}
	cfg := Config{Service: svc}.withDefaults()
	if cfg.MaxBodyBytes != DefaultMaxBodyBytes || cfg.Logger == nil || cfg.Now == nil || cfg.OnCommit == nil || cfg.Gatherer == nil {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
}

// RFC 7396 appendix A.
func TestMergePatch(t *testing.T) {
	tests := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for _, tt := range tests {
		var target, patch, want any
		for _, d := range []struct {
			s string
			v *any
		}{{tt.target, &target}, {tt.patch, &patch}, {tt.want, &want}} {
			if err := json.Unmarshal([]byte(d.s), d.v); err != nil {
				t.Fatal(err)
			}
		}
		if got := mergePatch(target, patch); !reflect.DeepEqual(got, want) {
			t.Errorf("merge %s with %s = %v, want %s", tt.target, tt.patch, got, tt.want)
		}
	}
}
