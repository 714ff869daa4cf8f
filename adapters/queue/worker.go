package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/passhub/passhub/core"
)

// Worker defaults.
const (
	DefaultConcurrency     = 10
	DefaultShutdownTimeout = 10 * time.Second
	DefaultTaskPoll        = time.Second
	DefaultRetryPoll       = 5 * time.Second
	DefaultRetryBase       = time.Second
	DefaultRetryMax        = 10 * time.Minute
)

// failRecordTimeout bounds writing a failure to the store once the task's
// own context may be over (timeout, shutdown).
const failRecordTimeout = 5 * time.Second

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	// Redis is where the tasks are (required).
	Redis asynq.RedisConnOpt
	// Runner runs the jobs (required); register every handler before
	// NewWorker, which serves the kinds the runner knows then.
	Runner *core.JobRunner
	// Routing must match the Enqueuer's: the worker serves its queues.
	Routing Routing
	// Concurrency is how many tasks run at once (default 10; handlers
	// mostly wait on the network).
	Concurrency int
	// ShutdownTimeout is how long Shutdown waits for running tasks before
	// pushing them back to their queue (default 10s; keep it below the
	// orchestrator's kill grace period).
	ShutdownTimeout time.Duration
	// TaskPoll is how often an idle worker looks for new tasks (default 1s).
	TaskPoll time.Duration
	// RetryPoll is how often tasks due for retry are moved back to their
	// queue (default 5s).
	RetryPoll time.Duration
	// Backoff is the retry delay of a failed task that did not say when
	// to retry (a *core.RetryAfterError does). Default 1s doubling to 10m.
	Backoff Backoff
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the job counters; nil means none.
	Registerer prometheus.Registerer
}

func (c *WorkerConfig) setDefaults() {
	c.Routing.setDefaults()
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.TaskPoll == 0 {
		c.TaskPoll = DefaultTaskPoll
	}
	if c.RetryPoll == 0 {
		c.RetryPoll = DefaultRetryPoll
	}
	c.Backoff.setDefaults(DefaultRetryBase, DefaultRetryMax)
	c.Logger = loggerOrDefault(c.Logger)
}

// Validate checks the configuration.
func (c WorkerConfig) Validate() error {
	switch {
	case c.Redis == nil:
		return errors.New("worker: no redis connection options")
	case c.Runner == nil:
		return errors.New("worker: no job runner")
	case c.Concurrency < 0:
		return fmt.Errorf("worker: negative concurrency %d", c.Concurrency)
	case c.ShutdownTimeout < 0 || c.TaskPoll < 0 || c.RetryPoll < 0:
		return errors.New("worker: negative interval")
	case c.Backoff.Base > c.Backoff.Max:
		return fmt.Errorf("worker: backoff base %s above max %s", c.Backoff.Base, c.Backoff.Max)
	}
	return c.Routing.Validate()
}

// Worker runs job tasks from Redis through a core.JobRunner.
type Worker struct {
	srv     *asynq.Server
	mux     *asynq.ServeMux
	runner  *core.JobRunner
	log     *slog.Logger
	metrics *workerMetrics
	backoff Backoff
}

var _ core.Pinger = (*Worker)(nil)

// NewWorker builds a worker; Start (or Run) starts it.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newWorkerMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	w := &Worker{mux: asynq.NewServeMux(), runner: cfg.Runner, log: cfg.Logger, metrics: m, backoff: cfg.Backoff}
	prev := cfg.Runner.OnDuplicate
	cfg.Runner.OnDuplicate = func(kind string) {
		m.duplicate.WithLabelValues(kind).Inc()
		if prev != nil {
			prev(kind)
		}
	}
	// Chained jobs (core.JobRunner.Chain) run inside another job's task:
	// counted and logged here as the queue's own are.
	prevChained := cfg.Runner.OnChained
	cfg.Runner.OnChained = func(j core.Job, err error) {
		if err == nil {
			m.processed.WithLabelValues(j.Kind).Inc()
		} else {
			final := errors.Is(err, core.ErrPermanent)
			m.failed.WithLabelValues(j.Kind, strconv.FormatBool(final)).Inc()
			w.log.Warn("chained job failed (not final: back to the queue)", "kind", j.Kind, "job", j.ID, "final", final, "err", err)
		}
		if prevChained != nil {
			prevChained(j, err)
		}
	}
	for _, kind := range cfg.Runner.Kinds() {
		w.mux.HandleFunc(kind, w.handler(kind))
	}
	w.srv = asynq.NewServer(cfg.Redis, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   cfg.Routing.Queues,
		RetryDelayFunc:           w.retryDelay,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		TaskCheckInterval:        cfg.TaskPoll,
		DelayedTaskCheckInterval: cfg.RetryPoll,
		Logger:                   asynqLogger{cfg.Logger.With("component", "asynq")},
		LogLevel:                 asynqLevel(cfg.Logger),
		HealthCheckFunc: func(err error) {
			if err != nil {
				cfg.Logger.Warn("redis health check failed", "err", err)
			}
		},
	})
	return w, nil
}

// Start starts fetching and running tasks in the background.
func (w *Worker) Start() error {
	if err := w.srv.Start(w.mux); err != nil {
		return fmt.Errorf("starting worker: %w", err)
	}
	return nil
}

// Shutdown stops fetching tasks, waits up to ShutdownTimeout for running
// ones and pushes the rest back to their queues.
func (w *Worker) Shutdown() { w.srv.Shutdown() }

// Run starts the worker and shuts it down when ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	w.Shutdown()
	return nil
}

// Ping reports whether the worker's Redis answers.
func (w *Worker) Ping(context.Context) error {
	if err := w.srv.Ping(); err != nil {
		return fmt.Errorf("pinging redis: %w", err)
	}
	return nil
}

// ProcessTask runs one task as the server would; tests use it directly.
func (w *Worker) ProcessTask(ctx context.Context, t *asynq.Task) error {
	return w.mux.ProcessTask(ctx, t)
}

func (w *Worker) handler(kind string) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		id, err := decodePayload(t.Payload())
		if err != nil {
			w.metrics.failed.WithLabelValues(kind, "true").Inc()
			w.log.Error("dropping malformed task", "kind", kind, "err", err)
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		err = w.runner.Run(ctx, id)
		if err == nil {
			w.metrics.processed.WithLabelValues(kind).Inc()
			return nil
		}
		permanent := errors.Is(err, core.ErrPermanent)
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		// A cancelled context means shutdown (the task goes back to the
		// queue) or an operator's cancel: not the job's last word.
		interrupted := errors.Is(ctx.Err(), context.Canceled)
		final := permanent || (retried >= maxRetry && !interrupted)
		w.recordFailure(ctx, kind, id, err, final)
		if permanent {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		if !final && !interrupted {
			// Fix the delay now (backoff has jitter) so the store can be
			// told when the task comes back: the sweeper then leaves a
			// job waiting hours for its retry alone instead of trying to
			// re-drive it every few minutes.
			d := w.retryDelay(retried, err, t)
			w.deferJob(ctx, kind, id, time.Now().Add(d))
			return &core.RetryAfterError{After: d, Err: err}
		}
		return err
	}
}

// deferJob records that job id's task waits in the queue until until.
func (w *Worker) deferJob(ctx context.Context, kind string, id int64, until time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failRecordTimeout)
	defer cancel()
	if err := w.runner.Defer(ctx, id, until); err != nil {
		// Harmless: the sweeper re-drives it early, and the queue
		// refuses the duplicate task.
		w.log.Warn("recording job retry time", "kind", kind, "job", id, "err", err)
	}
}

func (w *Worker) recordFailure(ctx context.Context, kind string, id int64, err error, final bool) {
	w.metrics.failed.WithLabelValues(kind, strconv.FormatBool(final)).Inc()
	level := slog.LevelWarn
	if final {
		level = slog.LevelError
	}
	w.log.Log(ctx, level, "job failed", "kind", kind, "job", id, "final", final, "err", err)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failRecordTimeout)
	defer cancel()
	if ferr := w.runner.Fail(ctx, id, err, final); ferr != nil {
		// The job stays enqueued in the store; the sweeper re-drives it.
		w.log.Error("recording job failure", "kind", kind, "job", id, "err", ferr)
	}
}

// retryDelay honours a handler's own delay, else backs off.
func (w *Worker) retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	if d, ok := RetryAfter(err); ok {
		return d
	}
	return w.backoff.Delay(n)
}

// RetryAfter returns the delay a *core.RetryAfterError in err's chain
// asks for.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *core.RetryAfterError
	if errors.As(err, &ra) && ra.After > 0 {
		return ra.After, true
	}
	return 0, false
}
