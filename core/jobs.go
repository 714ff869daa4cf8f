package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A job is a unit of background work recorded in the store (the outbox).
// The store is the truth: a job exists before anything is enqueued, Redis
// only carries its ID, and a job is done only when the store says so. The
// relay enqueues pending jobs with a task ID derived from the job ID, so
// re-enqueueing is harmless, and the sweeper re-drives jobs whose tasks
// were lost (a flushed Redis, a killed worker).

// JobState is where a job is in its life.
type JobState string

const (
	JobPending  JobState = "pending"  // written, not yet handed to the queue
	JobEnqueued JobState = "enqueued" // handed to the queue, not yet done
	JobDone     JobState = "done"
	JobFailed   JobState = "failed" // permanently failed or out of retries
)

// JobKindDispatch is the job every event gets: fan the event out to its
// consumers (push, wallet sync, webhooks) as jobs of their own.
const JobKindDispatch = "event.dispatch"

// Job is one row of the outbox.
type Job struct {
	ID          int64  `json:"id"`
	WorkspaceID string `json:"workspaceId"`
	Kind        string `json:"kind"`
	// Key makes a job unique per kind: a second job with the same kind and
	// key is not created (fan-out is idempotent).
	Key        string          `json:"key"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	State      JobState        `json:"state"`
	Attempts   int             `json:"attempts"`
	LastError  string          `json:"lastError,omitempty"`
	CreatedAt  time.Time       `json:"createdAt"`
	EnqueuedAt *time.Time      `json:"enqueuedAt,omitempty"`
	DoneAt     *time.Time      `json:"doneAt,omitempty"`
}

// DispatchJobFor is the dispatch job the store writes with an event.
func DispatchJobFor(ev Event) Job {
	return Job{WorkspaceID: ev.WorkspaceID, Kind: JobKindDispatch, Key: ev.ID, State: JobPending, CreatedAt: ev.OccurredAt}
}

// JobStore is the outbox as the relay, sweeper and runner see it.
type JobStore interface {
	// PendingJobs returns up to limit jobs in state pending, oldest first.
	PendingJobs(ctx context.Context, limit int) ([]Job, error)
	// StaleJobs returns up to limit enqueued jobs last enqueued before t.
	StaleJobs(ctx context.Context, enqueuedBefore time.Time, limit int) ([]Job, error)
	// MarkJobsEnqueued moves pending or enqueued jobs to enqueued at t;
	// done and failed jobs are left alone.
	MarkJobsEnqueued(ctx context.Context, ids []int64, at time.Time) error
	Job(ctx context.Context, id int64) (Job, error)
	// StartJob counts an attempt; a done or failed job answers ErrJobDone.
	StartJob(ctx context.Context, id int64) (Job, error)
	// CompleteJob marks the job done and inserts its children (skipping
	// any whose kind and key exist) in one transaction, with the state and
	// attempts each has (pending and none when unset), and sets the ID of
	// each child it inserted; a skipped one keeps ID 0. Only one caller
	// completes a job; every other gets ErrJobDone and nothing changes.
	CompleteJob(ctx context.Context, id int64, children []Job, at time.Time) error
	// FailJob records the last error; final moves the job to failed.
	FailJob(ctx context.Context, id int64, msg string, final bool, at time.Time) error
}

// JobHandler does the work of one kind of job and returns the jobs it
// fans out to. It must be safe to run more than once for the same job:
// the queue delivers at least once.
type JobHandler interface {
	HandleJob(ctx context.Context, j Job) ([]Job, error)
}

// JobFinisher is a JobHandler that can complete a job in the transaction
// of its own last write (the store method it calls takes the job), so the
// job is done exactly when that write commits, at the cost of one commit
// instead of two. The runner calls FinishJob instead of HandleJob.
type JobFinisher interface {
	JobHandler
	// FinishJob is HandleJob, except that it reports done when it has
	// completed j itself, children and all; the runner then leaves j
	// alone. When done is false, the runner completes j with children as
	// it would after HandleJob (the handler's write may have found j
	// already done by a duplicate run: CompleteJob then says so).
	FinishJob(ctx context.Context, j Job) (children []Job, done bool, err error)
}

// JobHandlerFunc adapts a function to JobHandler.
type JobHandlerFunc func(ctx context.Context, j Job) ([]Job, error)

// HandleJob calls f.
func (f JobHandlerFunc) HandleJob(ctx context.Context, j Job) ([]Job, error) { return f(ctx, j) }

// JobRunner runs jobs by ID on a worker.
type JobRunner struct {
	store    JobStore
	handlers map[string]JobHandler
	now      func() time.Time
	// OnDuplicate, if set, is told of a delivery of an already-done job.
	OnDuplicate func(kind string)
	// OnChildren, if set, is called after a job completed with children,
	// so the relay can hand them over now instead of at its next poll.
	// It must not block.
	OnChildren func()
	// OnChained, if set, is told of each chained job run (see Chain) and
	// its error: the queue never sees those runs.
	OnChained func(j Job, err error)

	chain      ChainStore
	chainKinds map[string]bool
}

// Chain makes the runner run, right after each job, the jobs that run
// caused: the dispatch jobs of the events it wrote, and those dispatch
// jobs' children of the given kinds (see chain.go).
func (r *JobRunner) Chain(store ChainStore, kinds ...string) {
	r.chain = store
	r.chainKinds = map[string]bool{}
	for _, k := range kinds {
		r.chainKinds[k] = true
	}
}

// NewJobRunner returns a runner over store with no handlers.
func NewJobRunner(store JobStore) *JobRunner {
	return &JobRunner{store: store, handlers: map[string]JobHandler{}, now: time.Now}
}

// Handle registers h for jobs of kind.
func (r *JobRunner) Handle(kind string, h JobHandler) { r.handlers[kind] = h }

// Kinds lists the registered job kinds.
func (r *JobRunner) Kinds() []string {
	out := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		out = append(out, k)
	}
	return out
}

// Run does job id once. A job that is already done returns nil: the
// delivery was a duplicate and has no effect. With Chain set, the jobs
// the run caused run next; their failures are theirs, not this job's.
func (r *JobRunner) Run(ctx context.Context, id int64) error {
	var c *chain
	if r.chain != nil {
		c = &chain{room: MaxChained}
		ctx = context.WithValue(ctx, chainCtxKey{}, c)
	}
	j, err := r.store.StartJob(ctx, id)
	switch {
	case errors.Is(err, ErrJobDone):
		r.duplicate(j.Kind)
		return nil
	case errors.Is(err, ErrNotFound):
		return Permanent(fmt.Errorf("job %d: %w", id, err))
	case err != nil:
		return fmt.Errorf("starting job %d: %w", id, err)
	}
	err = r.finish(ctx, j, c)
	if c != nil {
		r.runChained(ctx, c)
	}
	return err
}

// finish runs started job j through its handler and completes it.
func (r *JobRunner) finish(ctx context.Context, j Job, c *chain) error {
	h, ok := r.handlers[j.Kind]
	if !ok {
		return Permanent(fmt.Errorf("job %d: no handler for kind %q", j.ID, j.Kind))
	}
	var children []Job
	var done bool
	var err error
	if f, ok := h.(JobFinisher); ok {
		children, done, err = f.FinishJob(ctx, j)
	} else {
		children, err = h.HandleJob(ctx, j)
	}
	if err != nil {
		return fmt.Errorf("running %s job %d: %w", j.Kind, j.ID, err)
	}
	if done {
		if len(children) > 0 && r.OnChildren != nil {
			r.OnChildren()
		}
		return nil
	}
	// A dispatch's children of chained kinds are written claimed and
	// started.
	claimed := 0
	if c != nil && j.Kind == JobKindDispatch {
		for i := range children {
			if r.chainKinds[children[i].Kind] && c.take() {
				children[i].State, children[i].Attempts = JobEnqueued, 1
				claimed++
			}
		}
	}
	if err := r.store.CompleteJob(ctx, j.ID, children, r.now()); err != nil {
		if errors.Is(err, ErrJobDone) {
			r.duplicate(j.Kind)
			return nil
		}
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("completing %s job %d: %w", j.Kind, j.ID, errJobGone)
		}
		return fmt.Errorf("completing %s job %d: %w", j.Kind, j.ID, err)
	}
	for i := range children {
		if c != nil && children[i].State == JobEnqueued && children[i].ID != 0 {
			c.add(chainRef{job: children[i]})
		}
	}
	if len(children) > claimed && r.OnChildren != nil {
		r.OnChildren()
	}
	return nil
}

// errJobGone is a chained job that is not there to complete: the
// transaction that wrote it rolled back.
var errJobGone = errors.New("the job is gone: the write that claimed it rolled back")

// runChained runs the jobs c collected, including those they add, in
// order. A failed one goes back to the relay for the queue's retries; a
// permanent failure ends it as the queue would.
func (r *JobRunner) runChained(ctx context.Context, c *chain) {
	for i := 0; ; i++ {
		ref, ok := c.at(i)
		if !ok {
			return
		}
		stopping := ctx.Err() != nil || c.halted()
		if stopping {
			// The worker is stopping (or the parent's time ran out): hand
			// the rest to the queue now rather than to the sweeper later.
			ctx = context.WithoutCancel(ctx)
		}
		var j Job
		var err error
		if ref.job.ID != 0 {
			j = ref.job
		} else {
			if j, err = r.chain.StartChainedJob(ctx, ref.job.Kind, ref.job.Key); err != nil {
				// Not there (rolled back, re-driven), or the store
				// failed: a job left enqueued is the sweeper's.
				continue
			}
		}
		if stopping {
			err = errors.New("not run: the worker stopped first")
		} else {
			jctx := ctx
			if ref.ev != nil {
				jctx = context.WithValue(ctx, chainEventKey{}, ref.ev)
			}
			if ref.trigger != nil {
				jctx = context.WithValue(ctx, loadedTriggerKey{}, ref.trigger)
			}
			err = r.finish(jctx, j, c)
		}
		if errors.Is(err, errJobGone) {
			continue
		}
		if err != nil {
			if errors.Is(err, ErrPermanent) {
				_ = r.Fail(context.WithoutCancel(ctx), j.ID, err, true)
			} else if rerr := r.chain.RequeueJob(context.WithoutCancel(ctx), j.ID, err.Error()); rerr == nil && r.OnChildren != nil {
				r.OnChildren()
			}
		}
		if r.OnChained != nil {
			r.OnChained(j, err)
		}
	}
}

// Defer records that job id's task is due again at until (a retry
// waiting in the queue), so the sweeper, which re-drives jobs enqueued
// longer ago than its stale age, leaves it alone until then.
func (r *JobRunner) Defer(ctx context.Context, id int64, until time.Time) error {
	return r.store.MarkJobsEnqueued(ctx, []int64{id}, until)
}

// Fail records err against job id; final when no retry will follow.
func (r *JobRunner) Fail(ctx context.Context, id int64, err error, final bool) error {
	return r.store.FailJob(ctx, id, err.Error(), final, r.now())
}

func (r *JobRunner) duplicate(kind string) {
	if r.OnDuplicate != nil {
		r.OnDuplicate(kind)
	}
}

// EventConsumer turns an event into the jobs that act on it (an APNs push,
// a Google sync, one delivery per webhook subscription). Jobs need only
// Kind, Key and Payload; the dispatcher fills in the rest.
type EventConsumer interface {
	JobsFor(ctx context.Context, ev Event) ([]Job, error)
}

// Dispatcher is the handler of dispatch jobs.
type Dispatcher struct {
	events    EventStore
	consumers []EventConsumer
}

// NewDispatcher returns a dispatcher reading events from store.
func NewDispatcher(events EventStore, consumers ...EventConsumer) *Dispatcher {
	return &Dispatcher{events: events, consumers: consumers}
}

// HandleJob fans the job's event out to every consumer.
func (d *Dispatcher) HandleJob(ctx context.Context, j Job) ([]Job, error) {
	ev, ok := chainedEvent(ctx, j.Key)
	var err error
	if !ok {
		ev, err = d.events.Event(ctx, j.WorkspaceID, j.Key)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, Permanent(fmt.Errorf("event %s: %w", j.Key, err))
	}
	if err != nil {
		return nil, fmt.Errorf("loading event %s: %w", j.Key, err)
	}
	var out []Job
	for _, c := range d.consumers {
		jobs, err := c.JobsFor(ctx, ev)
		if err != nil {
			return nil, fmt.Errorf("fanning out event %s: %w", ev.ID, err)
		}
		for _, cj := range jobs {
			cj.WorkspaceID = ev.WorkspaceID
			cj.State = JobPending
			cj.CreatedAt = ev.OccurredAt
			out = append(out, cj)
		}
	}
	return out, nil
}

// Enqueuer hands a job to the queue. Enqueueing a job whose task is still
// known to the queue must succeed without a second task.
type Enqueuer interface {
	Enqueue(ctx context.Context, j Job) error
}

// Relay moves pending jobs to the queue and re-drives lost ones.
type Relay struct {
	Store    JobStore
	Queue    Enqueuer
	Batch    int
	StaleAge time.Duration
	Now      func() time.Time
}

// RelayPending enqueues up to Batch pending jobs; it returns how many.
func (r *Relay) RelayPending(ctx context.Context) (int, error) {
	jobs, err := r.Store.PendingJobs(ctx, r.batch())
	if err != nil {
		return 0, fmt.Errorf("reading pending jobs: %w", err)
	}
	return r.enqueue(ctx, jobs)
}

// Sweep re-enqueues up to Batch jobs enqueued more than StaleAge ago and
// still not done: their task may have been lost with Redis or a worker.
// The task ID is the job's, so a task still alive in the queue is not
// duplicated.
func (r *Relay) Sweep(ctx context.Context) (int, error) {
	jobs, err := r.Store.StaleJobs(ctx, r.now().Add(-r.StaleAge), r.batch())
	if err != nil {
		return 0, fmt.Errorf("reading stale jobs: %w", err)
	}
	return r.enqueue(ctx, jobs)
}

func (r *Relay) enqueue(ctx context.Context, jobs []Job) (int, error) {
	if len(jobs) == 0 {
		return 0, nil
	}
	ids := make([]int64, 0, len(jobs))
	var firstErr error
	for _, j := range jobs {
		if err := r.Queue.Enqueue(ctx, j); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("enqueueing job %d: %w", j.ID, err)
			}
			continue
		}
		ids = append(ids, j.ID)
	}
	if len(ids) > 0 {
		if err := r.Store.MarkJobsEnqueued(ctx, ids, r.now()); err != nil {
			return 0, fmt.Errorf("marking jobs enqueued: %w", err)
		}
	}
	return len(ids), firstErr
}

func (r *Relay) batch() int {
	if r.Batch <= 0 {
		return 500
	}
	return r.Batch
}

func (r *Relay) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}
