package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/passhub/passhub/core"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"no Authorization header is 401", nil, http.StatusUnauthorized},
		{"an empty bearer token is 401", map[string]string{"Authorization": "Bearer "}, http.StatusUnauthorized},
		{"another scheme is 401", map[string]string{"Authorization": "Basic " + e.admin}, http.StatusUnauthorized},
		{"an unknown key is 401", map[string]string{"Authorization": "Bearer phk_notakey"}, http.StatusUnauthorized},
		{"a known key is let in", map[string]string{"Authorization": "Bearer " + e.admin}, http.StatusOK},
		{"the scheme is case-insensitive", map[string]string{"Authorization": "bearer " + e.viewer}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(req{Method: "GET", Path: "/v1/me", Header: tt.header})
			if tt.status == http.StatusUnauthorized {
				problem(t, res, http.StatusUnauthorized, "")
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", res.Header.Get("WWW-Authenticate"))
				}
				return
			}
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
		})
	}
}

func TestMeNamesWorkspaceRoleAndKey(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		key  string
		role core.Role
	}{{e.admin, core.RoleAdmin}, {e.editor, core.RoleEditor}, {e.viewer, core.RoleViewer}} {
		var me map[string]any
		e.ok(req{Method: "GET", Path: "/v1/me", Key: tt.key}, http.StatusOK, &me)
		if me["workspaceId"] != e.wsID || me["workspaceName"] == "" || me["workspaceName"] == nil || me["role"] != string(tt.role) || !strings.HasPrefix(me["keyId"].(string), "key_") {
			t.Errorf("me = %v, want workspace %s role %s", me, e.wsID, tt.role)
		}
	}
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	tplID := e.template(e.admin, "card")
	p := e.pass(e.admin, map[string]any{"templateId": tplID, "externalId": "c1"})
	writes := []req{
		{Method: "POST", Path: "/v1/templates", Body: map[string]any{"name": "x", "style": "generic"}},
		{Method: "PATCH", Path: "/v1/templates/" + tplID, Body: map[string]any{"description": "d"}},
		{Method: "POST", Path: "/v1/passes", Body: map[string]any{"templateId": tplID}},
		{Method: "PATCH", Path: "/v1/passes/" + p.ID, Body: map[string]any{"data": map[string]any{"points": 1}}},
		{Method: "PUT", Path: "/v1/templates/" + tplID + "/passes/c2", Body: map[string]any{}},
		{Method: "PATCH", Path: "/v1/templates/" + tplID + "/passes/c1", Body: map[string]any{"data": map[string]any{"points": 2}}},
	}
	reads := []string{"/v1/templates", "/v1/templates/" + tplID, "/v1/passes", "/v1/passes/" + p.ID,
		"/v1/templates/" + tplID + "/passes/c1", "/v1/events", "/v1/me"}

	t.Run("a viewer may read everything", func(t *testing.T) {
		for _, path := range reads {
			e.ok(req{Method: "GET", Path: path, Key: e.viewer}, http.StatusOK, nil)
		}
	})
	t.Run("a viewer may not write", func(t *testing.T) {
		for _, w := range append(writes,
			req{Method: "DELETE", Path: "/v1/passes/" + p.ID},
			req{Method: "DELETE", Path: "/v1/templates/" + tplID + "/passes/c1"},
			req{Method: "DELETE", Path: "/v1/templates/" + tplID}) {
			w.Key = e.viewer
			problem(t, e.do(w), http.StatusForbidden, "")
		}
	})
	t.Run("an editor may write", func(t *testing.T) {
		for _, w := range writes {
			w.Key = e.editor
			if res := e.do(w); res.Status >= 300 {
				t.Errorf("%s %s: status %d: %s", w.Method, w.Path, res.Status, res.Body)
			}
		}
		e.ok(req{Method: "DELETE", Path: "/v1/passes/" + p.ID, Key: e.editor}, http.StatusOK, nil)
	})
}

func TestWorkspaceIsolation(t *testing.T) {
	e := newEnv(t)
	tplID := e.template(e.admin, "card")
	p := e.pass(e.admin, map[string]any{"templateId": tplID, "externalId": "c1", "data": map[string]any{"points": 5}})
	byExt := "/v1/templates/" + tplID + "/passes/c1"

	t.Run("another workspace's IDs are not found", func(t *testing.T) {
		for _, r := range []req{
			{Method: "GET", Path: "/v1/templates/" + tplID},
			{Method: "PATCH", Path: "/v1/templates/" + tplID, Body: map[string]any{"name": "mine"}},
			{Method: "DELETE", Path: "/v1/templates/" + tplID},
			{Method: "GET", Path: "/v1/passes/" + p.ID},
			{Method: "PATCH", Path: "/v1/passes/" + p.ID, Body: map[string]any{"data": map[string]any{"points": 0}}},
			{Method: "DELETE", Path: "/v1/passes/" + p.ID},
			{Method: "GET", Path: byExt},
			{Method: "PUT", Path: byExt, Body: map[string]any{"data": map[string]any{"points": 0}}},
			{Method: "PATCH", Path: byExt, Body: map[string]any{"data": map[string]any{"points": 0}}},
			{Method: "DELETE", Path: byExt},
		} {
			r.Key = e.other
			t.Run(r.Method+" "+r.Path, func(t *testing.T) { problem(t, e.do(r), http.StatusNotFound, "") })
		}
	})
	t.Run("another workspace's template cannot be used", func(t *testing.T) {
		res := e.do(req{Method: "POST", Path: "/v1/passes", Key: e.other, Body: map[string]any{"templateId": tplID}})
		problem(t, res, http.StatusUnprocessableEntity, "templateId")
	})
	t.Run("lists never show another workspace's objects", func(t *testing.T) {
		for _, path := range []string{"/v1/templates", "/v1/passes", "/v1/passes?templateId=" + tplID, "/v1/events"} {
			var page struct{ Data []map[string]any }
			e.ok(req{Method: "GET", Path: path, Key: e.other}, http.StatusOK, &page)
			if len(page.Data) != 0 {
				t.Errorf("GET %s as other workspace: %d items, want none", path, len(page.Data))
			}
		}
	})
	t.Run("the owner still sees its pass unchanged", func(t *testing.T) {
		var got core.Pass
		e.ok(req{Method: "GET", Path: "/v1/passes/" + p.ID, Key: e.admin}, http.StatusOK, &got)
		if got.Version != 1 || got.Lifecycle != core.LifecycleActive || got.Data["points"] != float64(5) {
			t.Errorf("pass changed by another workspace: %+v", got)
		}
	})
}
