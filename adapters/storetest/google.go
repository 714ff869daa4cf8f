package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// The Google cases: issuer credentials, and save and delete callbacks
// applied exactly once and in event order.

const (
	issuerA = "3388000000012345678"
	issuerB = "3388000000087654321"
)

func newGoogleCredentials(workspaceID, issuerID string) core.GoogleCredentials {
	at := now()
	return core.GoogleCredentials{
		WorkspaceID: workspaceID, IssuerID: issuerID, ClientEmail: "passhub@project.iam.gserviceaccount.com",
		KeySealed: []byte{0, 1, 2, 0xff, 'g'}, CreatedAt: at, UpdatedAt: at,
	}
}

func sameGoogleCredentials(t *testing.T, what string, got, want core.GoogleCredentials) {
	t.Helper()
	want.CreatedAt, want.UpdatedAt = us(want.CreatedAt), us(want.UpdatedAt)
	sameJSON(t, what, got, want) // KeySealed is []byte: base64 in JSON
	for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("%s: %s in %s, want UTC", what, name, tm.Location())
		}
	}
}

// googleCallback is a callback for the pass with a fresh nonce.
func googleCallback(workspaceID, passID string, saved bool, at time.Time) core.GoogleCallback {
	return core.GoogleCallback{WorkspaceID: workspaceID, PassID: passID, Saved: saved, At: at, Nonce: "nonce-" + core.NewID("")}
}

// googleHook is what the Google use case does with a callback: mark the
// pass installed (save) or uninstalled (del) at the callback's time. It
// records its calls in the order they ran.
type googleHook struct {
	mu     sync.Mutex
	ats    []time.Time
	events []core.Event
}

func (h *googleHook) fn(cb core.GoogleCallback) func(*core.Pass) ([]core.Event, error) {
	return func(p *core.Pass) ([]core.Event, error) {
		var evs []core.Event
		if cb.Saved {
			evs = core.MarkInstalled(p, core.PlatformGoogle, cb.At)
		} else {
			evs = core.MarkUninstalled(p, core.PlatformGoogle, cb.At)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.ats = append(h.ats, cb.At)
		h.events = append(h.events, evs...)
		return evs, nil
	}
}

func (h *googleHook) calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ats)
}

// notCalled is a callback hook that must not run.
func notCalled(t *testing.T, what string) func(*core.Pass) ([]core.Event, error) {
	return func(*core.Pass) ([]core.Event, error) {
		t.Errorf("%s: fn ran", what)
		return nil, errors.New("fn must not run")
	}
}

// applyGoogle applies cb with fn and returns whether it was applied.
func applyGoogle(t *testing.T, s Store, what string, cb core.GoogleCallback, fn func(*core.Pass) ([]core.Event, error)) bool {
	t.Helper()
	applied, err := s.ApplyGoogleCallback(t.Context(), cb, fn)
	if errors.Is(err, core.ErrReplayed) {
		return false // the replay cases check the pass is unchanged
	}
	must(t, what, err)
	return applied
}

// wantUnchanged checks that the pass, its events and the pending jobs are
// as they were.
func wantUnchanged(t *testing.T, s Store, what string, p core.Pass, events []core.Event, jobs int) {
	t.Helper()
	got, err := s.Pass(t.Context(), p.WorkspaceID, p.ID)
	must(t, "Pass", err)
	samePass(t, got, p)
	if evs := eventsOf(t, s, p.WorkspaceID, p.ID); !slices.Equal(fmtIDs(evs, evID), fmtIDs(events, evID)) {
		t.Errorf("%s: events %v, want %v", what, fmtIDs(evs, evID), fmtIDs(events, evID))
	}
	if n := len(allPendingJobs(t, s)); n != jobs {
		t.Errorf("%s: %d pending jobs, want %d", what, n, jobs)
	}
}

func evID(ev core.Event) string { return ev.ID }

// googleInstalled is p after a save callback at `at`.
func googleInstalled(p core.Pass, at time.Time) core.Pass {
	core.MarkInstalled(&p, core.PlatformGoogle, at)
	return p
}

var googleCases = []testCase{
	{"Google/Credentials", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)

		_, err := s.GoogleCredentials(ctx, ws.ID)
		wantErr(t, "GoogleCredentials before any", err, core.ErrNotFound)
		_, err = s.GoogleCredentialsByIssuer(ctx, issuerA)
		wantErr(t, "GoogleCredentialsByIssuer before any", err, core.ErrNotFound)
		wantErr(t, "DeleteGoogleCredentials before any", s.DeleteGoogleCredentials(ctx, ws.ID), core.ErrNotFound)

		c := newGoogleCredentials(ws.ID, issuerA)
		must(t, "PutGoogleCredentials", s.PutGoogleCredentials(ctx, c))
		got, err := s.GoogleCredentials(ctx, ws.ID)
		must(t, "GoogleCredentials", err)
		sameGoogleCredentials(t, "credentials", got, c)
		got, err = s.GoogleCredentialsByIssuer(ctx, issuerA)
		must(t, "GoogleCredentialsByIssuer", err)
		sameGoogleCredentials(t, "credentials by issuer", got, c)

		// Replacing keeps the first CreatedAt and takes everything else.
		r := newGoogleCredentials(ws.ID, issuerB)
		r.ClientEmail, r.KeySealed = "other@project.iam.gserviceaccount.com", []byte("resealed")
		r.CreatedAt = c.CreatedAt.Add(time.Hour)
		r.UpdatedAt = c.UpdatedAt.Add(time.Hour)
		must(t, "PutGoogleCredentials replace", s.PutGoogleCredentials(ctx, r))
		want := r
		want.CreatedAt = c.CreatedAt
		got, err = s.GoogleCredentials(ctx, ws.ID)
		must(t, "GoogleCredentials", err)
		sameGoogleCredentials(t, "replaced credentials", got, want)
		_, err = s.GoogleCredentialsByIssuer(ctx, issuerA)
		wantErr(t, "GoogleCredentialsByIssuer of the replaced issuer", err, core.ErrNotFound)

		// Another workspace cannot take the issuer; the freed one is free.
		wantConflict(t, "PutGoogleCredentials with another workspace's issuer",
			s.PutGoogleCredentials(ctx, newGoogleCredentials(other.ID, issuerB)), "issuerId")
		_, err = s.GoogleCredentials(ctx, other.ID)
		wantErr(t, "GoogleCredentials of the refused workspace", err, core.ErrNotFound)
		must(t, "PutGoogleCredentials other", s.PutGoogleCredentials(ctx, newGoogleCredentials(other.ID, issuerA)))
		// Nor can a replacement take it.
		wantConflict(t, "PutGoogleCredentials replace with a taken issuer",
			s.PutGoogleCredentials(ctx, newGoogleCredentials(ws.ID, issuerA)), "issuerId")
		got, err = s.GoogleCredentials(ctx, ws.ID)
		must(t, "GoogleCredentials", err)
		sameGoogleCredentials(t, "credentials after a refused replacement", got, want)

		must(t, "DeleteGoogleCredentials", s.DeleteGoogleCredentials(ctx, ws.ID))
		_, err = s.GoogleCredentials(ctx, ws.ID)
		wantErr(t, "GoogleCredentials deleted", err, core.ErrNotFound)
		_, err = s.GoogleCredentialsByIssuer(ctx, issuerB)
		wantErr(t, "GoogleCredentialsByIssuer deleted", err, core.ErrNotFound)
		wantErr(t, "DeleteGoogleCredentials twice", s.DeleteGoogleCredentials(ctx, ws.ID), core.ErrNotFound)
		got, err = s.GoogleCredentialsByIssuer(ctx, issuerA)
		must(t, "GoogleCredentialsByIssuer other", err)
		if got.WorkspaceID != other.ID {
			t.Errorf("issuer %s belongs to %s, want %s", issuerA, got.WorkspaceID, other.ID)
		}
		// A deleted workspace's issuer is free again.
		must(t, "PutGoogleCredentials freed issuer", s.PutGoogleCredentials(ctx, newGoogleCredentials(other.ID, issuerB)))
	}},
	{"Google/CallbackSaveApplied", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, added := mustPass(t, s, ws.ID, tpl.ID, "g1")
		h := &googleHook{}
		cb := googleCallback(ws.ID, p.ID, true, now().Add(time.Minute))
		if !applyGoogle(t, s, "ApplyGoogleCallback save", cb, h.fn(cb)) || h.calls() != 1 {
			t.Fatalf("save: applied false or fn ran %d times; want applied, once", h.calls())
		}
		// The wallet fields fn set are saved; version and updatedAt stay
		// as fn left them.
		want := googleInstalled(p, cb.At)
		if want.WalletStatus != core.WalletGoogle || want.Version != p.Version || !want.UpdatedAt.Equal(p.UpdatedAt) {
			t.Fatalf("fixture: MarkInstalled gave %+v", want)
		}
		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, want)
		if len(h.events) != 1 {
			t.Fatalf("fn returned %d events, want 1", len(h.events))
		}
		ev := h.events[0]
		gotEv, err := s.Event(ctx, ws.ID, ev.ID)
		must(t, "Event", err)
		sameEvent(t, gotEv, ev)
		if gotEv.Data.Platform != core.PlatformGoogle {
			t.Errorf("event platform %q, want google", gotEv.Data.Platform)
		}
		evs := wantEvents(t, s, ws, p.ID, core.EventInstalled, core.EventRecordAdded)
		if evs[1].ID != added.ID {
			t.Errorf("oldest event %s, want %s", evs[1].ID, added.ID)
		}
		jobs := allPendingJobs(t, s)
		if _, ok := jobByKey(jobs, core.JobKindDispatch, ev.ID); !ok {
			t.Error("no dispatch job for pass.installed")
		}

		// The same callback again (same nonce) is a replay: fn does not run
		// and nothing changes, even with another time and verb.
		if _, err := s.ApplyGoogleCallback(t.Context(), cb, notCalled(t, "replay")); !errors.Is(err, core.ErrReplayed) {
			t.Errorf("a replayed nonce answered %v, want ErrReplayed", err)
		}
		if applyGoogle(t, s, "ApplyGoogleCallback replayed", cb, notCalled(t, "replay")) {
			t.Error("replayed callback applied")
		}
		again := cb
		again.Saved, again.At = false, cb.At.Add(time.Hour)
		if applyGoogle(t, s, "ApplyGoogleCallback replayed nonce, later del", again, notCalled(t, "replayed nonce")) {
			t.Error("callback with a replayed nonce applied")
		}
		wantUnchanged(t, s, "after replays", want, evs, len(jobs))

		// A later callback with a fresh nonce applies.
		del := googleCallback(ws.ID, p.ID, false, cb.At.Add(time.Second))
		if !applyGoogle(t, s, "ApplyGoogleCallback del", del, h.fn(del)) || h.calls() != 2 {
			t.Fatalf("del: applied false or fn ran %d times; want applied, twice", h.calls())
		}
		got, err = s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		if got.GoogleWalletInstalledAt != nil || got.WalletStatus != core.WalletNone || got.WalletLastEvent != core.EventUninstalled {
			t.Errorf("pass after del: %+v, want uninstalled from Google", got)
		}
		wantEvents(t, s, ws, p.ID, core.EventUninstalled, core.EventInstalled, core.EventRecordAdded)
	}},
	{"Google/CallbackStale", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "g1")
		h := &googleHook{}
		t2 := now()
		save := googleCallback(ws.ID, p.ID, true, t2)
		if !applyGoogle(t, s, "ApplyGoogleCallback save", save, h.fn(save)) {
			t.Fatal("save not applied")
		}
		installed, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		evs := eventsOf(t, s, ws.ID, p.ID)
		jobs := len(allPendingJobs(t, s))

		// Older and same-time callbacks are stale: fn does not run.
		older := googleCallback(ws.ID, p.ID, false, t2.Add(-time.Second))
		if applyGoogle(t, s, "ApplyGoogleCallback older", older, notCalled(t, "older")) {
			t.Error("older callback applied")
		}
		same := googleCallback(ws.ID, p.ID, false, t2)
		if applyGoogle(t, s, "ApplyGoogleCallback same time", same, notCalled(t, "same time")) {
			t.Error("callback at the time of the last one applied")
		}
		wantUnchanged(t, s, "after stale callbacks", installed, evs, jobs)

		// Their nonces were recorded: replayed with a later time they are
		// still refused.
		for _, cb := range []core.GoogleCallback{older, same} {
			cb.At = t2.Add(time.Hour)
			if applyGoogle(t, s, "ApplyGoogleCallback stale nonce replayed later", cb, notCalled(t, "stale nonce replayed")) {
				t.Error("the nonce of a stale callback was not recorded: its replay applied")
			}
		}
		wantUnchanged(t, s, "after replays of stale callbacks", installed, evs, jobs)
		if h.calls() != 1 {
			t.Errorf("fn ran %d times, want 1", h.calls())
		}
		n, err := s.PurgeGoogleNonces(ctx, now().Add(time.Minute))
		must(t, "PurgeGoogleNonces", err)
		if n != 3 {
			t.Errorf("%d nonces recorded, want 3 (the applied and the two stale)", n)
		}
	}},
	{"Google/CallbackOutOfOrder", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "g1")
		h := &googleHook{}
		t1 := now()
		t2 := t1.Add(time.Second)
		save := googleCallback(ws.ID, p.ID, true, t1)
		del := googleCallback(ws.ID, p.ID, false, t2)

		// The del arrives first: it applies (the pass was not installed,
		// so nothing changes but the stamp).
		if !applyGoogle(t, s, "ApplyGoogleCallback del", del, h.fn(del)) || h.calls() != 1 {
			t.Fatalf("del: applied false or fn ran %d times", h.calls())
		}
		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, p)
		// The earlier save arriving late must not install the pass.
		if applyGoogle(t, s, "ApplyGoogleCallback late save", save, notCalled(t, "late save")) {
			t.Error("late save applied")
		}
		got, err = s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, p)
		if got.GoogleWalletInstalledAt != nil || got.WalletStatus != core.WalletNone {
			t.Errorf("pass after a late save: %+v, want uninstalled", got)
		}
		wantEvents(t, s, ws, p.ID, core.EventRecordAdded)

		// A save after the del installs it.
		t3 := t2.Add(time.Second)
		resave := googleCallback(ws.ID, p.ID, true, t3)
		if !applyGoogle(t, s, "ApplyGoogleCallback later save", resave, h.fn(resave)) {
			t.Fatal("later save not applied")
		}
		got, err = s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, googleInstalled(p, t3))
		wantEvents(t, s, ws, p.ID, core.EventInstalled, core.EventRecordAdded)
		// The stamp is kept at microseconds: a time within the same
		// microsecond is not later.
		sub := googleCallback(ws.ID, p.ID, false, us(t3).Add(999*time.Nanosecond))
		if applyGoogle(t, s, "ApplyGoogleCallback within the same microsecond", sub, notCalled(t, "same microsecond")) {
			t.Error("callback within the microsecond of the last applied")
		}
	}},
	{"Google/CallbackUnknownPass", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		h := &googleHook{}

		// A pass that does not exist yet: ErrNotFound, and the nonce is not
		// consumed.
		p := newPass(ws.ID, tpl.ID, "g1")
		cb := googleCallback(ws.ID, p.ID, true, now())
		_, err := s.ApplyGoogleCallback(ctx, cb, notCalled(t, "missing pass"))
		wantErr(t, "ApplyGoogleCallback of a missing pass", err, core.ErrNotFound)
		must(t, "CreatePass", s.CreatePass(ctx, p, nil))

		// Another workspace's callback does not reach the pass.
		foreign := cb
		foreign.WorkspaceID = other.ID
		_, err = s.ApplyGoogleCallback(ctx, foreign, notCalled(t, "other workspace"))
		wantErr(t, "ApplyGoogleCallback from another workspace", err, core.ErrNotFound)
		wantUnchanged(t, s, "after a callback from another workspace", p, nil, 0)

		// The retry, now that the pass exists, applies with the same nonce.
		if !applyGoogle(t, s, "ApplyGoogleCallback retried", cb, h.fn(cb)) || h.calls() != 1 {
			t.Fatalf("retry: applied false or fn ran %d times", h.calls())
		}
		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, googleInstalled(p, cb.At))
		wantEvents(t, s, ws, p.ID, core.EventInstalled)
		n, err := s.PurgeGoogleNonces(ctx, now().Add(time.Minute))
		must(t, "PurgeGoogleNonces", err)
		if n != 1 {
			t.Errorf("%d nonces recorded, want 1", n)
		}
	}},
	{"Google/CallbackFnErrorRecordsNothing", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, added := mustPass(t, s, ws.ID, tpl.ID, "g1")
		jobs := len(allPendingJobs(t, s))
		cb := googleCallback(ws.ID, p.ID, true, now())
		boom := errors.New("boom")
		_, err := s.ApplyGoogleCallback(ctx, cb, func(p *core.Pass) ([]core.Event, error) {
			evs := core.MarkInstalled(p, core.PlatformGoogle, cb.At)
			return evs, fmt.Errorf("hook: %w", boom)
		})
		wantErr(t, "ApplyGoogleCallback with a failing fn", err, boom)
		wantUnchanged(t, s, "after a failing fn", p, []core.Event{added}, jobs)

		// Neither the nonce nor the time was recorded: the same callback
		// applies on retry.
		h := &googleHook{}
		if !applyGoogle(t, s, "ApplyGoogleCallback retried", cb, h.fn(cb)) || h.calls() != 1 {
			t.Fatalf("retry: applied false or fn ran %d times", h.calls())
		}
		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, googleInstalled(p, cb.At))
		wantEvents(t, s, ws, p.ID, core.EventInstalled, core.EventRecordAdded)
		if n := len(allPendingJobs(t, s)); n != jobs+1 {
			t.Errorf("%d pending jobs, want %d", n, jobs+1)
		}
	}},
	{"Google/CallbackConcurrent", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "g1")
		h := &googleHook{}
		const n = 8
		base := now()
		cbs := make([]core.GoogleCallback, n)
		for i := range cbs {
			cbs[i] = googleCallback(ws.ID, p.ID, i%2 == 0, base.Add(time.Duration(i)*time.Millisecond))
		}
		applied := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range cbs {
			wg.Go(func() { applied[i], errs[i] = s.ApplyGoogleCallback(ctx, cbs[i], h.fn(cbs[i])) })
		}
		wg.Wait()
		var appliedAts []time.Time
		for i := range cbs {
			must(t, fmt.Sprintf("ApplyGoogleCallback %d", i), errs[i])
			if applied[i] {
				appliedAts = append(appliedAts, cbs[i].At)
			}
		}
		// Exactly the applied callbacks ran fn, one at a time, each later
		// than the one before; the latest always applies.
		h.mu.Lock()
		ran := slices.Clone(h.ats)
		events := slices.Clone(h.events)
		h.mu.Unlock()
		for i := 1; i < len(ran); i++ {
			if !ran[i].After(ran[i-1]) {
				t.Errorf("fn ran for times %v: not strictly increasing", ran)
				break
			}
		}
		sorted := slices.SortedFunc(slices.Values(ran), func(a, b time.Time) int { return a.Compare(b) })
		slices.SortFunc(appliedAts, func(a, b time.Time) int { return a.Compare(b) })
		if !slices.EqualFunc(sorted, appliedAts, time.Time.Equal) {
			t.Errorf("fn ran for %v, applied were %v", ran, appliedAts)
		}
		if !applied[n-1] {
			t.Error("the latest callback was not applied")
		}
		// The pass is as the latest left it, with the events of the
		// applied callbacks in the order they ran.
		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		if (got.GoogleWalletInstalledAt != nil) != cbs[n-1].Saved {
			t.Errorf("pass installed %v after the latest callback (saved %v)", got.GoogleWalletInstalledAt, cbs[n-1].Saved)
		}
		evs := eventsOf(t, s, ws.ID, p.ID)
		slices.Reverse(evs)
		if len(evs) == 0 || evs[0].Type != core.EventRecordAdded {
			t.Fatalf("events oldest first %v, want pass.record_added first", eventTypes(evs))
		}
		if got, want := fmtIDs(evs[1:], evID), fmtIDs(events, evID); !slices.Equal(got, want) {
			t.Errorf("events after pass.record_added, oldest first: %v, want those fn returned, in order: %v", got, want)
		}

		// The stamp is the latest time: a callback at it is stale, one
		// after it applies.
		last := cbs[n-1].At
		if applyGoogle(t, s, "ApplyGoogleCallback at the latest time", googleCallback(ws.ID, p.ID, true, last), notCalled(t, "at the latest time")) {
			t.Error("callback at the latest applied time applied")
		}
		next := googleCallback(ws.ID, p.ID, true, last.Add(time.Millisecond))
		if !applyGoogle(t, s, "ApplyGoogleCallback after the latest time", next, h.fn(next)) {
			t.Error("callback after the latest applied time not applied")
		}
	}},
	{"Google/CallbackPerPassAndWorkspace", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		otherTpl := mustTemplate(t, s, other.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "g1")
		q, _ := mustPass(t, s, ws.ID, tpl.ID, "g2")
		o, _ := mustPass(t, s, other.ID, otherTpl.ID, "g1")
		h := &googleHook{}
		t1 := now()
		t2 := t1.Add(time.Second)

		cb := googleCallback(ws.ID, p.ID, true, t2)
		if !applyGoogle(t, s, "ApplyGoogleCallback p", cb, h.fn(cb)) {
			t.Fatal("callback on p not applied")
		}
		// The stamp is per pass: an older callback of another pass applies.
		cb = googleCallback(ws.ID, q.ID, true, t1)
		if !applyGoogle(t, s, "ApplyGoogleCallback q", cb, h.fn(cb)) {
			t.Error("older callback of another pass not applied")
		}
		cb = googleCallback(other.ID, o.ID, true, t1)
		if !applyGoogle(t, s, "ApplyGoogleCallback other workspace", cb, h.fn(cb)) {
			t.Error("older callback of another workspace's pass not applied")
		}
		// A workspace cannot reach another's pass.
		_, err := s.ApplyGoogleCallback(ctx, googleCallback(other.ID, p.ID, false, t2.Add(time.Hour)), notCalled(t, "cross-workspace"))
		wantErr(t, "ApplyGoogleCallback across workspaces", err, core.ErrNotFound)
		for _, x := range []struct {
			p  core.Pass
			at time.Time
		}{{p, t2}, {q, t1}, {o, t1}} {
			got, err := s.Pass(ctx, x.p.WorkspaceID, x.p.ID)
			must(t, "Pass", err)
			samePass(t, got, googleInstalled(x.p, x.at))
		}
		wantEvents(t, s, ws, p.ID, core.EventInstalled, core.EventRecordAdded)
		wantEvents(t, s, other, o.ID, core.EventInstalled, core.EventRecordAdded)
	}},
	{"Google/PurgeNonces", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "g1")
		h := &googleHook{}
		t0 := now()
		first := googleCallback(ws.ID, p.ID, true, t0)
		if !applyGoogle(t, s, "ApplyGoogleCallback first", first, h.fn(first)) {
			t.Fatal("first not applied")
		}
		time.Sleep(5 * time.Millisecond)
		mid := now()
		time.Sleep(5 * time.Millisecond)
		second := googleCallback(ws.ID, p.ID, false, t0.Add(time.Second))
		if !applyGoogle(t, s, "ApplyGoogleCallback second", second, h.fn(second)) {
			t.Fatal("second not applied")
		}
		// Unknown passes record nothing to purge.
		_, err := s.ApplyGoogleCallback(ctx, googleCallback(ws.ID, core.NewID(core.PrefixPass), true, t0), notCalled(t, "missing pass"))
		wantErr(t, "ApplyGoogleCallback of a missing pass", err, core.ErrNotFound)

		n, err := s.PurgeGoogleNonces(ctx, t0.Add(-time.Hour))
		must(t, "PurgeGoogleNonces long ago", err)
		if n != 0 {
			t.Errorf("purged %d nonces seen before an hour ago, want 0", n)
		}
		n, err = s.PurgeGoogleNonces(ctx, mid)
		must(t, "PurgeGoogleNonces mid", err)
		if n != 1 {
			t.Errorf("purged %d nonces seen before the second callback, want 1", n)
		}
		n, err = s.PurgeGoogleNonces(ctx, mid)
		must(t, "PurgeGoogleNonces mid again", err)
		if n != 0 {
			t.Errorf("purged %d nonces again, want 0", n)
		}
		// The purged nonce is forgotten (a later callback may carry it);
		// the other is still recorded.
		reuse := first
		reuse.At = t0.Add(2 * time.Second)
		if !applyGoogle(t, s, "ApplyGoogleCallback with a purged nonce", reuse, h.fn(reuse)) {
			t.Error("callback with a purged nonce not applied")
		}
		kept := second
		kept.At = t0.Add(3 * time.Second)
		if applyGoogle(t, s, "ApplyGoogleCallback with a kept nonce", kept, notCalled(t, "kept nonce")) {
			t.Error("callback with a nonce not purged applied")
		}
		n, err = s.PurgeGoogleNonces(ctx, now().Add(time.Minute))
		must(t, "PurgeGoogleNonces all", err)
		if n != 2 {
			t.Errorf("purged %d nonces, want 2", n)
		}
	}},
}
