package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/core"
)

// fakeQueue records enqueued job IDs and can fail the first calls.
type fakeQueue struct {
	mu       sync.Mutex
	failNext int
	ids      []int64
}

func (q *fakeQueue) Enqueue(_ context.Context, j core.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failNext > 0 {
		q.failNext--
		return errors.New("redis down")
	}
	q.ids = append(q.ids, j.ID)
	return nil
}

func (q *fakeQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ids)
}

// startRelayer runs a relayer until the test ends and checks it returns.
func startRelayer(t *testing.T, relay *core.Relay, cfg queue.RelayConfig) *queue.Relayer {
	t.Helper()
	cfg.Logger = testLogger()
	r, err := queue.NewRelayer(relay, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

func addPending(store *memJobs, n int) {
	for range n {
		store.add(core.Job{Kind: "k"})
	}
}

func allEnqueued(store *memJobs) func() bool {
	return func() bool {
		jobs, _ := store.PendingJobs(context.Background(), 1000)
		return len(jobs) == 0
	}
}

func TestRelayerFullBatchReadsAgainAtOnce(t *testing.T) {
	store, q := newMemJobs(), &fakeQueue{}
	addPending(store, 5)
	// An hour's poll: only "a full batch reads again" can relay all five.
	startRelayer(t, &core.Relay{Store: store, Queue: q}, queue.RelayConfig{Batch: 2, PollInterval: time.Hour, SweepInterval: time.Hour})
	waitFor(t, 5*time.Second, "all jobs relayed", allEnqueued(store))
	if got := q.count(); got != 5 {
		t.Errorf("enqueued %d tasks, want 5", got)
	}
}

func TestRelayerNotifyWakesIt(t *testing.T) {
	store, q := newMemJobs(), &fakeQueue{}
	reg := prometheus.NewRegistry()
	// An hour's poll: only Notify can relay jobs added after the start.
	r := startRelayer(t, &core.Relay{Store: store, Queue: q}, queue.RelayConfig{PollInterval: time.Hour, SweepInterval: time.Hour, Registerer: reg})
	waitFor(t, 5*time.Second, "the first read", func() bool { return store.pendingReads() > 0 })
	addPending(store, 3)
	r.Notify()
	r.Notify() // merges with the first; never blocks
	waitFor(t, 5*time.Second, "notified jobs relayed", allEnqueued(store))
	waitFor(t, 5*time.Second, "relay counter at 3", func() bool {
		return counterValue(t, reg, "passhub_relay_enqueued_total", nil) == 3
	})
}

func TestRelayerKeepsGoingAfterErrors(t *testing.T) {
	store, q := newMemJobs(), &fakeQueue{failNext: 3}
	addPending(store, 4)
	startRelayer(t, &core.Relay{Store: store, Queue: q}, queue.RelayConfig{PollInterval: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, SweepInterval: time.Hour})
	waitFor(t, 5*time.Second, "jobs relayed once redis is back", allEnqueued(store))
	if got := q.count(); got != 4 {
		t.Errorf("enqueued %d tasks, want 4", got)
	}
}

func TestRelayerSweepsStaleJobs(t *testing.T) {
	store, q := newMemJobs(), &fakeQueue{}
	long := time.Now().Add(-time.Hour)
	recent := time.Now()
	stale := store.add(core.Job{Kind: "k", State: core.JobEnqueued, EnqueuedAt: &long})
	store.add(core.Job{Kind: "k", State: core.JobEnqueued, EnqueuedAt: &recent})
	store.add(core.Job{Kind: "k", State: core.JobDone, EnqueuedAt: &long})
	startRelayer(t, &core.Relay{Store: store, Queue: q}, queue.RelayConfig{StaleAge: time.Minute, SweepInterval: 20 * time.Millisecond})
	waitFor(t, 5*time.Second, "stale job re-driven", func() bool { return q.count() > 0 })
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, id := range q.ids {
		if id != stale.ID {
			t.Errorf("re-drove job %d, want only the stale job %d", id, stale.ID)
		}
	}
}

func TestNewRelayerValidates(t *testing.T) {
	store, q := newMemJobs(), &fakeQueue{}
	tests := []struct {
		name  string
		relay *core.Relay
		cfg   queue.RelayConfig
	}{
		{"no relay", nil, queue.RelayConfig{}},
		{"no store", &core.Relay{Queue: q}, queue.RelayConfig{}},
		{"no queue", &core.Relay{Store: store}, queue.RelayConfig{}},
		{"negative poll", &core.Relay{Store: store, Queue: q}, queue.RelayConfig{PollInterval: -1}},
		{"negative batch", &core.Relay{Store: store, Queue: q}, queue.RelayConfig{Batch: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := queue.NewRelayer(tt.relay, tt.cfg); err == nil {
				t.Fatal("got no error")
			}
		})
	}
}
