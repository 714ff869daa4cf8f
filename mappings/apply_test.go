package mappings

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/core"
)

type applyEnv struct {
	svc *core.Service
	ws  string
	tpl core.Template
}

func newApplyEnv(t *testing.T) applyEnv {
	t.Helper()
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "passhub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := core.NewService(store)
	ws, _, err := svc.CreateWorkspace(ctx, "mappings", "")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := svc.CreateTemplate(ctx, ws.ID, core.Template{Name: "loyalty", Style: core.StyleStoreCard, OrganizationName: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	return applyEnv{svc: svc, ws: ws.ID, tpl: tpl}
}

func (e applyEnv) apply(t *testing.T, c Command) Applied {
	t.Helper()
	if c.TemplateID == "" {
		c.TemplateID = e.tpl.ID
	}
	if c.Rule == "" {
		c.Rule = "r"
	}
	got, err := Apply(t.Context(), e.svc, e.ws, []Command{c}, Source{})
	if err != nil {
		t.Fatalf("Apply %+v: %v", c, err)
	}
	return got[0]
}

func (e applyEnv) pass(t *testing.T, externalID string) core.Pass {
	t.Helper()
	p, err := e.svc.PassByExternalID(t.Context(), e.ws, e.tpl.ID, externalID)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e applyEnv) lastEvent(t *testing.T) core.Event {
	t.Helper()
	evs, _, err := e.svc.ListEvents(t.Context(), e.ws, core.EventQuery{Page: core.Page{Limit: 1}})
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %v %v", evs, err)
	}
	return evs[0]
}

// Each action, through a real store, in the order a pass lives.
func TestApplyAgainstSQLite(t *testing.T) {
	e := newApplyEnv(t)

	// upsert without a pass creates it (nil fields left out).
	a := e.apply(t, Command{Action: ActionUpsert, ExternalID: "c1", Data: map[string]any{"points": 0, "name": "Bob", "gone": nil}})
	if !a.Created || a.Version != 1 || a.PassID == "" {
		t.Fatalf("create: %+v", a)
	}
	p := e.pass(t, "c1")
	if !reflect.DeepEqual(p.Data, map[string]any{"points": float64(0), "name": "Bob"}) || p.Lifecycle != core.LifecycleActive {
		t.Fatalf("created pass %+v", p)
	}
	passID := a.PassID

	// upsert of an existing pass merges: keys not in the fields stay.
	a = e.apply(t, Command{Action: ActionUpsert, ExternalID: "c1", Data: map[string]any{"email": "bob@example.com"}})
	if a.Created || a.PassID != passID || a.Version != 2 {
		t.Fatalf("upsert existing: %+v", a)
	}
	if p = e.pass(t, "c1"); !reflect.DeepEqual(p.Data, map[string]any{"points": float64(0), "name": "Bob", "email": "bob@example.com"}) {
		t.Fatalf("merged data %v", p.Data)
	}

	// update merges, removes nil keys and carries the message.
	a = e.apply(t, Command{Action: ActionUpdate, ExternalID: "c1", Data: map[string]any{"points": 129, "email": nil}, Message: "You earned 129 points"})
	if a.Version != 3 || a.Skipped != "" {
		t.Fatalf("update: %+v", a)
	}
	p = e.pass(t, "c1")
	if !reflect.DeepEqual(p.Data, map[string]any{"points": float64(129), "name": "Bob"}) {
		t.Fatalf("updated data %v", p.Data)
	}
	if ev := e.lastEvent(t); ev.Type != core.EventUpdated || ev.Data.Message != "You earned 129 points" {
		t.Fatalf("update event %+v", ev)
	}

	// an identical update changes nothing.
	if a = e.apply(t, Command{Action: ActionUpdate, ExternalID: "c1", Data: map[string]any{"points": 129}}); a.Version != 3 {
		t.Fatalf("no-op update bumped the version: %+v", a)
	}

	// update of a pass that does not exist is skipped.
	if a = e.apply(t, Command{Action: ActionUpdate, ExternalID: "nobody", Data: map[string]any{"points": 1}}); !strings.Contains(a.Skipped, "no pass") || a.PassID != "" {
		t.Fatalf("update without pass: %+v", a)
	}

	// expire, then upsert makes the pass active again.
	if a = e.apply(t, Command{Action: ActionExpire, ExternalID: "c1"}); a.Version != 4 || e.pass(t, "c1").Lifecycle != core.LifecycleExpired {
		t.Fatalf("expire: %+v", a)
	}
	if ev := e.lastEvent(t); ev.Type != core.EventExpired {
		t.Fatalf("expire event %s", ev.Type)
	}
	if a = e.apply(t, Command{Action: ActionUpsert, ExternalID: "c1", Data: map[string]any{"points": 130}}); e.pass(t, "c1").Lifecycle != core.LifecycleActive || a.Created {
		t.Fatalf("upsert after expire: %+v", a)
	}

	// void, with a field and a message.
	a = e.apply(t, Command{Action: ActionVoid, ExternalID: "c1", Data: map[string]any{"reason": "fraud"}, Message: "Card voided"})
	if p = e.pass(t, "c1"); p.Lifecycle != core.LifecycleVoided || p.Data["reason"] != "fraud" || p.Version != a.Version {
		t.Fatalf("void: %+v %+v", a, p)
	}
	if ev := e.lastEvent(t); ev.Type != core.EventVoided {
		t.Fatalf("void event %s", ev.Type)
	}

	// delete; then update, expire, void and delete are skipped.
	a = e.apply(t, Command{Action: ActionDelete, ExternalID: "c1"})
	if p = e.pass(t, "c1"); p.Lifecycle != core.LifecycleDeleted || a.PassID != passID {
		t.Fatalf("delete: %+v %+v", a, p)
	}
	if ev := e.lastEvent(t); ev.Type != core.EventDeleted {
		t.Fatalf("delete event %s", ev.Type)
	}
	for _, act := range []Action{ActionUpdate, ActionExpire, ActionVoid, ActionDelete} {
		if a = e.apply(t, Command{Action: act, ExternalID: "c1"}); a.Skipped == "" {
			t.Errorf("%s of a deleted pass: %+v", act, a)
		}
	}

	// upsert revives a deleted pass with exactly the fields.
	a = e.apply(t, Command{Action: ActionUpsert, ExternalID: "c1", Data: map[string]any{"points": 0}})
	if p = e.pass(t, "c1"); p.ID != passID || p.Lifecycle != core.LifecycleActive || !reflect.DeepEqual(p.Data, map[string]any{"points": float64(0)}) {
		t.Fatalf("revive: %+v %+v", a, p)
	}
}

func TestApplyStopsAtTheFirstFailure(t *testing.T) {
	e := newApplyEnv(t)
	cmds := []Command{
		{Rule: "ok", Action: ActionUpsert, TemplateID: e.tpl.ID, ExternalID: "a", Data: map[string]any{"n": 1}},
		{Rule: "bad-template", Action: ActionUpsert, TemplateID: "tpl_missing", ExternalID: "b", Data: map[string]any{"n": 1}},
		{Rule: "never", Action: ActionUpsert, TemplateID: e.tpl.ID, ExternalID: "c", Data: map[string]any{"n": 1}},
	}
	got, err := Apply(t.Context(), e.svc, e.ws, cmds, Source{})
	if err == nil || !strings.Contains(err.Error(), `rule "bad-template": upserting pass "b"`) {
		t.Fatalf("error %v", err)
	}
	if len(got) != 1 || got[0].Rule != "ok" {
		t.Fatalf("applied %+v", got)
	}
}

// The worker's path: evaluate with the store's lookup, then apply.
func TestEvaluateAndApplyShopifyExample(t *testing.T) {
	e := newApplyEnv(t)
	src, err := os.ReadFile("examples/shopify-loyalty.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load("shopify-loyalty.yaml", src, func(ref string) (string, bool) {
		if ref == e.tpl.Name || ref == e.tpl.ID {
			return e.tpl.ID, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	lookup := ServiceLookup(e.svc, e.ws)
	run := func(topic, body string) []Applied {
		t.Helper()
		out, err := m.Evaluate(t.Context(), Trigger{Topic: topic, Source: "shopify", Payload: []byte(body)}, lookup)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Apply(t.Context(), e.svc, e.ws, out.Commands, Source{})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	run("customers/create", `{"id": 706405506930370084, "email": "bob@example.com", "first_name": "Bob", "last_name": "Biller", "created_at": "2025-02-11T10:33:12-05:00"}`)
	run("orders/paid", `{"id": 1, "name": "#1001", "total_price": "129.99", "customer": {"id": 706405506930370084}}`)
	got := run("orders/paid", `{"id": 2, "name": "#1002", "total_price": "20.00", "customer": {"id": 706405506930370084}}`)
	if len(got) != 1 || got[0].Version != 3 {
		t.Fatalf("second order: %+v", got)
	}
	p := e.pass(t, "706405506930370084")
	if p.Data["points"] != float64(149) || p.Data["lastOrder"] != "#1002" {
		t.Fatalf("pass data %v", p.Data)
	}
	run("customers/delete", `{"id": 706405506930370084}`)
	if p = e.pass(t, "706405506930370084"); p.Lifecycle != core.LifecycleDeleted {
		t.Fatalf("lifecycle %s", p.Lifecycle)
	}
	// Orders of a deleted customer are skipped by the evaluation.
	out, err := m.Evaluate(context.Background(), Trigger{Topic: "orders/paid", Payload: []byte(`{"id": 3, "name": "#1003", "total_price": "5.00", "customer": {"id": 706405506930370084}}`)}, lookup)
	if err != nil || len(out.Commands) != 0 {
		t.Fatalf("after delete: %+v %v", out, err)
	}
}
