package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// The webhook cases: subscriptions (round trip, paging, isolation, update
// closures, cascade on delete), disabling with its webhook.disabled event
// and dispatch job, and the delivery log (attempts counted by the store,
// FailingSince kept with them, newest-first paging with filters, several
// attempts logged at once with the jobs they complete).

var webhookCases = []testCase{
	{"webhook round trip and isolation", testWebhookRoundTrip},
	{"webhook list pages by creation", testWebhookList},
	{"webhook update", testWebhookUpdate},
	{"webhook delete takes its deliveries", testWebhookDelete},
	{"webhook disable appends one event", testWebhookDisable},
	{"webhook attempts are counted and logged", testWebhookAttempts},
	{"webhook failing since", testWebhookFailingSince},
	{"webhook attempt of a deleted subscription", testWebhookAttemptDeleted},
	{"webhook deliveries page newest first", testWebhookDeliveries},
	{"webhook attempts complete their jobs", testWebhookAttemptsCompleteJobs},
	{"webhook attempts are all or nothing", testWebhookAttemptsAllOrNothing},
}

func newWebhook(workspaceID string) core.WebhookSubscription {
	at := now()
	return core.WebhookSubscription{
		ID: core.NewID(core.PrefixWebhook), WorkspaceID: workspaceID, URL: "https://hooks.example.com/passhub?x=1",
		Events: []string{"pass.installed", "pass.*", "*"}, TemplateID: "tpl_x",
		Fields:        map[string]*string{"externalId": ptr("customerId"), "fields.points": nil},
		SecretsSealed: []byte{0, 1, 2, 0xff, 'w'}, Origin: core.WebhookOriginAPI, CreatedAt: at, UpdatedAt: at,
	}
}

func mustWebhook(t *testing.T, s Store, workspaceID string) core.WebhookSubscription {
	t.Helper()
	w := newWebhook(workspaceID)
	must(t, "CreateWebhook", s.CreateWebhook(t.Context(), w))
	return w
}

func storedWebhook(w core.WebhookSubscription) core.WebhookSubscription {
	w.CreatedAt, w.UpdatedAt = us(w.CreatedAt), us(w.UpdatedAt)
	if w.DisabledAt != nil {
		w.DisabledAt = ptr(us(*w.DisabledAt))
	}
	if w.FailingSince != nil {
		w.FailingSince = ptr(us(*w.FailingSince))
	}
	return w
}

func sameWebhook(t *testing.T, what string, got, want core.WebhookSubscription) {
	t.Helper()
	want = storedWebhook(want)
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

func testWebhookRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	ws, other := mustWorkspace(t, s), mustWorkspace(t, s)
	w := mustWebhook(t, s, ws.ID)
	got, err := s.Webhook(ctx, ws.ID, w.ID)
	must(t, "Webhook", err)
	sameWebhook(t, "webhook", got, w)
	if v, ok := got.Fields["fields.points"]; !ok || v != nil {
		t.Errorf("fields.points = %v, %v; want a removal (nil) kept", v, ok)
	}

	// A minimal one: no fields, no template, Zapier origin.
	z := core.WebhookSubscription{ID: core.NewID(core.PrefixWebhook), WorkspaceID: ws.ID, URL: "http://127.0.0.1:9/h",
		Events: []string{"pass.installed"}, SecretsSealed: []byte("s"), Origin: core.WebhookOriginZapier, CreatedAt: now(), UpdatedAt: now()}
	must(t, "CreateWebhook", s.CreateWebhook(ctx, z))
	got, err = s.Webhook(ctx, ws.ID, z.ID)
	must(t, "Webhook", err)
	sameWebhook(t, "minimal webhook", got, z)
	if got.Fields != nil {
		t.Errorf("fields %v, want nil", got.Fields)
	}

	wantConflict(t, "CreateWebhook twice", s.CreateWebhook(ctx, w), "id")
	_, err = s.Webhook(ctx, other.ID, w.ID)
	wantErr(t, "Webhook of another workspace", err, core.ErrNotFound)
	_, err = s.Webhook(ctx, ws.ID, "whk_missing")
	wantErr(t, "Webhook missing", err, core.ErrNotFound)
	list, _, err := s.ListWebhooks(ctx, other.ID, core.Page{})
	must(t, "ListWebhooks", err)
	if len(list) != 0 {
		t.Errorf("other workspace lists %d webhooks, want 0", len(list))
	}
	active, err := s.ListActiveWebhooks(ctx, other.ID)
	must(t, "ListActiveWebhooks", err)
	if active == nil || len(active) != 0 {
		t.Errorf("other workspace: active webhooks %v, want empty and not nil", active)
	}
	wantErr(t, "DeleteWebhook of another workspace", s.DeleteWebhook(ctx, other.ID, w.ID), core.ErrNotFound)
}

func testWebhookList(t *testing.T, s Store) {
	ctx := t.Context()
	ws := mustWorkspace(t, s)
	var ids []string
	for range 5 {
		ids = append(ids, mustWebhook(t, s, ws.ID).ID)
	}
	var got []string
	page := core.Page{Limit: 2}
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("ListWebhooks: cursor walk does not end")
		}
		list, next, err := s.ListWebhooks(ctx, ws.ID, page)
		must(t, "ListWebhooks", err)
		if len(list) > 2 {
			t.Fatalf("page of %d, want at most 2", len(list))
		}
		got = append(got, fmtIDs(list, func(w core.WebhookSubscription) string { return w.ID })...)
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("listed %v, want %v", got, ids)
	}
	_, _, err := s.ListWebhooks(ctx, ws.ID, core.Page{Cursor: "%%%"})
	wantErr(t, "ListWebhooks with a bad cursor", err, core.ErrInvalid)

	_, err = s.DisableWebhook(ctx, ws.ID, ids[1], "test", now())
	must(t, "DisableWebhook", err)
	active, err := s.ListActiveWebhooks(ctx, ws.ID)
	must(t, "ListActiveWebhooks", err)
	want := []string{ids[0], ids[2], ids[3], ids[4]}
	if g := fmtIDs(active, func(w core.WebhookSubscription) string { return w.ID }); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Errorf("active %v, want %v", g, want)
	}
}

func testWebhookUpdate(t *testing.T, s Store) {
	ctx := t.Context()
	ws, other := mustWorkspace(t, s), mustWorkspace(t, s)
	w := mustWebhook(t, s, ws.ID)

	boom := errors.New("boom")
	_, err := s.UpdateWebhook(ctx, ws.ID, w.ID, func(x *core.WebhookSubscription) error {
		x.URL = "https://changed.example.com"
		x.Events[0] = "pass.deleted"
		*x.Fields["externalId"] = "changed"
		return boom
	})
	wantErr(t, "UpdateWebhook failing", err, boom)
	got, err := s.Webhook(ctx, ws.ID, w.ID)
	must(t, "Webhook", err)
	sameWebhook(t, "webhook after a failed update", got, w)

	later := now().Add(time.Minute)
	updated, err := s.UpdateWebhook(ctx, ws.ID, w.ID, func(x *core.WebhookSubscription) error {
		x.ID, x.WorkspaceID, x.CreatedAt = "whk_other", other.ID, later // cannot change
		x.URL = "https://changed.example.com/h"
		x.Events = []string{"pass.deleted"}
		x.TemplateID = ""
		x.Fields = map[string]*string{"walletStatus": ptr("status")}
		x.SecretsSealed = []byte("new sealed")
		x.Disabled, x.DisabledAt, x.DisabledReason = true, &later, "paused by user"
		x.UpdatedAt = later
		return nil
	})
	must(t, "UpdateWebhook", err)
	want := w
	want.URL, want.Events, want.TemplateID = "https://changed.example.com/h", []string{"pass.deleted"}, ""
	want.Fields = map[string]*string{"walletStatus": ptr("status")}
	want.SecretsSealed = []byte("new sealed")
	want.Disabled, want.DisabledAt, want.DisabledReason = true, &later, "paused by user"
	want.UpdatedAt = later
	sameWebhook(t, "UpdateWebhook result", updated, want)
	got, err = s.Webhook(ctx, ws.ID, w.ID)
	must(t, "Webhook", err)
	sameWebhook(t, "webhook after update", got, want)

	// Re-enabling drops the disabling details.
	got, err = s.UpdateWebhook(ctx, ws.ID, w.ID, func(x *core.WebhookSubscription) error { x.Disabled = false; return nil })
	must(t, "UpdateWebhook enable", err)
	if got.Disabled || got.DisabledAt != nil || got.DisabledReason != "" {
		t.Errorf("enabled webhook keeps disabled=%v at=%v reason=%q", got.Disabled, got.DisabledAt, got.DisabledReason)
	}

	_, err = s.UpdateWebhook(ctx, other.ID, w.ID, func(*core.WebhookSubscription) error { return nil })
	wantErr(t, "UpdateWebhook of another workspace", err, core.ErrNotFound)
}

// newAttempt is a failed (503) or successful (200) attempt at at.
func newAttempt(d core.WebhookDelivery, status int, at time.Time) (core.WebhookDelivery, core.WebhookAttempt) {
	d.Status = core.WebhookPending
	next := at.Add(5 * time.Second)
	d.NextAttemptAt = &next
	if status/100 == 2 {
		d.Status, d.NextAttemptAt = core.WebhookSucceeded, nil
	}
	return d, core.WebhookAttempt{
		At:             at,
		RequestHeaders: map[string]string{"webhook-id": d.ID, "webhook-timestamp": fmt.Sprint(at.Unix()), "content-type": "application/json"},
		ResponseStatus: status, ResponseBody: fmt.Sprintf(`{"status":%d}`, status),
		Latency: 1234567 * time.Nanosecond,
	}
}

func newDelivery(w core.WebhookSubscription, eventID string, at time.Time) core.WebhookDelivery {
	return core.WebhookDelivery{
		ID: core.WebhookDeliveryID(eventID, w.ID), WorkspaceID: w.WorkspaceID, SubscriptionID: w.ID, EventID: eventID,
		EventType: core.EventInstalled, CreatedAt: at,
	}
}

// recordStatus records an attempt answered with status at at.
func recordStatus(t *testing.T, s Store, d core.WebhookDelivery, status int, at time.Time) core.RecordedWebhookAttempt {
	t.Helper()
	dd, a := newAttempt(d, status, at)
	return record(t, s, dd, a)
}

func record(t *testing.T, s Store, d core.WebhookDelivery, a core.WebhookAttempt) core.RecordedWebhookAttempt {
	t.Helper()
	r, err := s.RecordWebhookAttempt(t.Context(), d, a)
	must(t, "RecordWebhookAttempt", err)
	return r
}

func testWebhookDelete(t *testing.T, s Store) {
	ctx := t.Context()
	ws := mustWorkspace(t, s)
	w := mustWebhook(t, s, ws.ID)
	d := newDelivery(w, core.NewID(core.PrefixEvent), now())
	recordStatus(t, s, d, 503, now())
	must(t, "DeleteWebhook", s.DeleteWebhook(ctx, ws.ID, w.ID))
	_, err := s.Webhook(ctx, ws.ID, w.ID)
	wantErr(t, "Webhook after delete", err, core.ErrNotFound)
	_, err = s.WebhookDelivery(ctx, ws.ID, d.ID)
	wantErr(t, "WebhookDelivery after delete", err, core.ErrNotFound)
	wantErr(t, "DeleteWebhook twice", s.DeleteWebhook(ctx, ws.ID, w.ID), core.ErrNotFound)

	// A new subscription with the same ID starts with an empty log.
	must(t, "CreateWebhook again", s.CreateWebhook(ctx, w))
	list, _, err := s.ListWebhookDeliveries(ctx, ws.ID, w.ID, core.WebhookDeliveryQuery{})
	must(t, "ListWebhookDeliveries", err)
	if len(list) != 0 {
		t.Errorf("recreated webhook has %d deliveries, want 0", len(list))
	}
}

func testWebhookDisable(t *testing.T, s Store) {
	ctx := t.Context()
	ws := mustWorkspace(t, s)
	w := mustWebhook(t, s, ws.ID)
	at := now()
	got, err := s.DisableWebhook(ctx, ws.ID, w.ID, "failing for 5 days", at)
	must(t, "DisableWebhook", err)
	want := w
	want.Disabled, want.DisabledAt, want.DisabledReason, want.UpdatedAt = true, &at, "failing for 5 days", at
	sameWebhook(t, "disabled webhook", got, want)
	stored, err := s.Webhook(ctx, ws.ID, w.ID)
	must(t, "Webhook", err)
	sameWebhook(t, "stored disabled webhook", stored, want)

	evs := allEvents(t, s, ws.ID, core.EventQuery{Type: core.EventWebhookDisabled})
	if len(evs) != 1 {
		t.Fatalf("%d webhook.disabled events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Data.PassID != "" || ev.Data.Fields["webhookId"] != w.ID || ev.Data.Fields["url"] != w.URL || ev.Data.Fields["reason"] != "failing for 5 days" {
		t.Errorf("event data %+v, want the webhook's ID, URL and reason and no pass", ev.Data)
	}
	if !ev.OccurredAt.Equal(us(at)) {
		t.Errorf("event at %v, want %v", ev.OccurredAt, us(at))
	}
	if _, ok := jobByKey(allPendingJobs(t, s), core.JobKindDispatch, ev.ID); !ok {
		t.Errorf("no dispatch job for event %s", ev.ID)
	}
	byID, err := s.Event(ctx, ws.ID, ev.ID)
	must(t, "Event", err)
	sameEvent(t, byID, ev)

	// A second disable changes nothing and records nothing.
	again, err := s.DisableWebhook(ctx, ws.ID, w.ID, "other reason", at.Add(time.Hour))
	must(t, "DisableWebhook again", err)
	sameWebhook(t, "webhook disabled twice", again, want)
	if n := len(allEvents(t, s, ws.ID, core.EventQuery{Type: core.EventWebhookDisabled})); n != 1 {
		t.Errorf("%d webhook.disabled events after a second disable, want 1", n)
	}
	_, err = s.DisableWebhook(ctx, ws.ID, "whk_missing", "x", at)
	wantErr(t, "DisableWebhook missing", err, core.ErrNotFound)
}

func testWebhookAttempts(t *testing.T, s Store) {
	ctx := t.Context()
	ws, other := mustWorkspace(t, s), mustWorkspace(t, s)
	w := mustWebhook(t, s, ws.ID)
	t0 := now()
	d := newDelivery(w, core.NewID(core.PrefixEvent), t0)

	d1, a1 := newAttempt(d, 503, t0)
	a1.Attempt = 99 // the store numbers attempts
	r1 := record(t, s, d1, a1)
	if r1.Delivery.Attempts != 1 || r1.Delivery.Status != core.WebhookPending || r1.Delivery.LastResponseStatus != 503 {
		t.Errorf("after attempt 1: %+v", r1.Delivery)
	}

	// The second attempt: no response, a body of odd bytes and more than
	// the log keeps.
	t1 := t0.Add(5 * time.Second)
	d2, a2 := newAttempt(d, 0, t1)
	a2.Error = "dial tcp: connection refused"
	a2.ResponseBody = "a\x00b\xffc" + strings.Repeat("x", 2*core.MaxWebhookResponseBody)
	r2 := record(t, s, d2, a2)

	t2 := t1.Add(5 * time.Minute)
	d3, a3 := newAttempt(d, 204, t2)
	a3.ResponseBody = ""
	r3 := record(t, s, d3, a3)
	wantD := core.WebhookDelivery{
		ID: d.ID, WorkspaceID: ws.ID, SubscriptionID: w.ID, EventID: d.EventID, EventType: core.EventInstalled,
		Status: core.WebhookSucceeded, Attempts: 3, LastResponseStatus: 204, LastAttemptAt: ptr(us(t2)), CreatedAt: us(t0),
	}
	sameJSON(t, "delivery after attempt 3", r3.Delivery, wantD)
	if r2.Delivery.Attempts != 2 || r2.Delivery.NextAttemptAt == nil || !r2.Delivery.NextAttemptAt.Equal(us(t1.Add(5*time.Second))) {
		t.Errorf("after attempt 2: %+v", r2.Delivery)
	}

	got, err := s.WebhookDelivery(ctx, ws.ID, d.ID)
	must(t, "WebhookDelivery", err)
	if len(got.History) != 3 {
		t.Fatalf("history of %d attempts, want 3", len(got.History))
	}
	h := got.History
	got.History = nil
	sameJSON(t, "stored delivery", got, wantD)
	for i, want := range []core.WebhookAttempt{a1, a2, a3} {
		a := h[i]
		if a.DeliveryID != d.ID || a.Attempt != i+1 || !a.At.Equal(us(want.At)) || a.ResponseStatus != want.ResponseStatus ||
			a.Error != want.Error || a.Latency != 1234*time.Microsecond || fmt.Sprint(a.RequestHeaders) != fmt.Sprint(want.RequestHeaders) {
			t.Errorf("attempt %d: %+v, want %+v (latency in µs)", i+1, a, want)
		}
		if a.At.Location() != time.UTC {
			t.Errorf("attempt %d at %v, want UTC", i+1, a.At)
		}
	}
	if h[0].ResponseBody != a1.ResponseBody || h[2].ResponseBody != "" {
		t.Errorf("bodies %q, %q; want %q, empty", h[0].ResponseBody, h[2].ResponseBody, a1.ResponseBody)
	}
	if b := h[1].ResponseBody; len(b) > core.MaxWebhookResponseBody+8 || !strings.HasPrefix(b, "ab") || !strings.Contains(b, "c") {
		t.Errorf("odd body stored as %d bytes starting %q; want it cut to about %d bytes, NUL dropped", len(b), b[:min(len(b), 8)], core.MaxWebhookResponseBody)
	}

	_, err = s.WebhookDelivery(ctx, other.ID, d.ID)
	wantErr(t, "WebhookDelivery of another workspace", err, core.ErrNotFound)
	_, err = s.WebhookDelivery(ctx, ws.ID, "msg_missing")
	wantErr(t, "WebhookDelivery missing", err, core.ErrNotFound)
}

func testWebhookFailingSince(t *testing.T, s Store) {
	ctx := t.Context()
	ws := mustWorkspace(t, s)
	w := mustWebhook(t, s, ws.ID)
	t0 := now()
	dA := newDelivery(w, core.NewID(core.PrefixEvent), t0)
	dB := newDelivery(w, core.NewID(core.PrefixEvent), t0)

	steps := []struct {
		d      core.WebhookDelivery
		status int
		at     time.Time
		want   *time.Time
	}{
		{dA, 500, t0, &t0},                                           // first failure starts the clock
		{dB, 0, t0.Add(time.Hour), &t0},                              // another message failing keeps it
		{dA, 410, t0.Add(2 * time.Hour), &t0},                        // still failing
		{dB, 200, t0.Add(3 * time.Hour), nil},                        // any success stops it
		{dA, 503, t0.Add(4 * time.Hour), ptr(t0.Add(4 * time.Hour))}, // and the next failure starts anew
	}
	for i, st := range steps {
		r := recordStatus(t, s, st.d, st.status, st.at)
		if (r.FailingSince == nil) != (st.want == nil) || st.want != nil && !r.FailingSince.Equal(us(*st.want)) {
			t.Errorf("step %d: failing since %v, want %v", i, r.FailingSince, st.want)
		}
		got, err := s.Webhook(ctx, ws.ID, w.ID)
		must(t, "Webhook", err)
		if (got.FailingSince == nil) != (st.want == nil) || st.want != nil && !got.FailingSince.Equal(us(*st.want)) {
			t.Errorf("step %d: stored failing since %v, want %v", i, got.FailingSince, st.want)
		}
	}
}

func testWebhookAttemptDeleted(t *testing.T, s Store) {
	ctx := t.Context()
	ws, other := mustWorkspace(t, s), mustWorkspace(t, s)
	w := mustWebhook(t, s, ws.ID)
	d := newDelivery(w, core.NewID(core.PrefixEvent), now())

	// The delivery names its workspace: another workspace's subscription
	// of the same ID is not found.
	wrong := d
	wrong.WorkspaceID = other.ID
	dd, a := newAttempt(wrong, 500, now())
	_, err := s.RecordWebhookAttempt(ctx, dd, a)
	wantErr(t, "RecordWebhookAttempt in another workspace", err, core.ErrNotFound)

	must(t, "DeleteWebhook", s.DeleteWebhook(ctx, ws.ID, w.ID))
	dd, a = newAttempt(d, 500, now())
	_, err = s.RecordWebhookAttempt(ctx, dd, a)
	wantErr(t, "RecordWebhookAttempt of a deleted webhook", err, core.ErrNotFound)
	_, err = s.WebhookDelivery(ctx, ws.ID, d.ID)
	wantErr(t, "WebhookDelivery of a refused attempt", err, core.ErrNotFound)
	_, err = s.WebhookDelivery(ctx, other.ID, d.ID)
	wantErr(t, "WebhookDelivery of a refused attempt (other workspace)", err, core.ErrNotFound)
}

func testWebhookDeliveries(t *testing.T, s Store) {
	ctx := t.Context()
	ws, other := mustWorkspace(t, s), mustWorkspace(t, s)
	w := mustWebhook(t, s, ws.ID)
	w2 := mustWebhook(t, s, ws.ID)
	t0 := now()
	// Seven deliveries: three share a creation time (the cursor must
	// still walk them once each), odd ones end failed.
	var want []core.WebhookDelivery
	for i := range 7 {
		at := t0.Add(time.Duration(max(i, 2)) * time.Second)
		d := newDelivery(w, core.NewID(core.PrefixEvent), at)
		dd, a := newAttempt(d, 200, at)
		if i%2 == 1 {
			dd, a = newAttempt(d, 500, at)
			dd.Status, dd.NextAttemptAt = core.WebhookFailed, nil
		}
		want = append(want, record(t, s, dd, a).Delivery)
	}
	recordStatus(t, s, newDelivery(w2, core.NewID(core.PrefixEvent), t0), 200, t0)

	walk := func(q core.WebhookDeliveryQuery) []core.WebhookDelivery {
		t.Helper()
		var out []core.WebhookDelivery
		for i := 0; ; i++ {
			if i > 20 {
				t.Fatal("ListWebhookDeliveries: cursor walk does not end")
			}
			page, next, err := s.ListWebhookDeliveries(ctx, ws.ID, w.ID, q)
			must(t, "ListWebhookDeliveries", err)
			if q.Limit > 0 && len(page) > q.Limit {
				t.Fatalf("page of %d, want at most %d", len(page), q.Limit)
			}
			out = append(out, page...)
			if next == "" {
				return out
			}
			q.Cursor = next
		}
	}
	newestFirst := func(ds []core.WebhookDelivery) []string {
		// Newest first; equal times by ID, descending.
		out := append([]core.WebhookDelivery(nil), ds...)
		for i := 1; i < len(out); i++ {
			for j := i; j > 0; j-- {
				a, b := out[j-1], out[j]
				if a.CreatedAt.After(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID > b.ID {
					break
				}
				out[j-1], out[j] = b, a
			}
		}
		return fmtIDs(out, func(d core.WebhookDelivery) string { return d.ID })
	}
	ids := func(ds []core.WebhookDelivery) []string {
		return fmtIDs(ds, func(d core.WebhookDelivery) string { return d.ID })
	}

	all := walk(core.WebhookDeliveryQuery{Page: core.Page{Limit: 2}})
	if fmt.Sprint(ids(all)) != fmt.Sprint(newestFirst(want)) {
		t.Errorf("listed %v, want %v", ids(all), newestFirst(want))
	}
	for _, d := range all {
		if d.History != nil {
			t.Errorf("delivery %s has history without WithHistory", d.ID)
		}
	}

	var failed []core.WebhookDelivery
	for _, d := range want {
		if d.Status == core.WebhookFailed && !d.CreatedAt.Before(us(t0.Add(3*time.Second))) {
			failed = append(failed, d)
		}
	}
	got := walk(core.WebhookDeliveryQuery{Page: core.Page{Limit: 1}, Status: core.WebhookFailed, Since: t0.Add(3 * time.Second), WithHistory: true})
	if fmt.Sprint(ids(got)) != fmt.Sprint(newestFirst(failed)) || len(failed) != 2 {
		t.Errorf("failed since t0+3s: %v, want %v (2)", ids(got), newestFirst(failed))
	}
	for _, d := range got {
		if len(d.History) != 1 || d.History[0].ResponseStatus != 500 {
			t.Errorf("delivery %s history %+v, want its one 500 attempt", d.ID, d.History)
		}
	}

	list, _, err := s.ListWebhookDeliveries(ctx, other.ID, w.ID, core.WebhookDeliveryQuery{})
	must(t, "ListWebhookDeliveries of another workspace", err)
	if len(list) != 0 {
		t.Errorf("another workspace lists %d deliveries, want 0", len(list))
	}
	_, _, err = s.ListWebhookDeliveries(ctx, ws.ID, w.ID, core.WebhookDeliveryQuery{Page: core.Page{Cursor: "%%%"}})
	wantErr(t, "ListWebhookDeliveries with a bad cursor", err, core.ErrInvalid)
}

// mustDeliverJobs creates a webhook.deliver job per delivery and returns
// them in the same order.
func mustDeliverJobs(t *testing.T, s Store, ds ...core.WebhookDelivery) []core.Job {
	t.Helper()
	var jobs []core.Job
	for _, d := range ds {
		jobs = append(jobs, core.WebhookDeliverJob(d.WorkspaceID, d.SubscriptionID, d.EventID, "", now()))
	}
	n, err := s.CreateJobs(t.Context(), jobs)
	must(t, "CreateJobs", err)
	if n != len(jobs) {
		t.Fatalf("CreateJobs made %d jobs, want %d", n, len(jobs))
	}
	pending := allPendingJobs(t, s)
	for i, j := range jobs {
		var ok bool
		if jobs[i], ok = jobByKey(pending, j.Kind, j.Key); !ok {
			t.Fatalf("no job %s", j.Key)
		}
	}
	return jobs
}

func testWebhookAttemptsCompleteJobs(t *testing.T, s Store) {
	ctx := t.Context()
	ws := mustWorkspace(t, s)
	w, w2 := mustWebhook(t, s, ws.ID), mustWebhook(t, s, ws.ID)
	t0 := now()
	dA := newDelivery(w, core.NewID(core.PrefixEvent), t0)
	dB := newDelivery(w, core.NewID(core.PrefixEvent), t0)
	dC := newDelivery(w2, core.NewID(core.PrefixEvent), t0)
	jobs := mustDeliverJobs(t, s, dA, dB, dC)
	doneAt := t0.Add(time.Second)

	// A delivered, B to be retried (its job stays), C delivered, and a
	// second attempt at B in the same call.
	okA, attA := newAttempt(dA, 200, t0)
	retryB, attB := newAttempt(dB, 503, t0)
	okC, attC := newAttempt(dC, 204, t0)
	okB, attB2 := newAttempt(dB, 200, t0.Add(time.Millisecond))
	recs := []core.WebhookAttemptRecord{
		{Delivery: okA, Attempt: attA, JobID: jobs[0].ID, DoneAt: doneAt},
		{Delivery: retryB, Attempt: attB},
		{Delivery: okC, Attempt: attC, JobID: jobs[2].ID, DoneAt: doneAt},
		{Delivery: okB, Attempt: attB2, JobID: jobs[1].ID, DoneAt: doneAt},
	}
	got, err := s.RecordWebhookAttempts(ctx, recs)
	must(t, "RecordWebhookAttempts", err)
	if len(got) != len(recs) {
		t.Fatalf("%d results, want %d", len(got), len(recs))
	}
	want := []struct {
		id       string
		status   core.WebhookDeliveryStatus
		attempts int
		jobDone  bool
	}{
		{dA.ID, core.WebhookSucceeded, 1, true},
		{dB.ID, core.WebhookPending, 1, false},
		{dC.ID, core.WebhookSucceeded, 1, true},
		{dB.ID, core.WebhookSucceeded, 2, true},
	}
	for i, w := range want {
		r := got[i]
		if r.Delivery.ID != w.id || r.Delivery.Status != w.status || r.Delivery.Attempts != w.attempts || r.JobDone != w.jobDone {
			t.Errorf("result %d: delivery %s %s after %d attempts, job done %v; want %s %s after %d, job done %v",
				i, r.Delivery.ID, r.Delivery.Status, r.Delivery.Attempts, r.JobDone, w.id, w.status, w.attempts, w.jobDone)
		}
	}
	if got[1].FailingSince == nil || !got[1].FailingSince.Equal(us(t0)) || got[3].FailingSince != nil {
		t.Errorf("failing since %v then %v; want %v, then nil after the success", got[1].FailingSince, got[3].FailingSince, us(t0))
	}
	for _, j := range jobs {
		stored, err := s.Job(ctx, j.ID)
		must(t, "Job", err)
		if stored.State != core.JobDone || stored.DoneAt == nil || !stored.DoneAt.Equal(us(doneAt)) {
			t.Errorf("job %s: %s at %v, want done at %v", j.Key, stored.State, stored.DoneAt, us(doneAt))
		}
	}
	hist, err := s.WebhookDelivery(ctx, ws.ID, dB.ID)
	must(t, "WebhookDelivery", err)
	if h := hist.History; len(h) != 2 || h[0].ResponseStatus != 503 || h[1].ResponseStatus != 200 {
		t.Errorf("history of B %+v, want the 503 then the 200", h)
	}

	// A job already done, or failed, is left as it is, and the attempt
	// (a duplicate run's) is logged all the same.
	dF := newDelivery(w, core.NewID(core.PrefixEvent), t0)
	jF := mustDeliverJobs(t, s, dF)[0]
	must(t, "FailJob", s.FailJob(ctx, jF.ID, "gone", true, t0))
	againA, attAgainA := newAttempt(dA, 200, t0.Add(time.Minute))
	lateF, attF := newAttempt(dF, 200, t0.Add(time.Minute))
	res, err := s.RecordWebhookAttempts(ctx, []core.WebhookAttemptRecord{
		{Delivery: againA, Attempt: attAgainA, JobID: jobs[0].ID, DoneAt: t0.Add(time.Hour)},
		{Delivery: lateF, Attempt: attF, JobID: jF.ID, DoneAt: t0.Add(time.Hour)},
	})
	must(t, "RecordWebhookAttempts on finished jobs", err)
	if res[0].JobDone || res[0].Delivery.Attempts != 2 || res[1].JobDone || res[1].Delivery.Attempts != 1 {
		t.Errorf("on finished jobs: %+v; want no job done, the attempts logged (2 and 1)", res)
	}
	for _, c := range []struct {
		id    int64
		state core.JobState
		at    time.Time
	}{{jobs[0].ID, core.JobDone, doneAt}, {jF.ID, core.JobFailed, t0}} {
		stored, err := s.Job(ctx, c.id)
		must(t, "Job", err)
		if stored.State != c.state || stored.DoneAt == nil || !stored.DoneAt.Equal(us(c.at)) {
			t.Errorf("job %d became %s at %v, want %s at %v", c.id, stored.State, stored.DoneAt, c.state, us(c.at))
		}
	}

	none, err := s.RecordWebhookAttempts(ctx, nil)
	must(t, "RecordWebhookAttempts of nothing", err)
	if len(none) != 0 {
		t.Errorf("nothing recorded gives %d results", len(none))
	}
}

func testWebhookAttemptsAllOrNothing(t *testing.T, s Store) {
	ctx := t.Context()
	ws := mustWorkspace(t, s)
	w, gone := mustWebhook(t, s, ws.ID), mustWebhook(t, s, ws.ID)
	t0 := now()
	dOK := newDelivery(w, core.NewID(core.PrefixEvent), t0)
	dGone := newDelivery(gone, core.NewID(core.PrefixEvent), t0)
	jobs := mustDeliverJobs(t, s, dOK, dGone)
	must(t, "DeleteWebhook", s.DeleteWebhook(ctx, ws.ID, gone.ID))

	failed, attFailed := newAttempt(dOK, 500, t0)
	failed.Status, failed.NextAttemptAt = core.WebhookFailed, nil
	late, attLate := newAttempt(dGone, 200, t0)
	_, err := s.RecordWebhookAttempts(ctx, []core.WebhookAttemptRecord{
		{Delivery: failed, Attempt: attFailed, JobID: jobs[0].ID, DoneAt: t0},
		{Delivery: late, Attempt: attLate, JobID: jobs[1].ID, DoneAt: t0},
	})
	wantErr(t, "RecordWebhookAttempts with a deleted subscription", err, core.ErrNotFound)
	_, err = s.WebhookDelivery(ctx, ws.ID, dOK.ID)
	wantErr(t, "WebhookDelivery of an attempt not recorded", err, core.ErrNotFound)
	stored, err := s.Webhook(ctx, ws.ID, w.ID)
	must(t, "Webhook", err)
	if stored.FailingSince != nil {
		t.Errorf("failing since %v, want nil: the failure was not recorded", stored.FailingSince)
	}
	for _, j := range jobs {
		got, err := s.Job(ctx, j.ID)
		must(t, "Job", err)
		if got.State != core.JobPending {
			t.Errorf("job %s is %s, want pending", j.Key, got.State)
		}
	}
}
