package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/passhub/passhub/core"
)

func TestBadRequestsAreProblems(t *testing.T) {
	e := newEnv(t)
	tplID := e.template(e.admin, "card")
	p := e.pass(e.admin, map[string]any{"templateId": tplID, "externalId": "taken"})
	tests := []struct {
		name   string
		r      req
		status int
		field  string
	}{
		// What the JSON decoder refuses is a 400 naming the field.
		{"malformed JSON", req{Method: "POST", Path: "/v1/templates", Body: `{"name": "x",}`}, 400, ""},
		{"empty body", req{Method: "POST", Path: "/v1/passes", Body: ``}, 400, ""},
		{"truncated body", req{Method: "POST", Path: "/v1/passes", Body: `{"templateId": "`}, 400, ""},
		{"two JSON values", req{Method: "POST", Path: "/v1/passes", Body: `{"templateId":"a"} {}`}, 400, ""},
		{"an array instead of an object", req{Method: "POST", Path: "/v1/passes", Body: `[]`}, 400, ""},
		{"unknown field", req{Method: "POST", Path: "/v1/templates", Body: `{"name":"x","style":"generic","colour":"red"}`}, 400, "colour"},
		{"unknown nested field", req{Method: "POST", Path: "/v1/templates", Body: `{"name":"x","style":"generic","colors":{"bg":"#000000"}}`}, 400, "bg"},
		{"unknown pass field", req{Method: "POST", Path: "/v1/passes", Body: `{"templateId":"` + tplID + `","points":3}`}, 400, "points"},
		{"read-only id on create", req{Method: "POST", Path: "/v1/templates", Body: `{"id":"tpl_x","name":"x","style":"generic"}`}, 400, "id"},
		{"read-only version on create", req{Method: "POST", Path: "/v1/passes", Body: `{"templateId":"` + tplID + `","version":3}`}, 400, "version"},
		{"wrong type", req{Method: "POST", Path: "/v1/templates", Body: `{"name":5,"style":"generic"}`}, 400, "name"},
		{"wrong nested type", req{Method: "POST", Path: "/v1/templates", Body: `{"name":"x","style":"generic","fields":{"primary":[{"key":7}]}}`}, 400, "fields.primary.key"},
		{"wrong type for data", req{Method: "POST", Path: "/v1/passes", Body: `{"templateId":"` + tplID + `","data":[1]}`}, 400, "data"},
		{"wrong type in a patch", req{Method: "PATCH", Path: "/v1/passes/" + p.ID, Body: `{"message":false}`}, 400, "message"},
		{"limit not a number", req{Method: "GET", Path: "/v1/passes?limit=ten"}, 400, "limit"},
		{"limit zero", req{Method: "GET", Path: "/v1/passes?limit=0"}, 400, "limit"},
		{"limit over the maximum", req{Method: "GET", Path: "/v1/events?limit=1001"}, 400, "limit"},
		{"updatedSince not RFC 3339", req{Method: "GET", Path: "/v1/passes?updatedSince=yesterday"}, 400, "updatedSince"},
		{"since not RFC 3339", req{Method: "GET", Path: "/v1/events?since=2025-01-01"}, 400, "since"},
		{"unknown walletStatus", req{Method: "GET", Path: "/v1/passes?walletStatus=blackberry"}, 400, "walletStatus"},
		{"unknown lifecycle filter", req{Method: "GET", Path: "/v1/passes?lifecycle=zombie"}, 400, "lifecycle"},
		{"unknown event type", req{Method: "GET", Path: "/v1/events?type=pass.exploded"}, 400, "type"},
		{"a cursor we did not make", req{Method: "GET", Path: "/v1/passes?cursor=!!!"}, 400, "cursor"},
		{"bad Idempotency-Key", req{Method: "POST", Path: "/v1/passes", Body: `{}`, Header: map[string]string{"Idempotency-Key": "has space"}}, 400, "Idempotency-Key"},

		// Domain validation is a 422 naming the field.
		{"missing template name", req{Method: "POST", Path: "/v1/templates", Body: `{"style":"generic"}`}, 422, "name"},
		{"missing style", req{Method: "POST", Path: "/v1/templates", Body: `{"name":"x"}`}, 422, "style"},
		{"null counts as missing", req{Method: "POST", Path: "/v1/templates", Body: `{"name":null,"style":"generic"}`}, 422, "name"},
		{"unknown style", req{Method: "POST", Path: "/v1/templates", Body: `{"name":"x","style":"poster"}`}, 422, "style"},
		{"bad nested value", req{Method: "POST", Path: "/v1/templates", Body: `{"name":"x","style":"generic","fields":{"back":[{"key":"a b"}]}}`}, 422, "fields.back[0].key"},
		{"missing templateId", req{Method: "POST", Path: "/v1/passes", Body: `{}`}, 422, "templateId"},
		{"unknown templateId", req{Method: "POST", Path: "/v1/passes", Body: `{"templateId":"tpl_nope"}`}, 422, "templateId"},
		{"lifecycle deleted on create", req{Method: "POST", Path: "/v1/passes", Body: `{"templateId":"` + tplID + `","lifecycle":"deleted"}`}, 422, "lifecycle"},

		// State conflicts are a 409 naming the field.
		{"external ID taken", req{Method: "POST", Path: "/v1/passes", Body: `{"templateId":"` + tplID + `","externalId":"taken"}`}, 409, "externalId"},

		// Transport.
		{"not JSON", req{Method: "POST", Path: "/v1/passes", Body: `templateId=x`, Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "Content-Type"},
		{"no Content-Type", req{Method: "PUT", Path: "/v1/templates/" + tplID + "/passes/x", Body: `{}`, Header: map[string]string{"Content-Type": ""}}, 415, "Content-Type"},
		{"unknown route", req{Method: "GET", Path: "/v1/nothing"}, 404, ""},
		{"unknown pass", req{Method: "GET", Path: "/v1/passes/pass_nope"}, 404, ""},
		{"wrong method", req{Method: "PUT", Path: "/v1/passes"}, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.Key = e.admin
			problem(t, e.do(tt.r), tt.status, tt.field)
		})
	}
	t.Run("a merge patch content type is JSON", func(t *testing.T) {
		e.ok(req{Method: "PATCH", Path: "/v1/passes/" + p.ID, Key: e.admin, Body: `{"data":{"a":1}}`,
			Header: map[string]string{"Content-Type": "application/merge-patch+json"}}, http.StatusOK, nil)
	})
	t.Run("a template with live passes cannot be deleted", func(t *testing.T) {
		problem(t, e.do(req{Method: "DELETE", Path: "/v1/templates/" + tplID, Key: e.admin}), http.StatusConflict, "")
	})
}

func TestBodyTooLarge(t *testing.T) {
	const limit = 4 << 10
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = limit })
	tplID := e.template(e.admin, "card")
	big := fmt.Sprintf(`{"templateId":%q,"data":{"blob":%q}}`, tplID, strings.Repeat("x", limit))
	tests := []struct {
		name string
		r    req
	}{
		{"declared by Content-Length", req{Method: "POST", Path: "/v1/passes", Body: big}},
		{"chunked", req{Method: "POST", Path: "/v1/passes", Body: big, Chunked: true}},
		{"chunked with an Idempotency-Key", req{Method: "POST", Path: "/v1/passes", Body: big, Chunked: true, Header: map[string]string{"Idempotency-Key": "k1"}}},
		{"a patch", req{Method: "PATCH", Path: "/v1/templates/" + tplID, Body: big, Chunked: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.Key = e.admin
			problem(t, e.do(tt.r), http.StatusRequestEntityTooLarge, "")
		})
	}
	t.Run("a body just under the limit is fine", func(t *testing.T) {
		body := fmt.Sprintf(`{"templateId":%q,"data":{"blob":%q}}`, tplID, strings.Repeat("x", limit-100))
		e.ok(req{Method: "POST", Path: "/v1/passes", Key: e.admin, Body: body, Chunked: true}, http.StatusCreated, nil)
	})
}

func TestProblemForMapsEveryKindOfError(t *testing.T) {
	tests := []struct {
		err    error
		status int
		field  string
	}{
		{core.Invalid("data.points", "must be a number"), 422, "data.points"},
		{fmt.Errorf("creating pass: %w", core.Invalid("externalId", "is required")), 422, "externalId"},
		{core.ErrInvalid, 422, ""},
		{&core.ConflictError{Field: "externalId", Reason: "is taken"}, 409, "externalId"},
		{fmt.Errorf("deleting: %w", core.ErrConflict), 409, ""},
		{fmt.Errorf("loading: %w", core.ErrNotFound), 404, ""},
		{core.ErrUnauthorized, 401, ""},
		{core.ErrForbidden, 403, ""},
		{&http.MaxBytesError{Limit: 1}, 413, ""},
		{context.DeadlineExceeded, 503, ""},
		{errors.New("pq: connection refused to 10.0.0.7"), 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			p := problemFor(tt.err)
			if p.Status != tt.status || p.Field != tt.field {
				t.Fatalf("problemFor(%v) = %d field %q, want %d field %q", tt.err, p.Status, p.Field, tt.status, tt.field)
			}
			if p.Status == 500 && strings.Contains(p.Detail, "10.0.0.7") {
				t.Fatalf("500 detail leaks the cause: %q", p.Detail)
			}
		})
	}
}
