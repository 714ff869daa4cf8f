package queue_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/adapters/queue/redistest"
	"github.com/passhub/passhub/core"
)

func TestEnqueuerTask(t *testing.T) {
	t.Parallel()
	opt := redistest.NewRedis(t)
	enq := newEnqueuer(t, opt, queue.EnqueuerConfig{Routing: queue.Routing{
		Kinds: map[string]queue.KindOptions{"webhook.deliver": {Queue: queue.QueueLow, MaxRetry: 7}},
	}})
	ctx := context.Background()
	if err := enq.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	insp := newInspector(t, opt)
	tests := []struct {
		job       core.Job
		wantQueue string
		wantRetry int
	}{
		{core.Job{ID: 41, Kind: core.JobKindDispatch}, queue.QueueCritical, queue.DefaultMaxRetry},
		{core.Job{ID: 42, Kind: "webhook.deliver"}, queue.QueueLow, 7},
		{core.Job{ID: 43, Kind: "apple.push"}, queue.QueueDefault, queue.DefaultMaxRetry},
	}
	for _, tt := range tests {
		// Twice: the second is a no-op on the live task.
		for range 2 {
			if err := enq.Enqueue(ctx, tt.job); err != nil {
				t.Fatalf("enqueueing job %d: %v", tt.job.ID, err)
			}
		}
		info, err := insp.GetTaskInfo(tt.wantQueue, queue.TaskID(tt.job.ID))
		if err != nil {
			t.Fatalf("job %d: %v", tt.job.ID, err)
		}
		var payload map[string]any
		if err := json.Unmarshal(info.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		if info.Type != tt.job.Kind || info.MaxRetry != tt.wantRetry || info.Retention != 0 || payload["jobId"] != float64(tt.job.ID) || len(payload) != 1 {
			t.Errorf("job %d: task %s max retry %d retention %s payload %s", tt.job.ID, info.Type, info.MaxRetry, info.Retention, info.Payload)
		}
		if tasks, _ := insp.ListPendingTasks(tt.wantQueue); len(tasks) != 1 {
			t.Errorf("queue %s holds %d tasks, want 1", tt.wantQueue, len(tasks))
		}
	}
}

// TestEnqueuerReplacesArchivedTask: the store still wants the job run, so
// a task asynq gave up on must not block it.
func TestEnqueuerReplacesArchivedTask(t *testing.T) {
	t.Parallel()
	opt := redistest.NewRedis(t)
	enq := newEnqueuer(t, opt, queue.EnqueuerConfig{})
	insp := newInspector(t, opt)
	ctx := context.Background()
	j := core.Job{ID: 7, Kind: "apple.push"}
	if err := enq.Enqueue(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := insp.ArchiveTask(queue.QueueDefault, queue.TaskID(j.ID)); err != nil {
		t.Fatal(err)
	}
	if err := enq.Enqueue(ctx, j); err != nil {
		t.Fatal(err)
	}
	info, err := insp.GetTaskInfo(queue.QueueDefault, queue.TaskID(j.ID))
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStatePending {
		t.Errorf("task %s, want pending again", info.State)
	}
}
