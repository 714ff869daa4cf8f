package webhooks_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/secretbox"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/adapters/webhooks"
	"github.com/passhub/passhub/core"
)

// hosts is the DNS the guard sees in these tests: a fixed table, so the
// tests do not depend on the network. internal.example stands for a name
// pointing into the private network.
type hosts map[string]string

func (h hosts) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	a, ok := h[host]
	if !ok {
		return nil, fmt.Errorf("lookup %s: no such host", host)
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

var testHosts = hosts{
	"hooks.example.com": "93.184.215.14",
	"new.example.com":   "93.184.215.15",
	"x.example.com":     "93.184.215.16",
	"hooks.zapier.com":  "54.172.1.1",
	"internal.example":  "10.0.0.5",
}

type env struct {
	m     *webhooks.Manager
	store *sqlite.Store
	ws    core.Workspace
	tpl   core.Template
	clock *time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(st)
	ws, _, err := svc.CreateWorkspace(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := svc.CreateTemplate(ctx, ws.ID, core.Template{Name: "Card", Style: core.StyleStoreCard, Description: "d", OrganizationName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	e := &env{store: st, ws: ws, tpl: tpl, clock: &clock}
	e.m, err = webhooks.NewManager(webhooks.Config{Store: st, Box: box, URLs: &webhooks.Guard{Resolver: testHosts}, Now: func() time.Time { return *e.clock }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) create(t *testing.T, in webhooks.Input) webhooks.Created {
	t.Helper()
	c, err := e.m.Create(t.Context(), e.ws.ID, in)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return c
}

func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var fe *core.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("%s: error %v, want a field error on %s", what, err, field)
	}
	if fe.Field != field {
		t.Fatalf("%s: error on %q (%v), want %q", what, fe.Field, err, field)
	}
}

func str(s string) *string { return &s }

func TestCreateValidation(t *testing.T) {
	e := newEnv(t)
	ok := func(in webhooks.Input) webhooks.Input {
		if in.URL == "" && in.TargetURL == "" {
			in.URL = "https://hooks.example.com/x"
		}
		if in.Events == nil && in.TargetURL == "" && in.Event == "" {
			in.Events = []string{"pass.*"}
		}
		return in
	}
	cases := []struct {
		name  string
		in    webhooks.Input
		field string
	}{
		{"no url", webhooks.Input{Events: []string{"*"}, URL: ""}, "url"},
		{"relative url", ok(webhooks.Input{URL: "/hooks"}), "url"},
		{"ftp url", ok(webhooks.Input{URL: "ftp://hooks.example.com/"}), "url"},
		{"no host", ok(webhooks.Input{URL: "https:///path"}), "url"},
		{"not a url", ok(webhooks.Input{URL: "https://exa mple.com/%zz"}), "url"},
		{"long url", ok(webhooks.Input{URL: "https://hooks.example.com/" + strings.Repeat("a", webhooks.MaxURLLen)}), "url"},
		{"refused by the checker", ok(webhooks.Input{URL: "https://internal.example/h"}), "url"},
		{"no events", webhooks.Input{URL: "https://hooks.example.com/x", Events: []string{}}, "events"},
		{"unknown event", ok(webhooks.Input{Events: []string{"pass.installed", "pass.exploded"}}), "events[1]"},
		{"unknown namespace", ok(webhooks.Input{Events: []string{"order.*"}}), "events[0]"},
		{"too many events", ok(webhooks.Input{Events: make([]string, webhooks.MaxEvents+1)}), "events"},
		{"unknown template", ok(webhooks.Input{TemplateID: "tpl_nope"}), "templateId"},
		{"remove passId", ok(webhooks.Input{Fields: map[string]*string{"passId": nil}}), "fields.passId"},
		{"unknown field", ok(webhooks.Input{Fields: map[string]*string{"points": str("p")}}), "fields.points"},
		{"empty rename", ok(webhooks.Input{Fields: map[string]*string{"externalId": str(" ")}}), "fields.externalId"},
		{"dotted rename", ok(webhooks.Input{Fields: map[string]*string{"externalId": str("a.b")}}), "fields.externalId"},
		{"duplicate targets", ok(webhooks.Input{Fields: map[string]*string{"externalId": str("id"), "templateId": str("id")}}), "fields.templateId"},
		{"zapier with url", webhooks.Input{TargetURL: "https://hooks.zapier.com/1", Event: "pass.installed", URL: "https://x.example.com"}, "target_url"},
		{"zapier without event", webhooks.Input{TargetURL: "https://hooks.zapier.com/1"}, "event"},
		{"zapier bad event", webhooks.Input{TargetURL: "https://hooks.zapier.com/1", Event: "pass.nope"}, "event"},
		{"zapier refused url", webhooks.Input{TargetURL: "http://internal.example/1", Event: "pass.installed"}, "target_url"},
		{"zapier without url", webhooks.Input{Event: "pass.installed"}, "target_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.m.Create(t.Context(), e.ws.ID, tc.in)
			wantField(t, tc.name, err, tc.field)
		})
	}
	list, _, err := e.m.List(t.Context(), e.ws.ID, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("%d webhooks stored after refused creates, want 0", len(list))
	}
}

func TestCheckFields(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]*string
		field  string // "" = valid
	}{
		{"rename and remove", map[string]*string{"externalId": str("customerId"), "fields.points": nil, "walletStatus": nil}, ""},
		{"rename passId", map[string]*string{"passId": str("id")}, ""},
		{"nested pass field", map[string]*string{"fields.address.city": str("town")}, ""},
		{"swap two keys", map[string]*string{"externalId": str("templateId"), "templateId": str("externalId")}, ""},
		{"same name in different objects", map[string]*string{"externalId": str("x"), "fields.points": str("x")}, ""},
		{"rename onto a key that stays", map[string]*string{"externalId": str("passId")}, "fields.externalId"},
		{"empty pass field", map[string]*string{"fields.": nil}, "fields.fields."},
		{"empty segment", map[string]*string{"fields.a..b": nil}, "fields.fields.a..b"},
		{"envelope field", map[string]*string{"type": nil}, "fields.type"},
		{"data prefix", map[string]*string{"data.passId": str("id")}, "fields.data.passId"},
		{"long name", map[string]*string{"externalId": str(strings.Repeat("n", webhooks.MaxFieldName+1))}, "fields.externalId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := webhooks.CheckFields(tc.fields)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("CheckFields: %v, want nil", err)
				}
				return
			}
			wantField(t, tc.name, err, tc.field)
		})
	}
}

func TestCreateAndSecret(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := e.create(t, webhooks.Input{URL: "https://hooks.example.com/x", Events: []string{"pass.installed", "pass.*", "pass.installed"},
		TemplateID: e.tpl.ID, Fields: map[string]*string{"externalId": str("customerId"), "fields.points": nil}})
	s := c.Subscription
	if !strings.HasPrefix(s.ID, "whk_") || s.Origin != core.WebhookOriginAPI || s.TemplateID != e.tpl.ID {
		t.Errorf("subscription %+v", s)
	}
	if got := strings.Join(s.Events, ","); got != "pass.installed,pass.*" {
		t.Errorf("events %s, want repeats dropped in order", got)
	}
	key, err := webhooks.SecretKey(c.Secret)
	if err != nil || !strings.HasPrefix(c.Secret, "whsec_") || len(key) != webhooks.SecretBytes {
		t.Fatalf("secret %q: key of %d bytes (%v), want whsec_ and %d bytes", c.Secret, len(key), err, webhooks.SecretBytes)
	}
	stored, err := e.store.Webhook(ctx, e.ws.ID, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.SecretsSealed, []byte(c.Secret)) || bytes.Contains(stored.SecretsSealed, key) {
		t.Error("the stored row holds the secret in the clear")
	}
	view, _ := json.Marshal(stored)
	if bytes.Contains(view, []byte(c.Secret)) || bytes.Contains(view, []byte(base64.StdEncoding.EncodeToString(stored.SecretsSealed))) {
		t.Errorf("the subscription's JSON shows its secret: %s", view)
	}
	keys, err := e.m.SigningSecrets(stored, *e.clock)
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0], key) {
		t.Errorf("SigningSecrets: %x, %v; want the one key %x", keys, err, key)
	}

	other := e.create(t, webhooks.Input{URL: "https://hooks.example.com/y", Events: []string{"*"}})
	if other.Secret == c.Secret {
		t.Error("two subscriptions got the same secret")
	}

	// A sealed secret moved to another row does not open.
	moved, err := e.store.UpdateWebhook(ctx, e.ws.ID, other.Subscription.ID, func(w *core.WebhookSubscription) error {
		w.SecretsSealed = stored.SecretsSealed
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.SigningSecrets(moved, *e.clock); err == nil {
		t.Error("SigningSecrets opened a secret sealed for another subscription")
	}
}

func TestZapierSubscribe(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, webhooks.Input{TargetURL: "https://hooks.zapier.com/hooks/standard/1/abc", Event: "pass.installed"})
	s := c.Subscription
	if s.Origin != core.WebhookOriginZapier || s.URL != "https://hooks.zapier.com/hooks/standard/1/abc" || strings.Join(s.Events, ",") != "pass.installed" || c.Secret == "" {
		t.Errorf("zapier subscription %+v (secret %q)", s, c.Secret)
	}
	if err := e.m.Delete(t.Context(), e.ws.ID, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Get(t.Context(), e.ws.ID, s.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get after unsubscribe: %v, want not found", err)
	}
}

func TestRotateSecret(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := e.create(t, webhooks.Input{URL: "https://hooks.example.com/x", Events: []string{"*"}})
	oldKey, _ := webhooks.SecretKey(c.Secret)
	t0 := *e.clock

	hour := time.Hour
	r, err := e.m.RotateSecret(ctx, e.ws.ID, c.Subscription.ID, &hour)
	if err != nil {
		t.Fatal(err)
	}
	newKey, _ := webhooks.SecretKey(r.Secret)
	if r.Secret == c.Secret || !r.PreviousExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("rotation gave secret %q expiring %v", r.Secret, r.PreviousExpiresAt)
	}
	s, _ := e.m.Get(ctx, e.ws.ID, c.Subscription.ID)
	steps := []struct {
		at   time.Time
		want [][]byte
	}{
		{t0, [][]byte{newKey, oldKey}},
		{t0.Add(59 * time.Minute), [][]byte{newKey, oldKey}},
		{t0.Add(time.Hour), [][]byte{newKey}},
		{t0.Add(48 * time.Hour), [][]byte{newKey}},
	}
	for _, st := range steps {
		keys, err := e.m.SigningSecrets(s, st.at)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != len(st.want) {
			t.Fatalf("at %v: %d keys, want %d", st.at, len(keys), len(st.want))
		}
		for i := range keys {
			if !bytes.Equal(keys[i], st.want[i]) {
				t.Errorf("at %v: key %d differs", st.at, i)
			}
		}
	}

	// The default overlap is 24h; a second rotation drops the first
	// secret at once.
	r2, err := e.m.RotateSecret(ctx, e.ws.ID, c.Subscription.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.PreviousExpiresAt.Equal(t0.Add(webhooks.DefaultRotationOverlap)) {
		t.Errorf("default overlap ends %v, want %v", r2.PreviousExpiresAt, t0.Add(webhooks.DefaultRotationOverlap))
	}
	k2, _ := webhooks.SecretKey(r2.Secret)
	keys, _ := e.m.SigningSecrets(r2.Subscription, t0)
	if len(keys) != 2 || !bytes.Equal(keys[0], k2) || !bytes.Equal(keys[1], newKey) {
		t.Errorf("after a second rotation: %d keys, want the newest and the one before", len(keys))
	}

	zero := time.Duration(0)
	r3, err := e.m.RotateSecret(ctx, e.ws.ID, c.Subscription.ID, &zero)
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := e.m.SigningSecrets(r3.Subscription, t0); len(keys) != 1 {
		t.Errorf("overlap 0: %d keys, want 1", len(keys))
	}

	for _, bad := range []time.Duration{-time.Second, webhooks.MaxRotationOverlap + time.Second} {
		_, err := e.m.RotateSecret(ctx, e.ws.ID, c.Subscription.ID, &bad)
		wantField(t, "overlap "+bad.String(), err, "overlap")
	}
	after, _ := e.m.Get(ctx, e.ws.ID, c.Subscription.ID)
	if !bytes.Equal(after.SecretsSealed, r3.Subscription.SecretsSealed) {
		t.Error("a refused rotation changed the secrets")
	}
	if _, err := e.m.RotateSecret(ctx, e.ws.ID, "whk_missing", nil); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("rotating a missing webhook: %v", err)
	}
}

func TestUpdate(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := e.create(t, webhooks.Input{URL: "https://hooks.example.com/x", Events: []string{"*"}, TemplateID: e.tpl.ID,
		Fields: map[string]*string{"externalId": str("customerId")}})
	id := c.Subscription.ID

	refused := []struct {
		name  string
		p     webhooks.Patch
		field string
	}{
		{"bad url", webhooks.Patch{URL: str("mailto:a@b.c")}, "url"},
		{"refused url", webhooks.Patch{URL: str("https://internal.example/")}, "url"},
		{"empty events", webhooks.Patch{Events: []string{}}, "events"},
		{"bad event", webhooks.Patch{Events: []string{"*", "nope"}}, "events[1]"},
		{"bad template", webhooks.Patch{TemplateID: str("tpl_nope")}, "templateId"},
		{"remove passId", webhooks.Patch{Fields: webhooks.OptionalFields{Set: true, Value: map[string]*string{"passId": nil}}}, "fields.passId"},
		// One bad member refuses the good ones with it.
		{"good and bad", webhooks.Patch{URL: str("https://new.example.com/"), Events: []string{"x"}}, "events[0]"},
	}
	for _, tc := range refused {
		_, err := e.m.Update(ctx, e.ws.ID, id, tc.p)
		wantField(t, tc.name, err, tc.field)
	}
	got, _ := e.m.Get(ctx, e.ws.ID, id)
	if got.URL != "https://hooks.example.com/x" || !got.UpdatedAt.Equal(c.Subscription.UpdatedAt) {
		t.Errorf("refused patches changed the subscription: %+v", got)
	}

	*e.clock = e.clock.Add(time.Minute)
	got, err := e.m.Update(ctx, e.ws.ID, id, webhooks.Patch{URL: str("https://new.example.com/"), TemplateID: str(""),
		Fields: webhooks.OptionalFields{Set: true}})
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != "https://new.example.com/" || got.TemplateID != "" || got.Fields != nil || strings.Join(got.Events, ",") != "*" || !got.UpdatedAt.Equal(*e.clock) {
		t.Errorf("after patch: %+v", got)
	}

	// Delivery disabled it; PATCH {"disabled": false} is how it comes back.
	d := core.WebhookDelivery{ID: core.WebhookDeliveryID("evt_1", id), WorkspaceID: e.ws.ID, SubscriptionID: id, EventID: "evt_1",
		EventType: core.EventInstalled, Status: core.WebhookFailed}
	if _, err := e.store.RecordWebhookAttempt(ctx, d, core.WebhookAttempt{At: *e.clock, ResponseStatus: 500}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DisableWebhook(ctx, e.ws.ID, id, "failing for 5 days", *e.clock); err != nil {
		t.Fatal(err)
	}
	got, err = e.m.Update(ctx, e.ws.ID, id, webhooks.Patch{Disabled: new(bool)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Disabled || got.DisabledAt != nil || got.DisabledReason != "" || got.FailingSince != nil {
		t.Errorf("re-enabled: %+v", got)
	}
	yes := true
	got, err = e.m.Update(ctx, e.ws.ID, id, webhooks.Patch{Disabled: &yes})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Disabled || got.DisabledAt == nil || got.DisabledReason == "" {
		t.Errorf("paused: %+v", got)
	}
	if _, err := e.m.Update(ctx, e.ws.ID, "whk_missing", webhooks.Patch{}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("patching a missing webhook: %v", err)
	}
}

func TestOptionalFieldsJSON(t *testing.T) {
	cases := []struct {
		body string
		set  bool
		n    int
	}{
		{`{}`, false, 0},
		{`{"fields": null}`, true, 0},
		{`{"fields": {"externalId": "id", "walletStatus": null}}`, true, 2},
	}
	for _, tc := range cases {
		var p webhooks.Patch
		if err := json.Unmarshal([]byte(tc.body), &p); err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if p.Fields.Set != tc.set || len(p.Fields.Value) != tc.n {
			t.Errorf("%s: set %v with %d entries, want %v with %d", tc.body, p.Fields.Set, len(p.Fields.Value), tc.set, tc.n)
		}
	}
}

func TestReplay(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := e.create(t, webhooks.Input{URL: "https://hooks.example.com/x", Events: []string{"*"}})
	id := c.Subscription.ID
	t0 := *e.clock
	record := func(eventID string, status core.WebhookDeliveryStatus, at time.Time) core.WebhookDelivery {
		d := core.WebhookDelivery{ID: core.WebhookDeliveryID(eventID, id), WorkspaceID: e.ws.ID, SubscriptionID: id, EventID: eventID,
			EventType: core.EventUpdated, Status: status, CreatedAt: at}
		r, err := e.store.RecordWebhookAttempt(ctx, d, core.WebhookAttempt{At: at, ResponseStatus: 500})
		if err != nil {
			t.Fatal(err)
		}
		return r.Delivery
	}
	old := record("evt_old", core.WebhookFailed, t0.Add(-2*time.Hour))
	f1 := record("evt_f1", core.WebhookFailed, t0.Add(-30*time.Minute))
	record("evt_ok", core.WebhookSucceeded, t0.Add(-20*time.Minute))
	record("evt_pending", core.WebhookPending, t0.Add(-10*time.Minute))
	f2 := record("evt_f2", core.WebhookFailed, t0.Add(-5*time.Minute))

	replayJobs := func() map[string]core.WebhookDeliverPayload {
		t.Helper()
		jobs, err := e.store.PendingJobs(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]core.WebhookDeliverPayload{}
		for _, j := range jobs {
			if j.Kind != core.JobKindWebhookDeliver {
				continue
			}
			var p core.WebhookDeliverPayload
			if err := json.Unmarshal(j.Payload, &p); err != nil {
				t.Fatal(err)
			}
			out[j.Key] = p
		}
		return out
	}

	ids, err := e.m.ReplayFailed(ctx, e.ws.ID, id, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != f2.ID+","+f1.ID {
		t.Errorf("replayed %v, want %s and %s (failed since then, newest first)", ids, f2.ID, f1.ID)
	}
	jobs := replayJobs()
	suffix := "/" + core.WebhookReplaySuffix(t0)
	for _, d := range []core.WebhookDelivery{f1, f2} {
		p, ok := jobs[d.ID+suffix]
		if !ok || p.SubscriptionID != id || p.EventID != d.EventID {
			t.Errorf("job %s: %+v, %v; want one for event %s", d.ID+suffix, p, ok, d.EventID)
		}
	}
	if len(jobs) != 2 {
		t.Errorf("%d webhook.deliver jobs, want 2: %v", len(jobs), jobs)
	}

	*e.clock = t0.Add(time.Second)
	got, err := e.m.Replay(ctx, e.ws.ID, old.ID)
	if err != nil || got.ID != old.ID {
		t.Fatalf("Replay: %v, %v", got.ID, err)
	}
	if p, ok := replayJobs()[old.ID+"/"+core.WebhookReplaySuffix(*e.clock)]; !ok || p.EventID != "evt_old" {
		t.Errorf("no replay job for %s", old.ID)
	}
	if _, err := e.m.Replay(ctx, e.ws.ID, "msg_missing"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("replaying a missing delivery: %v", err)
	}

	if _, err := e.store.DisableWebhook(ctx, e.ws.ID, id, "410 Gone", *e.clock); err != nil {
		t.Fatal(err)
	}
	before := len(replayJobs())
	_, err = e.m.Replay(ctx, e.ws.ID, old.ID)
	var ce *core.ConflictError
	if !errors.As(err, &ce) || ce.Field != "disabled" {
		t.Errorf("replay to a disabled webhook: %v, want a conflict on disabled", err)
	}
	if _, err := e.m.ReplayFailed(ctx, e.ws.ID, id, t0.Add(-time.Hour)); !errors.As(err, &ce) {
		t.Errorf("replay-since to a disabled webhook: %v, want a conflict", err)
	}
	if n := len(replayJobs()); n != before {
		t.Errorf("refused replays wrote %d jobs", n-before)
	}
}
