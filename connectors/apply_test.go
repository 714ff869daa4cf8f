package connectors_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"sync"
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

// mapWith stores the example mapping file under name, a template called
// tplName, and a connector of kind using it.
func mapWith(t *testing.T, p *pipeline, example, tplName string, in connectors.Input) (core.Template, core.Connector) {
	t.Helper()
	tpl, err := p.svc.CreateTemplate(t.Context(), p.ws, core.Template{
		Name: tplName, Style: core.StyleStoreCard, Description: "card", OrganizationName: "Acme",
		Fields: core.FieldLayout{Primary: []core.Field{{Key: "tier", Label: "Tier"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../mappings/examples/" + example + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.store.PutMapping(t.Context(), p.ws, example, string(src), time.Now()); err != nil {
		t.Fatal(err)
	}
	in.Mapping = example
	return tpl, p.create(in)
}

// runJobs runs the trigger.apply jobs of a receipt.
func (p *pipeline) runJobs(r connectors.Receipt) {
	p.t.Helper()
	jobs, err := p.store.PendingJobs(p.t.Context(), 1000)
	if err != nil {
		p.t.Fatal(err)
	}
	mine := map[string]bool{}
	for _, id := range r.TriggerIDs {
		mine[id] = true
	}
	for _, j := range jobs {
		if j.Kind == core.JobKindTriggerApply && mine[j.Key] {
			if err := p.runner.Run(p.t.Context(), j.ID); err != nil {
				p.t.Fatalf("trigger.apply %s: %v", j.Key, err)
			}
		}
	}
}

func TestHubSpotBatchUpdatesSeveralPasses(t *testing.T) {
	p := newPipeline(t)
	tpl, hub := mapWith(t, p, "hubspot-contact-tier", "membership", connectors.Input{Name: "hub", Kind: core.ConnectorHubSpot, Secrets: connectors.Secrets{ClientSecret: "hub-secret"}})
	for _, id := range []string{"501", "502", "503"} {
		if _, err := p.svc.CreatePass(t.Context(), p.ws, core.PassInput{TemplateID: tpl.ID, ExternalID: id, Data: map[string]any{"tier": "bronze"}}); err != nil {
			t.Fatal(err)
		}
	}
	body := `[` +
		`{"eventId":1,"subscriptionId":7,"portalId":62515,"occurredAt":1732300000000,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":501,"propertyName":"tier","propertyValue":"gold","changeSource":"CRM"},` +
		`{"eventId":2,"subscriptionId":7,"portalId":62515,"occurredAt":1732300000001,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":502,"propertyName":"tier","propertyValue":"silver","changeSource":"CRM"},` +
		`{"eventId":3,"subscriptionId":7,"portalId":62515,"occurredAt":1732300000002,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":503,"propertyName":"email","propertyValue":"x@y.z","changeSource":"CRM"}]`
	stamp := strconv.FormatInt(time.Now().UnixMilli(), 10)
	h := http.Header{}
	h.Set("X-HubSpot-Signature-v3", b64HMAC("hub-secret", "POST"+publicURL+"/hooks/"+hub.ID+body+stamp))
	h.Set("X-HubSpot-Request-Timestamp", stamp)
	r, err := p.intake.Receive(t.Context(), hub.ID, "POST", h, []byte(body))
	if err != nil || r.Accepted != 3 {
		t.Fatalf("receive: %+v %v", r, err)
	}
	p.runJobs(r)
	want := map[string]string{"501": "gold", "502": "silver", "503": "bronze"}
	for ext, tier := range want {
		pass, err := p.svc.PassByExternalID(t.Context(), p.ws, tpl.ID, ext)
		if err != nil || pass.Data["tier"] != tier {
			t.Fatalf("contact %s: tier %v (%v), want %s", ext, pass.Data["tier"], err, tier)
		}
	}
}

func TestSquareLoyaltyUpdateSetsTheBalance(t *testing.T) {
	p := newPipeline(t)
	tpl, sq := mapWith(t, p, "square-loyalty", "square-loyalty", connectors.Input{Name: "sq", Kind: core.ConnectorSquare, Secrets: connectors.Secrets{SignatureKey: "sq-key"}})
	body := `{"merchant_id":"MLX5","type":"loyalty.account.updated","event_id":"b3ad1c4b-5a6e-4e0e-9a25-7e7c8a0f9c11","created_at":"2026-11-23T10:00:00Z",` +
		`"data":{"type":"loyalty_account","id":"acc-1","object":{"loyalty_account":{"id":"acc-1","program_id":"prog-1","balance":120,"lifetime_points":300,` +
		`"customer_id":"CUST-42","mapping":{"id":"map-1","phone_number":"+14155551234"},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-11-23T10:00:00Z"}}}}`
	h := http.Header{}
	h.Set("X-Square-Hmacsha256-Signature", b64HMAC("sq-key", publicURL+"/hooks/"+sq.ID+body))
	r, err := p.intake.Receive(t.Context(), sq.ID, "POST", h, []byte(body))
	if err != nil || r.Accepted != 1 {
		t.Fatalf("receive: %+v %v", r, err)
	}
	p.runJobs(r)
	pass, err := p.svc.PassByExternalID(t.Context(), p.ws, tpl.ID, "CUST-42")
	if err != nil || pass.Data["balance"] != float64(120) {
		t.Fatalf("balance %v (%v), want 120", pass.Data["balance"], err)
	}
}

// deliverAt is deliver with Shopify's X-Shopify-Triggered-At set to at.
func (p *pipeline) deliverAt(topic, webhookID, at, body string) {
	p.t.Helper()
	h := shopifyHeaders("s3cret", body, webhookID)
	h.Set("X-Shopify-Topic", topic)
	h.Set("X-Shopify-Triggered-At", at)
	r, err := p.intake.Receive(p.t.Context(), p.con.ID, http.MethodPost, h, []byte(body))
	if err != nil {
		p.t.Fatalf("%s: %v", topic, err)
	}
	p.runJobs(r)
}

func (p *pipeline) passData(externalID string) core.Pass {
	p.t.Helper()
	pass, err := p.svc.PassByExternalID(p.t.Context(), p.ws, p.tpl.ID, externalID)
	if err != nil {
		p.t.Fatal(err)
	}
	return pass
}

// A Shopify retry of an old delivery arriving after a newer one must not
// overwrite the newer values; what is computed from the pass (points)
// still counts every order, whatever the order of arrival.
func TestStaleShopifyRetryDoesNotOverwriteNewerData(t *testing.T) {
	p := newPipeline(t)
	customer := func(first string) string {
		return `{"id":77,"email":"ada@example.com","first_name":"` + first + `","last_name":"L","created_at":"2026-11-20T10:00:00Z"}`
	}
	order := func(name, total string) string {
		return `{"id":1,"name":"` + name + `","total_price":"` + total + `","customer":{"id":77}}`
	}
	p.deliverAt("customers/create", "w-create", "2026-11-23T10:00:00Z", customer("Ada"))
	p.deliverAt("customers/update", "w-new", "2026-11-23T10:05:00Z", customer("Augusta"))
	p.deliverAt("orders/paid", "w-order-new", "2026-11-23T10:06:00Z", order("#2", "20.00"))
	// Late: an update and an order that happened before the ones above.
	p.deliverAt("customers/update", "w-old", "2026-11-23T10:01:00Z", customer("Ada-old"))
	p.deliverAt("orders/paid", "w-order-old", "2026-11-23T10:02:00Z", order("#1", "5.00"))

	pass := p.passData("77")
	if pass.Data["name"] != "Augusta L" {
		t.Errorf("name %v: the stale update overwrote the newer one", pass.Data["name"])
	}
	if pass.Data["points"] != float64(25) {
		t.Errorf("points %v, want 25: every order counts", pass.Data["points"])
	}
	if pass.Data["lastOrder"] != "#2" {
		t.Errorf("lastOrder %v, want #2 (the later order)", pass.Data["lastOrder"])
	}
	ts, _, err := p.store.ListTriggers(t.Context(), p.ws, core.TriggerQuery{Page: core.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		if tr.DedupeKey != "acme.myshopify.com:w-old" {
			continue
		}
		var out connectors.Outcome
		if err := json.Unmarshal(tr.Outcome, &out); err != nil || len(out.Applied) != 1 ||
			!reflect.DeepEqual(out.Applied[0].Stale, []string{"email", "memberSince", "name"}) || out.Applied[0].Skipped == "" {
			t.Fatalf("stale trigger: status %s outcome %s", tr.Status, tr.Outcome)
		}
		return
	}
	t.Fatal("stale trigger not found")
}

// Triggers mapped concurrently that add to the same pass all count: a
// command computed from a pass another trigger changed is evaluated again.
func TestConcurrentTriggersOnOnePassAllCount(t *testing.T) {
	p := newPipeline(t)
	p.deliver("customers/create", "w-c", `{"id":5,"email":"a@b.c","created_at":"2026-11-20T10:00:00Z"}`)
	const orders = 24
	var jobs []int64
	for i := range orders {
		body := `{"id":` + strconv.Itoa(i) + `,"name":"#` + strconv.Itoa(i) + `","total_price":"1.00","customer":{"id":5}}`
		h := shopifyHeaders("s3cret", body, "w-o"+strconv.Itoa(i))
		r, err := p.intake.Receive(t.Context(), p.con.ID, http.MethodPost, h, []byte(body))
		if err != nil || r.Accepted != 1 {
			t.Fatalf("receive: %+v %v", r, err)
		}
	}
	pending, err := p.store.PendingJobs(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range pending {
		if j.Kind == core.JobKindTriggerApply {
			jobs = append(jobs, j.ID)
		}
	}
	var mu sync.Mutex
	var again []int64
	var wg sync.WaitGroup
	for _, id := range jobs {
		wg.Go(func() {
			if err := p.runner.Run(t.Context(), id); err != nil {
				// Lost too many races in a row: the queue runs it again.
				mu.Lock()
				again = append(again, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, id := range again {
		if err := p.runner.Run(t.Context(), id); err != nil {
			t.Errorf("run again: %v", err)
		}
	}
	pass := p.passData("5")
	if pass.Data["points"] != float64(orders) || pass.Version != 1+orders {
		t.Fatalf("points %v version %d, want %d and %d", pass.Data["points"], pass.Version, orders, 1+orders)
	}
}

// A trigger.apply job that runs again (the worker died after applying but
// before recording the job done) does not apply its commands twice.
func TestRetriedTriggerJobAppliesOnce(t *testing.T) {
	p := newPipeline(t)
	p.deliver("customers/create", "w-c", `{"id":6,"email":"a@b.c","created_at":"2026-11-20T10:00:00Z"}`)
	body := `{"id":1,"name":"#1","total_price":"30.00","customer":{"id":6}}`
	r, err := p.intake.Receive(t.Context(), p.con.ID, http.MethodPost, shopifyHeaders("s3cret", body, "w-o"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	applier := connectors.NewApplier(p.store, p.svc)
	job := core.Job{WorkspaceID: p.ws, Kind: core.JobKindTriggerApply, Key: r.TriggerIDs[0]}
	for range 2 {
		if _, err := applier.HandleJob(t.Context(), job); err != nil {
			t.Fatal(err)
		}
	}
	if pass := p.passData("6"); pass.Data["points"] != float64(30) || pass.Version != 2 {
		t.Fatalf("points %v version %d after the job ran twice, want 30 and 2", pass.Data["points"], pass.Version)
	}
	// A replay is a new application: it adds again, as asked.
	job.Key += "/replay-1"
	if _, err := applier.HandleJob(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	if pass := p.passData("6"); pass.Data["points"] != float64(60) {
		t.Fatalf("points %v after a replay, want 60", pass.Data["points"])
	}
}
