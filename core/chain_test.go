package core_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/core"
)

// chainEnv is a real store with a pass, a runner that chains "push" and
// "sync" jobs, and an "edit" job kind whose handler changes the pass (as a
// trigger.apply does): the event it writes is dispatched to the consumer,
// which asks for the children its fan field names.
type chainEnv struct {
	store  *sqlite.Store
	svc    *core.Service
	runner *core.JobRunner
	ws     string
	pass   core.Pass

	mu      sync.Mutex
	ran     []string // kind/key of every run, in order
	fail    map[string]error
	fanout  []string // child kinds each event fans out to
	chained int
}

func newChainEnv(t *testing.T) *chainEnv {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "passhub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &chainEnv{store: st, svc: core.NewService(st), fail: map[string]error{}, fanout: []string{"push", "sync", "webhook"}}
	ws, _, err := e.svc.CreateWorkspace(ctx, "chain", "")
	if err != nil {
		t.Fatal(err)
	}
	e.ws = ws.ID
	tpl, err := e.svc.CreateTemplate(ctx, ws.ID, core.Template{Name: "card", Style: core.StyleStoreCard, OrganizationName: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	if e.pass, err = e.svc.CreatePass(ctx, ws.ID, core.PassInput{TemplateID: tpl.ID, ExternalID: "c1", Data: map[string]any{"points": 1.0}}); err != nil {
		t.Fatal(err)
	}
	// The create's own dispatch job is the relay's (written outside a run).
	e.drainPending(t)

	e.runner = core.NewJobRunner(st)
	e.runner.Chain(st, "push", "sync")
	e.runner.OnChained = func(core.Job, error) { e.mu.Lock(); e.chained++; e.mu.Unlock() }
	e.runner.Handle("edit", core.JobHandlerFunc(func(ctx context.Context, j core.Job) ([]core.Job, error) {
		e.note(j)
		_, err := e.svc.UpdatePass(ctx, e.ws, e.pass.ID, core.PassPatch{Data: map[string]any{"points": 2.0}})
		return nil, err
	}))
	e.runner.Handle(core.JobKindDispatch, core.NewDispatcher(st, consumerFunc(func(_ context.Context, ev core.Event) ([]core.Job, error) {
		var out []core.Job
		for _, k := range e.fanout {
			out = append(out, core.Job{Kind: k, Key: ev.ID})
		}
		return out, nil
	})))
	leaf := core.JobHandlerFunc(func(_ context.Context, j core.Job) ([]core.Job, error) {
		e.note(j)
		e.mu.Lock()
		defer e.mu.Unlock()
		return nil, e.fail[j.Kind]
	})
	for _, k := range []string{"push", "sync", "webhook"} {
		e.runner.Handle(k, leaf)
	}
	return e
}

type consumerFunc func(context.Context, core.Event) ([]core.Job, error)

func (f consumerFunc) JobsFor(ctx context.Context, ev core.Event) ([]core.Job, error) {
	return f(ctx, ev)
}

func (e *chainEnv) chainedRuns() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.chained
}

func (e *chainEnv) note(j core.Job) {
	e.mu.Lock()
	e.ran = append(e.ran, j.Kind)
	e.mu.Unlock()
}

// drainPending marks every pending job done, so a test sees only its own.
func (e *chainEnv) drainPending(t *testing.T) {
	t.Helper()
	jobs, err := e.store.PendingJobs(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := e.store.CompleteJob(t.Context(), j.ID, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// editJob writes a pending "edit" job and returns its ID.
func (e *chainEnv) editJob(t *testing.T) int64 {
	t.Helper()
	key := core.NewID("edit")
	if _, err := e.store.CreateJobs(t.Context(), []core.Job{{WorkspaceID: e.ws, Kind: "edit", Key: key}}); err != nil {
		t.Fatal(err)
	}
	jobs, err := e.store.PendingJobs(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Key == key {
			return j.ID
		}
	}
	t.Fatal("edit job not written")
	return 0
}

// onlyTheWebhookLeft checks that a run left only the webhook job (not a
// chained kind) to the relay, and nothing enqueued and not done.
func (e *chainEnv) onlyTheWebhookLeft(t *testing.T) {
	t.Helper()
	p := e.pending(t)
	if len(p) != 1 || p["webhook"].ID == 0 {
		t.Errorf("pending after the run: %v, want only the webhook job", p)
	}
	stale, err := e.store.StaleJobs(t.Context(), time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 0 {
		t.Errorf("%d jobs left enqueued and not done (the sweeper would re-drive them): %+v", len(stale), stale)
	}
}

func (e *chainEnv) pending(t *testing.T) map[string]core.Job {
	t.Helper()
	jobs, err := e.store.PendingJobs(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]core.Job{}
	for _, j := range jobs {
		out[j.Kind] = j
	}
	return out
}

func TestChainRunsAnEventsFanOutInTheWorkerThatWroteIt(t *testing.T) {
	e := newChainEnv(t)
	if err := e.runner.Run(t.Context(), e.editJob(t)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The dispatch and its chained children ran right after the edit, in
	// order; the webhook child (not a chained kind) waits for the relay.
	want := []string{"edit", "push", "sync"}
	if fmt.Sprint(e.ran) != fmt.Sprint(want) {
		t.Errorf("ran %v, want %v", e.ran, want)
	}
	if e.chained != 3 { // dispatch, push, sync
		t.Errorf("OnChained told of %d runs, want 3", e.chained)
	}
	e.onlyTheWebhookLeft(t)
}

func TestChainHandsAFailedJobBackToTheQueue(t *testing.T) {
	e := newChainEnv(t)
	e.fail["push"] = errors.New("APNs unavailable")
	e.fail["sync"] = core.Permanent(errors.New("Google refused the object"))
	if err := e.runner.Run(t.Context(), e.editJob(t)); err != nil {
		t.Fatalf("Run: the chained jobs' failures are not the edit's: %v", err)
	}
	p := e.pending(t)
	push, ok := p["push"]
	if !ok {
		t.Fatalf("the failed push is not pending for the relay: %v", p)
	}
	if push.Attempts != 1 || push.LastError == "" {
		t.Errorf("requeued push = %+v, want one attempt and its error", push)
	}
	if _, ok := p["sync"]; ok {
		t.Error("a permanent failure went back to the queue")
	}
	stale, err := e.store.StaleJobs(t.Context(), time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 0 {
		t.Errorf("jobs left enqueued: %+v", stale)
	}
}

func TestChainEndsQuietlyAtAClaimedJobWhoseWriteRolledBack(t *testing.T) {
	e := newChainEnv(t)
	// The edit claims a dispatch job and the store reports its insert,
	// but the transaction then rolls back: no job has that ID.
	e.runner.Handle("edit", core.JobHandlerFunc(func(ctx context.Context, j core.Job) ([]core.Job, error) {
		e.note(j)
		ev := core.NewEvent(core.EventUpdated, &e.pass, time.Now())
		d := core.DispatchJob(ctx, ev)
		core.JobInserted(ctx, d.Kind, d.Key, 1<<40)
		return nil, errors.New("commit failed")
	}))
	if err := e.runner.Run(t.Context(), e.editJob(t)); err == nil {
		t.Fatal("Run: the edit's failure is lost")
	}
	// The dispatch wrote nothing (its children go in with its
	// completion, which found no job), and nothing is left to anyone.
	if want := []string{"edit"}; fmt.Sprint(e.ran) != fmt.Sprint(want) {
		t.Errorf("ran %v, want %v", e.ran, want)
	}
	if e.chainedRuns() != 0 {
		t.Errorf("OnChained told of %d runs, want none", e.chainedRuns())
	}
	if p := e.pending(t); len(p) != 1 || p["edit"].ID == 0 {
		t.Errorf("pending after the run: %v, want only the failed edit", p)
	}
}

func TestChainNeverRunsAnotherJobUnderARolledBackClaim(t *testing.T) {
	e := newChainEnv(t)
	var other string
	// The edit's pass change inserts its claimed dispatch job, then fails
	// (its second event repeats the first's ID) and rolls back; the edit
	// goes on and writes another job, which SQLite gives the rolled-back
	// job's rowid.
	e.runner.Handle("edit", core.JobHandlerFunc(func(ctx context.Context, j core.Job) ([]core.Job, error) {
		e.note(j)
		_, err := e.store.UpdatePass(ctx, e.ws, e.pass.ID, func(p *core.Pass) ([]core.Event, error) {
			p.Data = map[string]any{"points": 9.0}
			p.Version++
			ev := core.NewEvent(core.EventUpdated, p, time.Now())
			return []core.Event{ev, ev}, nil
		})
		if err == nil {
			t.Error("a pass change with two events of one ID was stored")
		}
		other = core.NewID("other")
		_, err = e.store.CreateJobs(ctx, []core.Job{{WorkspaceID: e.ws, Kind: "webhook", Key: other}})
		return nil, err
	}))
	if err := e.runner.Run(t.Context(), e.editJob(t)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if fmt.Sprint(e.ran) != "[edit]" {
		t.Errorf("ran %v, want only the edit", e.ran)
	}
	if j, ok := e.pending(t)["webhook"]; !ok || j.Key != other {
		t.Errorf("the other job is not pending any more (a chain took it for its rolled-back claim): %v", e.pending(t))
	}
}

func TestChainIsBounded(t *testing.T) {
	e := newChainEnv(t)
	e.fanout = nil
	for i := range core.MaxChained + 3 {
		e.fanout = append(e.fanout, fmt.Sprintf("push%d", i))
		e.runner.Handle(fmt.Sprintf("push%d", i), core.JobHandlerFunc(func(_ context.Context, j core.Job) ([]core.Job, error) {
			e.note(j)
			return nil, nil
		}))
	}
	e.runner.Chain(e.store, e.fanout...)
	if err := e.runner.Run(t.Context(), e.editJob(t)); err != nil {
		t.Fatal(err)
	}
	// The dispatch takes one place; the rest of the fan-out is the queue's.
	if got, want := len(e.ran)-1, core.MaxChained-1; got != want {
		t.Errorf("%d children chained, want %d", got, want)
	}
	if got, want := len(e.pending(t)), len(e.fanout)-(core.MaxChained-1); got != want {
		t.Errorf("%d children pending, want %d", got, want)
	}
}

func TestChainHandsOverWhenTheWorkerStops(t *testing.T) {
	e := newChainEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	e.runner.Handle("edit", core.JobHandlerFunc(func(hctx context.Context, j core.Job) ([]core.Job, error) {
		e.note(j)
		_, err := e.svc.UpdatePass(hctx, e.ws, e.pass.ID, core.PassPatch{Data: map[string]any{"points": 3.0}})
		cancel() // shutdown arrives while the edit finishes
		return nil, err
	}))
	// The edit's own completion fails with the stop (its task goes back to
	// the queue, which finds its change already made).
	if err := e.runner.Run(ctx, e.editJob(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: err = %v, want the stop", err)
	}
	if fmt.Sprint(e.ran) != "[edit]" {
		t.Errorf("ran %v after the stop, want only the edit", e.ran)
	}
	if d, ok := e.pending(t)[core.JobKindDispatch]; !ok || d.LastError == "" {
		t.Errorf("the unrun dispatch is not back with the relay: %v", e.pending(t))
	}
}

// claimedEditJob writes an "edit" job as a process claims one it is
// about to run itself (enqueued, never started) and returns its key.
func (e *chainEnv) claimedEditJob(t *testing.T) string {
	t.Helper()
	id := e.editJob(t)
	if err := e.store.MarkJobsEnqueued(t.Context(), []int64{id}, time.Now()); err != nil {
		t.Fatal(err)
	}
	j, err := e.store.Job(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j.Key
}

func TestLocalRunsAClaimedJobAndWhatItChains(t *testing.T) {
	e := newChainEnv(t)
	l := e.runner.Local(2)
	if !l.Reserve() {
		t.Fatal("Reserve: no room in an idle runner")
	}
	l.Run(core.Job{Kind: "edit", Key: e.claimedEditJob(t)}, nil)
	for deadline := time.Now().Add(10 * time.Second); e.chainedRuns() < 4 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	l.Stop(time.Minute)
	if want := []string{"edit", "push", "sync"}; fmt.Sprint(e.ran) != fmt.Sprint(want) {
		t.Errorf("ran %v, want %v", e.ran, want)
	}
	if e.chained != 4 { // edit, dispatch, push, sync
		t.Errorf("OnChained told of %d runs, want 4", e.chained)
	}
	e.onlyTheWebhookLeft(t)
}

func TestLocalReservesAtMostItsSlots(t *testing.T) {
	e := newChainEnv(t)
	l := e.runner.Local(2)
	got := []bool{l.Reserve(), l.Reserve(), l.Reserve()}
	if fmt.Sprint(got) != "[true true false]" {
		t.Fatalf("three reservations with two slots: %v", got)
	}
	l.Release()
	if !l.Reserve() {
		t.Error("a released slot cannot be reserved again")
	}
	l.Release()
	l.Release()
	l.Stop(time.Second)
	if l.Reserve() {
		t.Error("a stopped runner took a reservation")
	}
	if core.NewJobRunner(e.store).Local(4).Reserve() {
		t.Error("a runner that does not chain took a reservation")
	}
}

func TestLocalStopLetsTheRunningJobFinishAndHandsBackTheRest(t *testing.T) {
	e := newChainEnv(t)
	started, release := make(chan struct{}), make(chan struct{})
	e.runner.Handle("edit", core.JobHandlerFunc(func(ctx context.Context, j core.Job) ([]core.Job, error) {
		e.note(j)
		close(started)
		<-release
		_, err := e.svc.UpdatePass(ctx, e.ws, e.pass.ID, core.PassPatch{Data: map[string]any{"points": 4.0}})
		return nil, err
	}))
	// A slot to spare, so Reserve fails only once Stop has begun.
	l := e.runner.Local(2)
	if !l.Reserve() {
		t.Fatal("Reserve")
	}
	l.Run(core.Job{Kind: "edit", Key: e.claimedEditJob(t)}, nil)
	<-started
	stopped := make(chan struct{})
	go func() {
		l.Stop(time.Minute)
		close(stopped)
	}()
	// Stop refuses new work at once, and waits for the edit.
	for l.Reserve() {
		l.Release()
		time.Sleep(time.Millisecond)
	}
	select {
	case <-stopped:
		t.Fatal("Stop returned while a job was running")
	default:
	}
	close(release)
	<-stopped
	if fmt.Sprint(e.ran) != "[edit]" {
		t.Errorf("ran %v, want only the edit", e.ran)
	}
	p, err := e.svc.Pass(t.Context(), e.ws, e.pass.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Data["points"] != 4.0 {
		t.Errorf("points = %v: the running edit did not finish", p.Data["points"])
	}
	if d, ok := e.pending(t)[core.JobKindDispatch]; !ok || d.LastError == "" {
		t.Errorf("the unrun dispatch is not back with the relay: %v", e.pending(t))
	}
}

func TestLocalStopCancelsARunPastItsGrace(t *testing.T) {
	e := newChainEnv(t)
	started := make(chan struct{})
	e.runner.Handle("edit", core.JobHandlerFunc(func(ctx context.Context, j core.Job) ([]core.Job, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	l := e.runner.Local(1)
	if !l.Reserve() {
		t.Fatal("Reserve")
	}
	key := e.claimedEditJob(t)
	l.Run(core.Job{Kind: "edit", Key: key}, nil)
	<-started
	l.Stop(10 * time.Millisecond)
	edit, ok := e.pending(t)["edit"]
	if !ok || edit.Key != key || edit.Attempts != 1 || edit.LastError == "" {
		t.Errorf("the cancelled edit is not back with the relay with its attempt: %+v", e.pending(t))
	}
}
