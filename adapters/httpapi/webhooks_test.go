package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/adapters/webhooks"
	"github.com/passhub/passhub/core"
)

// testHosts is the DNS the guard sees in these tests: a fixed table, so
// the tests do not depend on the network. rebind.example.com stands for a
// name pointing into the private network.
type testHosts map[string]string

func (h testHosts) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	a, ok := h[host]
	if !ok {
		return nil, fmt.Errorf("lookup %s: no such host", host)
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

var webhookHosts = testHosts{
	"hooks.example.com":  "93.184.215.14",
	"new.example.com":    "93.184.215.15",
	"x.example.com":      "93.184.215.16",
	"hooks.zapier.com":   "54.172.1.1",
	"rebind.example.com": "10.0.0.5",
}

// webhooksConfig uses the delivery guard with its production policy
// (private addresses refused) over webhookHosts.
func webhooksConfig(t testing.TB, st *sqlite.Store) *WebhooksConfig {
	t.Helper()
	m, err := webhooks.NewManager(webhooks.Config{Store: st, Box: testBox(t), URLs: &webhooks.Guard{Resolver: webhookHosts}})
	must(t, err)
	return &WebhooksConfig{Manager: m}
}

// webhookAnswer is a subscription as the API answers it, secret included
// when there is one.
type webhookAnswer struct {
	core.WebhookSubscription
	Secret                  string     `json:"secret"`
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt"`
}

func (e *env) webhook(body map[string]any) webhookAnswer {
	e.t.Helper()
	var w webhookAnswer
	res := e.ok(req{Method: "POST", Path: "/v1/webhooks", Key: e.admin, Body: body}, http.StatusCreated, &w)
	if res.Header.Get("Location") != "/v1/webhooks/"+w.ID {
		e.t.Fatalf("Location %q", res.Header.Get("Location"))
	}
	return w
}

func (e *env) webhookCount() int {
	e.t.Helper()
	var l list[core.WebhookSubscription]
	e.ok(req{Method: "GET", Path: "/v1/webhooks", Key: e.admin}, http.StatusOK, &l)
	return len(l.Data)
}

func TestWebhookCreateRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	tpl := e.template(e.admin, "loyalty")
	good := func(over map[string]any) map[string]any {
		b := map[string]any{"url": "https://hooks.example.com/passhub", "events": []string{"pass.*"}}
		for k, v := range over {
			if v == nil {
				delete(b, k)
				continue
			}
			b[k] = v
		}
		return b
	}
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"malformed JSON", `{"url":`, http.StatusBadRequest, ""},
		{"unknown field", good(map[string]any{"secret": "whsec_mine"}), http.StatusBadRequest, "secret"},
		{"read-only field", good(map[string]any{"id": "whk_x"}), http.StatusBadRequest, "id"},
		{"events not an array", good(map[string]any{"events": "pass.*"}), http.StatusBadRequest, "events"},
		{"fields not an object", good(map[string]any{"fields": []string{"x"}}), http.StatusBadRequest, "fields"},
		{"no url", good(map[string]any{"url": nil}), http.StatusUnprocessableEntity, "url"},
		{"relative url", good(map[string]any{"url": "/hooks"}), http.StatusUnprocessableEntity, "url"},
		{"not http", good(map[string]any{"url": "file:///etc/passwd"}), http.StatusUnprocessableEntity, "url"},
		{"long url", good(map[string]any{"url": "https://hooks.example.com/" + strings.Repeat("a", 2048)}), http.StatusUnprocessableEntity, "url"},
		{"loopback url", good(map[string]any{"url": "http://127.0.0.1:8080/h"}), http.StatusUnprocessableEntity, "url"},
		{"private url", good(map[string]any{"url": "http://10.1.2.3/h"}), http.StatusUnprocessableEntity, "url"},
		{"metadata url", good(map[string]any{"url": "http://169.254.169.254/latest/meta-data"}), http.StatusUnprocessableEntity, "url"},
		{"IPv6 loopback url", good(map[string]any{"url": "http://[::1]/h"}), http.StatusUnprocessableEntity, "url"},
		{"name of a private address", good(map[string]any{"url": "https://rebind.example.com/h"}), http.StatusUnprocessableEntity, "url"},
		{"name that does not resolve", good(map[string]any{"url": "https://nowhere.example.com/h"}), http.StatusUnprocessableEntity, "url"},
		{"no events", good(map[string]any{"events": nil}), http.StatusUnprocessableEntity, "events"},
		{"empty events", good(map[string]any{"events": []string{}}), http.StatusUnprocessableEntity, "events"},
		{"unknown event", good(map[string]any{"events": []string{"pass.installed", "pass.scanned"}}), http.StatusUnprocessableEntity, "events[1]"},
		{"unknown template", good(map[string]any{"templateId": "tpl_nope"}), http.StatusUnprocessableEntity, "templateId"},
		{"remove passId", good(map[string]any{"fields": map[string]any{"passId": nil}}), http.StatusUnprocessableEntity, "fields.passId"},
		{"unknown payload field", good(map[string]any{"fields": map[string]any{"points": "p"}}), http.StatusUnprocessableEntity, "fields.points"},
		{"empty new name", good(map[string]any{"fields": map[string]any{"fields.points": ""}}), http.StatusUnprocessableEntity, "fields.fields.points"},
		{"clashing names", good(map[string]any{"fields": map[string]any{"externalId": "id", "templateId": "id"}}), http.StatusUnprocessableEntity, "fields.templateId"},
		{"zapier without event", map[string]any{"target_url": "https://hooks.zapier.com/1"}, http.StatusUnprocessableEntity, "event"},
		{"zapier bad event", map[string]any{"target_url": "https://hooks.zapier.com/1", "event": "new_pass"}, http.StatusUnprocessableEntity, "event"},
		{"zapier mixed with url", map[string]any{"target_url": "https://hooks.zapier.com/1", "event": "pass.installed", "url": "https://x.example.com"}, http.StatusUnprocessableEntity, "target_url"},
		{"zapier private url", map[string]any{"target_url": "http://192.168.1.10/", "event": "pass.installed"}, http.StatusUnprocessableEntity, "target_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problem(t, e.do(req{Method: "POST", Path: "/v1/webhooks", Key: e.admin, Body: tc.body}), tc.status, tc.field)
		})
	}
	if n := e.webhookCount(); n != 0 {
		t.Fatalf("%d webhooks stored after refused requests, want 0", n)
	}
	// The same body with the mistakes fixed is accepted.
	e.webhook(good(map[string]any{"templateId": tpl, "fields": map[string]any{"passId": "id", "fields.points": "loyaltyPoints", "walletStatus": nil}}))
}

func TestWebhookAccessIsAdminOnly(t *testing.T) {
	e := newEnv(t)
	w := e.webhook(map[string]any{"url": "https://hooks.example.com/x", "events": []string{"*"}})
	for _, key := range []string{e.editor, e.viewer} {
		for _, r := range []req{
			{Method: "POST", Path: "/v1/webhooks", Body: map[string]any{"url": "https://hooks.example.com/y", "events": []string{"*"}}},
			{Method: "GET", Path: "/v1/webhooks"},
			{Method: "GET", Path: "/v1/webhooks/" + w.ID},
			{Method: "PATCH", Path: "/v1/webhooks/" + w.ID, Body: map[string]any{"disabled": true}},
			{Method: "POST", Path: "/v1/webhooks/" + w.ID + "/rotate-secret"},
			{Method: "GET", Path: "/v1/webhooks/" + w.ID + "/deliveries"},
			{Method: "DELETE", Path: "/v1/webhooks/" + w.ID},
		} {
			r.Key = key
			problem(t, e.do(r), http.StatusForbidden, "")
		}
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/webhooks"}), http.StatusUnauthorized, "")
	problem(t, e.do(req{Method: "GET", Path: "/v1/webhooks/" + w.ID, Key: e.other}), http.StatusNotFound, "")
	problem(t, e.do(req{Method: "DELETE", Path: "/v1/webhooks/" + w.ID, Key: e.other}), http.StatusNotFound, "")
	if n := e.webhookCount(); n != 1 {
		t.Fatalf("%d webhooks, want the one", n)
	}
}

func TestWebhookSecretIsShownOnlyOnCreateAndRotate(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	m := e.srv.cfg.Webhooks.Manager
	w := e.webhook(map[string]any{"url": "https://hooks.example.com/x", "events": []string{"pass.installed", "pass.uninstalled"}})
	if !strings.HasPrefix(w.Secret, "whsec_") || w.Origin != core.WebhookOriginAPI || w.PreviousSecretExpiresAt != nil {
		t.Fatalf("created %+v", w)
	}
	for _, path := range []string{"/v1/webhooks/" + w.ID, "/v1/webhooks"} {
		res := e.ok(req{Method: "GET", Path: path, Key: e.admin}, http.StatusOK, nil)
		if bytes.Contains(res.Body, []byte(w.Secret)) || bytes.Contains(res.Body, []byte(`"secret"`)) || bytes.Contains(res.Body, []byte("whsec_")) {
			t.Errorf("GET %s shows the secret: %s", path, res.Body)
		}
	}

	before := time.Now()
	var r webhookAnswer
	e.ok(req{Method: "POST", Path: "/v1/webhooks/" + w.ID + "/rotate-secret", Key: e.admin, Body: map[string]any{"overlap": "2h"}}, http.StatusOK, &r)
	if r.Secret == "" || r.Secret == w.Secret || r.PreviousSecretExpiresAt == nil ||
		r.PreviousSecretExpiresAt.Before(before.Add(2*time.Hour-time.Second)) || r.PreviousSecretExpiresAt.After(time.Now().Add(2*time.Hour)) {
		t.Fatalf("rotated %+v", r)
	}
	sub, err := m.Get(ctx, e.wsID, w.ID)
	must(t, err)
	oldKey, _ := webhooks.SecretKey(w.Secret)
	newKey, _ := webhooks.SecretKey(r.Secret)
	keys, err := m.SigningSecrets(sub, time.Now())
	must(t, err)
	if len(keys) != 2 || !bytes.Equal(keys[0], newKey) || !bytes.Equal(keys[1], oldKey) {
		t.Errorf("during the overlap: %d keys, want the new then the old", len(keys))
	}
	keys, err = m.SigningSecrets(sub, r.PreviousSecretExpiresAt.Add(time.Microsecond))
	must(t, err)
	if len(keys) != 1 || !bytes.Equal(keys[0], newKey) {
		t.Errorf("after the overlap: %d keys, want only the new", len(keys))
	}

	// Overlap as seconds, and no body at all (the default 24h).
	e.ok(req{Method: "POST", Path: "/v1/webhooks/" + w.ID + "/rotate-secret", Key: e.admin, Body: map[string]any{"overlap": 60}}, http.StatusOK, &r)
	if d := time.Until(*r.PreviousSecretExpiresAt); d > time.Minute || d < 50*time.Second {
		t.Errorf("overlap 60 ends in %v", d)
	}
	e.ok(req{Method: "POST", Path: "/v1/webhooks/" + w.ID + "/rotate-secret", Key: e.admin}, http.StatusOK, &r)
	if d := time.Until(*r.PreviousSecretExpiresAt); d > webhooks.DefaultRotationOverlap || d < webhooks.DefaultRotationOverlap-time.Minute {
		t.Errorf("default overlap ends in %v", d)
	}

	sealed := func() []byte {
		s, err := m.Get(ctx, e.wsID, w.ID)
		must(t, err)
		return s.SecretsSealed
	}
	kept := sealed()
	for _, bad := range []any{"soon", "-1h", -5, 1.5, 31 * 24 * 3600, "721h"} {
		problem(t, e.do(req{Method: "POST", Path: "/v1/webhooks/" + w.ID + "/rotate-secret", Key: e.admin, Body: map[string]any{"overlap": bad}}), http.StatusUnprocessableEntity, "overlap")
	}
	problem(t, e.do(req{Method: "POST", Path: "/v1/webhooks/" + w.ID + "/rotate-secret", Key: e.admin, Body: map[string]any{"grace": "1h"}}), http.StatusBadRequest, "grace")
	if !bytes.Equal(sealed(), kept) {
		t.Error("a refused rotation changed the secrets")
	}
	problem(t, e.do(req{Method: "POST", Path: "/v1/webhooks/whk_missing/rotate-secret", Key: e.admin}), http.StatusNotFound, "")
}

func TestWebhookPatchAndDelete(t *testing.T) {
	e := newEnv(t)
	tpl := e.template(e.admin, "loyalty")
	w := e.webhook(map[string]any{"url": "https://hooks.example.com/x", "events": []string{"*"}, "templateId": tpl,
		"fields": map[string]any{"externalId": "customerId"}})
	path := "/v1/webhooks/" + w.ID

	for _, tc := range []struct {
		body   any
		status int
		field  string
	}{
		{map[string]any{"url": "http://127.0.0.1/"}, http.StatusUnprocessableEntity, "url"},
		{map[string]any{"events": []string{}}, http.StatusUnprocessableEntity, "events"},
		{map[string]any{"url": "https://new.example.com", "events": []string{"*", "pass.nope"}}, http.StatusUnprocessableEntity, "events[1]"},
		{map[string]any{"templateId": "tpl_nope"}, http.StatusUnprocessableEntity, "templateId"},
		{map[string]any{"fields": map[string]any{"passId": nil}}, http.StatusUnprocessableEntity, "fields.passId"},
		{map[string]any{"disabled": "no"}, http.StatusBadRequest, "disabled"},
		{map[string]any{"origin": "zapier"}, http.StatusBadRequest, "origin"},
	} {
		problem(t, e.do(req{Method: "PATCH", Path: path, Key: e.admin, Body: tc.body}), tc.status, tc.field)
	}
	var got core.WebhookSubscription
	e.ok(req{Method: "GET", Path: path, Key: e.admin}, http.StatusOK, &got)
	if got.URL != "https://hooks.example.com/x" || got.TemplateID != tpl || *got.Fields["externalId"] != "customerId" || !got.UpdatedAt.Equal(w.UpdatedAt) {
		t.Fatalf("refused patches changed %+v", got)
	}

	got = core.WebhookSubscription{} // absent members would keep old values
	e.ok(req{Method: "PATCH", Path: path, Key: e.admin, Body: map[string]any{"url": "https://new.example.com/h", "templateId": "", "fields": nil, "events": []string{"pass.installed"}}}, http.StatusOK, &got)
	if got.URL != "https://new.example.com/h" || got.TemplateID != "" || got.Fields != nil || strings.Join(got.Events, ",") != "pass.installed" {
		t.Fatalf("patched %+v", got)
	}
	e.ok(req{Method: "PATCH", Path: path, Key: e.admin, Body: map[string]any{"disabled": true}}, http.StatusOK, &got)
	if !got.Disabled || got.DisabledAt == nil {
		t.Fatalf("paused %+v", got)
	}
	e.ok(req{Method: "PATCH", Path: path, Key: e.admin, Body: map[string]any{"disabled": false}}, http.StatusOK, &got)
	if got.Disabled || got.DisabledAt != nil {
		t.Fatalf("re-enabled %+v", got)
	}

	e.ok(req{Method: "DELETE", Path: path, Key: e.admin}, http.StatusNoContent, nil)
	problem(t, e.do(req{Method: "GET", Path: path, Key: e.admin}), http.StatusNotFound, "")
	problem(t, e.do(req{Method: "DELETE", Path: path, Key: e.admin}), http.StatusNotFound, "")
}

// Zapier's REST Hooks: subscribe with target_url and event, get an id
// back with 201, unsubscribe with DELETE.
func TestWebhookZapierRestHooks(t *testing.T) {
	e := newEnv(t)
	var raw map[string]any
	res := e.ok(req{Method: "POST", Path: "/v1/webhooks", Key: e.admin, Body: `{"target_url":"https://hooks.zapier.com/hooks/standard/123/abc","event":"pass.installed"}`}, http.StatusCreated, &raw)
	id, _ := raw["id"].(string)
	if !strings.HasPrefix(id, "whk_") || raw["origin"] != "zapier" || raw["url"] != "https://hooks.zapier.com/hooks/standard/123/abc" {
		t.Fatalf("subscribe answer %s", res.Body)
	}
	if ev, _ := raw["events"].([]any); len(ev) != 1 || ev[0] != "pass.installed" {
		t.Fatalf("events %v", raw["events"])
	}
	e.ok(req{Method: "DELETE", Path: "/v1/webhooks/" + id, Key: e.admin}, http.StatusNoContent, nil)
	if n := e.webhookCount(); n != 0 {
		t.Fatalf("%d webhooks after unsubscribe", n)
	}
}

type deliveryAnswer struct {
	core.WebhookDelivery
	History []struct {
		core.WebhookAttempt
		LatencyMS float64 `json:"latencyMs"`
	} `json:"history"`
}

func TestWebhookDeliveryLogAndReplay(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	w := e.webhook(map[string]any{"url": "https://hooks.example.com/x", "events": []string{"*"}})
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	record := func(eventID string, status core.WebhookDeliveryStatus, code int, at time.Time) core.WebhookDelivery {
		d := core.WebhookDelivery{ID: core.WebhookDeliveryID(eventID, w.ID), WorkspaceID: e.wsID, SubscriptionID: w.ID, EventID: eventID,
			EventType: core.EventInstalled, Status: status, CreatedAt: at}
		r, err := e.store.RecordWebhookAttempt(ctx, d, core.WebhookAttempt{At: at, ResponseStatus: code, ResponseBody: "nope",
			RequestHeaders: map[string]string{"webhook-id": d.ID}, Latency: 12345 * time.Microsecond})
		must(t, err)
		return r.Delivery
	}
	old := record("evt_old", core.WebhookFailed, 500, t0)
	ok := record("evt_ok", core.WebhookSucceeded, 200, t0.Add(10*time.Minute))
	failed := record("evt_failed", core.WebhookFailed, 503, t0.Add(20*time.Minute))

	// Each answer is decoded into a fresh value: an absent nextCursor
	// must not keep the previous one.
	var page list[deliveryAnswer]
	get := func(query string) {
		t.Helper()
		page = list[deliveryAnswer]{}
		e.ok(req{Method: "GET", Path: "/v1/webhooks/" + w.ID + "/deliveries" + query, Key: e.admin}, http.StatusOK, &page)
	}
	get("")
	if len(page.Data) != 3 || page.Data[0].ID != failed.ID || page.Data[2].ID != old.ID {
		t.Fatalf("deliveries %+v, want newest first", page.Data)
	}
	a := page.Data[0].History
	if len(a) != 1 || a[0].ResponseStatus != 503 || a[0].LatencyMS != 12.345 || a[0].RequestHeaders["webhook-id"] != failed.ID || a[0].ResponseBody != "nope" {
		t.Fatalf("attempts %+v", a)
	}
	get("?status=succeeded")
	if len(page.Data) != 1 || page.Data[0].ID != ok.ID {
		t.Fatalf("succeeded deliveries %+v", page.Data)
	}
	get("?limit=1")
	if len(page.Data) != 1 || page.NextCursor == "" {
		t.Fatalf("a page of 1: %+v", page)
	}
	get("?limit=5&cursor=" + url.QueryEscape(page.NextCursor))
	if len(page.Data) != 2 || page.NextCursor != "" {
		t.Fatalf("the rest: %+v", page)
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/webhooks/" + w.ID + "/deliveries?status=lost", Key: e.admin}), http.StatusBadRequest, "status")
	problem(t, e.do(req{Method: "GET", Path: "/v1/webhooks/" + w.ID + "/deliveries?since=yesterday", Key: e.admin}), http.StatusBadRequest, "since")
	problem(t, e.do(req{Method: "GET", Path: "/v1/webhooks/" + w.ID + "/deliveries?cursor=%25%25", Key: e.admin}), http.StatusBadRequest, "cursor")
	problem(t, e.do(req{Method: "GET", Path: "/v1/webhooks/whk_missing/deliveries", Key: e.admin}), http.StatusNotFound, "")

	var one deliveryAnswer
	e.ok(req{Method: "GET", Path: "/v1/deliveries/" + old.ID, Key: e.admin}, http.StatusOK, &one)
	if one.ID != old.ID || one.Attempts != 1 || len(one.History) != 1 {
		t.Fatalf("delivery %+v", one)
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/deliveries/" + old.ID, Key: e.other}), http.StatusNotFound, "")

	replayJobs := func() map[string]core.WebhookDeliverPayload {
		t.Helper()
		jobs, err := e.store.PendingJobs(ctx, 1000)
		must(t, err)
		out := map[string]core.WebhookDeliverPayload{}
		for _, j := range jobs {
			if j.Kind == core.JobKindWebhookDeliver {
				var p core.WebhookDeliverPayload
				must(t, json.Unmarshal(j.Payload, &p))
				out[j.Key] = p
			}
		}
		return out
	}

	problem(t, e.do(req{Method: "POST", Path: "/v1/webhooks/" + w.ID + "/replay", Key: e.admin}), http.StatusBadRequest, "since")
	problem(t, e.do(req{Method: "POST", Path: "/v1/webhooks/" + w.ID + "/replay?since=later", Key: e.admin}), http.StatusBadRequest, "since")
	if n := len(replayJobs()); n != 0 {
		t.Fatalf("refused replays made %d jobs", n)
	}
	var rep replayAnswer
	e.ok(req{Method: "POST", Path: "/v1/webhooks/" + w.ID + "/replay?since=" + url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339Nano)), Key: e.admin}, http.StatusAccepted, &rep)
	if rep.Replayed != 1 || len(rep.DeliveryIDs) != 1 || rep.DeliveryIDs[0] != failed.ID {
		t.Fatalf("replayed %+v, want only %s (failed since then)", rep, failed.ID)
	}
	jobs := replayJobs()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs, want 1: %v", len(jobs), jobs)
	}
	for key, p := range jobs {
		if !strings.HasPrefix(key, failed.ID+"/replay-") || p.EventID != "evt_failed" || p.SubscriptionID != w.ID {
			t.Errorf("job %s %+v", key, p)
		}
	}

	e.ok(req{Method: "POST", Path: "/v1/deliveries/" + ok.ID + "/replay", Key: e.admin}, http.StatusAccepted, &rep)
	if rep.Replayed != 1 || rep.DeliveryIDs[0] != ok.ID || len(replayJobs()) != 2 {
		t.Fatalf("single replay %+v, %d jobs", rep, len(replayJobs()))
	}
	problem(t, e.do(req{Method: "POST", Path: "/v1/deliveries/" + ok.ID + "/replay", Key: e.other}), http.StatusNotFound, "")
	problem(t, e.do(req{Method: "POST", Path: "/v1/deliveries/msg_missing/replay", Key: e.admin}), http.StatusNotFound, "")

	// Delivery disabled it: replays are refused until it is re-enabled,
	// and the event list shows webhook.disabled.
	_, err := e.store.DisableWebhook(ctx, e.wsID, w.ID, "endpoint answered 410 Gone", time.Now())
	must(t, err)
	problem(t, e.do(req{Method: "POST", Path: "/v1/deliveries/" + ok.ID + "/replay", Key: e.admin}), http.StatusConflict, "disabled")
	problem(t, e.do(req{Method: "POST", Path: "/v1/webhooks/" + w.ID + "/replay?since=" + url.QueryEscape(t0.Format(time.RFC3339)), Key: e.admin}), http.StatusConflict, "disabled")
	if n := len(replayJobs()); n != 2 {
		t.Fatalf("refused replays made jobs: %d", n)
	}
	var evs list[core.Event]
	e.ok(req{Method: "GET", Path: "/v1/events?type=webhook.disabled", Key: e.viewer}, http.StatusOK, &evs)
	if len(evs.Data) != 1 || evs.Data[0].Data.Fields["webhookId"] != w.ID {
		t.Fatalf("webhook.disabled events %+v", evs.Data)
	}
	e.ok(req{Method: "PATCH", Path: "/v1/webhooks/" + w.ID, Key: e.admin, Body: map[string]any{"disabled": false}}, http.StatusOK, nil)
	e.ok(req{Method: "POST", Path: "/v1/deliveries/" + ok.ID + "/replay", Key: e.admin}, http.StatusAccepted, nil)
}

func TestParseOverlap(t *testing.T) {
	for raw, want := range map[string]time.Duration{`"24h"`: 24 * time.Hour, `"0s"`: 0, `3600`: time.Hour, `0`: 0} {
		d, err := parseOverlap(json.RawMessage(raw))
		if err != nil || d == nil || *d != want {
			t.Errorf("%s: %v, %v; want %v", raw, d, err, want)
		}
	}
	if d, err := parseOverlap(nil); d != nil || err != nil {
		t.Errorf("absent: %v, %v; want the default (nil)", d, err)
	}
	for _, raw := range []string{`"1 day"`, `-1`, `1.5`, `true`, `{}`} {
		var fe *core.FieldError
		if _, err := parseOverlap(json.RawMessage(raw)); !errors.As(err, &fe) || fe.Field != "overlap" {
			t.Errorf("%s: %v, want a field error on overlap", raw, err)
		}
	}
}
