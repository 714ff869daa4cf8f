package webhooks_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/passhub/passhub/adapters/postgres"
	"github.com/passhub/passhub/adapters/postgres/pgtest"
	"github.com/passhub/passhub/adapters/queue/inproc"
	"github.com/passhub/passhub/adapters/secretbox"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/adapters/webhooks"
	"github.com/passhub/passhub/adapters/webhooks/webhookstest"
	"github.com/passhub/passhub/core"
)

const (
	// benchSubscriptions endpoints want every pass event of the
	// workspace: one event is that many messages.
	benchSubscriptions = 1000
	// benchWorkers is the default PASSHUB_WORKER_CONCURRENCY.
	benchWorkers = 20
)

// BenchmarkDeliveryFanout times webhook delivery of one pass event to
// benchSubscriptions subscriptions, all on one local receiver (HTTP/1.1
// on loopback, answering 204 at once), through the worker's path: the
// event's dispatch job fans out through the Consumer, the real relay
// (queue.Relayer) hands the pending jobs to an in-process queue standing
// in for Redis, and benchWorkers goroutines run them with a
// core.JobRunner: each job loads the subscription and event, builds and
// signs the message, POSTs it through the guarded client and records
// the attempt. An operation is one event, until every delivery is done.
//
// Metrics: deliveries/s; conns, the TCP connections the receiver saw
// per event (keep-alive reuse keeps it at about benchWorkers or less).
func BenchmarkDeliveryFanout(b *testing.B) {
	b.Run("store=sqlite", func(b *testing.B) {
		st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "passhub.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		benchmarkDeliveryFanout(b, st)
	})
	b.Run("store=postgres", func(b *testing.B) {
		// The pool size passhub runs with (postgres.Options defaults).
		st, err := postgres.Open(b.Context(), pgtest.NewDatabase(b), postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(st.Close)
		benchmarkDeliveryFanout(b, st)
	})
}

// benchStore is what the delivery path needs of a store.
type benchStore interface {
	core.Store
	core.JobStore
	webhooks.Store
}

func benchmarkDeliveryFanout(b *testing.B, st benchStore) {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	key := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		b.Fatal(err)
	}
	guard := webhooks.NewGuard(true) // the receiver is on loopback
	m, err := webhooks.NewManager(webhooks.Config{Store: st, Box: box, URLs: guard})
	if err != nil {
		b.Fatal(err)
	}
	svc := core.NewService(st)
	ws, _, err := svc.CreateWorkspace(ctx, "bench-webhooks", "")
	if err != nil {
		b.Fatal(err)
	}
	tpl, err := svc.CreateTemplate(ctx, ws.ID, core.Template{Name: "Card", Style: core.StyleStoreCard, Description: "d", OrganizationName: "Bench"})
	if err != nil {
		b.Fatal(err)
	}
	rcv := webhookstest.Start(b, webhookstest.Options{CountOnly: true})
	for i := range benchSubscriptions {
		if _, err := m.Create(ctx, ws.ID, webhooks.Input{URL: fmt.Sprintf("%s/hooks/%d", rcv.URL, i), Events: []string{"pass.*"}}); err != nil {
			b.Fatal(err)
		}
	}

	// A worker process: deliverer, consumer, runner, relay.
	d, err := webhooks.NewDeliverer(webhooks.DelivererConfig{Store: st, Keys: m, Client: guard.Client(benchWorkers), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	consumer, err := webhooks.NewConsumer(webhooks.ConsumerConfig{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	runner := core.NewJobRunner(st)
	runner.Handle(core.JobKindDispatch, core.NewDispatcher(st, consumer))
	runner.Handle(core.JobKindWebhookDeliver, d)
	pool, err := inproc.Start(ctx, st, runner, benchWorkers, 4*benchSubscriptions, log)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Stop()

	b.ResetTimer()
	for i := range b.N {
		if _, err := svc.CreatePass(ctx, ws.ID, core.PassInput{TemplateID: tpl.ID, ExternalID: fmt.Sprintf("cust-%d", i), Data: map[string]any{"points": i}}); err != nil {
			b.Fatal(err)
		}
		pool.Notify()
		if err := pool.WaitIdle(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()

	if n, err := pool.Failed(); n > 0 {
		// No retry here: with the receiver answering 204, any failure is
		// a bug the benchmark must report.
		b.Fatalf("%d jobs failed, first: %v", n, err)
	}
	if got, want := rcv.Count(), int64(b.N*benchSubscriptions); got != want {
		b.Fatalf("the receiver got %d messages, want %d", got, want)
	}
	b.ReportMetric(float64(b.N*benchSubscriptions)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(rcv.Connections())/float64(b.N), "conns")
}
