package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/passhub/passhub/core"
)

func shopifySig(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestConnectorsHooksAndTriggers(t *testing.T) {
	e := newEnv(t)
	var con connectorView
	res := e.ok(req{Method: "POST", Path: "/v1/connectors", Key: e.editor, Body: map[string]any{
		"name": "shop", "kind": "shopify", "secrets": map[string]any{"secrets": []string{"shpss_s3cret"}}, "mapping": "shopify-loyalty",
	}}, http.StatusCreated, &con)
	if con.URL != testPublicURL+"/hooks/"+con.ID || strings.Contains(string(res.Body), "shpss_s3cret") {
		t.Fatalf("connector answer %s", res.Body)
	}
	problem(t, e.do(req{Method: "POST", Path: "/v1/connectors", Key: e.editor, Body: map[string]any{"name": "x", "kind": "stripe", "mapping": "m"}}), http.StatusUnprocessableEntity, "kind")
	problem(t, e.do(req{Method: "GET", Path: "/v1/connectors/" + con.ID, Key: e.other}), http.StatusNotFound, "")

	body := `{"id":706405506930370084,"email":"ada@example.com"}`
	hook := func(sig, id string) response {
		return e.do(req{Method: "POST", Path: "/hooks/" + con.ID, Body: body, Header: map[string]string{
			"X-Shopify-Hmac-Sha256": sig, "X-Shopify-Topic": "customers/create", "X-Shopify-Shop-Domain": "acme.myshopify.com", "X-Shopify-Webhook-Id": id,
		}})
	}
	commits := e.commits.Load()
	problem(t, hook(shopifySig("wrong", body), "w1"), http.StatusUnauthorized, "")
	problem(t, hook("", "w1"), http.StatusUnauthorized, "")
	if e.commits.Load() != commits {
		t.Error("a refused delivery woke the relay")
	}
	var triggers list[core.Trigger]
	e.ok(req{Method: "GET", Path: "/v1/triggers", Key: e.viewer}, http.StatusOK, &triggers)
	if len(triggers.Data) != 0 {
		t.Fatalf("refused deliveries stored %d triggers", len(triggers.Data))
	}
	for i, want := range []string{`"accepted":1`, `"duplicates":1`} {
		res := hook(shopifySig("shpss_s3cret", body), "w1")
		if res.Status != http.StatusOK || !strings.Contains(string(res.Body), want) {
			t.Fatalf("delivery %d: %d %s, want %s", i, res.Status, res.Body, want)
		}
		// The relay hears of the trigger's job at once, not at its poll;
		// a duplicate writes no job and wakes nothing.
		if woke := e.commits.Load() != commits; woke != (i == 0) {
			t.Errorf("delivery %d woke the relay: %v, want %v", i, woke, i == 0)
		}
		commits = e.commits.Load()
	}
	e.ok(req{Method: "GET", Path: "/v1/triggers?status=received", Key: e.viewer}, http.StatusOK, &triggers)
	if len(triggers.Data) != 1 || triggers.Data[0].Topic != "customers/create" {
		t.Fatalf("triggers %+v", triggers.Data)
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/triggers?status=odd", Key: e.viewer}), http.StatusBadRequest, "status")
	e.ok(req{Method: "POST", Path: "/v1/triggers/" + triggers.Data[0].ID + "/replay", Key: e.editor}, http.StatusAccepted, nil)
	e.ok(req{Method: "DELETE", Path: "/v1/connectors/" + con.ID, Key: e.editor}, http.StatusNoContent, nil)
	problem(t, hook(shopifySig("shpss_s3cret", body), "w2"), http.StatusNotFound, "")
}

func TestMappingFilesAreValidatedAndVersioned(t *testing.T) {
	e := newEnv(t)
	e.template(e.admin, "loyalty")
	good := "rules:\n  - name: enrol\n    on: [customers/create]\n    action: upsert\n    template: loyalty\n    externalId: string(payload.id)\n    fields:\n      email: lower(payload.email)\n"
	p := problem(t, e.do(req{Method: "PUT", Path: "/v1/mappings/shop", Key: e.editor, Body: map[string]any{"source": strings.Replace(good, "loyalty", "unknown-template", 1)}}), http.StatusUnprocessableEntity, "source")
	if !strings.Contains(p.Detail, "enrol") || !strings.Contains(p.Detail, ":5:") {
		t.Fatalf("the problem should name the rule and line: %s", p.Detail)
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/mappings/shop", Key: e.viewer}), http.StatusNotFound, "")
	for v := 1; v <= 2; v++ {
		var mf core.MappingFile
		e.ok(req{Method: "PUT", Path: "/v1/mappings/shop", Key: e.editor, Body: map[string]any{"source": good}}, http.StatusOK, &mf)
		if mf.Version != int64(v) {
			t.Fatalf("version %d, want %d", mf.Version, v)
		}
	}
	problem(t, e.do(req{Method: "PUT", Path: "/v1/mappings/Bad%20Name", Key: e.editor, Body: map[string]any{"source": good}}), http.StatusBadRequest, "name")
	var all list[core.MappingFile]
	e.ok(req{Method: "GET", Path: "/v1/mappings", Key: e.viewer}, http.StatusOK, &all)
	if len(all.Data) != 1 || all.Data[0].Version != 2 {
		t.Fatalf("mappings %+v", all.Data)
	}
}

func TestConnectorKeyExpressions(t *testing.T) {
	e := newEnv(t)
	const key = "generic-key-0123456789"
	connector := func(cfg map[string]any) response {
		cfg["scheme"] = "apiKey"
		return e.do(req{Method: "POST", Path: "/v1/connectors", Key: e.editor, Body: map[string]any{
			"name": "crm", "kind": "generic", "secrets": map[string]any{"keys": []string{key}}, "config": cfg, "mapping": "m",
		}})
	}
	// Compiled when saved: the problem names the field and the position.
	p := problem(t, connector(map[string]any{"topicExpr": "payload.type +"}), http.StatusUnprocessableEntity, "config.topicExpr")
	if !strings.Contains(p.Detail, "line 1, column") {
		t.Fatalf("detail %q lacks the position", p.Detail)
	}
	problem(t, connector(map[string]any{"dedupeExpr": "nosuch.id"}), http.StatusUnprocessableEntity, "config.dedupeExpr")

	var con connectorView
	res := connector(map[string]any{"topicHeader": "X-Event", "topicExpr": `payload.type + "." + payload.action`, "dedupeExpr": "payload.id"})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	if err := json.Unmarshal(res.Body, &con); err != nil {
		t.Fatal(err)
	}
	hook := func(body string, header map[string]string) response {
		h := map[string]string{"X-Api-Key": key}
		for k, v := range header {
			h[k] = v
		}
		return e.do(req{Method: "POST", Path: "/hooks/" + con.ID, Body: body, Header: h})
	}
	cases := []struct {
		name   string
		body   string
		header map[string]string
		status int
		field  string
		topic  string
	}{
		{"no id for the dedupe key", `{"type":"order","action":"paid"}`, nil, http.StatusBadRequest, "config.dedupeExpr", ""},
		{"a fraction is no dedupe key", `{"type":"order","action":"paid","id":1.5}`, nil, http.StatusBadRequest, "config.dedupeExpr", ""},
		{"no type for the topic", `{"id":7}`, nil, http.StatusBadRequest, "config.topicExpr", ""},
		{"the expressions", `{"type":"order","action":"paid","id":706405506930370084}`, nil, http.StatusOK, "", "order.paid"},
		{"the header wins", `{"id":8}`, map[string]string{"X-Event": "order.refunded"}, http.StatusOK, "", "order.refunded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before list[core.Trigger]
			e.ok(req{Method: "GET", Path: "/v1/triggers", Key: e.viewer}, http.StatusOK, &before)
			res := hook(tc.body, tc.header)
			if tc.status != http.StatusOK {
				problem(t, res, tc.status, tc.field)
				var after list[core.Trigger]
				e.ok(req{Method: "GET", Path: "/v1/triggers", Key: e.viewer}, http.StatusOK, &after)
				if len(after.Data) != len(before.Data) {
					t.Fatalf("a refused delivery stored a trigger")
				}
				return
			}
			var r struct{ TriggerIDs []string }
			if res.Status != http.StatusOK || json.Unmarshal(res.Body, &r) != nil || len(r.TriggerIDs) != 1 {
				t.Fatalf("delivery: %d %s", res.Status, res.Body)
			}
			var tr core.Trigger
			e.ok(req{Method: "GET", Path: "/v1/triggers/" + r.TriggerIDs[0], Key: e.viewer}, http.StatusOK, &tr)
			if tr.Topic != tc.topic {
				t.Fatalf("topic %q, want %q", tr.Topic, tc.topic)
			}
		})
	}
}
