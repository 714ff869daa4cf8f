package core

import (
	"context"
	"sync"
	"time"
)

// Chaining: the jobs a job run causes right away — the dispatch job of an
// event it wrote, and the push and sync jobs that dispatch fans out to —
// are run by the same worker right after, instead of each waiting for the
// relay and a queue hop. A trigger reaches APNs through one queue hop
// instead of three, and each chained job saves the relay's bookkeeping,
// the queue's round trips and its own start.
//
// A chained job is written 'enqueued' — claimed by the worker — in the
// same transaction as its cause, so the relay leaves it alone, and with
// its first attempt counted, so running it takes no write to start it:
// the store reports the ID it inserted it with (JobInserted, where the
// store may; otherwise the worker starts it by kind and key), and the
// worker runs it after its cause's handler returns. If that transaction
// rolled back after all, the job's completion finds no job and the run
// ends there (a dispatch writes nothing before its completion). If the
// worker dies before running it, the sweeper finds it enqueued and not
// done after its stale age and re-drives it through the queue: nothing is
// lost, only late. A chained job that fails goes back to 'pending', so
// the relay hands it to the queue, which retries it as any other job.

// ChainStore is what chaining needs of the store besides JobStore.
type ChainStore interface {
	// StartChainedJob counts the first attempt of the enqueued, never
	// started job of kind and key. ErrNotFound when there is none: the
	// write that claimed it rolled back, or a re-drive started it.
	StartChainedJob(ctx context.Context, kind, key string) (Job, error)
	// RequeueJob records msg against job id and moves it back to pending
	// for the relay; a done or failed job is left alone.
	RequeueJob(ctx context.Context, id int64, msg string) error
}

// MaxChained bounds the jobs one run chains: a dispatch that fans out
// wider leaves the rest to the queue's parallel workers.
const MaxChained = 8

type chainCtxKey struct{}

// chain collects the jobs claimed during one run, in the order written.
type chain struct {
	mu   sync.Mutex
	room int
	refs []chainRef
	// halt, when closed, hands the jobs not yet started to the queue.
	halt <-chan struct{}
}

func (c *chain) halted() bool { return closed(c.halt) }

// closed reports whether ch is closed (a nil ch never is).
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

type chainRef struct {
	// job is the job as written. With an ID (from the insert, or reported
	// by the store: JobInserted) it was written started; without, it is
	// started by its kind and key (StartChainedJob).
	job Job
	// ev is the event of a chained dispatch job, as written: its run
	// need not read it back.
	ev *Event
	// trigger is the trigger a local trigger.apply job was accepted with.
	trigger *LoadedTrigger
}

// take reserves room for one more chained job.
func (c *chain) take() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.room == 0 {
		return false
	}
	c.room--
	return true
}

func (c *chain) add(refs ...chainRef) {
	c.mu.Lock()
	c.refs = append(c.refs, refs...)
	c.mu.Unlock()
}

// inserted records the ID of the job of kind and key, written started.
func (c *chain) inserted(kind, key string, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.refs {
		if j := &c.refs[i].job; j.Kind == kind && j.Key == key {
			j.ID, j.Attempts = id, 1
		}
	}
}

func (c *chain) at(i int) (chainRef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i >= len(c.refs) {
		return chainRef{}, false
	}
	return c.refs[i], true
}

// DispatchJob is the dispatch job a store writes with ev: claimed for the
// running worker (state enqueued) when ctx is a chaining job run with
// room left, pending for the relay otherwise. The store writes it in the
// event's transaction; a store that reports a claimed one's ID with
// JobInserted (see there) writes it started (one attempt). A rollback
// leaves nothing to run.
func DispatchJob(ctx context.Context, ev Event) Job {
	j := DispatchJobFor(ev)
	if c, ok := ctx.Value(chainCtxKey{}).(*chain); ok && c.take() {
		j.State = JobEnqueued
		c.add(chainRef{job: j, ev: &ev})
	}
	return j
}

// JobInserted tells the chaining run of ctx, if any, the ID a claimed
// job it asked for (DispatchJob) was inserted with, started: the run then
// takes no write to start it. Only a store that never gives a rolled-back
// insert's ID to another job may report one (a PostgreSQL sequence; not
// SQLite, whose rowids are reused after a rollback): an ID from a write
// that rolled back then names no job, and its completion ends the run. A
// job not reported (or whose insert was skipped: a job of its kind and
// key existed) is started by its kind and key (StartChainedJob), which
// finds it only if its write committed.
func JobInserted(ctx context.Context, kind, key string, id int64) {
	if c, ok := ctx.Value(chainCtxKey{}).(*chain); ok {
		c.inserted(kind, key, id)
	}
}

type chainEventKey struct{}

type loadedTriggerKey struct{}

// LoadedTriggerFor is the trigger id (with its source) that ctx's local
// run of its trigger.apply job was handed when the trigger was accepted.
func LoadedTriggerFor(ctx context.Context, id string) (LoadedTrigger, bool) {
	t, ok := ctx.Value(loadedTriggerKey{}).(*LoadedTrigger)
	if !ok || t.Trigger.ID != id {
		return LoadedTrigger{}, false
	}
	return *t, true
}

// chainedEvent is the event a chained dispatch job of key was written
// with, when ctx runs one.
func chainedEvent(ctx context.Context, key string) (Event, bool) {
	ev, ok := ctx.Value(chainEventKey{}).(*Event)
	if !ok || ev.ID != key {
		return Event{}, false
	}
	return *ev, true
}

// Local runs, on goroutines of the process that wrote them, jobs written
// claimed outside any job run: the trigger.apply job of a webhook this
// process just accepted (Trigger.Claim). The trigger then reaches APNs
// with no queue hop at all: no relay poll, no Redis round trips, no
// worker poll. A claimed job is run as a chained one (see runChained):
// a failure goes back to the relay for the queue's retries, a job not
// run because the process stopped is handed back, and one lost with the
// process is the sweeper's.
type Local struct {
	r      *JobRunner
	ctx    context.Context
	cancel context.CancelFunc
	// halt is closed by Stop: no more reservations, and runs hand the
	// jobs they have not started back to the queue.
	halt  chan struct{}
	slots chan struct{}

	// mu orders reservations (wg.Add) before Stop's wait.
	mu sync.Mutex
	wg sync.WaitGroup
}

// Local returns runs of at most slots claimed jobs at once; beyond that,
// writers leave their jobs to the queue. The runner must chain (Chain).
func (r *JobRunner) Local(slots int) *Local {
	ctx, cancel := context.WithCancel(context.Background())
	return &Local{r: r, ctx: ctx, cancel: cancel, halt: make(chan struct{}), slots: make(chan struct{}, max(slots, 1))}
}

// Reserve takes a slot for one job about to be written claimed: false
// when every slot is busy or l is stopped (write the job pending). Each
// true must be followed by Run or Release.
func (l *Local) Reserve() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if closed(l.halt) || l.r.chain == nil {
		return false
	}
	select {
	case l.slots <- struct{}{}:
		l.wg.Add(1)
		return true
	default:
		return false
	}
}

// Release gives back a slot whose job was not written claimed.
func (l *Local) Release() {
	<-l.slots
	l.wg.Done()
}

// Run runs claimed job j, and the jobs it chains, in the background on
// the slot Reserve took. A j with an ID was written started (Accepted.Job);
// one without is started by its kind and key first. t, if not nil, is the
// trigger j applies, as accepted.
func (l *Local) Run(j Job, t *LoadedTrigger) {
	ref := chainRef{job: j, trigger: t}
	go func() {
		defer l.Release()
		c := &chain{room: MaxChained, halt: l.halt}
		c.add(ref)
		l.r.runChained(context.WithValue(l.ctx, chainCtxKey{}, c), c)
	}()
}

// Stop refuses new reservations and hands the jobs not yet started back
// to the relay; the jobs running get grace to finish before their
// context is cancelled. It returns when every run has ended.
func (l *Local) Stop(grace time.Duration) {
	l.mu.Lock()
	if !closed(l.halt) {
		close(l.halt)
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
	}
	l.cancel()
	<-done
}
