package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/passhub/passhub/core"
)

// walkPasses follows nextCursor of GET /v1/passes?query to the end and
// returns every pass as the API showed it, raw.
func (e *env) walkPasses(t *testing.T, query string, limit int) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
		path := fmt.Sprintf("/v1/passes?limit=%d&%s", limit, query)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page list[json.RawMessage]
		e.ok(req{Method: "GET", Path: path, Key: e.viewer}, http.StatusOK, &page)
		out = append(out, page.Data...)
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

func rawIDs(t *testing.T, raws []json.RawMessage) []string {
	t.Helper()
	out := make([]string, len(raws))
	for i, r := range raws {
		var p struct{ ID string }
		if err := json.Unmarshal(r, &p); err != nil {
			t.Fatal(err)
		}
		out[i] = p.ID
	}
	return out
}

func TestPassBackfill(t *testing.T) {
	e := newGoogleEnv(t)
	tpl := e.pass.TemplateID
	ids := []string{e.pass.ID}
	for i := range 3 {
		ids = append(ids, e.env.pass(e.editor, map[string]any{"templateId": tpl, "externalId": fmt.Sprintf("b-%d", i)}).ID)
	}
	const all = "changedSince=1970-01-01T00:00:00Z"
	for _, limit := range []int{1, 3, 1000} {
		if got := rawIDs(t, e.walkPasses(t, all, limit)); !slices.Equal(got, ids) {
			t.Fatalf("limit %d: change order %v, want creation order %v before any change", limit, got, ids)
		}
	}

	// A PATCH and a save to Google Wallet (through the signed callback)
	// move passes to the end, in the order they happened.
	e.ok(req{Method: "PATCH", Path: "/v1/passes/" + ids[1], Key: e.editor, Body: map[string]any{"data": map[string]any{"points": 5}}}, http.StatusOK, nil)
	e.ok(req{Method: "POST", Path: "/google/callbacks", Body: string(e.callbackBody("save"))}, http.StatusOK, nil)
	want := []string{ids[2], ids[3], ids[1], ids[0]}
	for _, limit := range []int{1, 3, 1000} {
		if got := rawIDs(t, e.walkPasses(t, all, limit)); !slices.Equal(got, want) {
			t.Fatalf("limit %d: change order %v, want %v", limit, got, want)
		}
	}
	// Each pass is shown exactly as GET /v1/passes/{id} shows it.
	for _, raw := range e.walkPasses(t, all, 2) {
		id := rawIDs(t, []json.RawMessage{raw})[0]
		one := e.ok(req{Method: "GET", Path: "/v1/passes/" + id, Key: e.viewer}, http.StatusOK, nil)
		var a, b any
		must(t, json.Unmarshal(raw, &a))
		must(t, json.Unmarshal(one.Body, &b))
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("pass %s in the backfill %s, by ID %s", id, raw, one.Body)
		}
	}

	// Filters combine with changedSince; a time after every change gives
	// nothing. The creation-order walk is as it was.
	if got := rawIDs(t, e.walkPasses(t, all+"&walletStatus=google", 1)); !slices.Equal(got, []string{ids[0]}) {
		t.Errorf("walletStatus=google: %v, want %v", got, ids[:1])
	}
	if got := rawIDs(t, e.walkPasses(t, "changedSince=2999-01-01T00:00:00Z", 10)); len(got) != 0 {
		t.Errorf("changedSince in the future: %v", got)
	}
	if got := rawIDs(t, e.walkPasses(t, "", 2)); !slices.Equal(got, ids) {
		t.Errorf("without changedSince: %v, want creation order %v", got, ids)
	}
	var p core.Pass
	e.ok(req{Method: "GET", Path: "/v1/passes/" + ids[0], Key: e.viewer}, http.StatusOK, &p)
	since := url.QueryEscape(p.WalletLastChangedAt.Format("2006-01-02T15:04:05.999999Z07:00"))
	if got := rawIDs(t, e.walkPasses(t, "changedSince="+since, 10)); !slices.Contains(got, ids[0]) {
		t.Errorf("changedSince=its walletLastChangedAt: %v lacks the pass", got)
	}

	// Bad parameters are problems naming the parameter.
	var page list[core.Pass]
	e.ok(req{Method: "GET", Path: "/v1/passes?limit=1", Key: e.viewer}, http.StatusOK, &page)
	for _, c := range []struct{ query, field string }{
		{"changedSince=yesterday", "changedSince"},
		{all + "&walletStatus=blackberry", "walletStatus"},
		{all + "&lifecycle=asleep", "lifecycle"},
		{all + "&cursor=" + url.QueryEscape(page.NextCursor), "cursor"},
	} {
		problem(t, e.do(req{Method: "GET", Path: "/v1/passes?" + c.query, Key: e.viewer}), http.StatusBadRequest, c.field)
	}
}
