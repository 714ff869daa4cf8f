package connectors_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/passhub/passhub/connectors"
	"github.com/passhub/passhub/core"
)

// pipeline is intake plus the trigger.apply worker, on one SQLite store.
type pipeline struct {
	*env
	svc    *core.Service
	runner *core.JobRunner
	tpl    core.Template
	con    core.Connector
}

func newPipeline(t *testing.T) *pipeline {
	e := newEnv(t)
	p := &pipeline{env: e, svc: core.NewService(e.store)}
	p.runner = core.NewJobRunner(e.store)
	p.runner.Handle(core.JobKindTriggerApply, connectors.NewApplier(e.store, p.svc))
	var err error
	p.tpl, err = p.svc.CreateTemplate(t.Context(), e.ws, core.Template{
		Name: "loyalty", Style: core.StyleStoreCard, Description: "Acme card", OrganizationName: "Acme",
		Fields: core.FieldLayout{Primary: []core.Field{{Key: "points", Label: "Points"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../mappings/examples/shopify-loyalty.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutMapping(t.Context(), e.ws, "shopify-loyalty", string(src), time.Now()); err != nil {
		t.Fatal(err)
	}
	p.con = e.create(connectors.Input{Name: "shop", Kind: core.ConnectorShopify, Secrets: connectors.Secrets{Secrets: []string{"s3cret"}}, Mapping: "shopify-loyalty"})
	return p
}

// deliver posts a signed Shopify webhook and runs the jobs it made.
func (p *pipeline) deliver(topic, webhookID, body string) connectors.Receipt {
	p.t.Helper()
	h := shopifyHeaders("s3cret", body, webhookID)
	h.Set("X-Shopify-Topic", topic)
	r, err := p.intake.Receive(p.t.Context(), p.con.ID, http.MethodPost, h, []byte(body))
	if err != nil {
		p.t.Fatalf("%s: %v", topic, err)
	}
	jobs, err := p.store.PendingJobs(p.t.Context(), 100)
	if err != nil {
		p.t.Fatal(err)
	}
	mine := map[string]bool{}
	for _, id := range r.TriggerIDs {
		mine[id] = true
	}
	for _, j := range jobs {
		if j.Kind != core.JobKindTriggerApply || !mine[j.Key] {
			continue
		}
		if err := p.runner.Run(p.t.Context(), j.ID); err != nil {
			p.t.Fatalf("trigger.apply %s: %v", j.Key, err)
		}
	}
	return r
}

func TestShopifyTriggersIssueAPassAndRaiseItsPoints(t *testing.T) {
	p := newPipeline(t)
	customer := `{"id":706405506930370084,"email":"Ada@Example.com","first_name":"Ada","last_name":"Lovelace","created_at":"2026-11-20T10:00:00-05:00"}`
	p.deliver("customers/create", "wh-create", customer)
	pass, err := p.svc.PassByExternalID(t.Context(), p.ws, p.tpl.ID, "706405506930370084")
	if err != nil {
		t.Fatalf("no pass issued: %v", err)
	}
	if pass.Data["email"] != "ada@example.com" || pass.Data["points"] != float64(0) {
		t.Fatalf("issued pass data %v", pass.Data)
	}
	order := `{"id":820982911946154508,"name":"#1001","total_price":"50.00","customer":{"id":706405506930370084}}`
	for range 3 { // Shopify redelivers: one effect
		p.deliver("orders/paid", "wh-order-1", order)
	}
	pass, err = p.svc.Pass(t.Context(), p.ws, pass.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pass.Data["points"] != float64(50) || pass.Version != 2 {
		t.Fatalf("after one paid order delivered three times: points %v version %d, want 50 and 2", pass.Data["points"], pass.Version)
	}
	evs, _, err := p.svc.ListEvents(t.Context(), p.ws, core.EventQuery{Type: core.EventUpdated, Page: core.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Data.Message != "You earned 50 points" {
		t.Fatalf("pass.updated events %+v", evs)
	}
	ts, _, err := p.store.ListTriggers(t.Context(), p.ws, core.TriggerQuery{Page: core.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		var out connectors.Outcome
		_ = json.Unmarshal(tr.Outcome, &out)
		if tr.Status != core.TriggerApplied || len(out.Applied) != 1 || out.Applied[0].PassID != pass.ID {
			t.Fatalf("trigger %s status %s outcome %s", tr.Topic, tr.Status, tr.Outcome)
		}
	}
}

func TestTriggerOutcomesRecordSkipsAndFailures(t *testing.T) {
	p := newPipeline(t)
	// A paid guest order has no customer: the rule skips.
	p.deliver("orders/paid", "wh-guest", `{"id":1,"name":"#1","total_price":"5.00","customer":null}`)
	// A topic no rule handles.
	p.deliver("products/update", "wh-product", `{"id":2}`)
	// An expression fails: total_price is not a number.
	p.deliver("customers/create", "wh-c", `{"id":3,"email":"x@y.z","created_at":"2026-11-20T10:00:00Z"}`)
	p.deliver("orders/paid", "wh-bad", `{"id":4,"name":"#4","total_price":"lots","customer":{"id":3}}`)
	ts, _, err := p.store.ListTriggers(t.Context(), p.ws, core.TriggerQuery{Page: core.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]core.Trigger{}
	for _, tr := range ts {
		got[tr.DedupeKey[len(tr.DedupeKey)-len("wh-guest"):]] = tr
	}
	status := map[core.TriggerStatus]int{}
	for _, tr := range ts {
		status[tr.Status]++
	}
	if status[core.TriggerSkipped] != 2 || status[core.TriggerApplied] != 1 || status[core.TriggerFailed] != 1 {
		t.Fatalf("statuses %v", status)
	}
	for _, tr := range ts {
		if tr.Status != core.TriggerFailed {
			continue
		}
		var out connectors.Outcome
		if err := json.Unmarshal(tr.Outcome, &out); err != nil || out.Rule != "points-on-paid-order" || out.Field == "" || out.Error == "" {
			t.Fatalf("failed outcome %s", tr.Outcome)
		}
	}
}

// An order paid before the customer's pass exists is retried, not lost:
// the trigger fails its job with a short retry delay while it is young.
func TestUpdateBeforeCreateIsRetried(t *testing.T) {
	p := newPipeline(t)
	h := shopifyHeaders("s3cret", `{"id":9,"name":"#9","total_price":"7.00","customer":{"id":42}}`, "wh-early")
	h.Set("X-Shopify-Topic", "orders/paid")
	body := `{"id":9,"name":"#9","total_price":"7.00","customer":{"id":42}}`
	if _, err := p.intake.Receive(t.Context(), p.con.ID, "POST", h, []byte(body)); err != nil {
		t.Fatal(err)
	}
	jobs, err := p.store.PendingJobs(t.Context(), 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs %v %v", jobs, err)
	}
	err = p.runner.Run(t.Context(), jobs[0].ID)
	var ra *core.RetryAfterError
	if !errors.As(err, &ra) || ra.After <= 0 {
		t.Fatalf("an update before its create answered %v, want a retry after a delay", err)
	}
	p.deliver("customers/create", "wh-late-create", `{"id":42,"email":"c@d.e","created_at":"2026-11-20T10:00:00Z"}`)
	if err := p.runner.Run(t.Context(), jobs[0].ID); err != nil {
		t.Fatalf("retry: %v", err)
	}
	pass, err := p.svc.PassByExternalID(t.Context(), p.ws, p.tpl.ID, "42")
	if err != nil || pass.Data["points"] != float64(7) {
		t.Fatalf("after the retry: %v %v", pass.Data, err)
	}
}
