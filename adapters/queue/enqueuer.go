package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/passhub/passhub/core"
)

// taskPayload is all a task carries: the job is read from the store.
type taskPayload struct {
	JobID int64 `json:"jobId"`
}

// TaskID is the asynq task ID of job id. One ID per job is what makes
// enqueueing idempotent.
func TaskID(jobID int64) string { return "job-" + strconv.FormatInt(jobID, 10) }

// NewTask returns the task that runs job j under routing r.
func NewTask(j core.Job, r Routing) *asynq.Task {
	o := r.For(j.Kind)
	payload, _ := json.Marshal(taskPayload{JobID: j.ID}) // cannot fail
	return asynq.NewTask(j.Kind, payload,
		asynq.TaskID(TaskID(j.ID)),
		asynq.Queue(o.Queue),
		asynq.MaxRetry(o.maxRetry()),
		asynq.Timeout(o.Timeout),
		asynq.Retention(0),
	)
}

func decodePayload(b []byte) (int64, error) {
	var p taskPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return 0, fmt.Errorf("decoding task payload: %w", err)
	}
	if p.JobID <= 0 {
		return 0, fmt.Errorf("decoding task payload: no job ID in %q", b)
	}
	return p.JobID, nil
}

// EnqueuerConfig configures an Enqueuer.
type EnqueuerConfig struct {
	Routing Routing
}

func (c *EnqueuerConfig) setDefaults() { c.Routing.setDefaults() }

// Validate checks the configuration.
func (c EnqueuerConfig) Validate() error { return c.Routing.Validate() }

// Enqueuer hands jobs to asynq; it is the relay's core.Enqueuer.
type Enqueuer struct {
	rdb       redis.UniversalClient
	client    *asynq.Client
	inspector *asynq.Inspector
	routing   Routing
}

var (
	_ core.Enqueuer = (*Enqueuer)(nil)
	_ core.Pinger   = (*Enqueuer)(nil)
)

// NewEnqueuer connects to Redis lazily (the first Enqueue or Ping dials).
func NewEnqueuer(opt asynq.RedisConnOpt, cfg EnqueuerConfig) (*Enqueuer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rdb, err := redisClient(opt)
	if err != nil {
		return nil, err
	}
	return &Enqueuer{
		rdb:       rdb,
		client:    asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		routing:   cfg.Routing,
	}, nil
}

// Enqueue puts job j on its queue. A task for j that is still queued,
// scheduled for retry or running makes this a successful no-op. A task
// that asynq has archived (out of retries, or failed permanently) while
// the store still wants the job run — the store's final failure was never
// recorded, or the job was reset — is replaced: the store is the truth.
func (e *Enqueuer) Enqueue(ctx context.Context, j core.Job) error {
	task := NewTask(j, e.routing)
	_, err := e.client.EnqueueContext(ctx, task)
	if err == nil || !isConflict(err) {
		return wrapEnqueueErr(j, err)
	}
	queue, id := e.routing.For(j.Kind).Queue, TaskID(j.ID)
	info, err := e.inspector.GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
		// Finished between the two calls: its ID is free again.
	case err != nil:
		return fmt.Errorf("inspecting task %s of job %d: %w", id, j.ID, err)
	case info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted:
		if err := e.inspector.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return fmt.Errorf("deleting finished task %s of job %d: %w", id, j.ID, err)
		}
	default:
		return nil // alive: it will run
	}
	_, err = e.client.EnqueueContext(ctx, task)
	if isConflict(err) {
		return nil // someone else enqueued it meanwhile
	}
	return wrapEnqueueErr(j, err)
}

func isConflict(err error) bool {
	return errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask)
}

func wrapEnqueueErr(j core.Job, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("enqueueing %s task for job %d: %w", j.Kind, j.ID, err)
}

// Ping reports whether Redis answers.
func (e *Enqueuer) Ping(ctx context.Context) error {
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("pinging redis: %w", err)
	}
	return nil
}

// Close releases the Redis connections.
func (e *Enqueuer) Close() error {
	return e.rdb.Close()
}

func redisClient(opt asynq.RedisConnOpt) (redis.UniversalClient, error) {
	if opt == nil {
		return nil, errors.New("no redis connection options")
	}
	c, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("unsupported redis connection options %T", opt)
	}
	return c, nil
}
