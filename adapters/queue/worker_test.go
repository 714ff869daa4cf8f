package queue_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/adapters/queue/redistest"
	"github.com/passhub/passhub/core"
)

// startWorker starts a worker with fast test intervals and shuts it down
// when the test ends.
func startWorker(t *testing.T, cfg queue.WorkerConfig) *queue.Worker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.TaskPoll == 0 {
		cfg.TaskPoll = 50 * time.Millisecond
	}
	if cfg.RetryPoll == 0 {
		cfg.RetryPoll = 100 * time.Millisecond
	}
	if cfg.Backoff == (queue.Backoff{}) {
		cfg.Backoff = queue.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 2 * time.Second
	}
	w, err := queue.NewWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
	return w
}

func newEnqueuer(t *testing.T, opt asynq.RedisConnOpt, cfg queue.EnqueuerConfig) *queue.Enqueuer {
	t.Helper()
	e, err := queue.NewEnqueuer(opt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newInspector(t *testing.T, opt asynq.RedisConnOpt) *asynq.Inspector {
	t.Helper()
	i := asynq.NewInspector(opt)
	t.Cleanup(func() { i.Close() })
	return i
}

func TestWorkerErrorPolicy(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name         string
		done         bool // job already done before its task runs
		results      []error
		maxRetry     int
		wantState    core.JobState
		wantAttempts int
		wantRuns     int
		wantTask     asynq.TaskState // 0: task gone from Redis
		wantMetrics  map[string]float64
	}{
		{
			name: "success", results: []error{nil},
			wantState: core.JobDone, wantAttempts: 1, wantRuns: 1,
			wantMetrics: map[string]float64{"processed": 1},
		},
		{
			name: "transient then success", results: []error{errBoom, nil},
			wantState: core.JobDone, wantAttempts: 2, wantRuns: 2,
			wantMetrics: map[string]float64{"processed": 1, "failed/false": 1},
		},
		{
			name: "out of retries", results: []error{errBoom, errBoom, errBoom}, maxRetry: 1,
			wantState: core.JobFailed, wantAttempts: 2, wantRuns: 2, wantTask: asynq.TaskStateArchived,
			wantMetrics: map[string]float64{"failed/false": 1, "failed/true": 1},
		},
		{
			name: "permanent", results: []error{core.Permanent(errBoom)},
			wantState: core.JobFailed, wantAttempts: 1, wantRuns: 1, wantTask: asynq.TaskStateArchived,
			wantMetrics: map[string]float64{"failed/true": 1},
		},
		{
			name: "duplicate delivery", done: true,
			wantState: core.JobDone, wantAttempts: 0, wantRuns: 0,
			wantMetrics: map[string]float64{"processed": 1, "duplicate": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opt := redistest.NewRedis(t)
			store := newMemJobs()
			var runs atomic.Int32
			runner := core.NewJobRunner(store)
			runner.Handle("test.job", core.JobHandlerFunc(func(context.Context, core.Job) ([]core.Job, error) {
				n := int(runs.Add(1)) - 1
				return nil, tt.results[min(n, len(tt.results)-1)]
			}))
			reg := prometheus.NewRegistry()
			routing := queue.Routing{Kinds: map[string]queue.KindOptions{"test.job": {MaxRetry: tt.maxRetry}}}
			startWorker(t, queue.WorkerConfig{Redis: opt, Runner: runner, Routing: routing, Registerer: reg})
			enq := newEnqueuer(t, opt, queue.EnqueuerConfig{Routing: routing})

			j := core.Job{Kind: "test.job"}
			if tt.done {
				j.State = core.JobDone
			}
			j = store.add(j)
			if err := enq.Enqueue(context.Background(), j); err != nil {
				t.Fatal(err)
			}
			insp := newInspector(t, opt)
			queueName := routing.WithDefaults().For("test.job").Queue
			waitFor(t, 10*time.Second, "the task to settle", func() bool {
				info, err := insp.GetTaskInfo(queueName, queue.TaskID(j.ID))
				if tt.wantTask == 0 {
					return errors.Is(err, asynq.ErrTaskNotFound)
				}
				return err == nil && info.State == tt.wantTask
			})
			got := store.get(j.ID)
			if got.State != tt.wantState || got.Attempts != tt.wantAttempts {
				t.Errorf("job %s after %d attempts, want %s after %d", got.State, got.Attempts, tt.wantState, tt.wantAttempts)
			}
			if n := int(runs.Load()); n != tt.wantRuns {
				t.Errorf("handler ran %d times, want %d", n, tt.wantRuns)
			}
			for _, m := range []struct{ key, name, final string }{
				{"processed", "passhub_jobs_processed_total", ""},
				{"duplicate", "passhub_jobs_duplicate_total", ""},
				{"failed/false", "passhub_jobs_failed_total", "false"},
				{"failed/true", "passhub_jobs_failed_total", "true"},
			} {
				labels := map[string]string{"kind": "test.job"}
				if m.final != "" {
					labels["final"] = m.final
				}
				if got := counterValue(t, reg, m.name, labels); got != tt.wantMetrics[m.key] {
					t.Errorf("%s = %v, want %v", m.key, got, tt.wantMetrics[m.key])
				}
			}
		})
	}
}

func TestWorkerHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	opt := redistest.NewRedis(t)
	store := newMemJobs()
	runner := core.NewJobRunner(store)
	runner.Handle("test.job", core.JobHandlerFunc(func(context.Context, core.Job) ([]core.Job, error) {
		return nil, &core.RetryAfterError{After: time.Hour, Err: errors.New("429 Too Many Requests")}
	}))
	startWorker(t, queue.WorkerConfig{Redis: opt, Runner: runner})
	enq := newEnqueuer(t, opt, queue.EnqueuerConfig{})
	j := store.add(core.Job{Kind: "test.job"})
	if err := enq.Enqueue(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	insp := newInspector(t, opt)
	var info *asynq.TaskInfo
	waitFor(t, 10*time.Second, "the task to be scheduled for retry", func() bool {
		var err error
		info, err = insp.GetTaskInfo(queue.QueueDefault, queue.TaskID(j.ID))
		return err == nil && info.State == asynq.TaskStateRetry
	})
	if wait := time.Until(info.NextProcessAt); wait < 50*time.Minute {
		t.Errorf("retry in %s, want about the hour the handler asked for", wait)
	}
	if got := store.get(j.ID); got.State != core.JobEnqueued && got.State != core.JobPending || got.LastError == "" {
		t.Errorf("job %s with last error %q, want still to do, with the error recorded", got.State, got.LastError)
	}
	// The store knows when the task comes back, so the sweeper does not
	// try to re-drive a job that is merely waiting for its retry.
	waitFor(t, 5*time.Second, "the retry time to reach the store", func() bool {
		got := store.get(j.ID)
		return got.EnqueuedAt != nil && time.Until(*got.EnqueuedAt) > 50*time.Minute
	})
	if got, diff := store.get(j.ID), info.NextProcessAt.Sub(*store.get(j.ID).EnqueuedAt); diff > 5*time.Second || diff < -5*time.Second {
		t.Errorf("store has the job due at %v, the queue at %v", got.EnqueuedAt, info.NextProcessAt)
	}
	stale, err := store.StaleJobs(context.Background(), time.Now().Add(10*time.Minute), 10)
	if err != nil || len(stale) != 0 {
		t.Errorf("a job waiting for its retry was stale for the sweeper: %v %v", stale, err)
	}
}

func TestWorkerArchivesMalformedTask(t *testing.T) {
	t.Parallel()
	opt := redistest.NewRedis(t)
	runner := core.NewJobRunner(newMemJobs())
	var runs atomic.Int32
	runner.Handle("test.job", core.JobHandlerFunc(func(context.Context, core.Job) ([]core.Job, error) {
		runs.Add(1)
		return nil, nil
	}))
	startWorker(t, queue.WorkerConfig{Redis: opt, Runner: runner})
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("test.job", []byte("not json"), asynq.TaskID("bad"))); err != nil {
		t.Fatal(err)
	}
	insp := newInspector(t, opt)
	waitFor(t, 10*time.Second, "the task to be archived", func() bool {
		info, err := insp.GetTaskInfo(queue.QueueDefault, "bad")
		return err == nil && info.State == asynq.TaskStateArchived
	})
	if runs.Load() != 0 {
		t.Error("handler ran for a malformed task")
	}
}

// TestWorkerShutdownReturnsRunningTask: a task still running when the
// shutdown timeout ends goes back to the queue and is done by the next
// worker; its interruption is not recorded as a final failure.
func TestWorkerShutdownReturnsRunningTask(t *testing.T) {
	t.Parallel()
	opt := redistest.NewRedis(t)
	store := newMemJobs()
	started := make(chan struct{})
	var once sync.Once
	block := core.JobHandlerFunc(func(ctx context.Context, _ core.Job) ([]core.Job, error) {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return nil, ctx.Err()
	})
	runner1 := core.NewJobRunner(store)
	runner1.Handle("test.job", block)
	routing := queue.Routing{Kinds: map[string]queue.KindOptions{"test.job": {MaxRetry: -1}}} // no retries: only a push-back can save it
	w1, err := queue.NewWorker(queue.WorkerConfig{Redis: opt, Runner: runner1, Routing: routing, Logger: testLogger(), TaskPoll: 50 * time.Millisecond, ShutdownTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w1.Start(); err != nil {
		t.Fatal(err)
	}
	enq := newEnqueuer(t, opt, queue.EnqueuerConfig{Routing: routing})
	j := store.add(core.Job{Kind: "test.job"})
	if err := enq.Enqueue(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("task did not start")
	}
	w1.Shutdown()

	runner2 := core.NewJobRunner(store)
	runner2.Handle("test.job", core.JobHandlerFunc(func(context.Context, core.Job) ([]core.Job, error) { return nil, nil }))
	startWorker(t, queue.WorkerConfig{Redis: opt, Runner: runner2, Routing: routing})
	waitFor(t, 10*time.Second, "the pushed-back task to be done", func() bool { return store.get(j.ID).State == core.JobDone })
}
