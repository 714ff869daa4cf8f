package storetest

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// BenchParallelism is how many goroutines per GOMAXPROCS the trigger
// benchmark runs: webhook deliveries wait on the database, so many are
// in flight at once, as behind a busy HTTP listener.
const BenchParallelism = 16

// BenchmarkAcceptTrigger is the webhook hot path on s: one verified
// Shopify delivery (a ~2 KB order payload and its headers) accepted per
// call, with its trigger.apply job, from BenchParallelism x GOMAXPROCS
// goroutines. It reports triggers/s and the p50 and p99 latency of a call.
func BenchmarkAcceptTrigger(b *testing.B, s Store) {
	ctx := b.Context()
	at := now()
	ws := core.Workspace{ID: core.NewID(core.PrefixWorkspace), Name: "bench " + core.NewID(""), CreatedAt: at}
	key := core.APIKey{ID: core.NewID(core.PrefixAPIKey), WorkspaceID: ws.ID, Name: "admin", Role: core.RoleAdmin,
		Hash: core.HashAPIKey(core.NewAPIKeySecret()), CreatedAt: at}
	if err := s.CreateWorkspace(ctx, ws, key); err != nil {
		b.Fatalf("CreateWorkspace: %v", err)
	}
	c := newConnector(ws.ID, "shop")
	if err := s.CreateConnector(ctx, c); err != nil {
		b.Fatalf("CreateConnector: %v", err)
	}
	// One counter across the framework's runs: dedupe keys stay unique.
	var seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration

	b.SetParallelism(BenchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([]time.Duration, 0, 1024)
		for pb.Next() {
			n := seq.Add(1)
			webhookID := "b1f2c3d4-" + strconv.FormatInt(n, 10)
			received := time.Now()
			triggered := received.Add(-150 * time.Millisecond)
			tr := core.Trigger{
				ID: core.NewID(core.PrefixTrigger), WorkspaceID: ws.ID, ConnectorID: c.ID, Topic: "orders/create", DedupeKey: webhookID,
				Source: "acme.myshopify.com", Payload: shopifyPayload(int(n)),
				Headers: map[string]string{
					"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "acme.myshopify.com",
					"X-Shopify-Webhook-Id": webhookID, "X-Shopify-Event-Id": "98880550-" + strconv.FormatInt(n, 10),
					"X-Shopify-Triggered-At": triggered.Format(time.RFC3339Nano), "X-Shopify-API-Version": "2025-07",
					"X-Shopify-Hmac-Sha256": "XWmrwMey6OsLMeiZKwP4FppHH3cmAiiJJAweH5Jo4bM=",
				},
				OccurredAt: &triggered, ReceivedAt: received, Status: core.TriggerReceived, UpdatedAt: received,
			}
			start := time.Now()
			dup, err := s.AcceptTriggers(ctx, []core.Trigger{tr})
			mine = append(mine, time.Since(start))
			if err != nil {
				b.Errorf("AcceptTriggers: %v", err)
				return
			}
			if dup[0].Duplicate {
				b.Errorf("trigger %s flagged as a duplicate", webhookID)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "triggers/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
		}
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
	}
}
