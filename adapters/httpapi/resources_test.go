package httpapi

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/passhub/passhub/core"
)

func TestTemplates(t *testing.T) {
	e := newEnv(t)
	var tpl core.Template
	res := e.ok(req{Method: "POST", Path: "/v1/templates", Key: e.editor, Body: map[string]any{
		"name": "Loyalty", "style": "storeCard", "organizationName": "Acme", "description": "points card",
		"colors":  map[string]any{"background": "#112233", "foreground": "rgb(255, 255, 255)"},
		"fields":  map[string]any{"primary": []any{map[string]any{"key": "points", "label": "Points"}}},
		"barcode": map[string]any{"format": "QR", "message": "{{externalId}}"},
	}}, http.StatusCreated, &tpl)
	if res.Header.Get("Location") != "/v1/templates/"+tpl.ID || tpl.Version != 1 || tpl.WorkspaceID != e.wsID {
		t.Fatalf("created %+v at %q", tpl, res.Header.Get("Location"))
	}
	path := "/v1/templates/" + tpl.ID

	t.Run("GET answers what POST made", func(t *testing.T) {
		var got core.Template
		e.ok(req{Method: "GET", Path: path, Key: e.viewer}, http.StatusOK, &got)
		if !reflect.DeepEqual(got, tpl) {
			t.Fatalf("got %+v, want %+v", got, tpl)
		}
	})
	t.Run("PATCH is a JSON merge patch: members replace, objects merge, null removes", func(t *testing.T) {
		var got core.Template
		e.ok(req{Method: "PATCH", Path: path, Key: e.editor, Body: `{"name":"Gold","colors":{"foreground":null,"label":"#000000"},"barcode":null}`},
			http.StatusOK, &got)
		want := tpl
		want.Name, want.Colors, want.Barcode = "Gold", core.Colors{Background: "#112233", Label: "#000000"}, nil
		want.Version, want.UpdatedAt = 2, got.UpdatedAt
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("patched to %+v, want %+v", got, want)
		}
	})
	t.Run("a PATCH that changes nothing keeps the version", func(t *testing.T) {
		var got core.Template
		e.ok(req{Method: "PATCH", Path: path, Key: e.editor, Body: `{"name":"Gold"}`}, http.StatusOK, &got)
		if got.Version != 2 {
			t.Fatalf("version %d, want 2", got.Version)
		}
	})
	t.Run("PATCH refuses what a POST would", func(t *testing.T) {
		for _, tt := range []struct {
			body   string
			status int
			field  string
		}{
			{`{"version":9}`, 400, "version"},
			{`{"id":"tpl_other"}`, 400, "id"},
			{`{"createdAt":"2020-01-01T00:00:00Z"}`, 400, "createdAt"},
			{`{"colour":"red"}`, 400, "colour"},
			{`{"fields":{"front":[]}}`, 400, "front"},
			{`{"name":7}`, 400, "name"},
			{`["name"]`, 400, ""},
			{`{"name":null}`, 422, "name"},
			{`{"style":"poster"}`, 422, "style"},
			{`{"colors":{"label":"red"}}`, 422, "colors.label"},
		} {
			problem(t, e.do(req{Method: "PATCH", Path: path, Key: e.editor, Body: tt.body}), tt.status, tt.field)
		}
		var got core.Template
		e.ok(req{Method: "GET", Path: path, Key: e.viewer}, http.StatusOK, &got)
		if got.Version != 2 || got.Name != "Gold" {
			t.Fatalf("a refused PATCH changed the template: %+v", got)
		}
	})
	t.Run("list and delete", func(t *testing.T) {
		other := e.template(e.admin, "second")
		var page struct {
			Data       []core.Template
			NextCursor *string
		}
		e.ok(req{Method: "GET", Path: "/v1/templates", Key: e.viewer}, http.StatusOK, &page)
		if len(page.Data) != 2 || page.Data[0].ID != tpl.ID || page.Data[1].ID != other || page.NextCursor != nil {
			t.Fatalf("list = %+v", page)
		}
		res := e.ok(req{Method: "DELETE", Path: "/v1/templates/" + other, Key: e.admin}, http.StatusNoContent, nil)
		if len(res.Body) != 0 {
			t.Errorf("204 with body %q", res.Body)
		}
		problem(t, e.do(req{Method: "GET", Path: "/v1/templates/" + other, Key: e.admin}), http.StatusNotFound, "")
	})
}

func TestPasses(t *testing.T) {
	e := newEnv(t)
	tplID := e.template(e.admin, "card")
	var p core.Pass
	res := e.ok(req{Method: "POST", Path: "/v1/passes", Key: e.editor, Body: map[string]any{
		"templateId": tplID, "externalId": "crm-1", "data": map[string]any{"points": 10, "tier": "gold"},
	}}, http.StatusCreated, &p)
	if res.Header.Get("Location") != "/v1/passes/"+p.ID {
		t.Fatalf("Location %q", res.Header.Get("Location"))
	}
	if p.ExternalID != "crm-1" || p.Lifecycle != core.LifecycleActive || p.Version != 1 || p.WalletStatus != core.WalletNone {
		t.Fatalf("created %+v", p)
	}
	path := "/v1/passes/" + p.ID

	t.Run("without an external ID the pass ID is used, and data is an object", func(t *testing.T) {
		q := e.pass(e.admin, map[string]any{"templateId": tplID})
		if q.ExternalID != q.ID || q.Data == nil {
			t.Fatalf("pass %+v", q)
		}
	})
	t.Run("PATCH merges data; null removes a key", func(t *testing.T) {
		var got core.Pass
		e.ok(req{Method: "PATCH", Path: path, Key: e.editor, Body: `{"data":{"points":15,"tier":null},"message":"You earned 5 points"}`},
			http.StatusOK, &got)
		if !reflect.DeepEqual(got.Data, map[string]any{"points": float64(15)}) || got.Version != 2 {
			t.Fatalf("patched %+v", got)
		}
	})
	t.Run("PATCH moves the lifecycle", func(t *testing.T) {
		var got core.Pass
		e.ok(req{Method: "PATCH", Path: path, Key: e.editor, Body: `{"lifecycle":"voided"}`}, http.StatusOK, &got)
		if got.Lifecycle != core.LifecycleVoided || got.Version != 3 {
			t.Fatalf("patched %+v", got)
		}
	})
	t.Run("DELETE answers 200 with the deleted pass, again and again", func(t *testing.T) {
		for range 2 {
			var got core.Pass
			e.ok(req{Method: "DELETE", Path: path, Key: e.editor}, http.StatusOK, &got)
			if got.Lifecycle != core.LifecycleDeleted || got.Version != 4 {
				t.Fatalf("deleted %+v", got)
			}
		}
		var got core.Pass
		e.ok(req{Method: "GET", Path: path, Key: e.viewer}, http.StatusOK, &got)
		if got.Lifecycle != core.LifecycleDeleted {
			t.Fatalf("after delete %+v", got)
		}
	})
	t.Run("a deleted pass cannot be patched", func(t *testing.T) {
		problem(t, e.do(req{Method: "PATCH", Path: path, Key: e.editor, Body: `{"data":{"points":1}}`}), http.StatusConflict, "lifecycle")
	})
}

func TestPassesByExternalID(t *testing.T) {
	e := newEnv(t)
	tplID := e.template(e.admin, "card")
	// External IDs are the source system's: they may hold '/', '%', spaces.
	for _, ext := range []string{"crm-42", "orders/2025/7", "50% off", "jane@example.com", "ünï cödé"} {
		t.Run(ext, func(t *testing.T) {
			path := "/v1/templates/" + tplID + "/passes/" + url.PathEscape(ext)
			problem(t, e.do(req{Method: "GET", Path: path, Key: e.admin}), http.StatusNotFound, "")

			var created core.Pass
			res := e.ok(req{Method: "PUT", Path: path, Key: e.editor, Body: `{"data":{"points":1}}`}, http.StatusCreated, &created)
			if created.ExternalID != ext || created.TemplateID != tplID || res.Header.Get("Location") != "/v1/passes/"+created.ID {
				t.Fatalf("PUT created %+v, Location %q", created, res.Header.Get("Location"))
			}

			var replaced core.Pass
			e.ok(req{Method: "PUT", Path: path, Key: e.editor, Body: `{"data":{"tier":"gold"},"lifecycle":"expired"}`}, http.StatusOK, &replaced)
			if replaced.ID != created.ID || replaced.Version != 2 || replaced.Lifecycle != core.LifecycleExpired ||
				!reflect.DeepEqual(replaced.Data, map[string]any{"tier": "gold"}) {
				t.Fatalf("PUT replaced %+v", replaced)
			}

			var got core.Pass
			e.ok(req{Method: "GET", Path: path, Key: e.viewer}, http.StatusOK, &got)
			if got.ID != created.ID || got.Version != 2 {
				t.Fatalf("GET %+v", got)
			}
			e.ok(req{Method: "PATCH", Path: path, Key: e.editor, Body: `{"data":{"points":3}}`}, http.StatusOK, &got)
			if !reflect.DeepEqual(got.Data, map[string]any{"tier": "gold", "points": float64(3)}) {
				t.Fatalf("PATCH %+v", got)
			}
			e.ok(req{Method: "DELETE", Path: path, Key: e.editor}, http.StatusOK, &got)
			if got.Lifecycle != core.LifecycleDeleted {
				t.Fatalf("DELETE %+v", got)
			}
			// PUT revives a deleted pass.
			e.ok(req{Method: "PUT", Path: path, Key: e.editor, Body: `{}`}, http.StatusOK, &got)
			if got.Lifecycle != core.LifecycleActive || got.ID != created.ID {
				t.Fatalf("PUT after delete %+v", got)
			}
		})
	}
	t.Run("an unknown template is 404", func(t *testing.T) {
		problem(t, e.do(req{Method: "PUT", Path: "/v1/templates/tpl_nope/passes/x", Key: e.editor, Body: `{}`}), http.StatusNotFound, "")
	})
	t.Run("the body may not name the template or external ID", func(t *testing.T) {
		problem(t, e.do(req{Method: "PUT", Path: "/v1/templates/" + tplID + "/passes/x", Key: e.editor, Body: `{"externalId":"y"}`}),
			http.StatusBadRequest, "externalId")
	})
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	tplID := e.template(e.admin, "card")
	p := e.pass(e.editor, map[string]any{"templateId": tplID, "externalId": "c1", "data": map[string]any{"points": 1}})

	type eventPage struct {
		Data       []core.Event
		NextCursor string
	}
	list := func(query string) (page eventPage) {
		t.Helper()
		e.ok(req{Method: "GET", Path: "/v1/events" + query, Key: e.viewer}, http.StatusOK, &page)
		return page
	}
	page := list("")
	if len(page.Data) != 1 || page.Data[0].Type != core.EventRecordAdded || page.Data[0].Data.PassID != p.ID ||
		page.Data[0].Data.ExternalID != "c1" || page.Data[0].Data.Fields["points"] != float64(1) {
		t.Fatalf("after create: %+v", page)
	}
	added := page.Data[0]

	e.ok(req{Method: "PATCH", Path: "/v1/passes/" + p.ID, Key: e.editor, Body: `{"data":{"points":2}}`}, http.StatusOK, nil)
	page = list("")
	if len(page.Data) != 2 || page.Data[0].Type != core.EventUpdated || page.Data[1].ID != added.ID {
		t.Fatalf("newest first with stable IDs: %+v", page)
	}
	if !reflect.DeepEqual(page.Data[0].Data.Changed, []string{"points"}) {
		t.Errorf("changed = %v", page.Data[0].Data.Changed)
	}

	page = list("?type=pass.record_added")
	if len(page.Data) != 1 || page.Data[0].ID != added.ID {
		t.Fatalf("type filter: %+v", page)
	}
	page = list("?limit=1")
	if len(page.Data) != 1 || page.NextCursor == "" {
		t.Fatalf("first page of one: %+v", page)
	}
	page = list("?limit=1&cursor=" + url.QueryEscape(page.NextCursor))
	if len(page.Data) != 1 || page.Data[0].ID != added.ID || page.NextCursor != "" {
		t.Fatalf("second page: %+v", page)
	}
	page = list("?since=2999-01-01T00:00:00Z")
	if len(page.Data) != 0 {
		t.Fatalf("since the future: %+v", page)
	}
}
