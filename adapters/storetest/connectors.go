package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// The connector cases: connectors, the triggers they accept (durable with
// their jobs, deduplicated, all or nothing per batch), outcomes and
// replays, and versioned mapping files.

func newConnector(workspaceID, name string) core.Connector {
	at := now()
	return core.Connector{
		ID: core.NewID(core.PrefixConnector), WorkspaceID: workspaceID, Name: name, Kind: core.ConnectorShopify,
		Config:        json.RawMessage(`{"signatureHeader":"X-Shopify-Hmac-Sha256","versions":["v1"],"b":1}`),
		SecretsSealed: []byte{0, 1, 2, 0xff, 's'}, Mapping: "shopify-orders", CreatedAt: at, UpdatedAt: at,
	}
}

func mustConnector(t *testing.T, s Store, workspaceID string) core.Connector {
	t.Helper()
	c := newConnector(workspaceID, "shop "+core.NewID(""))
	must(t, "CreateConnector", s.CreateConnector(t.Context(), c))
	return c
}

// canonicalJSON is raw with object keys sorted and no space, so JSON
// columns that re-encode (jsonb) compare equal.
func canonicalJSON(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if raw == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameConnector(t *testing.T, what string, got, want core.Connector) {
	t.Helper()
	want.CreatedAt, want.UpdatedAt = us(want.CreatedAt), us(want.UpdatedAt)
	got.Config, want.Config = canonicalJSON(t, got.Config), canonicalJSON(t, want.Config)
	sameJSON(t, what, got, want)
	if !bytes.Equal(got.SecretsSealed, want.SecretsSealed) {
		t.Errorf("%s: sealed secrets %x, want %x", what, got.SecretsSealed, want.SecretsSealed)
	}
	for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("%s: %s in %s, want UTC", what, name, tm.Location())
		}
	}
}

// shopifyPayload is an order webhook body of about 2 KB, with spacing and
// key order a JSON re-encoding would not keep.
func shopifyPayload(n int) json.RawMessage {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"id": %d, "email":"customer%d@example.com", "total_price":"129.90", "currency":"EUR", "number": 1.50, "line_items":[`, n, n)
	for i := range 10 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"title":"Item %d with a reasonably long product title","quantity":%d,"price":"12.99","sku":"SKU-%05d","vendor":"Acme Outdoor Supplies","properties":[]}`,
			n*100+i, i, i+1, i)
	}
	b.WriteString(`],"customer":{"id":42,"first_name":"Ada","last_name":"Lovelace","tags":"vip, loyalty"},` +
		`"shipping_address":{"address1":"1 Market St","city":"Berlin","zip":"10115","country_code":"DE"}}`)
	return b.Bytes()
}

// newTrigger is a received trigger of connector c with dedupe key key.
func newTrigger(c core.Connector, topic, key string, receivedAt time.Time) core.Trigger {
	occurred := receivedAt.Add(-time.Second)
	return core.Trigger{
		ID: core.NewID(core.PrefixTrigger), WorkspaceID: c.WorkspaceID, ConnectorID: c.ID, Topic: topic, DedupeKey: key,
		Source: "acme.myshopify.com", Payload: shopifyPayload(len(key)),
		Headers:    map[string]string{"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": key},
		OccurredAt: &occurred, ReceivedAt: receivedAt, Status: core.TriggerReceived, UpdatedAt: receivedAt,
	}
}

func storedTrigger(tr core.Trigger) core.Trigger {
	tr.ReceivedAt, tr.UpdatedAt = us(tr.ReceivedAt), us(tr.UpdatedAt)
	if tr.OccurredAt != nil {
		tr.OccurredAt = ptr(us(*tr.OccurredAt))
	}
	return tr
}

func sameTrigger(t *testing.T, what string, got, want core.Trigger) {
	t.Helper()
	want = storedTrigger(want)
	sameJSON(t, what, got, want)
	if !bytes.Equal(got.Payload, want.Payload) {
		t.Errorf("%s: payload not kept as received\n got: %s\nwant: %s", what, got.Payload, want.Payload)
	}
	for name, tm := range map[string]time.Time{"ReceivedAt": got.ReceivedAt, "UpdatedAt": got.UpdatedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("%s: %s in %s, want UTC", what, name, tm.Location())
		}
	}
}

func accept(t *testing.T, s Store, triggers ...core.Trigger) []bool {
	t.Helper()
	got := acceptAll(t, s, triggers...)
	dup := make([]bool, len(got))
	for i, a := range got {
		dup[i] = a.Duplicate
	}
	return dup
}

// acceptAll is AcceptTriggers, checking it says what became of each.
func acceptAll(t *testing.T, s Store, triggers ...core.Trigger) []core.Accepted {
	t.Helper()
	got, err := s.AcceptTriggers(t.Context(), triggers)
	must(t, "AcceptTriggers", err)
	if len(got) != len(triggers) {
		t.Fatalf("AcceptTriggers: %d results for %d triggers", len(got), len(triggers))
	}
	return got
}

// triggerJobs are the pending trigger.apply jobs.
func triggerJobs(t *testing.T, s Store) []core.Job {
	t.Helper()
	var out []core.Job
	for _, j := range allPendingJobs(t, s) {
		if j.Kind == core.JobKindTriggerApply {
			out = append(out, j)
		}
	}
	return out
}

// allTriggers reads every trigger of the workspace matching q, newest
// first.
func allTriggers(t *testing.T, s Store, workspaceID string, q core.TriggerQuery) []core.Trigger {
	t.Helper()
	var out []core.Trigger
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("ListTriggers: cursor walk does not end")
		}
		list, next, err := s.ListTriggers(t.Context(), workspaceID, q)
		must(t, "ListTriggers", err)
		if q.Limit > 0 && (len(list) > q.Limit || (next != "" && len(list) != q.Limit)) {
			t.Fatalf("ListTriggers: page of %d, limit %d, next %q", len(list), q.Limit, next)
		}
		out = append(out, list...)
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

func trgID(tr core.Trigger) string { return tr.ID }

func mappingVersions(ms []core.MappingFile) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Version
	}
	return out
}

var connectorCases = []testCase{
	{"Connectors/CRUD", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)

		c := newConnector(ws.ID, "shop")
		must(t, "CreateConnector", s.CreateConnector(ctx, c))
		got, err := s.Connector(ctx, ws.ID, c.ID)
		must(t, "Connector", err)
		sameConnector(t, "connector", got, c)
		got, err = s.ConnectorByID(ctx, c.ID)
		must(t, "ConnectorByID", err)
		sameConnector(t, "connector by ID", got, c)

		// Names are unique per workspace; IDs everywhere.
		wantConflict(t, "CreateConnector with a taken name", s.CreateConnector(ctx, newConnector(ws.ID, "shop")), "name")
		dupID := newConnector(ws.ID, "another")
		dupID.ID = c.ID
		wantConflict(t, "CreateConnector with a taken ID", s.CreateConnector(ctx, dupID), "id")
		oc := newConnector(other.ID, "shop")
		oc.Kind, oc.Config, oc.SecretsSealed = core.ConnectorGeneric, nil, nil
		must(t, "CreateConnector same name in another workspace", s.CreateConnector(ctx, oc))
		got, err = s.ConnectorByID(ctx, oc.ID)
		must(t, "ConnectorByID other", err)
		if got.WorkspaceID != other.ID || got.Config != nil || len(got.SecretsSealed) != 0 {
			t.Errorf("connector of the other workspace: %+v; want workspace %s, no config, no secrets", got, other.ID)
		}

		// Isolation.
		_, err = s.Connector(ctx, other.ID, c.ID)
		wantErr(t, "Connector of another workspace", err, core.ErrNotFound)
		_, err = s.Connector(ctx, ws.ID, "con_missing")
		wantErr(t, "Connector missing", err, core.ErrNotFound)
		_, err = s.ConnectorByID(ctx, "con_missing")
		wantErr(t, "ConnectorByID missing", err, core.ErrNotFound)
		_, err = s.UpdateConnector(ctx, other.ID, c.ID, func(*core.Connector) error { return nil })
		wantErr(t, "UpdateConnector of another workspace", err, core.ErrNotFound)
		wantErr(t, "DeleteConnector of another workspace", s.DeleteConnector(ctx, other.ID, c.ID), core.ErrNotFound)

		// Listing pages by ID.
		all := []core.Connector{c}
		for i := range 4 {
			all = append(all, newConnector(ws.ID, fmt.Sprintf("shop %d", i)))
			must(t, "CreateConnector", s.CreateConnector(ctx, all[len(all)-1]))
		}
		var ids []string
		q := core.Page{Limit: 2}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("ListConnectors: cursor walk does not end")
			}
			list, next, err := s.ListConnectors(ctx, ws.ID, q)
			must(t, "ListConnectors", err)
			if len(list) > 2 || (next != "" && len(list) != 2) {
				t.Fatalf("ListConnectors: page of %d, next %q", len(list), next)
			}
			ids = append(ids, fmtIDs(list, func(c core.Connector) string { return c.ID })...)
			if next == "" {
				break
			}
			q.Cursor = next
		}
		if want := fmtIDs(all, func(c core.Connector) string { return c.ID }); !slices.Equal(ids, want) {
			t.Errorf("ListConnectors: %v, want %v", ids, want)
		}
		_, _, err = s.ListConnectors(ctx, ws.ID, core.Page{Cursor: "??"})
		wantErr(t, "ListConnectors with a bad cursor", err, core.ErrInvalid)

		// Update: fn changes what it may; ID, workspace and creation stay,
		// UpdatedAt is what fn leaves.
		later := c.UpdatedAt.Add(time.Hour)
		updated, err := s.UpdateConnector(ctx, ws.ID, c.ID, func(x *core.Connector) error {
			x.ID, x.WorkspaceID, x.CreatedAt = "con_other", other.ID, later
			x.Name, x.Kind, x.Mapping = "renamed", core.ConnectorHubSpot, "hubspot-deals"
			x.Config = json.RawMessage(`{"appId":7}`)
			x.SecretsSealed = []byte("resealed")
			x.UpdatedAt = later
			return nil
		})
		must(t, "UpdateConnector", err)
		want := c
		want.Name, want.Kind, want.Mapping = "renamed", core.ConnectorHubSpot, "hubspot-deals"
		want.Config, want.SecretsSealed, want.UpdatedAt = json.RawMessage(`{"appId":7}`), []byte("resealed"), later
		sameConnector(t, "updated connector", updated, want)
		got, err = s.Connector(ctx, ws.ID, c.ID)
		must(t, "Connector", err)
		sameConnector(t, "updated connector read back", got, want)

		// A rename onto a taken name, or fn's error, changes nothing.
		_, err = s.UpdateConnector(ctx, ws.ID, c.ID, func(x *core.Connector) error { x.Name = "shop 0"; return nil })
		wantConflict(t, "UpdateConnector onto a taken name", err, "name")
		boom := fmt.Errorf("boom")
		_, err = s.UpdateConnector(ctx, ws.ID, c.ID, func(x *core.Connector) error { x.Name = "never"; return boom })
		wantErr(t, "UpdateConnector with fn failing", err, boom)
		got, err = s.Connector(ctx, ws.ID, c.ID)
		must(t, "Connector", err)
		sameConnector(t, "connector after refused updates", got, want)

		// Delete: its triggers stay readable, its name is free again.
		tr := newTrigger(c, "orders/create", "d-1", now())
		accept(t, s, tr)
		must(t, "DeleteConnector", s.DeleteConnector(ctx, ws.ID, c.ID))
		_, err = s.Connector(ctx, ws.ID, c.ID)
		wantErr(t, "Connector deleted", err, core.ErrNotFound)
		_, err = s.ConnectorByID(ctx, c.ID)
		wantErr(t, "ConnectorByID deleted", err, core.ErrNotFound)
		wantErr(t, "DeleteConnector twice", s.DeleteConnector(ctx, ws.ID, c.ID), core.ErrNotFound)
		_, err = s.UpdateConnector(ctx, ws.ID, c.ID, func(*core.Connector) error { return nil })
		wantErr(t, "UpdateConnector deleted", err, core.ErrNotFound)
		gotTr, err := s.Trigger(ctx, ws.ID, tr.ID)
		must(t, "Trigger of a deleted connector", err)
		sameTrigger(t, "trigger of a deleted connector", gotTr, tr)
		must(t, "CreateConnector with the deleted one's name", s.CreateConnector(ctx, newConnector(ws.ID, "renamed")))
	}},
	{"Triggers/AcceptDurableWithJobs", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		c := mustConnector(t, s, ws.ID)
		base := now()
		batch := []core.Trigger{
			newTrigger(c, "orders/create", "w-1", base),
			newTrigger(c, "orders/paid", "w-2", base.Add(time.Millisecond)),
			newTrigger(c, "orders/create", "w-3", base.Add(2*time.Millisecond)),
		}
		// Optional fields may be empty.
		batch[2].OccurredAt, batch[2].Headers, batch[2].Source = nil, nil, ""
		if dup := accept(t, s, batch...); slices.Contains(dup, true) {
			t.Fatalf("AcceptTriggers of new triggers: dup %v", dup)
		}
		for _, tr := range batch {
			got, err := s.Trigger(ctx, ws.ID, tr.ID)
			must(t, "Trigger", err)
			sameTrigger(t, "trigger "+tr.ID, got, tr)
		}
		jobs := triggerJobs(t, s)
		if len(jobs) != len(batch) {
			t.Fatalf("%d trigger.apply jobs, want %d", len(jobs), len(batch))
		}
		for _, tr := range batch {
			j, ok := jobByKey(jobs, core.JobKindTriggerApply, tr.ID)
			if !ok {
				t.Fatalf("no trigger.apply job keyed %s", tr.ID)
			}
			if j.WorkspaceID != ws.ID || j.State != core.JobPending || !j.CreatedAt.Equal(us(tr.ReceivedAt)) || j.Payload != nil {
				t.Errorf("job of trigger %s: %+v; want workspace %s, pending, created at %s, no payload", tr.ID, j, ws.ID, us(tr.ReceivedAt))
			}
		}
		_, err := s.Trigger(ctx, mustWorkspace(t, s).ID, batch[0].ID)
		wantErr(t, "Trigger of another workspace", err, core.ErrNotFound)
		_, err = s.Trigger(ctx, ws.ID, "trg_missing")
		wantErr(t, "Trigger missing", err, core.ErrNotFound)
		dup, err := s.AcceptTriggers(ctx, nil)
		if err != nil || len(dup) != 0 {
			t.Errorf("AcceptTriggers of nothing: %v, %v", dup, err)
		}
	}},
	{"Triggers/Duplicates", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		c := mustConnector(t, s, ws.ID)
		c2 := mustConnector(t, s, ws.ID)
		first := newTrigger(c, "orders/create", "same", now())
		accept(t, s, first)

		// Across calls: flagged, not stored, no second job.
		again := newTrigger(c, "orders/create", "same", now())
		if dup := accept(t, s, again); !dup[0] {
			t.Error("a redelivery was not flagged as a duplicate")
		}
		_, err := s.Trigger(ctx, ws.ID, again.ID)
		wantErr(t, "Trigger of a duplicate", err, core.ErrNotFound)
		// The very same trigger again (its ID too) is a duplicate as well.
		if dup := accept(t, s, first); !dup[0] {
			t.Error("the same trigger accepted twice was not flagged as a duplicate")
		}

		// Within a batch the first stands; another connector's key is its own.
		b := []core.Trigger{
			newTrigger(c, "orders/paid", "batch-a", now()),
			newTrigger(c, "orders/paid", "batch-a", now()),
			newTrigger(c, "orders/paid", "same", now()),
			newTrigger(c2, "orders/paid", "same", now()),
			newTrigger(c, "orders/paid", "batch-b", now()),
		}
		if dup := accept(t, s, b...); !slices.Equal(dup, []bool{false, true, true, false, false}) {
			t.Errorf("batch dup %v, want [false true true false false]", dup)
		}
		for i, stored := range []bool{true, false, false, true, true} {
			_, err := s.Trigger(ctx, ws.ID, b[i].ID)
			if stored {
				must(t, "Trigger", err)
			} else {
				wantErr(t, "Trigger of a duplicate in a batch", err, core.ErrNotFound)
			}
		}
		jobs := triggerJobs(t, s)
		var keys []string
		for _, j := range jobs {
			keys = append(keys, j.Key)
		}
		slices.Sort(keys)
		want := []string{first.ID, b[0].ID, b[3].ID, b[4].ID}
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Errorf("trigger.apply jobs %v, want %v", keys, want)
		}
		// A batch of nothing but duplicates writes nothing.
		if dup := accept(t, s, newTrigger(c, "x", "same", now()), newTrigger(c2, "x", "same", now())); !slices.Equal(dup, []bool{true, true}) {
			t.Errorf("all-duplicate batch: dup %v", dup)
		}
		if n := len(triggerJobs(t, s)); n != len(want) {
			t.Errorf("%d trigger.apply jobs after duplicates, want %d", n, len(want))
		}
	}},
	{"Triggers/BatchAllOrNothing", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		c := mustConnector(t, s, ws.ID)
		existing := newTrigger(c, "contact.creation", "existing", now())
		accept(t, s, existing)

		// A HubSpot delivery of 100 events whose last reuses a stored
		// trigger's ID (under a fresh dedupe key): that insert fails, and
		// with it the 99 before it.
		batch := make([]core.Trigger, 100)
		for i := range batch {
			batch[i] = newTrigger(c, "contact.propertyChange", fmt.Sprintf("event-%d", i), now())
		}
		batch[99].ID = existing.ID
		if _, err := s.AcceptTriggers(ctx, batch); err == nil {
			t.Fatal("AcceptTriggers of a batch with a taken trigger ID succeeded")
		}
		if got := allTriggers(t, s, ws.ID, core.TriggerQuery{}); len(got) != 1 || got[0].ID != existing.ID {
			t.Fatalf("after a failed batch: triggers %v, want only %s", fmtIDs(got, trgID), existing.ID)
		}
		if jobs := triggerJobs(t, s); len(jobs) != 1 {
			t.Fatalf("after a failed batch: %d trigger.apply jobs, want 1", len(jobs))
		}
		got, err := s.Trigger(ctx, ws.ID, existing.ID)
		must(t, "Trigger", err)
		sameTrigger(t, "the trigger whose ID was reused", got, existing)

		// The same delivery without the bad event goes through whole.
		if dup := accept(t, s, batch[:99]...); slices.Contains(dup, true) {
			t.Fatalf("retried batch: dup %v, want none", dup)
		}
		if got := allTriggers(t, s, ws.ID, core.TriggerQuery{Page: core.Page{Limit: 1000}}); len(got) != 100 {
			t.Fatalf("after the retried batch: %d triggers, want 100", len(got))
		}
		if jobs := triggerJobs(t, s); len(jobs) != 100 {
			t.Fatalf("after the retried batch: %d trigger.apply jobs, want 100", len(jobs))
		}
		// Redelivered whole, all of it is a duplicate.
		redelivered := make([]core.Trigger, 99)
		for i := range redelivered {
			redelivered[i] = newTrigger(c, "contact.propertyChange", fmt.Sprintf("event-%d", i), now())
		}
		for i, d := range accept(t, s, redelivered...) {
			if !d {
				t.Fatalf("redelivered event %d not flagged as a duplicate", i)
			}
		}
	}},
	{"Triggers/InvalidJSON", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		c := mustConnector(t, s, ws.ID)
		good := newTrigger(c, "orders/create", "j-1", now())
		bad := newTrigger(c, "orders/create", "j-2", now())
		bad.Payload = json.RawMessage(`{"id": 1,`)
		_, err := s.AcceptTriggers(ctx, []core.Trigger{good, bad})
		wantErr(t, "AcceptTriggers with a payload that is not JSON", err, core.ErrInvalid)
		if got := allTriggers(t, s, ws.ID, core.TriggerQuery{}); len(got) != 0 {
			t.Errorf("after a refused batch: triggers %v, want none", fmtIDs(got, trgID))
		}
		if jobs := triggerJobs(t, s); len(jobs) != 0 {
			t.Errorf("after a refused batch: %d trigger.apply jobs, want none", len(jobs))
		}
		accept(t, s, good)
		wantErr(t, "RecordTriggerOutcome with an outcome that is not JSON",
			s.RecordTriggerOutcome(ctx, ws.ID, good.ID, core.TriggerApplied, json.RawMessage(`{"applied":`), now()), core.ErrInvalid)
		got, err := s.Trigger(ctx, ws.ID, good.ID)
		must(t, "Trigger", err)
		sameTrigger(t, "trigger after a refused outcome", got, good)

		bc := newConnector(ws.ID, "bad config")
		bc.Config = json.RawMessage(`{"header":`)
		wantErr(t, "CreateConnector with a config that is not JSON", s.CreateConnector(ctx, bc), core.ErrInvalid)
		_, err = s.UpdateConnector(ctx, ws.ID, c.ID, func(x *core.Connector) error { x.Config = json.RawMessage(`[1,`); return nil })
		wantErr(t, "UpdateConnector with a config that is not JSON", err, core.ErrInvalid)
		gc, err := s.Connector(ctx, ws.ID, c.ID)
		must(t, "Connector", err)
		sameConnector(t, "connector after a refused update", gc, c)
	}},
	{"Triggers/ConcurrentSameDedupeKey", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		c := mustConnector(t, s, ws.ID)
		const n = 8
		dups := make([]bool, n)
		errs := make([]error, n)
		ids := make([]string, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			tr := newTrigger(c, "orders/create", "race", now())
			ids[i] = tr.ID
			wg.Go(func() {
				<-start
				d, err := s.AcceptTriggers(ctx, []core.Trigger{tr})
				errs[i] = err
				if err == nil {
					dups[i] = d[0].Duplicate
				}
			})
		}
		close(start)
		wg.Wait()
		var winner string
		for i := range n {
			must(t, "AcceptTriggers", errs[i])
			if !dups[i] {
				if winner != "" {
					t.Fatalf("triggers %s and %s both accepted as new", winner, ids[i])
				}
				winner = ids[i]
			}
		}
		if winner == "" {
			t.Fatal("every concurrent delivery was flagged as a duplicate")
		}
		if got := allTriggers(t, s, ws.ID, core.TriggerQuery{}); !slices.Equal(fmtIDs(got, trgID), []string{winner}) {
			t.Errorf("stored triggers %v, want [%s]", fmtIDs(got, trgID), winner)
		}
		jobs := triggerJobs(t, s)
		if len(jobs) != 1 || jobs[0].Key != winner {
			t.Errorf("trigger.apply jobs %+v, want one keyed %s", jobs, winner)
		}
	}},
	{"Triggers/ListFiltersAndPaging", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		c1 := mustConnector(t, s, ws.ID)
		c2 := mustConnector(t, s, ws.ID)
		oc := mustConnector(t, s, other.ID)
		base := now().Add(-time.Hour)
		var all []core.Trigger // oldest first
		for i := range 12 {
			c := c1
			if i%3 == 2 {
				c = c2
			}
			topic := "orders/create"
			if i%2 == 1 {
				topic = "orders/paid"
			}
			all = append(all, newTrigger(c, topic, fmt.Sprintf("k-%d", i), base.Add(time.Duration(i)*time.Minute)))
		}
		accept(t, s, all[:5]...)
		for _, tr := range all[5:] {
			accept(t, s, tr)
		}
		accept(t, s, newTrigger(oc, "orders/create", "k-0", base))
		outcome := json.RawMessage(`{"applied":[{"passId":"pass_1","version":2}]}`)
		for _, i := range []int{1, 4, 7} {
			must(t, "RecordTriggerOutcome", s.RecordTriggerOutcome(ctx, ws.ID, all[i].ID, core.TriggerApplied, outcome, now()))
			all[i].Status = core.TriggerApplied
		}
		must(t, "RecordTriggerOutcome", s.RecordTriggerOutcome(ctx, ws.ID, all[9].ID, core.TriggerFailed, nil, now()))
		all[9].Status = core.TriggerFailed
		newestFirst := slices.Clone(all)
		slices.Reverse(newestFirst)
		cutoff := base.Add(6*time.Minute + 30*time.Second)

		filters := []struct {
			name string
			q    core.TriggerQuery
			keep func(core.Trigger) bool
		}{
			{"all", core.TriggerQuery{}, func(core.Trigger) bool { return true }},
			{"connector", core.TriggerQuery{ConnectorID: c2.ID}, func(x core.Trigger) bool { return x.ConnectorID == c2.ID }},
			{"status", core.TriggerQuery{Status: core.TriggerApplied}, func(x core.Trigger) bool { return x.Status == core.TriggerApplied }},
			{"topic", core.TriggerQuery{Topic: "orders/paid"}, func(x core.Trigger) bool { return x.Topic == "orders/paid" }},
			{"since", core.TriggerQuery{Since: cutoff}, func(x core.Trigger) bool { return !us(x.ReceivedAt).Before(us(cutoff)) }},
			{"combined", core.TriggerQuery{ConnectorID: c1.ID, Topic: "orders/paid", Status: core.TriggerApplied},
				func(x core.Trigger) bool {
					return x.ConnectorID == c1.ID && x.Topic == "orders/paid" && x.Status == core.TriggerApplied
				}},
			{"none", core.TriggerQuery{ConnectorID: oc.ID}, func(core.Trigger) bool { return false }},
		}
		for _, f := range filters {
			var want []string
			for _, x := range newestFirst {
				if f.keep(x) {
					want = append(want, x.ID)
				}
			}
			for _, limit := range []int{1, 5, 1000} {
				q := f.q
				q.Limit = limit
				if got := fmtIDs(allTriggers(t, s, ws.ID, q), trgID); !slices.Equal(got, want) {
					t.Errorf("%s/limit %d: got %v, want %v", f.name, limit, got, want)
				}
			}
		}
		list := allTriggers(t, s, ws.ID, core.TriggerQuery{})
		for i, got := range list {
			if got.Status != newestFirst[i].Status {
				t.Errorf("trigger %s: status %s, want %s", got.ID, got.Status, newestFirst[i].Status)
			}
		}
		_, _, err := s.ListTriggers(ctx, ws.ID, core.TriggerQuery{Page: core.Page{Cursor: "??"}})
		wantErr(t, "ListTriggers with a bad cursor", err, core.ErrInvalid)
		if got := allTriggers(t, s, other.ID, core.TriggerQuery{}); len(got) != 1 {
			t.Errorf("the other workspace has %d triggers, want 1", len(got))
		}
	}},
	{"Triggers/RecordOutcome", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		c := mustConnector(t, s, ws.ID)
		tr := newTrigger(c, "orders/create", "o-1", now())
		accept(t, s, tr)
		at := now().Add(time.Minute)
		outcome := json.RawMessage(`{"skipped": "no rule for orders/create", "rule": null}`)
		must(t, "RecordTriggerOutcome", s.RecordTriggerOutcome(ctx, ws.ID, tr.ID, core.TriggerSkipped, outcome, at))
		want := tr
		want.Status, want.Outcome, want.UpdatedAt = core.TriggerSkipped, outcome, at
		got, err := s.Trigger(ctx, ws.ID, tr.ID)
		must(t, "Trigger", err)
		sameTrigger(t, "trigger with its outcome", got, want)
		if !bytes.Equal(got.Outcome, outcome) {
			t.Errorf("outcome %s, want %s as recorded", got.Outcome, outcome)
		}
		must(t, "RecordTriggerOutcome without outcome", s.RecordTriggerOutcome(ctx, ws.ID, tr.ID, core.TriggerApplied, nil, at))
		got, err = s.Trigger(ctx, ws.ID, tr.ID)
		must(t, "Trigger", err)
		if got.Status != core.TriggerApplied || got.Outcome != nil {
			t.Errorf("after an outcome of nil: status %s, outcome %s; want applied, none", got.Status, got.Outcome)
		}
		wantErr(t, "RecordTriggerOutcome missing", s.RecordTriggerOutcome(ctx, ws.ID, "trg_missing", core.TriggerApplied, nil, at), core.ErrNotFound)
		wantErr(t, "RecordTriggerOutcome of another workspace",
			s.RecordTriggerOutcome(ctx, mustWorkspace(t, s).ID, tr.ID, core.TriggerApplied, nil, at), core.ErrNotFound)
		// An outcome writes no job.
		if jobs := triggerJobs(t, s); len(jobs) != 1 {
			t.Errorf("%d trigger.apply jobs, want 1", len(jobs))
		}
	}},
	{"Triggers/ToApply", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		c := mustConnector(t, s, ws.ID)
		tr := newTrigger(c, "orders/paid", "a-1", now())
		accept(t, s, tr)

		// Without the mapping file: version 0.
		got, src, err := s.TriggerToApply(ctx, ws.ID, tr.ID)
		must(t, "TriggerToApply", err)
		want, err := s.Trigger(ctx, ws.ID, tr.ID)
		must(t, "Trigger", err)
		sameTrigger(t, "trigger to apply", got, want)
		if src != (core.TriggerSource{ConnectorKind: c.Kind, Mapping: c.Mapping}) {
			t.Errorf("source without a mapping file = %+v, want kind %s, mapping %q, version 0", src, c.Kind, c.Mapping)
		}
		// The newest version of the connector's mapping, not another's.
		for range 2 {
			_, err := s.PutMapping(ctx, ws.ID, c.Mapping, "rules: []", now())
			must(t, "PutMapping", err)
		}
		_, err = s.PutMapping(ctx, ws.ID, c.Mapping+"-other", "rules: []", now())
		must(t, "PutMapping", err)
		_, err = s.PutMapping(ctx, mustWorkspace(t, s).ID, c.Mapping, "rules: []", now())
		must(t, "PutMapping", err)
		_, src, err = s.TriggerToApply(ctx, ws.ID, tr.ID)
		must(t, "TriggerToApply", err)
		if src.MappingVersion != 2 || src.Mapping != c.Mapping {
			t.Errorf("source = %+v, want mapping %q at version 2", src, c.Mapping)
		}
		// A deleted connector leaves the trigger, with no kind.
		must(t, "DeleteConnector", s.DeleteConnector(ctx, ws.ID, c.ID))
		_, src, err = s.TriggerToApply(ctx, ws.ID, tr.ID)
		must(t, "TriggerToApply", err)
		if src.ConnectorKind != "" {
			t.Errorf("source after the connector's delete = %+v, want no kind", src)
		}
		_, _, err = s.TriggerToApply(ctx, ws.ID, "trg_missing")
		wantErr(t, "TriggerToApply missing", err, core.ErrNotFound)
		_, _, err = s.TriggerToApply(ctx, mustWorkspace(t, s).ID, tr.ID)
		wantErr(t, "TriggerToApply of another workspace", err, core.ErrNotFound)
	}},
	{"Triggers/FinishWithItsJob", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		c := mustConnector(t, s, ws.ID)
		tr := newTrigger(c, "orders/paid", "f-1", now())
		accept(t, s, tr)
		jobs := triggerJobs(t, s)
		if len(jobs) != 1 {
			t.Fatalf("%d trigger.apply jobs, want 1", len(jobs))
		}
		job := jobs[0]
		at := now().Add(time.Minute)
		// Both or neither: a missing trigger leaves the job alone.
		wantErr(t, "FinishTrigger of a missing trigger",
			s.FinishTrigger(ctx, ws.ID, "trg_missing", core.TriggerApplied, nil, at, job.ID), core.ErrNotFound)
		if j, err := s.Job(ctx, job.ID); err != nil || j.State == core.JobDone {
			t.Fatalf("job after finishing a missing trigger: %+v, %v; want it not done", j, err)
		}
		outcome := json.RawMessage(`{"applied":[{"rule":"points"}]}`)
		must(t, "FinishTrigger", s.FinishTrigger(ctx, ws.ID, tr.ID, core.TriggerApplied, outcome, at, job.ID))
		got, err := s.Trigger(ctx, ws.ID, tr.ID)
		must(t, "Trigger", err)
		if got.Status != core.TriggerApplied || !bytes.Equal(got.Outcome, outcome) || !got.UpdatedAt.Equal(us(at)) {
			t.Errorf("finished trigger: %s %s at %s; want applied %s at %s", got.Status, got.Outcome, got.UpdatedAt, outcome, us(at))
		}
		j, err := s.Job(ctx, job.ID)
		must(t, "Job", err)
		if j.State != core.JobDone || j.DoneAt == nil || !j.DoneAt.Equal(us(at)) {
			t.Errorf("job after FinishTrigger: %+v; want done at %s", j, us(at))
		}
		// A duplicate run finds the job done and keeps the first outcome.
		wantErr(t, "FinishTrigger again", s.FinishTrigger(ctx, ws.ID, tr.ID, core.TriggerSkipped, json.RawMessage(`{"skipped":[]}`), at.Add(time.Second), job.ID), core.ErrJobDone)
		got, err = s.Trigger(ctx, ws.ID, tr.ID)
		must(t, "Trigger", err)
		if got.Status != core.TriggerApplied || !bytes.Equal(got.Outcome, outcome) {
			t.Errorf("a duplicate run's outcome replaced the first: %s %s", got.Status, got.Outcome)
		}
		tr2 := newTrigger(c, "orders/paid", "f-2", now())
		accept(t, s, tr2)
		job2, ok := jobByKey(triggerJobs(t, s), core.JobKindTriggerApply, tr2.ID)
		if !ok {
			t.Fatal("no job for the second trigger")
		}
		wantErr(t, "FinishTrigger with an outcome that is not JSON",
			s.FinishTrigger(ctx, ws.ID, tr2.ID, core.TriggerApplied, json.RawMessage(`{"applied":`), at, job2.ID), core.ErrInvalid)
		if j, err := s.Job(ctx, job2.ID); err != nil || j.State == core.JobDone {
			t.Errorf("job after a refused outcome: %+v, %v; want it not done", j, err)
		}
	}},
	{"Triggers/Replay", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		c := mustConnector(t, s, ws.ID)
		tr := newTrigger(c, "orders/create", "r-1", now())
		accept(t, s, tr)
		at := now().Add(time.Minute)
		must(t, "RecordTriggerOutcome", s.RecordTriggerOutcome(ctx, ws.ID, tr.ID, core.TriggerFailed, json.RawMessage(`{"error":"boom"}`), at))

		replayAt := at.Add(time.Minute)
		got, err := s.ReplayTrigger(ctx, ws.ID, tr.ID, "replay-1", replayAt)
		must(t, "ReplayTrigger", err)
		want := tr
		want.Status, want.Outcome, want.UpdatedAt = core.TriggerReceived, nil, replayAt
		sameTrigger(t, "replayed trigger", got, want)
		read, err := s.Trigger(ctx, ws.ID, tr.ID)
		must(t, "Trigger", err)
		sameTrigger(t, "replayed trigger read back", read, want)
		jobs := triggerJobs(t, s)
		j, ok := jobByKey(jobs, core.JobKindTriggerApply, tr.ID+"/replay-1")
		if !ok || len(jobs) != 2 {
			t.Fatalf("after a replay: jobs %+v; want the first and one keyed %s/replay-1", jobs, tr.ID)
		}
		if j.WorkspaceID != ws.ID || j.State != core.JobPending || !j.CreatedAt.Equal(us(replayAt)) {
			t.Errorf("replay job %+v; want workspace %s, pending, created at %s", j, ws.ID, us(replayAt))
		}

		// The same replay again resets the status but writes no job; a
		// distinct one writes its own.
		must(t, "RecordTriggerOutcome", s.RecordTriggerOutcome(ctx, ws.ID, tr.ID, core.TriggerApplied, json.RawMessage(`{}`), at))
		got, err = s.ReplayTrigger(ctx, ws.ID, tr.ID, "replay-1", replayAt)
		must(t, "ReplayTrigger again", err)
		if got.Status != core.TriggerReceived || got.Outcome != nil {
			t.Errorf("replayed again: status %s, outcome %s; want received, none", got.Status, got.Outcome)
		}
		if n := len(triggerJobs(t, s)); n != 2 {
			t.Errorf("after the same replay again: %d trigger.apply jobs, want 2", n)
		}
		_, err = s.ReplayTrigger(ctx, ws.ID, tr.ID, "replay-2", replayAt)
		must(t, "ReplayTrigger replay-2", err)
		if _, ok := jobByKey(triggerJobs(t, s), core.JobKindTriggerApply, tr.ID+"/replay-2"); !ok {
			t.Error("no job for a second replay")
		}

		_, err = s.ReplayTrigger(ctx, ws.ID, "trg_missing", "replay-3", replayAt)
		wantErr(t, "ReplayTrigger missing", err, core.ErrNotFound)
		_, err = s.ReplayTrigger(ctx, mustWorkspace(t, s).ID, tr.ID, "replay-3", replayAt)
		wantErr(t, "ReplayTrigger of another workspace", err, core.ErrNotFound)
		if _, ok := jobByKey(triggerJobs(t, s), core.JobKindTriggerApply, tr.ID+"/replay-3"); ok {
			t.Error("a refused replay wrote a job")
		}
	}},
	{"Mappings/Versions", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		_, err := s.Mapping(ctx, ws.ID, "orders")
		wantErr(t, "Mapping before any", err, core.ErrNotFound)
		_, err = s.MappingVersions(ctx, ws.ID, "orders")
		wantErr(t, "MappingVersions before any", err, core.ErrNotFound)
		if list, err := s.ListMappings(ctx, ws.ID); err != nil || len(list) != 0 {
			t.Fatalf("ListMappings before any: %v, %v", list, err)
		}

		at := now()
		var puts []core.MappingFile
		for i := range 3 {
			m, err := s.PutMapping(ctx, ws.ID, "orders", fmt.Sprintf("rules: v%d\n", i+1), at.Add(time.Duration(i)*time.Second))
			must(t, "PutMapping", err)
			want := core.MappingFile{WorkspaceID: ws.ID, Name: "orders", Version: int64(i + 1), Source: fmt.Sprintf("rules: v%d\n", i+1),
				CreatedAt: us(at.Add(time.Duration(i) * time.Second))}
			sameJSON(t, "put mapping", m, want)
			if m.CreatedAt.Location() != time.UTC {
				t.Errorf("mapping time in %s, want UTC", m.CreatedAt.Location())
			}
			puts = append(puts, want)
		}
		latest, err := s.Mapping(ctx, ws.ID, "orders")
		must(t, "Mapping", err)
		sameJSON(t, "latest mapping", latest, puts[2])
		versions, err := s.MappingVersions(ctx, ws.ID, "orders")
		must(t, "MappingVersions", err)
		sameJSON(t, "mapping versions", versions, []core.MappingFile{puts[2], puts[1], puts[0]})

		// Versions count per workspace and name.
		om, err := s.PutMapping(ctx, other.ID, "orders", "other", at)
		must(t, "PutMapping other workspace", err)
		if om.Version != 1 {
			t.Errorf("first version in another workspace: %d, want 1", om.Version)
		}
		_, err = s.Mapping(ctx, other.ID, "customers")
		wantErr(t, "Mapping of another workspace's name", err, core.ErrNotFound)
		for _, name := range []string{"customers", "Zeta", "alpha"} {
			_, err := s.PutMapping(ctx, ws.ID, name, name+" v1", at)
			must(t, "PutMapping", err)
		}
		c2, err := s.PutMapping(ctx, ws.ID, "customers", "customers v2", at)
		must(t, "PutMapping", err)
		if c2.Version != 2 {
			t.Errorf("customers v2: version %d", c2.Version)
		}
		list, err := s.ListMappings(ctx, ws.ID)
		must(t, "ListMappings", err)
		var got []string
		for _, m := range list {
			got = append(got, fmt.Sprintf("%s@%d:%s", m.Name, m.Version, m.Source))
		}
		want := []string{"Zeta@1:Zeta v1", "alpha@1:alpha v1", "customers@2:customers v2", "orders@3:rules: v3\n"}
		if !slices.Equal(got, want) {
			t.Errorf("ListMappings: %q, want %q", got, want)
		}
		if list, err := s.ListMappings(ctx, other.ID); err != nil || len(list) != 1 || list[0].Source != "other" {
			t.Errorf("ListMappings other workspace: %+v, %v", list, err)
		}

		// Concurrent puts get distinct versions.
		const n = 8
		vs := make([]int64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				m, err := s.PutMapping(ctx, ws.ID, "race", fmt.Sprintf("put %d", i), now())
				vs[i], errs[i] = m.Version, err
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			must(t, "concurrent PutMapping", err)
		}
		slices.Sort(vs)
		if !slices.Equal(vs, []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Errorf("concurrent puts got versions %v, want 1..8", vs)
		}
		versions, err = s.MappingVersions(ctx, ws.ID, "race")
		must(t, "MappingVersions race", err)
		if got := mappingVersions(versions); !slices.Equal(got, []int64{8, 7, 6, 5, 4, 3, 2, 1}) {
			t.Errorf("race versions %v, want 8..1", got)
		}
	}},
}
