package google_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/adapters/google/googletest"
	"github.com/passhub/passhub/adapters/secretbox"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/core"
)

const (
	walletPublicURL = "https://passhub.test"
	pngB64          = "iVBORw0KGgo=" // the PNG signature: enough for template validation
)

// walletEnv is the Google sync path on real parts: a SQLite store, the
// master-key box, the Wallet talking to the fake Google, and a job runner
// dispatching events to it.
type walletEnv struct {
	t      *testing.T
	ctx    context.Context
	srv    *googletest.Server
	store  *sqlite.Store
	svc    *core.Service
	wallet *google.Wallet
	runner *core.JobRunner
	key    []byte // the service account JSON key, token_uri at the fake
	ws     string
	tpl    core.Template
}

func newWalletEnv(t *testing.T) *walletEnv {
	t.Helper()
	c := ctx(t)
	srv := googletest.Start(t, googletest.Options{})
	store, err := sqlite.Open(c, filepath.Join(t.TempDir(), "passhub.db"))
	must(t, err)
	t.Cleanup(func() { store.Close() })
	mk := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(mk)
	box, err := secretbox.New(mk)
	must(t, err)

	e := &walletEnv{t: t, ctx: c, srv: srv, store: store, svc: core.NewService(store), key: keyFor(t, srv)}
	e.wallet = google.NewWallet(store, box, google.WalletConfig{
		BaseURL:   srv.URL, // plain http on loopback: the default client will do
		PublicURL: walletPublicURL,
		Origins:   []string{"https://shop.example"},
		Log:       slog.New(slog.DiscardHandler),
	})
	e.runner = core.NewJobRunner(store)
	e.runner.Handle(google.JobSync, e.wallet)
	e.runner.Handle(core.JobKindDispatch, core.NewDispatcher(store, e.wallet))

	ws, _, err := e.svc.CreateWorkspace(c, "acme", "")
	must(t, err)
	e.ws = ws.ID
	e.tpl, err = e.svc.CreateTemplate(c, e.ws, core.Template{
		Name: "Acme Rewards", Style: core.StyleStoreCard, Description: "Acme loyalty card", OrganizationName: "Acme Coffee",
		Colors: core.Colors{Background: "#102030"},
		Images: map[string]string{"icon": pngB64, "logo": pngB64},
		Fields: core.FieldLayout{
			Primary:   []core.Field{{Key: "points", Label: "Points"}},
			Secondary: []core.Field{{Key: "tier", Label: "Tier"}},
		},
		Barcode: &core.Barcode{Format: core.BarcodeQR, Message: "{{passId}}"},
	})
	must(t, err)
	return e
}

func (e *walletEnv) saveCredentials() google.CredentialInfo {
	e.t.Helper()
	info, err := e.wallet.Save(e.ctx, e.ws, google.Upload{IssuerID: issuerID, ServiceAccount: e.key})
	must(e.t, err)
	return info
}

func (e *walletEnv) newPass(externalID string) core.Pass {
	e.t.Helper()
	p, err := e.svc.CreatePass(e.ctx, e.ws, core.PassInput{TemplateID: e.tpl.ID, ExternalID: externalID, Data: map[string]any{"points": 10, "tier": "Bronze"}})
	must(e.t, err)
	return p
}

func (e *walletEnv) update(p core.Pass, patch core.PassPatch) {
	e.t.Helper()
	_, err := e.svc.UpdatePass(e.ctx, e.ws, p.ID, patch)
	must(e.t, err)
}

// drain runs pending jobs and their children until none is left, as the
// worker would: a failed job is recorded (final when permanent) and not
// run again here.
func (e *walletEnv) drain() map[int64]error {
	e.t.Helper()
	errs := map[int64]error{}
	for round := 0; ; round++ {
		if round > 20 {
			e.t.Fatal("drain: jobs keep coming")
		}
		pending, err := e.store.PendingJobs(e.ctx, 1000)
		must(e.t, err)
		pending = slices.DeleteFunc(pending, func(j core.Job) bool { return errs[j.ID] != nil })
		if len(pending) == 0 {
			return errs
		}
		for _, j := range pending {
			if err := e.runner.Run(e.ctx, j.ID); err != nil {
				errs[j.ID] = err
				must(e.t, e.runner.Fail(e.ctx, j.ID, err, errors.Is(err, core.ErrPermanent)))
			}
		}
	}
}

func (e *walletEnv) mustDrain() {
	e.t.Helper()
	for id, err := range e.drain() {
		e.t.Errorf("job %d failed: %v", id, err)
	}
}

// pushLogs is the workspace's push log, oldest first.
func (e *walletEnv) pushLogs() []core.PushLog {
	e.t.Helper()
	logs, _, err := e.store.ListPushLogs(e.ctx, e.ws, core.PushLogQuery{Page: core.Page{Limit: 1000}})
	must(e.t, err)
	slices.Reverse(logs)
	return logs
}

func (e *walletEnv) object(p core.Pass) map[string]any {
	e.t.Helper()
	o, ok := e.srv.Object("loyalty", google.ObjectID(issuerID, p.ID))
	if !ok {
		e.t.Fatalf("no loyalty object for %s", p.ID)
	}
	return o
}

// calls lists the recorded API requests as "METHOD path".
func calls(reqs []googletest.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Method + " " + r.Path
	}
	return out
}

func count(calls []string, call string) int {
	n := 0
	for _, c := range calls {
		if c == call {
			n++
		}
	}
	return n
}

const (
	classPath  = "/walletobjects/v1/loyaltyClass"
	objectPath = "/walletobjects/v1/loyaltyObject"
)

func TestWalletSaveValidatesAndSeals(t *testing.T) {
	e := newWalletEnv(t)
	var key map[string]any
	must(t, json.Unmarshal(e.key, &key))
	withKey := func(field string, v any) json.RawMessage {
		m := map[string]any{}
		for k, val := range key {
			m[k] = val
		}
		m[field] = v
		b, err := json.Marshal(m)
		must(t, err)
		return b
	}

	for _, tc := range []struct {
		name  string
		up    google.Upload
		field string
	}{
		{"no issuer", google.Upload{ServiceAccount: e.key}, "issuerId"},
		{"issuer not numeric", google.Upload{IssuerID: "acme-123", ServiceAccount: e.key}, "issuerId"},
		{"no key", google.Upload{IssuerID: issuerID}, "serviceAccount"},
		{"key null", google.Upload{IssuerID: issuerID, ServiceAccount: json.RawMessage(`null`)}, "serviceAccount"},
		{"key a number", google.Upload{IssuerID: issuerID, ServiceAccount: json.RawMessage(`42`)}, "serviceAccount"},
		{"key string not JSON", google.Upload{IssuerID: issuerID, ServiceAccount: json.RawMessage(`"hello"`)}, "serviceAccount"},
		{"key broken JSON", google.Upload{IssuerID: issuerID, ServiceAccount: json.RawMessage(`"{\"type\": "`)}, "serviceAccount"},
		{"wrong type", google.Upload{IssuerID: issuerID, ServiceAccount: withKey("type", "authorized_user")}, "serviceAccount.type"},
		{"no email", google.Upload{IssuerID: issuerID, ServiceAccount: withKey("client_email", "")}, "serviceAccount.client_email"},
		{"bad private key", google.Upload{IssuerID: issuerID, ServiceAccount: withKey("private_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}, "serviceAccount.private_key"},
		{"http token uri", google.Upload{IssuerID: issuerID, ServiceAccount: withKey("token_uri", "http://oauth.example.com/token")}, "serviceAccount.token_uri"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.wallet.Save(e.ctx, e.ws, tc.up)
			var fe *core.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Save = %v, want a field error on %s", err, tc.field)
			}
		})
	}
	if _, err := e.store.GoogleCredentials(e.ctx, e.ws); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a refused upload stored credentials: %v", err)
	}

	// As an object.
	info := e.saveCredentials()
	if info.IssuerID != issuerID || info.ClientEmail != saEmail || info.PrivateKeyID != key["private_key_id"] || info.CreatedAt.IsZero() || !info.UpdatedAt.Equal(info.CreatedAt) {
		t.Fatalf("info = %+v", info)
	}
	rec, err := e.store.GoogleCredentials(e.ctx, e.ws)
	must(t, err)
	if len(rec.KeySealed) == 0 || strings.Contains(string(rec.KeySealed), "PRIVATE KEY") || strings.Contains(string(rec.KeySealed), saEmail) {
		t.Fatal("the key is stored in plain")
	}

	// As a JSON string holding the object: a replacement keeps CreatedAt.
	quoted, err := json.Marshal(string(e.key))
	must(t, err)
	info2, err := e.wallet.Save(e.ctx, e.ws, google.Upload{IssuerID: issuerID, ServiceAccount: quoted})
	must(t, err)
	if info2.ClientEmail != saEmail || info2.PrivateKeyID != info.PrivateKeyID || !info2.CreatedAt.Equal(info.CreatedAt) || info2.UpdatedAt.Before(info.UpdatedAt) {
		t.Fatalf("info after re-upload = %+v (first %+v)", info2, info)
	}
	rec, err = e.store.GoogleCredentials(e.ctx, e.ws)
	must(t, err)
	if strings.Contains(string(rec.KeySealed), "PRIVATE KEY") {
		t.Fatal("the key is stored in plain")
	}

	// Info shows what was stored and never the key.
	got, err := e.wallet.Info(e.ctx, e.ws)
	must(t, err)
	if got != info2 {
		t.Fatalf("Info = %+v, want %+v", got, info2)
	}
	raw, err := json.Marshal(got)
	must(t, err)
	for _, secret := range []string{"PRIVATE KEY", "private_key\"", key["private_key"].(string)[40:80]} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("Info JSON %s shows the key", raw)
		}
	}
	for _, f := range []string{`"issuerId"`, `"clientEmail"`, `"privateKeyId"`, `"createdAt"`, `"updatedAt"`} {
		if !strings.Contains(string(raw), f) {
			t.Fatalf("Info JSON %s lacks %s", raw, f)
		}
	}

	// The issuer ID belongs to one workspace.
	other, _, err := e.svc.CreateWorkspace(e.ctx, "other", "")
	must(t, err)
	_, err = e.wallet.Save(e.ctx, other.ID, google.Upload{IssuerID: issuerID, ServiceAccount: e.key})
	var ce *core.ConflictError
	if !errors.As(err, &ce) || ce.Field != "issuerId" {
		t.Fatalf("second workspace with the issuer: %v, want a conflict on issuerId", err)
	}

	must(t, e.wallet.Delete(e.ctx, e.ws))
	if _, err := e.wallet.Info(e.ctx, e.ws); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Info after Delete = %v", err)
	}
	if err := e.wallet.Delete(e.ctx, e.ws); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("second Delete = %v", err)
	}
}

func TestWalletJobsFor(t *testing.T) {
	e := newWalletEnv(t)
	ev := func(typ core.EventType) core.Event {
		return core.Event{ID: "evt_" + string(typ), WorkspaceID: e.ws, Type: typ, Data: core.EventData{PassID: "pass_1", Message: "Hi " + string(typ)}}
	}
	jobs, err := e.wallet.JobsFor(e.ctx, ev(core.EventRecordAdded))
	must(t, err)
	if len(jobs) != 0 {
		t.Fatalf("jobs without credentials: %+v", jobs)
	}

	e.saveCredentials()
	for _, typ := range core.EventTypes {
		jobs, err := e.wallet.JobsFor(e.ctx, ev(typ))
		must(t, err)
		if typ == core.EventInstalled || typ == core.EventUninstalled {
			if len(jobs) != 0 {
				t.Errorf("%s: jobs %+v, want none", typ, jobs)
			}
			continue
		}
		if len(jobs) != 1 || jobs[0].Kind != google.JobSync || jobs[0].Key != "evt_"+string(typ) {
			t.Fatalf("%s: jobs %+v, want one %s keyed by the event", typ, jobs, google.JobSync)
		}
		var payload map[string]any
		must(t, json.Unmarshal(jobs[0].Payload, &payload))
		if payload["passId"] != "pass_1" || payload["message"] != "Hi "+string(typ) {
			t.Errorf("%s: payload %s", typ, jobs[0].Payload)
		}
	}
}

func TestWalletSyncWritesClassOnceAndObjects(t *testing.T) {
	e := newWalletEnv(t)
	e.saveCredentials()
	p := e.newPass("cust-1")
	e.mustDrain()

	got := calls(e.srv.Requests())
	if count(got, "POST "+classPath) != 1 || count(got, "POST "+objectPath) != 1 || len(got) != 2 {
		t.Fatalf("record_added made %v, want one class and one object insert", got)
	}
	classID := google.ClassID(issuerID, e.tpl.ID)
	class, ok := e.srv.Class("loyalty", classID)
	if !ok {
		t.Fatalf("no class %s", classID)
	}
	if get(class, "callbackOptions.url") != walletPublicURL+"/google/callbacks" ||
		get(class, "programLogo.sourceUri.uri") != walletPublicURL+"/google/images/"+e.ws+"/"+e.tpl.ID+"/logo.png" ||
		get(class, "issuerName") != "Acme Coffee" {
		t.Fatalf("class = %v", class)
	}
	o := e.object(p)
	if o["id"] != issuerID+"."+p.ID || o["classId"] != classID || o["state"] != "ACTIVE" || get(o, "loyaltyPoints.balance.int") != 10.0 {
		t.Fatalf("object = %v", o)
	}
	if n := len(e.srv.TokenRequests()); n != 1 {
		t.Fatalf("%d token requests, want one", n)
	}
	logs := e.pushLogs()
	if len(logs) != 1 || logs[0].Platform != core.PlatformGoogle || logs[0].PassID != p.ID || logs[0].ExternalID != "cust-1" ||
		logs[0].Status != core.PushOK || logs[0].HTTPStatus != 200 || logs[0].JobID == 0 {
		t.Fatalf("push log = %+v", logs)
	}

	// An update patches the object; the class is not written again while
	// the template version is unchanged, nor for another pass.
	e.srv.ResetRequests()
	e.update(p, core.PassPatch{Data: map[string]any{"points": 25}})
	p2 := e.newPass("cust-2")
	e.mustDrain()
	got = calls(e.srv.Requests())
	if n := count(got, "POST "+classPath) + count(got, "PATCH "+classPath+"/"+classID); n != 0 {
		t.Fatalf("class written again: %v", got)
	}
	if count(got, "PATCH "+objectPath+"/"+issuerID+"."+p.ID) != 1 {
		t.Fatalf("update made %v, want the object patched", got)
	}
	if o := e.object(p); get(o, "loyaltyPoints.balance.int") != 25.0 {
		t.Fatalf("object after update = %v", o)
	}
	e.object(p2)
	if n := len(e.srv.TokenRequests()); n != 0 {
		t.Fatalf("%d more token requests, want the client (and its token) reused", n)
	}

	// A template edit bumps its version: the class is written again, once.
	e.srv.ResetRequests()
	_, err := e.svc.UpdateTemplate(e.ctx, e.ws, e.tpl.ID, func(t *core.Template) error {
		t.OrganizationName = "Acme Coffee Co."
		return nil
	})
	must(t, err)
	e.update(p, core.PassPatch{Data: map[string]any{"points": 30}})
	e.update(p2, core.PassPatch{Data: map[string]any{"points": 30}})
	e.mustDrain()
	got = calls(e.srv.Requests())
	if count(got, "PATCH "+classPath+"/"+classID) != 1 {
		t.Fatalf("after a template edit: %v, want the class patched once", got)
	}
	if class, _ := e.srv.Class("loyalty", classID); class["issuerName"] != "Acme Coffee Co." {
		t.Fatalf("class after edit = %v", class)
	}

	// New credentials (a re-upload) write the class again: new client.
	e.srv.ResetRequests()
	e.saveCredentials()
	e.update(p, core.PassPatch{Data: map[string]any{"points": 31}})
	e.mustDrain()
	if got := calls(e.srv.Requests()); count(got, "PATCH "+classPath+"/"+classID) != 1 {
		t.Fatalf("after new credentials: %v, want the class written again", got)
	}
}

func TestWalletLifecycleStates(t *testing.T) {
	e := newWalletEnv(t)
	e.saveCredentials()
	expired, voided, deleted := e.newPass("a"), e.newPass("b"), e.newPass("c")
	e.mustDrain()

	e.update(expired, core.PassPatch{Lifecycle: core.LifecycleExpired})
	e.update(voided, core.PassPatch{Lifecycle: core.LifecycleVoided})
	_, err := e.svc.DeletePass(e.ctx, e.ws, deleted.ID)
	must(t, err)
	e.mustDrain()
	for p, want := range map[*core.Pass]string{&expired: "EXPIRED", &voided: "INACTIVE", &deleted: "INACTIVE"} {
		if o := e.object(*p); o["state"] != want {
			t.Errorf("%s: state %v, want %s", p.ExternalID, o["state"], want)
		}
	}
}

func TestWalletMessagesFallBackToTextAfterQuota(t *testing.T) {
	e := newWalletEnv(t)
	e.saveCredentials()
	p := e.newPass("cust-1")
	e.mustDrain()
	e.srv.ResetRequests()

	for i := range 4 {
		e.update(p, core.PassPatch{Data: map[string]any{"points": 100 + i}, Message: "You have new points"})
		e.mustDrain()
	}
	msgPath := objectPath + "/" + issuerID + "." + p.ID + "/addMessage"
	var types []string
	for _, r := range e.srv.Requests() {
		if r.Path != msgPath {
			continue
		}
		if get(r.Body, "message.body") != "You have new points" || get(r.Body, "message.header") != "Acme loyalty card" {
			t.Fatalf("addMessage body = %s", r.RawBody)
		}
		types = append(types, get(r.Body, "message.messageType").(string)+"/"+http.StatusText(r.Status))
	}
	want := []string{
		"TEXT_AND_NOTIFY/OK", "TEXT_AND_NOTIFY/OK", "TEXT_AND_NOTIFY/OK",
		"TEXT_AND_NOTIFY/Forbidden", "TEXT/OK",
	}
	if !slices.Equal(types, want) {
		t.Fatalf("addMessage requests %v, want %v", types, want)
	}

	var reasons []string
	for _, l := range e.pushLogs()[1:] { // after the record_added row
		if l.Status != core.PushOK {
			t.Fatalf("log %+v", l)
		}
		reasons = append(reasons, l.Reason)
	}
	wantReasons := []string{
		"", "message TEXT_AND_NOTIFY", "", "message TEXT_AND_NOTIFY", "", "message TEXT_AND_NOTIFY",
		"", "message TEXT (notification quota used)",
	}
	if !slices.Equal(reasons, wantReasons) {
		t.Fatalf("log reasons %q, want %q", reasons, wantReasons)
	}
	if msgs, _ := e.object(p)["messages"].([]any); len(msgs) != 4 {
		t.Fatalf("object has %d messages, want 4", len(msgs))
	}
}

func TestWalletGoogleRefusalIsPermanent(t *testing.T) {
	e := newWalletEnv(t)
	e.saveCredentials()
	e.srv.Inject(googletest.Fault{Method: http.MethodPost, Path: objectPath, Status: 400, Message: "Invalid loyaltyPoints balance.", Times: 1})
	p := e.newPass("cust-1")
	errs := e.drain()
	if len(errs) != 1 {
		t.Fatalf("errors %v, want the sync job failed", errs)
	}
	for id, err := range errs {
		if !errors.Is(err, core.ErrPermanent) {
			t.Fatalf("error %v is not permanent", err)
		}
		var ae *google.APIError
		if !errors.As(err, &ae) || ae.Status != 400 {
			t.Fatalf("error %v does not carry Google's answer", err)
		}
		j, err := e.store.Job(e.ctx, id)
		must(t, err)
		if j.Kind != google.JobSync || j.State != core.JobFailed || !strings.Contains(j.LastError, "Invalid loyaltyPoints balance.") {
			t.Fatalf("job = %+v, want it failed for good with Google's message", j)
		}
	}
	logs := e.pushLogs()
	if len(logs) != 1 || logs[0].Status != core.PushFailed || logs[0].HTTPStatus != 400 ||
		logs[0].Reason != "Invalid loyaltyPoints balance." || logs[0].PassID != p.ID {
		t.Fatalf("push log = %+v", logs)
	}
}

func TestWalletTransientFailureRetries(t *testing.T) {
	e := newWalletEnv(t)
	e.saveCredentials()
	e.srv.Inject(googletest.Fault{Method: http.MethodPost, Path: objectPath, Status: 500, Times: 1})
	p := e.newPass("cust-1")
	errs := e.drain()
	if len(errs) != 1 {
		t.Fatalf("errors %v, want the sync job failed", errs)
	}
	var jobID int64
	for id, err := range errs {
		jobID = id
		if errors.Is(err, core.ErrPermanent) {
			t.Fatalf("a 500 is permanent: %v", err)
		}
		if j, _ := e.store.Job(e.ctx, id); j.State == core.JobFailed || j.State == core.JobDone {
			t.Fatalf("job %+v after a transient failure", j)
		}
	}
	logs := e.pushLogs()
	if len(logs) != 1 || logs[0].Status != core.PushRetry || logs[0].HTTPStatus != 500 || logs[0].Reason != "Internal error encountered." {
		t.Fatalf("push log = %+v", logs)
	}

	// The queue's retry succeeds.
	must(t, e.runner.Run(e.ctx, jobID))
	if j, _ := e.store.Job(e.ctx, jobID); j.State != core.JobDone {
		t.Fatalf("job after retry = %+v", j)
	}
	e.object(p)
	if logs := e.pushLogs(); len(logs) != 2 || logs[1].Status != core.PushOK || logs[1].JobID != jobID {
		t.Fatalf("push log after retry = %+v", logs)
	}

	// Google's Retry-After reaches the queue.
	e.srv.Inject(googletest.Fault{Method: http.MethodPatch, Path: objectPath + "/*", Status: 503, RetryAfter: "7", Times: 1})
	e.update(p, core.PassPatch{Data: map[string]any{"points": 11}})
	errs = e.drain()
	if len(errs) != 1 {
		t.Fatalf("errors %v, want the sync job to fail once", errs)
	}
	for _, err := range errs {
		var ra *core.RetryAfterError
		if !errors.As(err, &ra) || ra.After != 7*time.Second || errors.Is(err, core.ErrPermanent) {
			t.Fatalf("error %v, want a retry after 7s", err)
		}
	}
}

func TestWalletSyncSkipsWhatIsGone(t *testing.T) {
	e := newWalletEnv(t)
	e.saveCredentials()
	p := e.newPass("cust-1")
	e.mustDrain()
	e.srv.ResetRequests()
	before := len(e.pushLogs())

	// The template goes (its only pass deleted) before the sync runs.
	_, err := e.svc.DeletePass(e.ctx, e.ws, p.ID)
	must(t, err)
	must(t, e.svc.DeleteTemplate(e.ctx, e.ws, e.tpl.ID))
	e.mustDrain()
	if got := e.srv.Requests(); len(got) != 0 {
		t.Fatalf("requests for a deleted template: %v", calls(got))
	}
	if n := len(e.pushLogs()); n != before {
		t.Fatalf("%d new push log rows, want none", n-before)
	}

	// Credentials removed between the event and the job: done, nothing.
	j := core.Job{ID: 999, WorkspaceID: e.ws, Kind: google.JobSync, Key: "evt_x", Payload: json.RawMessage(`{"passId":"` + p.ID + `"}`)}
	must(t, e.wallet.Delete(e.ctx, e.ws))
	children, err := e.wallet.HandleJob(e.ctx, j)
	if err != nil || len(children) != 0 || len(e.srv.Requests()) != 0 {
		t.Fatalf("HandleJob without credentials = %v, %v", children, err)
	}

	// A payload it cannot read is a permanent failure.
	_, err = e.wallet.HandleJob(e.ctx, core.Job{ID: 1, WorkspaceID: e.ws, Kind: google.JobSync, Payload: json.RawMessage(`{}`)})
	if !errors.Is(err, core.ErrPermanent) {
		t.Fatalf("bad payload: %v", err)
	}
}

func TestWalletSaveURL(t *testing.T) {
	e := newWalletEnv(t)
	p := e.newPass("cust-1")

	_, err := e.wallet.SaveURL(e.ctx, p)
	var ce *core.ConflictError
	if !errors.As(err, &ce) || ce.Field != "credentials" || !strings.Contains(ce.Reason, "PUT /v1/credentials/google") {
		t.Fatalf("SaveURL without credentials = %v, want a conflict on credentials", err)
	}

	e.saveCredentials()
	link, err := e.wallet.SaveURL(e.ctx, p)
	must(t, err)
	token, ok := strings.CutPrefix(link, "https://pay.google.com/gp/v/save/")
	if !ok {
		t.Fatalf("link %q", link)
	}
	_, rsaKey := testKey(t)
	header, claims := decodeJWT(t, token, &rsaKey.PublicKey)
	info, err := e.wallet.Info(e.ctx, e.ws)
	must(t, err)
	if header["alg"] != "RS256" || header["kid"] != info.PrivateKeyID {
		t.Fatalf("JWT header %v", header)
	}
	objectID := issuerID + "." + p.ID
	refs, _ := get(claims, "payload.loyaltyObjects").([]any)
	if claims["iss"] != saEmail || claims["aud"] != "google" || claims["typ"] != "savetowallet" ||
		len(refs) != 1 || get(refs[0].(map[string]any), "id") != objectID ||
		!slices.Equal(anyStrings(claims["origins"]), []string{"https://shop.example"}) {
		t.Fatalf("JWT claims %v", claims)
	}
	// The object it references exists, in its class.
	if o := e.object(p); o["classId"] != google.ClassID(issuerID, e.tpl.ID) || o["state"] != "ACTIVE" {
		t.Fatalf("object = %v", o)
	}

	// A second link writes no class: only the object is refreshed.
	e.srv.ResetRequests()
	_, err = e.wallet.SaveURL(e.ctx, p)
	must(t, err)
	for _, c := range calls(e.srv.Requests()) {
		if strings.Contains(c, "Class") {
			t.Fatalf("second link wrote the class: %v", calls(e.srv.Requests()))
		}
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

func TestWalletLogoURL(t *testing.T) {
	w := google.NewWallet(nil, nil, google.WalletConfig{PublicURL: "https://passhub.test/"})
	tpl := core.Template{ID: "tpl_1", WorkspaceID: "ws_1", Images: map[string]string{"icon": pngB64, "logo@2x": pngB64}}
	if got := w.LogoURL(tpl); got != "https://passhub.test/google/images/ws_1/tpl_1/logo@2x.png" {
		t.Fatalf("LogoURL = %q", got)
	}
	tpl.Images = map[string]string{"icon": pngB64}
	if got := w.LogoURL(tpl); got != "https://passhub.test/google/images/ws_1/tpl_1/icon.png" {
		t.Fatalf("LogoURL = %q", got)
	}
	tpl.Images = nil
	if got := w.LogoURL(tpl); got != "" {
		t.Fatalf("LogoURL without images = %q", got)
	}
	if got := google.NewWallet(nil, nil, google.WalletConfig{PublicURL: "http://localhost:8080"}).LogoURL(core.Template{Images: map[string]string{"logo": pngB64}}); got != "" {
		t.Fatalf("LogoURL over http = %q, want none (Google fetches https only)", got)
	}
}

func TestWalletTemplateEditRewritesTheClassWithoutAPassChange(t *testing.T) {
	e := newWalletEnv(t)
	e.runner.Handle(google.JobClass, e.wallet)
	if j, err := e.wallet.ClassJob(e.ctx, e.tpl); err != nil || j != nil {
		t.Fatalf("without credentials: job %v, err %v; want none", j, err)
	}
	e.saveCredentials()
	e.newPass("cust-1")
	e.mustDrain()
	e.srv.ResetRequests()

	tpl, err := e.svc.UpdateTemplate(e.ctx, e.ws, e.tpl.ID, func(t *core.Template) error {
		t.OrganizationName = "Acme Coffee Co."
		return nil
	})
	must(t, err)
	j, err := e.wallet.ClassJob(e.ctx, tpl)
	must(t, err)
	if j == nil || j.Kind != google.JobClass {
		t.Fatalf("class job %+v", j)
	}
	// The same edit queued twice is one job.
	for range 2 {
		_, err := e.store.CreateJobs(e.ctx, []core.Job{*j})
		must(t, err)
	}
	e.mustDrain()
	classID := google.ClassID(issuerID, e.tpl.ID)
	got := calls(e.srv.Requests())
	if count(got, "PATCH "+classPath+"/"+classID) != 1 || count(got, "POST "+classPath)+count(got, "PATCH "+classPath+"/"+classID) != len(got) {
		t.Fatalf("template edit made %v, want the class written once and nothing else", got)
	}
	if class, _ := e.srv.Class("loyalty", classID); class["issuerName"] != "Acme Coffee Co." {
		t.Fatalf("class after edit = %v", class)
	}
}
