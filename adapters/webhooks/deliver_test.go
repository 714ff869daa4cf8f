package webhooks_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/adapters/secretbox"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/adapters/webhooks"
	"github.com/passhub/passhub/adapters/webhooks/webhookstest"
	"github.com/passhub/passhub/core"
)

// testClock is the delivery clock: tests move it instead of sleeping
// through the retry schedule.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// deliveryEnv is the delivery path on real parts: a SQLite store, the
// master-key box, the Manager, the Consumer fanning events out through
// the core dispatcher, and the Deliverer posting over real HTTP to a
// receiver on loopback, all run as jobs by a core.JobRunner. Jitter is
// off so the computed delays can be compared with the schedule.
type deliveryEnv struct {
	t      *testing.T
	ctx    context.Context
	store  *sqlite.Store
	svc    *core.Service
	m      *webhooks.Manager
	d      *webhooks.Deliverer
	runner *core.JobRunner
	clock  *testClock
	ws     string
	tpl    core.Template
	passes int
}

func newDeliveryEnv(t *testing.T, configure ...func(*webhooks.DelivererConfig)) *deliveryEnv {
	t.Helper()
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "passhub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	guard := webhooks.NewGuard(true) // the receiver is on loopback
	e := &deliveryEnv{t: t, ctx: ctx, store: store, svc: core.NewService(store), clock: clock}
	e.m, err = webhooks.NewManager(webhooks.Config{Store: store, Box: box, URLs: guard, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := webhooks.DelivererConfig{
		Store: store, Keys: e.m, Client: guard.Client(8), Now: clock.Now,
		Jitter: func(d time.Duration) time.Duration { return d },
		Logger: slog.New(slog.DiscardHandler),
		// Each test sees its subscription changes at once (the cache
		// has its own test).
		SubscriptionTTL: -1,
	}
	for _, f := range configure {
		f(&cfg)
	}
	e.d, err = webhooks.NewDeliverer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// No cache: each test sees its subscription changes at once (the
	// cache has its own test).
	consumer, err := webhooks.NewConsumer(webhooks.ConsumerConfig{Store: store, TTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	e.runner = core.NewJobRunner(store)
	e.runner.Handle(core.JobKindDispatch, core.NewDispatcher(store, consumer))
	e.runner.Handle(core.JobKindWebhookDeliver, e.d)

	ws, _, err := e.svc.CreateWorkspace(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	e.ws = ws.ID
	e.tpl, err = e.svc.CreateTemplate(ctx, e.ws, core.Template{Name: "Card", Style: core.StyleStoreCard, Description: "d", OrganizationName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// receiver starts an endpoint that verifies with the given secrets
// against the delivery clock.
func (e *deliveryEnv) receiver(o webhookstest.Options) *webhookstest.Receiver {
	o.Now = e.clock.Now
	return webhookstest.Start(e.t, o)
}

func (e *deliveryEnv) subscribe(in webhooks.Input) webhooks.Created {
	e.t.Helper()
	if in.Events == nil && in.TargetURL == "" {
		in.Events = []string{"pass.*"}
	}
	c, err := e.m.Create(e.ctx, e.ws, in)
	if err != nil {
		e.t.Fatalf("creating webhook: %v", err)
	}
	return c
}

// newPass creates a pass: one pass.record_added event.
func (e *deliveryEnv) newPass() core.Pass {
	e.t.Helper()
	e.passes++
	p, err := e.svc.CreatePass(e.ctx, e.ws, core.PassInput{
		TemplateID: e.tpl.ID, ExternalID: fmt.Sprintf("cust-%d", e.passes), Data: map[string]any{"points": 10 * e.passes, "tier": "gold"},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// dispatch fans pending events out and returns the webhook.deliver jobs
// that have not run yet.
func (e *deliveryEnv) dispatch() []core.Job {
	e.t.Helper()
	var out []core.Job
	for _, j := range e.pending() {
		if j.Kind == core.JobKindDispatch {
			if err := e.runner.Run(e.ctx, j.ID); err != nil {
				e.t.Fatalf("dispatch job %d: %v", j.ID, err)
			}
		}
	}
	for _, j := range e.pending() {
		if j.Kind == core.JobKindWebhookDeliver && j.Attempts == 0 {
			out = append(out, j)
		}
	}
	return out
}

func (e *deliveryEnv) pending() []core.Job {
	e.t.Helper()
	jobs, err := e.store.PendingJobs(e.ctx, 10_000)
	if err != nil {
		e.t.Fatal(err)
	}
	return jobs
}

// run runs one job as the worker does: a failure is recorded against
// the job (not final) and returned.
func (e *deliveryEnv) run(id int64) error {
	e.t.Helper()
	err := e.runner.Run(e.ctx, id)
	if err != nil {
		if ferr := e.runner.Fail(e.ctx, id, err, false); ferr != nil {
			e.t.Fatal(ferr)
		}
	}
	return err
}

// retryDelay is the delay the queue would wait before the next run
// (false: the job settled).
func (e *deliveryEnv) retryDelay(err error) (time.Duration, bool) {
	e.t.Helper()
	if err == nil {
		return 0, false
	}
	d, ok := queue.RetryAfter(err)
	if !ok {
		e.t.Fatalf("job error %v carries no retry delay", err)
	}
	return d, true
}

func (e *deliveryEnv) job(id int64) core.Job {
	e.t.Helper()
	j, err := e.store.Job(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func (e *deliveryEnv) delivery(subID, eventID string) core.WebhookDelivery {
	e.t.Helper()
	d, err := e.store.WebhookDelivery(e.ctx, e.ws, core.WebhookDeliveryID(eventID, subID))
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *deliveryEnv) webhook(id string) core.WebhookSubscription {
	e.t.Helper()
	s, err := e.store.Webhook(e.ctx, e.ws, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *deliveryEnv) disabledEvents() []core.Event {
	e.t.Helper()
	evs, _, err := e.store.ListEvents(e.ctx, e.ws, core.EventQuery{Type: core.EventWebhookDisabled})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// payloadOf is the subscription and event a webhook.deliver job names.
func payloadOf(t testing.TB, j core.Job) core.WebhookDeliverPayload {
	t.Helper()
	var p core.WebhookDeliverPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeliverSignedMessage(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	sub := e.subscribe(webhooks.Input{URL: rcv.URL + "/hooks", Events: []string{"pass.record_added"}})
	rcv.SetSecrets(sub.Secret)
	p := e.newPass()

	jobs := e.dispatch()
	if len(jobs) != 1 {
		t.Fatalf("%d webhook.deliver jobs, want 1", len(jobs))
	}
	if err := e.run(jobs[0].ID); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	msgs := rcv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("the receiver got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Err != nil {
		t.Fatalf("the receiver could not verify the message: %v", m.Err)
	}
	var body struct {
		ID, Type, WorkspaceID string
		OccurredAt            time.Time
		Data                  map[string]any
	}
	if err := json.Unmarshal(m.Body, &body); err != nil {
		t.Fatal(err)
	}
	evID := payloadOf(t, jobs[0]).EventID
	if body.ID != evID || body.Type != string(core.EventRecordAdded) || body.WorkspaceID != e.ws || body.OccurredAt.IsZero() {
		t.Errorf("body %s: want event %s of type pass.record_added in %s", m.Body, evID, e.ws)
	}
	for k, want := range map[string]any{"passId": p.ID, "externalId": "cust-1", "templateId": e.tpl.ID, "lifecycle": "active", "walletStatus": "none"} {
		if body.Data[k] != want {
			t.Errorf("data.%s = %v, want %v", k, body.Data[k], want)
		}
	}
	if m.ID != core.WebhookDeliveryID(evID, sub.Subscription.ID) || m.Timestamp != fmt.Sprint(e.clock.Now().Unix()) {
		t.Errorf("webhook-id %s, webhook-timestamp %s", m.ID, m.Timestamp)
	}
	if ua := m.Header.Get("User-Agent"); ua != webhooks.UserAgent {
		t.Errorf("user-agent %q", ua)
	}

	d := e.delivery(sub.Subscription.ID, evID)
	if d.Status != core.WebhookSucceeded || d.Attempts != 1 || d.LastResponseStatus != http.StatusNoContent || d.NextAttemptAt != nil {
		t.Fatalf("delivery %+v, want succeeded after 1 attempt with 204", d)
	}
	a := d.History[0]
	for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"} {
		if a.RequestHeaders[h] != m.Header.Get(h) {
			t.Errorf("logged %s %q, sent %q", h, a.RequestHeaders[h], m.Header.Get(h))
		}
	}
	if a.ResponseStatus != http.StatusNoContent || a.Latency <= 0 || a.Error != "" {
		t.Errorf("attempt %+v", a)
	}
	if j := e.job(jobs[0].ID); j.State != core.JobDone {
		t.Errorf("job state %s, want done", j.State)
	}
}

func TestDeliverAppliesFieldRules(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	sub := e.subscribe(webhooks.Input{URL: rcv.URL, Fields: map[string]*string{
		"externalId": str("customerId"), "fields.points": str("balance"), "fields.tier": nil, "walletStatus": nil,
	}})
	rcv.SetSecrets(sub.Secret)
	e.newPass()
	for _, j := range e.dispatch() {
		if err := e.run(j.ID); err != nil {
			t.Fatal(err)
		}
	}
	msgs := rcv.Messages()
	if len(msgs) != 1 || msgs[0].Err != nil {
		t.Fatalf("messages %+v", msgs)
	}
	var body struct{ Data map[string]any }
	if err := json.Unmarshal(msgs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Data["customerId"] != "cust-1" || body.Data["externalId"] != nil || body.Data["walletStatus"] != nil {
		t.Errorf("data %v: want externalId renamed customerId and walletStatus removed", body.Data)
	}
	fields, _ := body.Data["fields"].(map[string]any)
	if fields["balance"] != float64(10) || fields["points"] != nil || fields["tier"] != nil {
		t.Errorf("data.fields %v: want points renamed balance and tier removed", fields)
	}
}

// During a rotation every message carries two signatures: a receiver
// that has the old secret and one that has the new one both verify it.
// When the overlap is over only the new secret signs.
func TestDeliverDuringSecretRotation(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	sub := e.subscribe(webhooks.Input{URL: rcv.URL})
	overlap := time.Hour
	rot, err := e.m.RotateSecret(e.ctx, e.ws, sub.Subscription.ID, &overlap)
	if err != nil {
		t.Fatal(err)
	}
	send := func() webhookstest.Message {
		t.Helper()
		rcv.Reset()
		e.newPass()
		for _, j := range e.dispatch() {
			if err := e.run(j.ID); err != nil {
				t.Fatal(err)
			}
		}
		msgs := rcv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d messages, want 1", len(msgs))
		}
		return msgs[0]
	}
	verify := func(m webhookstest.Message, secret string) error {
		return webhookstest.Verify([]string{secret}, m.Header, m.Body, e.clock.Now(), webhookstest.DefaultTolerance)
	}

	m := send()
	if n := len(strings.Fields(m.Signature)); n != 2 {
		t.Fatalf("during the overlap: %d signatures (%q), want 2", n, m.Signature)
	}
	for name, secret := range map[string]string{"old": sub.Secret, "new": rot.Secret} {
		if err := verify(m, secret); err != nil {
			t.Errorf("during the overlap, a receiver with the %s secret: %v", name, err)
		}
	}

	e.clock.Advance(overlap + time.Second)
	m = send()
	if n := len(strings.Fields(m.Signature)); n != 1 {
		t.Fatalf("after the overlap: %d signatures, want 1", n)
	}
	if err := verify(m, rot.Secret); err != nil {
		t.Errorf("after the overlap, the new secret: %v", err)
	}
	if err := verify(m, sub.Secret); err == nil {
		t.Error("after the overlap, the old secret still verifies")
	}
}

// The receiver is down (connections dropped) for three attempts of every
// message, then back: every message arrives, verified, its webhook-id
// the same on every attempt, and the delays between attempts are the
// schedule's.
func TestDeliverReceiverDownThenBack(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	sub := e.subscribe(webhooks.Input{URL: rcv.URL})
	rcv.SetSecrets(sub.Secret)
	const down = 3
	rcv.SetAnswer(func(m webhookstest.Message) webhookstest.Answer {
		if m.Seen <= down {
			return webhookstest.Answer{Drop: true}
		}
		return webhookstest.Answer{Status: http.StatusOK, Body: "thanks"}
	})
	const messages = 5
	for range messages {
		e.newPass()
	}
	jobs := e.dispatch()
	if len(jobs) != messages {
		t.Fatalf("%d jobs, want %d", len(jobs), messages)
	}

	var delays [][]time.Duration // per round, per job
	for round := 0; ; round++ {
		if round > down {
			t.Fatalf("not delivered after %d rounds", round)
		}
		var waits []time.Duration
		for _, j := range jobs {
			if d, retry := e.retryDelay(e.run(j.ID)); retry {
				waits = append(waits, d)
			}
		}
		if len(waits) == 0 {
			break
		}
		delays = append(delays, waits)
		e.clock.Advance(slices.Max(waits))
	}
	want := webhooks.DefaultSchedule[1 : down+1]
	if len(delays) != down {
		t.Fatalf("%d failed rounds, want %d", len(delays), down)
	}
	for i, round := range delays {
		if len(round) != messages || slices.Min(round) != want[i] || slices.Max(round) != want[i] {
			t.Errorf("retry %d delays %v, want %s for each of %d messages", i+1, round, want[i], messages)
		}
	}

	byID := map[string][]webhookstest.Message{}
	for _, m := range rcv.Messages() {
		if m.Err != nil {
			t.Errorf("message %s not verified: %v", m.ID, m.Err)
		}
		byID[m.ID] = append(byID[m.ID], m)
	}
	if len(byID) != messages {
		t.Fatalf("%d distinct webhook-ids, want %d", len(byID), messages)
	}
	for _, j := range jobs {
		p := payloadOf(t, j)
		id := core.WebhookDeliveryID(p.EventID, p.SubscriptionID)
		seen := byID[id]
		if len(seen) != down+1 {
			t.Errorf("message %s arrived %d times, want %d", id, len(seen), down+1)
			continue
		}
		for _, m := range seen[1:] {
			if string(m.Body) != string(seen[0].Body) {
				t.Errorf("message %s changed its body between attempts", id)
			}
		}
		d := e.delivery(p.SubscriptionID, p.EventID)
		if d.Status != core.WebhookSucceeded || d.Attempts != down+1 || d.NextAttemptAt != nil {
			t.Errorf("delivery %s: %s after %d attempts, want succeeded after %d", id, d.Status, d.Attempts, down+1)
		}
		for i, a := range d.History {
			if i < down && (a.ResponseStatus != 0 || a.Error == "") {
				t.Errorf("attempt %d logged %d %q, want no answer with an error", a.Attempt, a.ResponseStatus, a.Error)
			}
		}
		if last := d.History[len(d.History)-1]; last.ResponseStatus != http.StatusOK || last.ResponseBody != "thanks" {
			t.Errorf("last attempt %d %q", last.ResponseStatus, last.ResponseBody)
		}
		if j := e.job(j.ID); j.State != core.JobDone || j.Attempts != down+1 {
			t.Errorf("job %d %s after %d attempts", j.ID, j.State, j.Attempts)
		}
	}
	if s := e.webhook(sub.Subscription.ID); s.FailingSince != nil || s.Disabled {
		t.Errorf("after success: failingSince %v, disabled %v", s.FailingSince, s.Disabled)
	}
}

// An endpoint that refuses connections (nothing listens) is retried on
// the schedule like one that answers 500.
func TestDeliverConnectionRefusedIsRetried(t *testing.T) {
	e := newDeliveryEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/in"
	l.Close()
	sub := e.subscribe(webhooks.Input{URL: url})
	e.newPass()
	jobs := e.dispatch()
	d, retry := e.retryDelay(e.run(jobs[0].ID))
	if !retry || d != 5*time.Second {
		t.Fatalf("retry %v after %s, want a retry after 5s", retry, d)
	}
	p := payloadOf(t, jobs[0])
	del := e.delivery(sub.Subscription.ID, p.EventID)
	if del.Status != core.WebhookPending || del.NextAttemptAt == nil || !del.NextAttemptAt.Equal(e.clock.Now().Add(5*time.Second)) {
		t.Errorf("delivery %s next %v", del.Status, del.NextAttemptAt)
	}
	if a := del.History[0]; !strings.Contains(a.Error, "refused") {
		t.Errorf("attempt error %q, want connection refused", a.Error)
	}
	if s := e.webhook(sub.Subscription.ID); s.FailingSince == nil || !s.FailingSince.Equal(e.clock.Now()) {
		t.Errorf("failingSince %v, want %v", s.FailingSince, e.clock.Now())
	}
}

func TestDeliverOutcomes(t *testing.T) {
	cases := []struct {
		name   string
		answer webhookstest.Answer
		// retry is the wanted delay before the next attempt (0: none).
		retry  time.Duration
		status core.WebhookDeliveryStatus
	}{
		{"200", webhookstest.Answer{Status: 200}, 0, core.WebhookSucceeded},
		{"299", webhookstest.Answer{Status: 299}, 0, core.WebhookSucceeded},
		{"302 is not followed", webhookstest.Answer{Status: 302, Header: map[string]string{"Location": "/elsewhere"}}, 5 * time.Second, core.WebhookPending},
		{"400", webhookstest.Answer{Status: 400}, 5 * time.Second, core.WebhookPending},
		{"500", webhookstest.Answer{Status: 500, Body: strings.Repeat("x", 10_000)}, 5 * time.Second, core.WebhookPending},
		{"429 Retry-After seconds", webhookstest.Answer{Status: 429, Header: map[string]string{"Retry-After": "120"}}, 120 * time.Second, core.WebhookPending},
		{"503 Retry-After sooner than the schedule", webhookstest.Answer{Status: 503, Header: map[string]string{"Retry-After": "1"}}, 5 * time.Second, core.WebhookPending},
		{"503 Retry-After beyond a day", webhookstest.Answer{Status: 503, Header: map[string]string{"Retry-After": "864000"}}, 24 * time.Hour, core.WebhookPending},
		{"502 Retry-After garbage", webhookstest.Answer{Status: 502, Header: map[string]string{"Retry-After": "soon"}}, 5 * time.Second, core.WebhookPending},
		{"500 Retry-After ignored", webhookstest.Answer{Status: 500, Header: map[string]string{"Retry-After": "600"}}, 5 * time.Second, core.WebhookPending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newDeliveryEnv(t)
			rcv := e.receiver(webhookstest.Options{})
			rcv.SetAnswer(func(webhookstest.Message) webhookstest.Answer { return c.answer })
			sub := e.subscribe(webhooks.Input{URL: rcv.URL + "/in"})
			rcv.SetSecrets(sub.Secret)
			e.newPass()
			jobs := e.dispatch()
			d, retry := e.retryDelay(e.run(jobs[0].ID))
			if d != c.retry || retry != (c.retry != 0) {
				t.Errorf("retry %v after %s, want after %s", retry, d, c.retry)
			}
			p := payloadOf(t, jobs[0])
			del := e.delivery(sub.Subscription.ID, p.EventID)
			if del.Status != c.status || del.LastResponseStatus != c.answer.Status {
				t.Errorf("delivery %s with %d, want %s with %d", del.Status, del.LastResponseStatus, c.status, c.answer.Status)
			}
			if body := del.History[0].ResponseBody; len(body) > core.MaxWebhookResponseBody || !strings.HasPrefix(c.answer.Body, body) {
				t.Errorf("logged body of %d bytes, want the answer's first %d at most", len(body), core.MaxWebhookResponseBody)
			}
			if n := len(rcv.Messages()); n != 1 {
				t.Errorf("the receiver got %d requests, want 1 (no redirect followed)", n)
			}
		})
	}
}

// Retry-After as an HTTP date counts from the delivery clock.
func TestDeliverRetryAfterDate(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	rcv.SetAnswer(func(webhookstest.Message) webhookstest.Answer {
		at := e.clock.Now().Add(17 * time.Minute).Format(http.TimeFormat)
		return webhookstest.Answer{Status: 503, Header: map[string]string{"Retry-After": at}}
	})
	e.subscribe(webhooks.Input{URL: rcv.URL})
	e.newPass()
	jobs := e.dispatch()
	if d, _ := e.retryDelay(e.run(jobs[0].ID)); d != 17*time.Minute {
		t.Fatalf("retry after %s, want 17m", d)
	}
}

// A receiver that does not answer within the timeout: the attempt is
// logged as a timeout and retried; the retry, answered, succeeds under
// the same webhook-id.
func TestDeliverSlowReceiverTimesOutAndRetries(t *testing.T) {
	const timeout = 200 * time.Millisecond
	e := newDeliveryEnv(t, func(c *webhooks.DelivererConfig) { c.Timeout = timeout })
	rcv := e.receiver(webhookstest.Options{})
	sub := e.subscribe(webhooks.Input{URL: rcv.URL})
	rcv.SetSecrets(sub.Secret)
	rcv.SetAnswer(func(m webhookstest.Message) webhookstest.Answer {
		return webhookstest.Answer{Hang: m.Seen == 1}
	})
	e.newPass()
	jobs := e.dispatch()
	d, retry := e.retryDelay(e.run(jobs[0].ID))
	if !retry || d != 5*time.Second {
		t.Fatalf("after a timeout: retry %v after %s, want after 5s", retry, d)
	}
	e.clock.Advance(d)
	if err := e.run(jobs[0].ID); err != nil {
		t.Fatalf("retry: %v", err)
	}
	msgs := rcv.Messages()
	if len(msgs) != 2 || msgs[0].ID != msgs[1].ID || msgs[0].Timestamp == msgs[1].Timestamp {
		t.Fatalf("messages %d; want 2 with one webhook-id and their own timestamps", len(msgs))
	}
	for _, m := range msgs {
		if m.Err != nil {
			t.Errorf("not verified: %v", m.Err)
		}
	}
	p := payloadOf(t, jobs[0])
	del := e.delivery(sub.Subscription.ID, p.EventID)
	if first := del.History[0]; first.ResponseStatus != 0 || !strings.Contains(first.Error, "no answer within 200ms") {
		t.Errorf("first attempt %d %q, want a timeout", first.ResponseStatus, first.Error)
	}
	if del.Status != core.WebhookSucceeded || del.Attempts != 2 {
		t.Errorf("delivery %s after %d attempts", del.Status, del.Attempts)
	}
}

// A message that fails every attempt gets exactly the schedule's eight
// attempts, then is failed; one failed message does not disable the
// endpoint.
func TestDeliverGivesUpAfterTheSchedule(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	rcv.SetAnswer(func(webhookstest.Message) webhookstest.Answer { return webhookstest.Answer{Status: 500} })
	sub := e.subscribe(webhooks.Input{URL: rcv.URL})
	e.newPass()
	job := e.dispatch()[0]
	var waits []time.Duration
	for range len(webhooks.DefaultSchedule) + 1 {
		d, retry := e.retryDelay(e.run(job.ID))
		if !retry {
			break
		}
		waits = append(waits, d)
		e.clock.Advance(d)
	}
	if want := webhooks.DefaultSchedule[1:]; !slices.Equal(waits, want) {
		t.Fatalf("delays %v, want %v", waits, want)
	}
	p := payloadOf(t, job)
	del := e.delivery(sub.Subscription.ID, p.EventID)
	if del.Status != core.WebhookFailed || del.Attempts != len(webhooks.DefaultSchedule) || del.NextAttemptAt != nil {
		t.Fatalf("delivery %s after %d attempts (next %v), want failed after %d", del.Status, del.Attempts, del.NextAttemptAt, len(webhooks.DefaultSchedule))
	}
	if j := e.job(job.ID); j.State != core.JobDone {
		t.Errorf("job %s, want done (the delivery log keeps the failure)", j.State)
	}
	if s := e.webhook(sub.Subscription.ID); s.Disabled || s.FailingSince == nil {
		t.Errorf("after one failed message: disabled %v, failingSince %v", s.Disabled, s.FailingSince)
	}
	if n := len(rcv.Messages()); n != len(webhooks.DefaultSchedule) {
		t.Errorf("the receiver got %d requests", n)
	}
}

// An endpoint that has failed every attempt for five days is disabled
// and a webhook.disabled event is recorded; a success before that
// resets the clock.
func TestDeliverDisablesAfterFiveDaysOfFailures(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	failing := true
	var mu sync.Mutex
	rcv.SetAnswer(func(webhookstest.Message) webhookstest.Answer {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return webhookstest.Answer{Status: 500}
		}
		return webhookstest.Answer{}
	})
	setFailing := func(v bool) { mu.Lock(); failing = v; mu.Unlock() }
	sub := e.subscribe(webhooks.Input{URL: rcv.URL, Events: []string{"*"}})
	id := sub.Subscription.ID
	attemptOnce := func() error {
		t.Helper()
		e.newPass()
		jobs := e.dispatch()
		if len(jobs) != 1 {
			t.Fatalf("%d jobs", len(jobs))
		}
		return e.run(jobs[0].ID)
	}

	start := e.clock.Now()
	_ = attemptOnce() // fails: the failure clock starts
	e.clock.Advance(4 * 24 * time.Hour)
	setFailing(false)
	if err := attemptOnce(); err != nil { // a success resets it
		t.Fatal(err)
	}
	if s := e.webhook(id); s.FailingSince != nil {
		t.Fatalf("failingSince %v after a success", s.FailingSince)
	}
	setFailing(true)
	e.clock.Advance(2 * 24 * time.Hour)
	restart := e.clock.Now()
	_ = attemptOnce()
	e.clock.Advance(5*24*time.Hour - time.Second)
	if _, retry := e.retryDelay(attemptOnce()); !retry || e.webhook(id).Disabled {
		t.Fatal("disabled before five days of failures")
	}
	e.clock.Advance(time.Second)
	err := attemptOnce()
	if err != nil {
		t.Fatalf("the attempt that disables: %v, want the job settled", err)
	}
	s := e.webhook(id)
	if !s.Disabled || !strings.Contains(s.DisabledReason, restart.Format(time.RFC3339)) {
		t.Fatalf("disabled %v (%q), want disabled for failing since %s (not %s)", s.Disabled, s.DisabledReason, restart, start)
	}
	evs := e.disabledEvents()
	if len(evs) != 1 || evs[0].Data.Fields["webhookId"] != id {
		t.Fatalf("webhook.disabled events %+v, want one naming %s", evs, id)
	}
	// The subscription gets no more messages.
	e.newPass()
	if jobs := e.dispatch(); len(jobs) != 0 {
		t.Fatalf("%d jobs for a disabled webhook", len(jobs))
	}
}

func TestDeliver410DisablesTheWebhook(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	rcv.SetAnswer(func(webhookstest.Message) webhookstest.Answer { return webhookstest.Answer{Status: http.StatusGone} })
	sub := e.subscribe(webhooks.Input{URL: rcv.URL})
	e.newPass()
	e.newPass()
	jobs := e.dispatch()
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2", len(jobs))
	}
	if err := e.run(jobs[0].ID); err != nil {
		t.Fatalf("a 410 settles the job: %v", err)
	}
	s := e.webhook(sub.Subscription.ID)
	if !s.Disabled || !strings.Contains(s.DisabledReason, "410") {
		t.Fatalf("disabled %v (%q), want disabled by the 410", s.Disabled, s.DisabledReason)
	}
	if evs := e.disabledEvents(); len(evs) != 1 {
		t.Fatalf("%d webhook.disabled events, want 1", len(evs))
	}
	p := payloadOf(t, jobs[0])
	if d := e.delivery(sub.Subscription.ID, p.EventID); d.Status != core.WebhookFailed || d.LastResponseStatus != http.StatusGone {
		t.Errorf("delivery %s %d", d.Status, d.LastResponseStatus)
	}

	// The other message, already queued, is not sent: it is logged as
	// failed so a replay after re-enabling sends it.
	if err := e.run(jobs[1].ID); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.Messages()); n != 1 {
		t.Fatalf("the receiver got %d requests after the 410, want 1 in all", n)
	}
	p = payloadOf(t, jobs[1])
	d := e.delivery(sub.Subscription.ID, p.EventID)
	if d.Status != core.WebhookFailed || !strings.Contains(d.History[0].Error, "disabled") {
		t.Fatalf("queued delivery %s %q, want failed as not sent", d.Status, d.History[0].Error)
	}

	// Re-enabled and replayed, it arrives under its webhook-id.
	rcv.SetAnswer(nil)
	enable := false
	if _, err := e.m.Update(e.ctx, e.ws, sub.Subscription.ID, webhooks.Patch{Disabled: &enable}); err != nil {
		t.Fatal(err)
	}
	ids, err := e.m.ReplayFailed(e.ctx, e.ws, sub.Subscription.ID, time.Time{})
	if err != nil || len(ids) != 2 {
		t.Fatalf("replay: %v %v", ids, err)
	}
	for _, j := range e.dispatch() {
		if err := e.run(j.ID); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for _, m := range rcv.Messages() {
		seen[m.ID]++
	}
	if seen[d.ID] != 1 || len(seen) != 2 {
		t.Errorf("requests per webhook-id %v", seen)
	}
}

// Zapier's REST Hooks: a 410 from the hook URL means unsubscribe.
func TestDeliverZapier410DeletesTheSubscription(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	rcv.SetAnswer(func(webhookstest.Message) webhookstest.Answer { return webhookstest.Answer{Status: http.StatusGone} })
	sub := e.subscribe(webhooks.Input{TargetURL: rcv.URL + "/hooks/standard/1/abc", Event: "pass.record_added"})
	e.newPass()
	e.newPass()
	jobs := e.dispatch()
	if err := e.run(jobs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Webhook(e.ctx, e.ws, sub.Subscription.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("after Zapier's 410: %v, want ErrNotFound", err)
	}
	if err := e.run(jobs[1].ID); err != nil {
		t.Fatalf("a job of a deleted subscription: %v, want settled", err)
	}
	if n := len(rcv.Messages()); n != 1 {
		t.Fatalf("the receiver got %d requests, want 1", n)
	}
	if evs := e.disabledEvents(); len(evs) != 0 {
		t.Errorf("%d webhook.disabled events for a deleted Zapier hook", len(evs))
	}
}

// A subscription stored while private addresses were allowed (or whose
// name now resolves to one) is refused at connect time: nothing is sent
// and the attempt says why.
func TestDeliverRefusedAddressAtConnectTime(t *testing.T) {
	e := newDeliveryEnv(t, func(c *webhooks.DelivererConfig) { c.Client = webhooks.NewGuard(false).Client(2) })
	rcv := e.receiver(webhookstest.Options{})
	sub := e.subscribe(webhooks.Input{URL: rcv.URL})
	e.newPass()
	jobs := e.dispatch()
	if _, retry := e.retryDelay(e.run(jobs[0].ID)); !retry {
		t.Fatal("not retried")
	}
	if n := rcv.Count(); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
	p := payloadOf(t, jobs[0])
	if a := e.delivery(sub.Subscription.ID, p.EventID).History[0]; !strings.Contains(a.Error, "refused address 127.0.0.1: loopback") {
		t.Fatalf("attempt error %q", a.Error)
	}
}

// HTTPS endpoints are spoken to over HTTP/2 when they offer it.
func TestDeliverOverHTTP2(t *testing.T) {
	var e *deliveryEnv
	var rcv *webhookstest.Receiver
	e = newDeliveryEnv(t, func(c *webhooks.DelivererConfig) {
		rcv = webhookstest.Start(t, webhookstest.Options{TLS: true, Now: func() time.Time { return e.clock.Now() }})
		pool := x509.NewCertPool()
		pool.AddCert(rcv.Server().Certificate())
		client := webhooks.NewGuard(true).Client(2)
		client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
		c.Client = client
	})
	sub := e.subscribe(webhooks.Input{URL: rcv.URL})
	rcv.SetSecrets(sub.Secret)
	e.newPass()
	e.newPass()
	for _, j := range e.dispatch() {
		if err := e.run(j.ID); err != nil {
			t.Fatal(err)
		}
	}
	msgs := rcv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if m.Proto != "HTTP/2.0" || m.Err != nil {
			t.Errorf("message over %s, verification %v; want HTTP/2.0, verified", m.Proto, m.Err)
		}
	}
}

func TestDelivererConfigValidate(t *testing.T) {
	if _, err := webhooks.NewDeliverer(webhooks.DelivererConfig{}); err == nil {
		t.Error("no store and keys accepted")
	}
	e := newDeliveryEnv(t)
	if _, err := webhooks.NewDeliverer(webhooks.DelivererConfig{Store: e.store, Keys: e.m, Schedule: []time.Duration{}}); err == nil {
		t.Error("an empty schedule accepted")
	}
	if _, err := webhooks.NewDeliverer(webhooks.DelivererConfig{Store: e.store, Keys: e.m, Schedule: []time.Duration{0, -time.Second}}); err == nil {
		t.Error("a negative delay accepted")
	}
}

func TestJitterStaysWithinTenPercent(t *testing.T) {
	for _, d := range webhooks.DefaultSchedule {
		for range 200 {
			got := webhooks.Jitter(d)
			if got < d-d/10 || got > d+d/10 {
				t.Fatalf("Jitter(%s) = %s, outside ±10%%", d, got)
			}
		}
	}
}

// countingJobs counts the runner's CompleteJob calls.
type countingJobs struct {
	core.JobStore
	completes atomic.Int64
}

func (c *countingJobs) CompleteJob(ctx context.Context, id int64, children []core.Job, at time.Time) error {
	c.completes.Add(1)
	return c.JobStore.CompleteJob(ctx, id, children, at)
}

// runnerCounting replaces e's runner with one whose store counts
// completions (after any dispatch: it runs webhook.deliver jobs only).
func (e *deliveryEnv) runnerCounting() *countingJobs {
	jobs := &countingJobs{JobStore: e.store}
	e.runner = core.NewJobRunner(jobs)
	e.runner.Handle(core.JobKindWebhookDeliver, e.d)
	return jobs
}

// A message's last attempt and its job's completion are one write: a
// delivered message's job is done without the runner completing it. A
// retry leaves the job unfinished, and an answer that disables the
// endpoint is logged, then the endpoint disabled, and only then the job
// completed (by the runner), so a failure to disable runs it again.
func TestDeliverCompletesTheJobWithItsLastAttempt(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		wantState core.JobState
		// completes is how many times the runner completed the job.
		completes int64
	}{
		{"delivered", 200, core.JobDone, 0},
		{"retried", 503, core.JobPending, 0},
		{"410 disables, then the job is done", 410, core.JobDone, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newDeliveryEnv(t)
			rcv := e.receiver(webhookstest.Options{})
			rcv.SetAnswer(func(webhookstest.Message) webhookstest.Answer { return webhookstest.Answer{Status: c.status} })
			sub := e.subscribe(webhooks.Input{URL: rcv.URL})
			e.newPass()
			jobs := e.dispatch()
			counted := e.runnerCounting()
			_ = e.run(jobs[0].ID)
			if j := e.job(jobs[0].ID); j.State != c.wantState {
				t.Errorf("job %s, want %s", j.State, c.wantState)
			}
			if n := counted.completes.Load(); n != c.completes {
				t.Errorf("the runner completed the job %d times, want %d", n, c.completes)
			}
			if d := e.delivery(sub.Subscription.ID, payloadOf(t, jobs[0]).EventID); d.Attempts != 1 || d.LastResponseStatus != c.status {
				t.Errorf("delivery %+v, want 1 attempt answered %d", d, c.status)
			}
			if disabled := e.webhook(sub.Subscription.ID).Disabled; disabled != (c.status == 410) {
				t.Errorf("webhook disabled %v", disabled)
			}
		})
	}
}

// Two runs of one job that overlap (the queue delivers at least once)
// both send and both log their attempt; the first completes the job, the
// second leaves it to the runner, which finds it done.
func TestDeliverOverlappingRunsLogBothAttempts(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	sub := e.subscribe(webhooks.Input{URL: rcv.URL})
	e.newPass()
	jobs := e.dispatch()
	j, err := e.store.StartJob(e.ctx, jobs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		_, done, err := e.d.FinishJob(e.ctx, j)
		if err != nil || done != want {
			t.Fatalf("run %d: done %v, %v; want %v, nil", i+1, done, err, want)
		}
	}
	if d := e.delivery(sub.Subscription.ID, payloadOf(t, j).EventID); d.Attempts != 2 || d.Status != core.WebhookSucceeded {
		t.Errorf("delivery %+v, want succeeded with both attempts logged", d)
	}
	if err := e.store.CompleteJob(e.ctx, j.ID, nil, time.Now()); !errors.Is(err, core.ErrJobDone) {
		t.Errorf("completing the job after the second run: %v, want ErrJobDone", err)
	}
	if n := rcv.Count(); n != 2 {
		t.Errorf("the receiver got %d messages, want 2 (one per run, same webhook-id)", n)
	}
}

// countingEvents counts event reads.
type countingEvents struct {
	*sqlite.Store
	reads atomic.Int64
}

func (c *countingEvents) Event(ctx context.Context, workspaceID, id string) (core.Event, error) {
	c.reads.Add(1)
	return c.Store.Event(ctx, workspaceID, id)
}

// Events never change: the messages of one event share one read of it.
// With the cache off, each message reads it.
func TestDeliverReadsAnEventOncePerFanOut(t *testing.T) {
	for _, c := range []struct {
		cache int
		want  int64
	}{{0, 1}, {-1, 3}} {
		t.Run(fmt.Sprintf("cache %d", c.cache), func(t *testing.T) {
			var events *countingEvents
			e := newDeliveryEnv(t, func(cfg *webhooks.DelivererConfig) {
				events = &countingEvents{Store: cfg.Store.(*sqlite.Store)}
				cfg.Store, cfg.EventCache = events, c.cache
			})
			rcv := e.receiver(webhookstest.Options{})
			for range 3 {
				e.subscribe(webhooks.Input{URL: rcv.URL})
			}
			e.newPass()
			for _, j := range e.dispatch() {
				if err := e.run(j.ID); err != nil {
					t.Fatal(err)
				}
			}
			if n := rcv.Count(); n != 3 {
				t.Fatalf("the receiver got %d messages, want 3", n)
			}
			if n := events.reads.Load(); n != c.want {
				t.Errorf("%d event reads, want %d", n, c.want)
			}
		})
	}
}

// Messages delivered at once are logged together (several attempts to a
// transaction); each is still logged once and its job done.
func TestDeliverManyAtOnce(t *testing.T) {
	e := newDeliveryEnv(t)
	rcv := e.receiver(webhookstest.Options{})
	const n = 24
	subs := make([]string, n)
	for i := range subs {
		subs[i] = e.subscribe(webhooks.Input{URL: fmt.Sprintf("%s/%d", rcv.URL, i)}).Subscription.ID
	}
	e.newPass()
	jobs := e.dispatch()
	if len(jobs) != n {
		t.Fatalf("%d jobs, want %d", len(jobs), n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, j := range jobs {
		wg.Go(func() { errs <- e.runner.Run(e.ctx, j.ID) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	evID := payloadOf(t, jobs[0]).EventID
	for i, id := range subs {
		if d := e.delivery(id, evID); d.Status != core.WebhookSucceeded || d.Attempts != 1 || len(d.History) != 1 {
			t.Errorf("delivery %d: %s after %d attempts (%d logged), want succeeded after 1", i, d.Status, d.Attempts, len(d.History))
		}
	}
	for _, j := range jobs {
		if s := e.job(j.ID).State; s != core.JobDone {
			t.Errorf("job %d %s, want done", j.ID, s)
		}
	}
}

// The Deliverer reuses a subscription read for SubscriptionTTL: a change
// made elsewhere reaches its messages within that time, its own
// disabling at once, and what follows a failure is decided on the
// subscription as it is now.
func TestDeliverSubscriptionCache(t *testing.T) {
	const ttl = time.Minute
	type env struct {
		*deliveryEnv
		rcv *webhookstest.Receiver
		sub string
	}
	setup := func(t *testing.T) env {
		e := newDeliveryEnv(t, func(c *webhooks.DelivererConfig) { c.SubscriptionTTL = ttl })
		rcv := e.receiver(webhookstest.Options{})
		return env{e, rcv, e.subscribe(webhooks.Input{URL: rcv.URL}).Subscription.ID}
	}
	// queue makes an event and returns its message's job (the newest
	// not yet run).
	queue := func(e env) core.Job {
		e.t.Helper()
		e.newPass()
		jobs := e.dispatch()
		if len(jobs) == 0 {
			e.t.Fatal("no job")
		}
		return jobs[len(jobs)-1]
	}
	// deliver runs j and returns its delivery (zero when none was
	// logged) and how many requests the receiver got meanwhile.
	deliver := func(e env, j core.Job) (core.WebhookDelivery, int64) {
		e.t.Helper()
		before := e.rcv.Count()
		_ = e.run(j.ID)
		d, err := e.store.WebhookDelivery(e.ctx, e.ws, core.WebhookDeliveryID(payloadOf(e.t, j).EventID, e.sub))
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			e.t.Fatal(err)
		}
		return d, e.rcv.Count() - before
	}
	enabled := func(e env, v bool) {
		e.t.Helper()
		off := !v
		if _, err := e.m.Update(e.ctx, e.ws, e.sub, webhooks.Patch{Disabled: &off}); err != nil {
			e.t.Fatal(err)
		}
	}

	t.Run("disabled elsewhere: stops within the TTL", func(t *testing.T) {
		e := setup(t)
		deliver(e, queue(e)) // read and kept
		queued := []core.Job{queue(e), queue(e)}
		enabled(e, false)
		if _, sent := deliver(e, queued[0]); sent != 1 {
			t.Fatalf("%d sent within the TTL, want 1 (the bound, not a goal)", sent)
		}
		e.clock.Advance(ttl)
		if d, sent := deliver(e, queued[1]); sent != 0 || d.Status != core.WebhookFailed {
			t.Fatalf("after the TTL: %d sent, delivery %s; want none sent, logged failed", sent, d.Status)
		}
	})
	t.Run("enabled again: at once", func(t *testing.T) {
		e := setup(t)
		queued := []core.Job{queue(e), queue(e)}
		enabled(e, false)
		if _, sent := deliver(e, queued[0]); sent != 0 {
			t.Fatalf("%d sent while disabled", sent)
		}
		enabled(e, true)
		if d, sent := deliver(e, queued[1]); sent != 1 || d.Status != core.WebhookSucceeded {
			t.Fatalf("once enabled: %d sent, delivery %s; want 1, succeeded", sent, d.Status)
		}
	})
	t.Run("disabled by its own 410: at once", func(t *testing.T) {
		e := setup(t)
		deliver(e, queue(e))
		queued := []core.Job{queue(e), queue(e)}
		e.rcv.SetAnswer(func(webhookstest.Message) webhookstest.Answer { return webhookstest.Answer{Status: http.StatusGone} })
		if _, sent := deliver(e, queued[0]); sent != 1 || !e.webhook(e.sub).Disabled {
			t.Fatalf("%d sent; want the 410 that disables", sent)
		}
		if _, sent := deliver(e, queued[1]); sent != 0 {
			t.Fatalf("%d sent after the 410, within the TTL", sent)
		}
	})
	t.Run("deleted: the first message that finds it gone ends it", func(t *testing.T) {
		e := setup(t)
		deliver(e, queue(e))
		queued := []core.Job{queue(e), queue(e)}
		if err := e.m.Delete(e.ctx, e.ws, e.sub); err != nil {
			t.Fatal(err)
		}
		for i, want := range []int64{1, 0} { // the first within the TTL
			if _, sent := deliver(e, queued[i]); sent != want {
				t.Fatalf("message %d after the delete: %d sent, want %d", i+1, sent, want)
			}
			if j := e.job(queued[i].ID); j.State != core.JobDone {
				t.Fatalf("job %d %s, want done", i+1, j.State)
			}
		}
	})
	t.Run("a failure is judged on the subscription as it is now", func(t *testing.T) {
		e := setup(t)
		e.rcv.SetAnswer(func(webhookstest.Message) webhookstest.Answer { return webhookstest.Answer{Status: 500} })
		deliver(e, queue(e)) // the failure clock starts
		e.clock.Advance(webhooks.DefaultDisableAfter + time.Hour)
		e.rcv.SetAnswer(nil)
		// Read with the clock running, kept; the success stops the clock.
		if d, _ := deliver(e, queue(e)); d.Status != core.WebhookSucceeded {
			t.Fatalf("delivery %s, want succeeded", d.Status)
		}
		e.rcv.SetAnswer(func(webhookstest.Message) webhookstest.Answer { return webhookstest.Answer{Status: 500} })
		if d, _ := deliver(e, queue(e)); d.Status != core.WebhookPending || e.webhook(e.sub).Disabled {
			t.Fatalf("delivery %s, disabled %v; want a retry: the endpoint has failed for an instant, not five days", d.Status, e.webhook(e.sub).Disabled)
		}
	})
}
