package apple_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/apple"
	"github.com/passhub/passhub/adapters/apple/apnstest"
	"github.com/passhub/passhub/adapters/apple/testpki"
	"github.com/passhub/passhub/adapters/secretbox"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/core"
)

// pushEnv is the whole push path on real parts: a SQLite store, the
// master-key box, the issuer holding uploaded credentials, the APNs client
// pool talking TLS to a mock APNs, and a job runner that dispatches
// events to the pusher.
type pushEnv struct {
	t      *testing.T
	ctx    context.Context
	store  *sqlite.Store
	svc    *core.Service
	kit    *core.PassKit
	issuer *apple.Issuer
	pusher *apple.Pusher
	runner *core.JobRunner
	mock   *apnstest.Server
	pki    *testpki.PKI
	ws     string
	tpl    core.Template
}

func newPushEnv(t *testing.T) *pushEnv {
	t.Helper()
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "passhub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key := make([]byte, secretbox.KeySize)
	rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	pki := testpki.Default()
	mock := apnstest.Start(t, apnstest.Options{ClientCAs: pki.Pool(), Topic: pki.PassTypeID, RecordRequests: true})
	apns := apple.NewAPNs(apple.APNsConfig{BaseURL: mock.URL, RootCAs: mock.CAPool()})
	t.Cleanup(apns.Close)

	e := &pushEnv{t: t, ctx: ctx, store: store, svc: core.NewService(store), kit: core.NewPassKit(store), mock: mock, pki: pki}
	e.issuer = apple.NewIssuer(store, box, "https://passhub.test", 64)
	e.pusher = apple.NewPusher(store, e.issuer, apns, slog.New(slog.DiscardHandler))
	e.runner = core.NewJobRunner(store)
	e.runner.Handle(apple.JobPush, e.pusher)
	e.runner.Handle(apple.JobTemplatePush, e.pusher)
	e.runner.Handle(core.JobKindDispatch, core.NewDispatcher(store, e.pusher))

	ws, _, err := e.svc.CreateWorkspace(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	e.ws = ws.ID
	if _, err := e.issuer.Save(ctx, e.ws, apple.Upload{
		PassTypeIdentifier: pki.PassTypeID, TeamIdentifier: pki.TeamID,
		Certificate: string(pki.CertPEM), PrivateKey: string(pki.KeyPEM), WWDRCertificate: string(pki.WWDRPEM),
	}); err != nil {
		t.Fatal(err)
	}
	e.tpl, err = e.svc.CreateTemplate(ctx, e.ws, core.Template{
		Name: "Loyalty", Style: core.StyleStoreCard, Description: "Acme card", OrganizationName: "Acme",
		Images: map[string]string{"icon": "iVBORw0KGgo="},
		Fields: core.FieldLayout{Primary: []core.Field{{Key: "points", Label: "Points"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// token is the i-th test push token: 64 hex digits.
func token(i int) string { return fmt.Sprintf("%064x", 0xa0000+i) }

func (e *pushEnv) newPass(externalID string) core.Pass {
	e.t.Helper()
	p, err := e.svc.CreatePass(e.ctx, e.ws, core.PassInput{TemplateID: e.tpl.ID, ExternalID: externalID, Data: map[string]any{"points": 1}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// register puts the pass on the device as Wallet does, with the pass's
// authentication token as the store keeps it.
func (e *pushEnv) register(device, pushToken string, p core.Pass) {
	e.t.Helper()
	stored, err := e.store.Pass(e.ctx, e.ws, p.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.kit.Register(e.ctx, device, e.pki.PassTypeID, p.ID, stored.AuthToken, pushToken); err != nil {
		e.t.Fatalf("registering %s on %s: %v", p.ID, device, err)
	}
}

func (e *pushEnv) update(p core.Pass, points int) {
	e.t.Helper()
	if _, err := e.svc.UpdatePass(e.ctx, e.ws, p.ID, core.PassPatch{Data: map[string]any{"points": points}}); err != nil {
		e.t.Fatal(err)
	}
}

// drained is what one drain did: the jobs it ran (as the store has them
// afterwards) and the errors of those that failed.
type drained struct {
	ran  []core.Job
	errs map[int64]error
}

// ofKind lists the jobs of kind that ran.
func (d drained) ofKind(kind string) []core.Job {
	var out []core.Job
	for _, j := range d.ran {
		if j.Kind == kind {
			out = append(out, j)
		}
	}
	return out
}

// drain runs pending jobs, and the jobs they fan out to, until none is
// left; a job that fails stays pending and is not run again here (a retry
// is an explicit runner.Run).
func (e *pushEnv) drain() drained {
	e.t.Helper()
	d := drained{errs: map[int64]error{}}
	for round := 0; ; round++ {
		if round > 50 {
			e.t.Fatal("drain: jobs keep coming")
		}
		pending, err := e.store.PendingJobs(e.ctx, 1000)
		if err != nil {
			e.t.Fatal(err)
		}
		pending = slices.DeleteFunc(pending, func(j core.Job) bool { return d.errs[j.ID] != nil })
		if len(pending) == 0 {
			return d
		}
		for _, j := range pending {
			if err := e.runner.Run(e.ctx, j.ID); err != nil {
				d.errs[j.ID] = err
			}
			d.ran = append(d.ran, e.job(j.ID))
		}
	}
}

func (e *pushEnv) job(id int64) core.Job {
	e.t.Helper()
	j, err := e.store.Job(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// mustDrain drains and fails the test on any job error.
func (e *pushEnv) mustDrain() drained {
	e.t.Helper()
	d := e.drain()
	for id, err := range d.errs {
		e.t.Errorf("job %d failed: %v", id, err)
	}
	return d
}

// settle drains the events so far (record_added, installed) and forgets
// what the mock saw, so a test sees only what follows.
func (e *pushEnv) settle() {
	e.t.Helper()
	e.mustDrain()
	e.mock.Reset()
}

// pushLogs is the workspace's whole push log, newest first.
func (e *pushEnv) pushLogs() []core.PushLog {
	e.t.Helper()
	logs, next, err := e.store.ListPushLogs(e.ctx, e.ws, core.PushLogQuery{Page: core.Page{Limit: 1000}})
	if err != nil {
		e.t.Fatal(err)
	}
	if next != "" {
		e.t.Fatal("push log longer than one page")
	}
	return logs
}

// logsOf is the push log rows of the jobs.
func (e *pushEnv) logsOf(jobs ...core.Job) []core.PushLog {
	e.t.Helper()
	ids := map[int64]bool{}
	for _, j := range jobs {
		ids[j.ID] = true
	}
	return slices.DeleteFunc(e.pushLogs(), func(l core.PushLog) bool { return !ids[l.JobID] })
}

// byToken groups log rows by token hash.
func byToken(logs []core.PushLog) map[string][]core.PushLog {
	out := map[string][]core.PushLog{}
	for _, l := range logs {
		out[l.TokenHash] = append(out[l.TokenHash], l)
	}
	return out
}

func (e *pushEnv) devicesOf(p core.Pass) []string {
	e.t.Helper()
	regs, err := e.store.PassRegistrations(e.ctx, e.ws, p.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range regs {
		out = append(out, r.DeviceLibraryID)
	}
	return out
}

// serials is what the device would learn asking "what changed since tag".
func (e *pushEnv) serials(device, since string) ([]string, string) {
	e.t.Helper()
	serials, last, err := e.kit.UpdatedSerials(e.ctx, device, e.pki.PassTypeID, since)
	if err != nil {
		e.t.Fatal(err)
	}
	return serials, last
}

func tagOf(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("tag %q: %v", s, err)
	}
	return n
}

func TestPassChangeWakesEveryDeviceHoldingItOnce(t *testing.T) {
	e := newPushEnv(t)
	p := e.newPass("cust-1")
	devices := []string{"dev-a", "dev-b", "dev-c"}
	for i, d := range devices {
		e.register(d, token(i), p)
	}
	e.settle()
	tagsBefore := map[string]string{}
	for _, d := range devices {
		_, tagsBefore[d] = e.serials(d, "")
	}

	e.update(p, 42)
	d := e.mustDrain()

	pushes := d.ofKind(apple.JobPush)
	if len(pushes) != 1 {
		t.Fatalf("%d push jobs ran, want 1 for the one change", len(pushes))
	}
	evs, _, err := e.store.ListEvents(e.ctx, e.ws, core.EventQuery{Type: core.EventUpdated})
	if err != nil || len(evs) != 1 {
		t.Fatalf("pass.updated events: %v, %v", evs, err)
	}
	if pushes[0].Key != evs[0].ID || pushes[0].State != core.JobDone {
		t.Errorf("push job key %q state %s, want the event's ID %q and done", pushes[0].Key, pushes[0].State, evs[0].ID)
	}

	reqs := e.mock.Requests()
	if len(reqs) != len(devices) {
		t.Fatalf("APNs got %d requests, want one per device (%d)", len(reqs), len(devices))
	}
	for i := range devices {
		if n := e.mock.Count(token(i)); n != 1 {
			t.Errorf("token %d pushed %d times, want 1", i, n)
		}
	}
	for _, r := range reqs {
		if r.Topic != e.pki.PassTypeID || string(r.Body) != "{}" || r.Status != http.StatusOK {
			t.Errorf("request to %s: topic %q body %q status %d; want topic %q, body {}, 200", r.Token, r.Topic, r.Body, r.Status, e.pki.PassTypeID)
		}
		if pt, prio := r.Header.Get("apns-push-type"), r.Header.Get("apns-priority"); pt != "background" || prio != "5" {
			t.Errorf("request to %s: push type %q priority %q, want background 5", r.Token, pt, prio)
		}
	}

	logs := e.logsOf(pushes...)
	if len(logs) != len(devices) {
		t.Fatalf("%d push log rows, want %d", len(logs), len(devices))
	}
	rows := byToken(logs)
	for i := range devices {
		got := rows[apple.TokenHash(token(i))]
		if len(got) != 1 {
			t.Fatalf("token %d has %d log rows, want 1", i, len(got))
		}
		l := got[0]
		if l.Status != core.PushOK || l.HTTPStatus != http.StatusOK || l.PassID != p.ID || l.ExternalID != "cust-1" || l.Platform != core.PlatformApple {
			t.Errorf("token %d log: %+v", i, l)
		}
		if strings.Contains(l.TokenHash, token(i)) {
			t.Errorf("the log keeps the push token itself")
		}
	}

	for _, dev := range devices {
		serials, tag := e.serials(dev, tagsBefore[dev])
		if !slices.Equal(serials, []string{p.ID}) {
			t.Errorf("%s: changed since %s = %v, want [%s]", dev, tagsBefore[dev], serials, p.ID)
		}
		if tagOf(t, tag) <= tagOf(t, tagsBefore[dev]) {
			t.Errorf("%s: tag %s not after %s", dev, tag, tagsBefore[dev])
		}
		if again, _ := e.serials(dev, tag); len(again) != 0 {
			t.Errorf("%s: changed since the new tag = %v, want none", dev, again)
		}
	}
}

func TestTemplatePushWakesADeviceOnceForAllItsPasses(t *testing.T) {
	e := newPushEnv(t)
	var passes []core.Pass
	for i := range 5 {
		p := e.newPass(fmt.Sprintf("cust-%d", i))
		passes = append(passes, p)
		e.register("dev-a", token(1), p)
	}
	e.settle()
	_, before := e.serials("dev-a", "")

	root, err := e.pusher.StartTemplatePush(e.ctx, e.ws, e.tpl.ID)
	if err != nil {
		t.Fatal(err)
	}
	d := e.mustDrain()

	if n := e.mock.Count(token(1)); n != 1 || e.mock.Total() != 1 {
		t.Fatalf("the device was pushed %d times (%d requests in all), want exactly 1", n, e.mock.Total())
	}
	pushes := d.ofKind(apple.JobPush)
	if len(pushes) != 1 || !strings.HasPrefix(pushes[0].Key, root+"/") {
		t.Fatalf("push jobs %+v, want one keyed under %q", pushes, root)
	}
	logs := e.logsOf(pushes...)
	if len(logs) != len(passes) {
		t.Fatalf("%d push log rows, want one per (pass, token): %d", len(logs), len(passes))
	}
	logged := map[string]bool{}
	for _, l := range logs {
		if l.Status != core.PushOK || l.TokenHash != apple.TokenHash(token(1)) {
			t.Errorf("log row %+v", l)
		}
		logged[l.PassID] = true
	}
	serials, _ := e.serials("dev-a", before)
	for _, p := range passes {
		if !logged[p.ID] {
			t.Errorf("pass %s not in the push log", p.ID)
		}
		if !slices.Contains(serials, p.ID) {
			t.Errorf("pass %s not listed as changed for the device", p.ID)
		}
	}
}

func TestTemplatePushPagesDevicesAndSkipsDeletedPasses(t *testing.T) {
	e := newPushEnv(t)
	e.pusher.Batch = 2
	e.pusher.PageBatches = 1
	live := map[string]core.Pass{}
	for i := 1; i <= 5; i++ {
		dev := fmt.Sprintf("dev-%d", i)
		live[dev] = e.newPass(fmt.Sprintf("cust-%d", i))
		e.register(dev, token(i), live[dev])
	}
	// dev-3 also holds a pass that gets deleted; dev-6 holds only that one.
	gone := e.newPass("cust-gone")
	e.register("dev-3", token(3), gone)
	e.register("dev-6", token(6), gone)
	e.settle()
	if _, err := e.svc.DeletePass(e.ctx, e.ws, gone.ID); err != nil {
		t.Fatal(err)
	}
	e.settle() // the deletion itself is pushed to dev-3 and dev-6

	root, err := e.pusher.StartTemplatePush(e.ctx, e.ws, e.tpl.ID)
	if err != nil {
		t.Fatal(err)
	}
	d := e.mustDrain()

	pages := d.ofKind(apple.JobTemplatePush)
	wantPages := []string{root, root + "/after/dev-2", root + "/after/dev-4"}
	var pageKeys []string
	for _, j := range pages {
		pageKeys = append(pageKeys, j.Key)
	}
	if !slices.Equal(pageKeys, wantPages) {
		t.Errorf("template push pages %v, want %v", pageKeys, wantPages)
	}
	pushes := d.ofKind(apple.JobPush)
	pushKeys, batches := pushBatches(t, pushes)
	wantPushes := []string{root + "/push/dev-2", root + "/push/dev-4", root + "/push/dev-5"}
	if !slices.Equal(pushKeys, wantPushes) {
		t.Errorf("push jobs %v, want %v", pushKeys, wantPushes)
	}
	wantBatches := [][]string{{"dev-1", "dev-2"}, {"dev-3", "dev-4"}, {"dev-5"}}
	if !slices.EqualFunc(batches, wantBatches, slices.Equal) {
		t.Errorf("device batches %v, want %v", batches, wantBatches)
	}
	for _, j := range d.ran {
		if j.State != core.JobDone {
			t.Errorf("job %s %s is %s, want done", j.Kind, j.Key, j.State)
		}
	}

	for i := 1; i <= 5; i++ {
		if n := e.mock.Count(token(i)); n != 1 {
			t.Errorf("dev-%d pushed %d times, want 1", i, n)
		}
	}
	if n := e.mock.Count(token(6)); n != 0 {
		t.Errorf("dev-6, holding only a deleted pass, pushed %d times, want 0", n)
	}
	logs := e.logsOf(pushes...)
	if len(logs) != 5 {
		t.Errorf("%d push log rows, want 5 (one per live pass)", len(logs))
	}
	for _, l := range logs {
		if l.PassID == gone.ID || l.Status != core.PushOK {
			t.Errorf("log row %+v: want live passes only, all ok", l)
		}
	}
}

func TestTemplatePushPageFansOutBatches(t *testing.T) {
	tests := []struct {
		name         string
		devices      int
		pageBatches  int
		wantPages    []string // after the root page: the devices they start after
		wantPushKeys []string // the last device of each batch
		wantBatches  [][]string
	}{
		{"pages of two batches", 5, 2, []string{"dev-4"}, []string{"dev-2", "dev-4", "dev-5"},
			[][]string{{"dev-1", "dev-2"}, {"dev-3", "dev-4"}, {"dev-5"}}},
		{"full last page", 4, 2, []string{"dev-4"}, []string{"dev-2", "dev-4"},
			[][]string{{"dev-1", "dev-2"}, {"dev-3", "dev-4"}}},
		{"one page of three batches", 5, 3, nil, []string{"dev-2", "dev-4", "dev-5"},
			[][]string{{"dev-1", "dev-2"}, {"dev-3", "dev-4"}, {"dev-5"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPushEnv(t)
			e.pusher.Batch = 2
			e.pusher.PageBatches = tt.pageBatches
			for i := 1; i <= tt.devices; i++ {
				e.register(fmt.Sprintf("dev-%d", i), token(i), e.newPass(fmt.Sprintf("cust-%d", i)))
			}
			e.settle()

			root, err := e.pusher.StartTemplatePush(e.ctx, e.ws, e.tpl.ID)
			if err != nil {
				t.Fatal(err)
			}
			d := e.mustDrain()

			wantPages := []string{root}
			for _, after := range tt.wantPages {
				wantPages = append(wantPages, root+"/after/"+after)
			}
			var pageKeys []string
			for _, j := range d.ofKind(apple.JobTemplatePush) {
				pageKeys = append(pageKeys, j.Key)
			}
			if !slices.Equal(pageKeys, wantPages) {
				t.Errorf("template push pages %v, want %v", pageKeys, wantPages)
			}
			var wantPushes []string
			for _, last := range tt.wantPushKeys {
				wantPushes = append(wantPushes, root+"/push/"+last)
			}
			pushes := d.ofKind(apple.JobPush)
			slices.SortFunc(pushes, func(a, b core.Job) int { return strings.Compare(a.Key, b.Key) })
			pushKeys, batches := pushBatches(t, pushes)
			if !slices.Equal(pushKeys, wantPushes) {
				t.Errorf("push jobs %v, want %v", pushKeys, wantPushes)
			}
			if !slices.EqualFunc(batches, tt.wantBatches, slices.Equal) {
				t.Errorf("device batches %v, want %v", batches, tt.wantBatches)
			}
			// A page's next page comes before its batches, so the relay
			// hands it over first.
			for _, page := range d.ofKind(apple.JobTemplatePush)[1:] {
				for _, push := range pushes {
					if push.ID < page.ID && strings.HasSuffix(push.Key, "/push/"+strings.TrimPrefix(page.Key, root+"/after/")) {
						t.Errorf("page %s created after its page's batch %s", page.Key, push.Key)
					}
				}
			}
			for i := 1; i <= tt.devices; i++ {
				if n := e.mock.Count(token(i)); n != 1 {
					t.Errorf("dev-%d pushed %d times, want 1", i, n)
				}
			}
		})
	}
}

func TestUnregisteredTokenLosesItsRegistrationsQuietly(t *testing.T) {
	e := newPushEnv(t)
	p := e.newPass("cust-1")
	other := e.newPass("cust-2")
	e.register("dev-a", token(1), p)
	e.register("dev-dead", token(2), p)
	e.register("dev-dead", token(2), other) // the dead device's other pass goes too
	e.register("dev-c", token(3), p)
	e.settle()
	before, err := e.store.Pass(e.ctx, e.ws, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	// APNs dates the token's end after the registrations. (A second
	// ahead: apns2 keeps whole seconds of APNs's milliseconds.)
	e.mock.Script(token(2), apnstest.Reply{Status: http.StatusGone, Reason: apnstest.ReasonUnregistered, Timestamp: time.Now().Add(time.Second)})

	e.update(p, 7)
	d := e.mustDrain()

	if got := e.devicesOf(p); !slices.Equal(got, []string{"dev-a", "dev-c"}) {
		t.Errorf("devices of the pass %v, want dev-a and dev-c", got)
	}
	if got := e.devicesOf(other); len(got) != 0 {
		t.Errorf("devices of the dead device's other pass %v, want none", got)
	}
	uninstalled, _, err := e.store.ListEvents(e.ctx, e.ws, core.EventQuery{Type: core.EventUninstalled})
	if err != nil {
		t.Fatal(err)
	}
	if len(uninstalled) != 0 {
		t.Errorf("a dead token emitted %d pass.uninstalled events, want none", len(uninstalled))
	}
	after, err := e.store.Pass(e.ctx, e.ws, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.WalletStatus != before.WalletStatus || after.WalletStatus != core.WalletApple {
		t.Errorf("wallet status %s → %s, want apple kept", before.WalletStatus, after.WalletStatus)
	}

	rows := byToken(e.logsOf(d.ofKind(apple.JobPush)...))
	want := map[string]core.PushStatus{token(1): core.PushOK, token(2): core.PushDropped, token(3): core.PushOK}
	for tok, status := range want {
		got := rows[apple.TokenHash(tok)]
		if len(got) != 1 || got[0].Status != status {
			t.Errorf("log rows of %s…: %+v, want one %s", tok[:8], got, status)
		}
	}
	if l := rows[apple.TokenHash(token(2))]; len(l) == 1 && (l[0].HTTPStatus != http.StatusGone || l[0].Reason != apnstest.ReasonUnregistered) {
		t.Errorf("dropped row: %d %q, want 410 Unregistered", l[0].HTTPStatus, l[0].Reason)
	}

	// The next change no longer wakes the dead token.
	e.mock.Reset()
	e.update(p, 8)
	e.mustDrain()
	if n := e.mock.Count(token(2)); n != 0 || e.mock.Total() != 2 {
		t.Errorf("after the drop: dead token pushed %d times, %d requests in all; want 0 and 2", n, e.mock.Total())
	}
}

func TestUnregisteredBeforeTheDeviceRefreshedKeepsItsRegistrations(t *testing.T) {
	e := newPushEnv(t)
	p := e.newPass("cust-1")
	e.register("dev-a", token(1), p)
	e.register("dev-fresh", token(2), p)
	e.register("dev-dead", token(3), p)
	e.settle()
	// token 2 was invalid an hour ago, before the device registered it:
	// the registration is newer and stays. token 3 went after.
	e.mock.Script(token(2), apnstest.Reply{Status: http.StatusGone, Reason: apnstest.ReasonUnregistered, Timestamp: time.Now().Add(-time.Hour)})
	e.mock.Script(token(3), apnstest.Reply{Status: http.StatusGone, Reason: apnstest.ReasonUnregistered, Timestamp: time.Now().Add(time.Second)})

	e.update(p, 7)
	d := e.mustDrain()

	pushes := d.ofKind(apple.JobPush)
	if len(pushes) != 1 || pushes[0].State != core.JobDone {
		t.Fatalf("push jobs %+v, want one, done", pushes)
	}
	if got := e.devicesOf(p); !slices.Equal(got, []string{"dev-a", "dev-fresh"}) {
		t.Errorf("devices %v, want dev-a and dev-fresh (registered after its token's date)", got)
	}
	rows := byToken(e.logsOf(pushes...))
	for tok, want := range map[string]core.PushStatus{token(1): core.PushOK, token(2): core.PushFailed, token(3): core.PushDropped} {
		got := rows[apple.TokenHash(tok)]
		if len(got) != 1 || got[0].Status != want {
			t.Errorf("log rows of %s…: %+v, want one %s", tok[:8], got, want)
			continue
		}
		if tok != token(1) && (got[0].HTTPStatus != http.StatusGone || got[0].Reason != apnstest.ReasonUnregistered) {
			t.Errorf("log row of %s…: %d %q, want 410 Unregistered", tok[:8], got[0].HTTPStatus, got[0].Reason)
		}
	}

	// The kept registration is still woken by the next change.
	e.mock.Reset()
	e.update(p, 8)
	e.mustDrain()
	if n := e.mock.Count(token(2)); n != 1 || e.mock.Total() != 2 {
		t.Errorf("next change: kept token pushed %d times, %d requests in all; want 1 and 2", n, e.mock.Total())
	}
}

func TestPermanentRefusalKeepsRegistrationsAndCompletesTheJob(t *testing.T) {
	for _, reason := range []string{apnstest.ReasonBadDeviceToken, apnstest.ReasonDeviceTokenNotForTopic} {
		t.Run(reason, func(t *testing.T) {
			e := newPushEnv(t)
			p := e.newPass("cust-1")
			e.register("dev-a", token(1), p)
			e.register("dev-bad", token(2), p)
			e.settle()
			e.mock.Respond(token(2), http.StatusBadRequest, reason)

			e.update(p, 7)
			d := e.mustDrain()

			pushes := d.ofKind(apple.JobPush)
			if len(pushes) != 1 || pushes[0].State != core.JobDone {
				t.Fatalf("push jobs %+v, want one, done", pushes)
			}
			rows := byToken(e.logsOf(pushes...))
			bad := rows[apple.TokenHash(token(2))]
			if len(bad) != 1 || bad[0].Status != core.PushFailed || bad[0].HTTPStatus != http.StatusBadRequest || bad[0].Reason != reason {
				t.Errorf("refused token's log %+v, want failed 400 %s", bad, reason)
			}
			if ok := rows[apple.TokenHash(token(1))]; len(ok) != 1 || ok[0].Status != core.PushOK {
				t.Errorf("other token's log %+v, want ok", ok)
			}
			if got := e.devicesOf(p); !slices.Equal(got, []string{"dev-a", "dev-bad"}) {
				t.Errorf("devices %v: only a 410 may drop a registration", got)
			}
		})
	}
}

func TestTransientFailureRetriesOnlyTheFailedToken(t *testing.T) {
	for _, c := range []struct {
		status int
		reason string
	}{
		{http.StatusInternalServerError, apnstest.ReasonInternalServerError},
		{http.StatusTooManyRequests, apnstest.ReasonTooManyRequests},
	} {
		t.Run(strconv.Itoa(c.status), func(t *testing.T) {
			e := newPushEnv(t)
			p := e.newPass("cust-1")
			for i := 1; i <= 3; i++ {
				e.register(fmt.Sprintf("dev-%d", i), token(i), p)
			}
			e.settle()
			e.mock.RespondTimes(token(2), 1, c.status, c.reason)
			// token 4 is refused for good on the first attempt only: a
			// retry that sent to it again would see a 200.
			e.register("dev-4", token(4), p)
			e.mock.RespondTimes(token(4), 1, http.StatusBadRequest, apnstest.ReasonBadDeviceToken)

			e.update(p, 7)
			d := e.drain()

			pushes := d.ofKind(apple.JobPush)
			if len(pushes) != 1 {
				t.Fatalf("%d push jobs, want 1", len(pushes))
			}
			job := pushes[0]
			err := d.errs[job.ID]
			if err == nil || errors.Is(err, core.ErrPermanent) {
				t.Fatalf("first run: error %v, want a retryable one", err)
			}
			if len(d.errs) != 1 {
				t.Errorf("failed jobs %v, want only the push", d.errs)
			}
			if job.State == core.JobDone || job.Attempts != 1 {
				t.Errorf("after the failure the job is %s after %d attempts; want not done, 1", job.State, job.Attempts)
			}
			rows := byToken(e.logsOf(job))
			for i, want := range map[int]core.PushStatus{1: core.PushOK, 2: core.PushRetry, 3: core.PushOK, 4: core.PushFailed} {
				got := rows[apple.TokenHash(token(i))]
				if len(got) != 1 || got[0].Status != want {
					t.Errorf("token %d after the first run: %+v, want one %s", i, got, want)
				}
			}
			if l := rows[apple.TokenHash(token(2))]; len(l) == 1 && (l[0].HTTPStatus != c.status || l[0].Reason != c.reason) {
				t.Errorf("retry row: %d %q, want %d %s", l[0].HTTPStatus, l[0].Reason, c.status, c.reason)
			}

			// The queue's retry.
			if err := e.runner.Run(e.ctx, job.ID); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if j := e.job(job.ID); j.State != core.JobDone || j.Attempts != 2 {
				t.Errorf("after the retry the job is %s after %d attempts; want done, 2", j.State, j.Attempts)
			}
			for i, want := range map[int]int{1: 1, 2: 2, 3: 1, 4: 1} {
				if n := e.mock.Count(token(i)); n != want {
					t.Errorf("token %d pushed %d times, want %d", i, n, want)
				}
			}
			rows = byToken(e.logsOf(job))
			if got := rows[apple.TokenHash(token(2))]; len(got) != 2 || got[0].Status != core.PushOK || got[1].Status != core.PushRetry {
				t.Errorf("failed token's rows after the retry %+v, want retry then ok", got)
			}
			if len(rows[apple.TokenHash(token(1))]) != 1 || len(rows[apple.TokenHash(token(3))]) != 1 {
				t.Errorf("the retry logged tokens already pushed: %d and %d rows, want 1 each",
					len(rows[apple.TokenHash(token(1))]), len(rows[apple.TokenHash(token(3))]))
			}
			if got := rows[apple.TokenHash(token(4))]; len(got) != 1 || got[0].Status != core.PushFailed {
				t.Errorf("the token refused for good has rows %+v after the retry, want only the first attempt's failed", got)
			}
			if got := e.devicesOf(p); len(got) != 4 {
				t.Errorf("devices %v, want all 4 kept", got)
			}
		})
	}
}

func TestPushWithoutCredentialsIsCancelled(t *testing.T) {
	e := newPushEnv(t)
	p := e.newPass("cust-1")
	e.register("dev-a", token(1), p)
	e.register("dev-b", token(2), p)
	e.settle()
	if err := e.issuer.Delete(e.ctx, e.ws); err != nil {
		t.Fatal(err)
	}

	e.update(p, 7)
	d := e.mustDrain()

	pushes := d.ofKind(apple.JobPush)
	if len(pushes) != 1 || pushes[0].State != core.JobDone {
		t.Fatalf("push jobs %+v, want one, done", pushes)
	}
	logs := e.logsOf(pushes...)
	if len(logs) != 2 {
		t.Fatalf("%d log rows, want 2", len(logs))
	}
	for _, l := range logs {
		if l.Status != core.PushCancelled || l.HTTPStatus != 0 || l.Reason == "" {
			t.Errorf("log row %+v, want cancelled with a reason", l)
		}
	}
	if n := e.mock.Total(); n != 0 || e.mock.Handshakes() != 0 {
		t.Errorf("APNs got %d requests (%d handshakes), want none", n, e.mock.Handshakes())
	}
	if got := e.devicesOf(p); len(got) != 2 {
		t.Errorf("devices %v, want both kept", got)
	}
}

func TestJobsForAnswersChangesWithOnePushJob(t *testing.T) {
	p := apple.NewPusher(nil, nil, nil, slog.New(slog.DiscardHandler))
	for _, c := range []struct {
		typ  core.EventType
		push bool
	}{
		{core.EventUpdated, true},
		{core.EventExpired, true},
		{core.EventVoided, true},
		{core.EventDeleted, true},
		{core.EventRecordAdded, false},
		{core.EventInstalled, false},
		{core.EventUninstalled, false},
	} {
		t.Run(string(c.typ), func(t *testing.T) {
			ev := core.Event{ID: "evt_1", WorkspaceID: "ws_1", Type: c.typ, Data: core.EventData{PassID: "pass_1"}}
			jobs, err := p.JobsFor(t.Context(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if !c.push {
				if len(jobs) != 0 {
					t.Errorf("jobs %+v, want none", jobs)
				}
				return
			}
			if len(jobs) != 1 || jobs[0].Kind != apple.JobPush || jobs[0].Key != ev.ID {
				t.Fatalf("jobs %+v, want one %s keyed %s", jobs, apple.JobPush, ev.ID)
			}
			var payload struct {
				PassIDs []string `json:"passIds"`
			}
			if err := json.Unmarshal(jobs[0].Payload, &payload); err != nil || !slices.Equal(payload.PassIDs, []string{"pass_1"}) {
				t.Errorf("payload %s (%v), want the event's pass", jobs[0].Payload, err)
			}
		})
	}
}

func TestHandleJobRejectsWhatNoRetryCanFix(t *testing.T) {
	p := apple.NewPusher(nil, nil, nil, slog.New(slog.DiscardHandler))
	for _, c := range []struct {
		name    string
		kind    string
		payload string
	}{
		{"push payload not JSON", apple.JobPush, `{not json`},
		{"push without passes or devices", apple.JobPush, `{}`},
		{"push of a template without devices", apple.JobPush, `{"templateId":"tpl_1"}`},
		{"template push payload not JSON", apple.JobTemplatePush, `[`},
		{"template push without template", apple.JobTemplatePush, `{"root":"x"}`},
		{"unknown kind", "apple.nonsense", `{}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.HandleJob(t.Context(), core.Job{ID: 1, WorkspaceID: "ws_1", Kind: c.kind, Payload: json.RawMessage(c.payload)})
			if !errors.Is(err, core.ErrPermanent) {
				t.Errorf("error %v, want a permanent one", err)
			}
		})
	}
}

// pushBatches are push jobs' keys and the devices each one wakes.
func pushBatches(t *testing.T, pushes []core.Job) (keys []string, batches [][]string) {
	t.Helper()
	for _, j := range pushes {
		keys = append(keys, j.Key)
		var payload struct {
			DeviceIDs []string `json:"deviceIds"`
		}
		if err := json.Unmarshal(j.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		batches = append(batches, payload.DeviceIDs)
	}
	return keys, batches
}
