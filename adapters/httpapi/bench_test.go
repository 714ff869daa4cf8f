package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/passhub/passhub/adapters/postgres"
	"github.com/passhub/passhub/adapters/postgres/pgtest"
	"github.com/passhub/passhub/core"
)

func BenchmarkCreatePassSQLite(b *testing.B) {
	st := openSQLite(b)
	benchmarkCreatePass(b, core.NewService(st), st)
}

func BenchmarkCreatePassPostgres(b *testing.B) {
	st, err := postgres.Open(b.Context(), pgtest.NewDatabase(b), postgres.Options{})
	must(b, err)
	b.Cleanup(st.Close)
	benchmarkCreatePass(b, core.NewService(st), st)
}

// benchmarkCreatePass issues passes through the real handler over a real
// TCP listener, concurrently, and reports passes/s; run it once per store
// (svc's store and idem may be the same object). Sub-benchmarks: without
// and with an Idempotency-Key, which costs a reserve and a complete.
func benchmarkCreatePass(b *testing.B, svc *core.Service, idem core.IdempotencyStore) {
	ctx := b.Context()
	ws, secret, err := svc.CreateWorkspace(ctx, "bench-"+core.RandomToken(5), "")
	must(b, err)
	tpl, err := svc.CreateTemplate(ctx, ws.ID, core.Template{
		Name: "bench", Style: core.StyleStoreCard, OrganizationName: "Bench",
		Fields: core.FieldLayout{Primary: []core.Field{{Key: "points", Label: "Points"}}},
	})
	must(b, err)
	srv, err := New(Config{Service: svc, Idempotency: idem})
	must(b, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()

	// One counter across every run: the framework calls each sub-benchmark
	// several times and external IDs must stay unique.
	var seq atomic.Int64
	for _, mode := range []struct {
		name       string
		idempotent bool
	}{{"plain", false}, {"idempotency-key", true}} {
		b.Run(mode.name, func(b *testing.B) {
			b.SetParallelism(4) // requests wait on I/O: keep more in flight than cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					body := fmt.Sprintf(`{"templateId":%q,"externalId":"bench-%d","data":{"points":%d}}`, tpl.ID, n, n)
					req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/passes", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set("Authorization", "Bearer "+secret)
					req.Header.Set("Content-Type", "application/json")
					if mode.idempotent {
						req.Header.Set(HeaderIdempotencyKey, fmt.Sprintf("bench-%d", n))
					}
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					_ = res.Body.Close()
					if res.StatusCode != http.StatusCreated {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "passes/s")
		})
	}
}
