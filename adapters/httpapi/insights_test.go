package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

func TestInstallInsights(t *testing.T) {
	e := newGoogleEnv(t)
	apple := map[string]string{"Authorization": "ApplePass " + e.pass.AuthToken}
	// Saved to Google, added to Apple, deleted from Google: through the
	// real callback and PassKit endpoints.
	e.ok(req{Method: "POST", Path: "/google/callbacks", Body: string(e.callbackBody("save"))}, http.StatusOK, nil)
	e.ok(req{Method: "POST", Path: e.passkitPath("d1"), Body: `{"pushToken":"abcd"}`, Header: apple}, http.StatusCreated, nil)
	e.ok(req{Method: "POST", Path: "/google/callbacks", Body: string(e.callbackBody("del"))}, http.StatusOK, nil)

	day := 24 * time.Hour
	from := time.Now().UTC().Add(-2 * day)
	to := time.Now().UTC().Add(day)
	path := "/v1/insights/installs?interval=day&from=" + url.QueryEscape(from.Format(time.RFC3339Nano)) + "&to=" + url.QueryEscape(to.Format(time.RFC3339Nano))
	res := e.ok(req{Method: "GET", Path: path, Key: e.viewer}, http.StatusOK, nil)

	// The exact shape clients read.
	var raw map[string]any
	must(t, json.Unmarshal(res.Body, &raw))
	keys := func(m any) []string {
		var out []string
		for k := range m.(map[string]any) {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if got := keys(raw); !slices.Equal(got, []string{"buckets", "from", "interval", "to"}) {
		t.Fatalf("answer keys %v", got)
	}
	bucket := raw["buckets"].([]any)[0]
	if got := keys(bucket); !slices.Equal(got, []string{"activeInstalls", "apple", "end", "google", "start"}) {
		t.Fatalf("bucket keys %v", got)
	}
	if got := keys(bucket.(map[string]any)["apple"]); !slices.Equal(got, []string{"installs", "uninstalls"}) {
		t.Fatalf("platform keys %v", got)
	}
	if got := keys(bucket.(map[string]any)["activeInstalls"]); !slices.Equal(got, []string{"apple", "google", "total"}) {
		t.Fatalf("activeInstalls keys %v", got)
	}

	var got core.InstallInsights
	must(t, json.Unmarshal(res.Body, &got))
	if !got.From.Equal(from.Truncate(day)) || !got.To.Equal(to.Truncate(day).Add(day)) || len(got.Buckets) != 4 {
		t.Fatalf("from %s to %s in %d buckets, want whole UTC days around %s..%s", got.From, got.To, len(got.Buckets), from, to)
	}
	var sum core.PlatformCounts
	for i, b := range got.Buckets {
		if !b.Start.Equal(got.From.Add(time.Duration(i)*day)) || !b.End.Equal(b.Start.Add(day)) {
			t.Errorf("bucket %d from %s to %s", i, b.Start, b.End)
		}
		sum.Apple.Installs += b.Apple.Installs
		sum.Apple.Uninstalls += b.Apple.Uninstalls
		sum.Google.Installs += b.Google.Installs
		sum.Google.Uninstalls += b.Google.Uninstalls
	}
	if want := (core.PlatformCounts{Apple: core.InstallCounts{Installs: 1}, Google: core.InstallCounts{Installs: 1, Uninstalls: 1}}); sum != want {
		t.Errorf("counts %+v, want %+v", sum, want)
	}
	if last := got.Buckets[3].ActiveInstalls; last != (core.ActiveInstalls{Apple: 1, Google: 0, Total: 1}) {
		t.Errorf("active at the end %+v, want the pass in Apple Wallet only", last)
	}
	if first := got.Buckets[0].ActiveInstalls; first.Total != 0 {
		t.Errorf("active two days ago %+v, want none", first)
	}

	// Another template has none; another workspace sees nothing.
	var other core.InstallInsights
	e.ok(req{Method: "GET", Path: path + "&templateId=tpl_other", Key: e.viewer}, http.StatusOK, &other)
	for _, b := range other.Buckets {
		if b.PlatformCounts != (core.PlatformCounts{}) || b.ActiveInstalls != (core.ActiveInstalls{}) {
			t.Errorf("another template: %+v", b)
		}
	}
	e.ok(req{Method: "GET", Path: path, Key: e.other}, http.StatusOK, &other)
	if b := other.Buckets[3]; b.ActiveInstalls.Total != 0 {
		t.Errorf("another workspace: %+v", b)
	}

	// Bad queries are problems naming the parameter: 400 when it does not
	// parse, 422 when it parses but cannot be answered.
	const day0 = "2025-03-01T00:00:00Z"
	for _, c := range []struct {
		query  string
		status int
		field  string
	}{
		{"from=" + day0 + "&to=2025-03-02T00:00:00Z&interval=week", http.StatusBadRequest, "interval"},
		{"from=yesterday&to=2025-03-02T00:00:00Z", http.StatusBadRequest, "from"},
		{"from=" + day0 + "&to=soon", http.StatusBadRequest, "to"},
		{"to=2025-03-02T00:00:00Z", http.StatusUnprocessableEntity, "from"},
		{"from=" + day0, http.StatusUnprocessableEntity, "to"},
		{"from=" + day0 + "&to=" + day0, http.StatusUnprocessableEntity, "to"},
		{"from=" + day0 + "&to=2025-02-01T00:00:00Z", http.StatusUnprocessableEntity, "to"},
		{"from=" + day0 + "&to=2025-04-11T17:00:00Z&interval=hour", http.StatusUnprocessableEntity, "to"},
	} {
		problem(t, e.do(req{Method: "GET", Path: "/v1/insights/installs?" + c.query, Key: e.viewer}), c.status, c.field)
	}
	// 1000 hours is the most one answer holds.
	var most core.InstallInsights
	e.ok(req{Method: "GET", Path: "/v1/insights/installs?interval=hour&from=" + day0 + "&to=2025-04-11T16:00:00Z", Key: e.viewer}, http.StatusOK, &most)
	if len(most.Buckets) != 1000 {
		t.Errorf("%d buckets, want 1000", len(most.Buckets))
	}
	if res := e.do(req{Method: "GET", Path: path}); res.Status != http.StatusUnauthorized {
		t.Errorf("without a key: %d", res.Status)
	}
}
