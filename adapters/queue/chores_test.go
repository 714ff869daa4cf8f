package queue_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/core"
)

func TestRunChoresRepeatsThroughErrors(t *testing.T) {
	var ok, failing atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- queue.RunChores(ctx, testLogger(),
			queue.Chore{Name: "ok", Interval: 10 * time.Millisecond, Run: func(context.Context) error { ok.Add(1); return nil }},
			queue.Chore{Name: "failing", Interval: 10 * time.Millisecond, Run: func(context.Context) error { failing.Add(1); return errors.New("db down") }},
		)
	}()
	waitFor(t, 5*time.Second, "both chores to run three times", func() bool { return ok.Load() >= 3 && failing.Load() >= 3 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunChores did not return after cancel")
	}
}

func TestRunChoresRejectsBadChore(t *testing.T) {
	err := queue.RunChores(context.Background(), nil, queue.Chore{Name: "zero", Run: func(context.Context) error { return nil }})
	if err == nil {
		t.Fatal("a chore without interval was accepted")
	}
}

type purgeRecorder struct {
	core.IdempotencyStore
	before chan time.Time
}

func (p purgeRecorder) PurgeIdempotencyKeys(_ context.Context, before time.Time) (int64, error) {
	p.before <- before
	return 2, nil
}

func TestPurgeIdempotencyKeys(t *testing.T) {
	rec := purgeRecorder{before: make(chan time.Time, 1)}
	c := queue.PurgeIdempotencyKeys(rec, 0, testLogger())
	if c.Interval != time.Hour {
		t.Errorf("interval %s, want 1h", c.Interval)
	}
	if err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := <-rec.before
	if age := time.Since(got); age < queue.DefaultIdempotencyKeyTTL || age > queue.DefaultIdempotencyKeyTTL+time.Minute {
		t.Errorf("purged records before %s ago, want %s", age, queue.DefaultIdempotencyKeyTTL)
	}
}
