package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/core"
)

func startEmbedded(t *testing.T) *queue.Embedded {
	t.Helper()
	e, err := queue.StartEmbedded(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func TestEmbeddedRunsJobsEndToEnd(t *testing.T) {
	e := startEmbedded(t)
	store := newMemJobs()
	ran := make(chan int64, 1)
	runner := core.NewJobRunner(store)
	runner.Handle("test.echo", core.JobHandlerFunc(func(_ context.Context, j core.Job) ([]core.Job, error) {
		ran <- j.ID
		return nil, nil
	}))
	startWorker(t, queue.WorkerConfig{Redis: e.RedisOpt(), Runner: runner})
	enq := newEnqueuer(t, e.RedisOpt(), queue.EnqueuerConfig{})

	j := store.add(core.Job{Kind: "test.echo"})
	if err := enq.Enqueue(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-ran:
		if id != j.ID {
			t.Fatalf("handler ran job %d, want %d", id, j.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not run")
	}
	waitFor(t, 5*time.Second, "job done in the store", func() bool { return store.get(j.ID).State == core.JobDone })
}

func TestEmbeddedExpiresKeys(t *testing.T) {
	e := startEmbedded(t)
	rdb := redis.NewClient(&redis.Options{Addr: e.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, "k").Result(); err != nil || n != 1 {
		t.Fatalf("key missing right after SET: %d, %v", n, err)
	}
	waitFor(t, 5*time.Second, "the key to expire", func() bool {
		n, err := rdb.Exists(ctx, "k").Result()
		return err == nil && n == 0
	})
}

func TestEmbeddedStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e, err := queue.StartEmbedded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rdb := redis.NewClient(&redis.Options{Addr: e.Addr(), MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	cancel()
	waitFor(t, 5*time.Second, "the server to stop", func() bool {
		return rdb.Ping(context.Background()).Err() != nil
	})
}
