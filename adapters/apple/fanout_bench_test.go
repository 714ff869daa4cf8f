package apple_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/apple"
	"github.com/passhub/passhub/adapters/apple/apnstest"
	"github.com/passhub/passhub/adapters/apple/testpki"
	"github.com/passhub/passhub/adapters/postgres"
	"github.com/passhub/passhub/adapters/postgres/pgtest"
	"github.com/passhub/passhub/adapters/queue/inproc"
	"github.com/passhub/passhub/adapters/secretbox"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/core"
)

// The "push all" benchmark: one template whose passes sit on
// fanoutDevices devices, one pass per device (a loyalty card on the
// customer's phone), pushed through passhub's real path to the local APNs
// mock.
const (
	fanoutDevices = 100_000
	// fanoutWorkers is the default PASSHUB_WORKER_CONCURRENCY.
	fanoutWorkers = 20
	// fanoutSeeders write the seed rows concurrently (SQLite serialises
	// them on its one writer; PostgreSQL takes them on its pool).
	fanoutSeeders = 8
)

// BenchmarkTemplatePushFanout times a "push all" over fanoutDevices
// registered devices: Pusher.StartTemplatePush, then the jobs it fans out
// to (template pages and push batches of apple.DefaultPushBatch devices),
// run as the worker runs them: the real relay (queue.Relayer) hands
// pending jobs to an in-process queue that stands in for Redis, and
// fanoutWorkers goroutines run them with a core.JobRunner, until no job
// is pending or running. Every iteration starts a cold APNs client pool,
// so it dials and handshakes once. The store is seeded once per process
// and per store (outside the timer); run it with -benchtime 1x -count N.
//
// Metrics: pushes/s, s/op (seconds per push-all), conns (TLS connections
// the mock saw per push-all; 1 is right).
func BenchmarkTemplatePushFanout(b *testing.B) {
	b.Run("store=sqlite", func(b *testing.B) { benchmarkFanout(b, fanoutFixtureFor(b, "sqlite", openFanoutSQLite)) })
	b.Run("store=postgres", func(b *testing.B) { benchmarkFanout(b, fanoutFixtureFor(b, "postgres", openFanoutPostgres)) })
}

func benchmarkFanout(b *testing.B, f *fanoutFixture) {
	var conns int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		conns += f.pushAll(b)
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*fanoutDevices)/secs, "pushes/s")
	b.ReportMetric(secs/float64(b.N), "s/op")
	b.ReportMetric(float64(conns)/float64(b.N), "conns")
}

// fanoutStore is what the benchmark needs of a store.
type fanoutStore interface {
	core.Store
	core.JobStore
	core.AppleStore
}

// fanoutFixture is a seeded store with its mock APNs, kept for the whole
// process: -count re-runs the benchmark function, and seeding 100k
// devices again each time would cost more than the runs.
type fanoutFixture struct {
	store fanoutStore
	// analyze, when set, refreshes the planner statistics, as autovacuum
	// does on a production PostgreSQL (the test server runs without it).
	analyze func(context.Context) error
	issuer  *apple.Issuer
	mock    *apnstest.Server
	ws      string
	tpl     string
	// ok counts the pushes the mock accepted (200).
	ok  atomic.Int64
	err error
}

var fanoutFixtures = struct {
	sync.Mutex
	byName   map[string]*fanoutFixture
	cleanups []func()
}{byName: map[string]*fanoutFixture{}}

// TestMain removes the benchmark fixtures (databases, temporary
// directory, mock server) once every benchmark is done.
func TestMain(m *testing.M) {
	defer closeFanoutFixtures()
	m.Run()
}

func closeFanoutFixtures() {
	fanoutFixtures.Lock()
	defer fanoutFixtures.Unlock()
	for i := len(fanoutFixtures.cleanups) - 1; i >= 0; i-- {
		fanoutFixtures.cleanups[i]()
	}
	fanoutFixtures.cleanups = nil
}

// processTB hands pgtest a testing.TB whose cleanups run at process end
// (TestMain) rather than when the first benchmark run ends.
type processTB struct {
	testing.TB
}

func (processTB) Cleanup(f func()) { fanoutFixtures.cleanups = append(fanoutFixtures.cleanups, f) }

func (processTB) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fanout fixture: "+format+"\n", args...)
}

// fanoutFixtureFor returns the process's fixture for name, building and
// seeding it on first use with open. Callers hold no lock; building runs
// under the fixtures' lock (benchmarks run one at a time anyway).
func fanoutFixtureFor(b *testing.B, name string, open fanoutOpener) *fanoutFixture {
	b.Helper()
	fanoutFixtures.Lock()
	defer fanoutFixtures.Unlock()
	f, ok := fanoutFixtures.byName[name]
	if !ok {
		// A b.Fatal inside build leaves this error behind for later runs.
		f = &fanoutFixture{err: errors.New("setup failed in an earlier run")}
		fanoutFixtures.byName[name] = f
		f.err = f.build(b, open)
	}
	if f.err != nil {
		b.Fatalf("%s fixture: %v", name, f.err)
	}
	return f
}

// fanoutOpener opens an empty store, and says how to refresh its planner
// statistics when that is not automatic.
type fanoutOpener func(b *testing.B) (st fanoutStore, analyze func(context.Context) error, err error)

func openFanoutSQLite(*testing.B) (fanoutStore, func(context.Context) error, error) {
	dir, err := os.MkdirTemp("", "passhub-fanout-")
	if err != nil {
		return nil, nil, err
	}
	fanoutFixtures.cleanups = append(fanoutFixtures.cleanups, func() { _ = os.RemoveAll(dir) })
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "passhub.db"))
	if err != nil {
		return nil, nil, err
	}
	fanoutFixtures.cleanups = append(fanoutFixtures.cleanups, func() { _ = st.Close() })
	// As in production: passhub's SQLite store never runs ANALYZE.
	return st, nil, nil
}

func openFanoutPostgres(b *testing.B) (fanoutStore, func(context.Context) error, error) {
	dsn := pgtest.NewDatabase(processTB{b})
	// The pool size passhub runs with (postgres.Options defaults).
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		return nil, nil, err
	}
	fanoutFixtures.cleanups = append(fanoutFixtures.cleanups, st.Close)
	// The test server runs with autovacuum off: without this the planner
	// would work from the statistics of empty tables (a template page
	// then scans every registration: ~300 ms instead of ~3 ms).
	analyze := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, `ANALYZE`)
		return err
	}
	return st, analyze, nil
}

// build opens the store, uploads credentials, creates the template and
// seeds fanoutDevices passes each registered on its own device.
func (f *fanoutFixture) build(b *testing.B, open fanoutOpener) error {
	ctx := context.Background()
	st, analyze, err := open(b)
	if err != nil {
		return err
	}
	f.store, f.analyze = st, analyze
	pki := testpki.Default()
	mock, err := apnstest.NewServer(apnstest.Options{
		ClientCAs: pki.Pool(), Topic: pki.PassTypeID,
		Decide: func(string) (int, string) { f.ok.Add(1); return 0, "" },
	})
	if err != nil {
		return err
	}
	fanoutFixtures.cleanups = append(fanoutFixtures.cleanups, mock.Close)
	f.mock = mock

	key := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		return err
	}
	f.issuer = apple.NewIssuer(st, box, "https://passhub.test", 10000)
	svc := core.NewService(st)
	ws, _, err := svc.CreateWorkspace(ctx, "bench-fanout", "")
	if err != nil {
		return err
	}
	f.ws = ws.ID
	if _, err := f.issuer.Save(ctx, f.ws, apple.Upload{
		PassTypeIdentifier: pki.PassTypeID, TeamIdentifier: pki.TeamID,
		Certificate: string(pki.CertPEM), PrivateKey: string(pki.KeyPEM), WWDRCertificate: string(pki.WWDRPEM),
	}); err != nil {
		return err
	}
	tpl, err := svc.CreateTemplate(ctx, f.ws, core.Template{
		Name: "Loyalty", Style: core.StyleStoreCard, Description: "Bench card", OrganizationName: "Bench",
		Images: map[string]string{"icon": "iVBORw0KGgo="},
		Fields: core.FieldLayout{Primary: []core.Field{{Key: "points", Label: "Points"}}},
	})
	if err != nil {
		return err
	}
	f.tpl = tpl.ID

	// Labelled, so a CPU profile of the benchmark can leave seeding out
	// (go tool pprof -tagignore fanout=seed).
	start := time.Now()
	pprof.Do(ctx, pprof.Labels("fanout", "seed"), func(ctx context.Context) { err = f.seed(ctx, pki.PassTypeID) })
	if err != nil {
		return err
	}
	b.Logf("seeded %d passes on %d devices in %s", fanoutDevices, fanoutDevices, time.Since(start).Round(time.Millisecond))
	return nil
}

// seed writes the passes and registrations straight into the store, in
// parallel: PassKit.Register one by one (authorise, register, emit
// pass.installed and its dispatch job) takes minutes for 100k on SQLite,
// and the dispatch jobs would then sit in the queue the benchmark
// drains. The rows are what Wallet registrations leave: an active pass
// installed in Apple Wallet, one device row with its push token, one
// registration.
func (f *fanoutFixture) seed(ctx context.Context, passType string) error {
	var next atomic.Int64
	errs := make(chan error, fanoutSeeders)
	var wg sync.WaitGroup
	for range fanoutSeeders {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= fanoutDevices {
					return
				}
				if err := f.seedOne(ctx, passType, i); err != nil {
					errs <- err
					return
				}
				if f.analyze != nil && (i+1)%(fanoutDevices/10) == 0 {
					if err := f.analyze(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (f *fanoutFixture) seedOne(ctx context.Context, passType string, i int) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	p := core.Pass{
		ID: core.NewID(core.PrefixPass), WorkspaceID: f.ws, TemplateID: f.tpl, ExternalID: fmt.Sprintf("cust-%06d", i),
		Data: map[string]any{"points": float64(i % 5000)}, Lifecycle: core.LifecycleActive, Version: 1,
		AuthToken: core.RandomToken(20), WalletStatus: core.WalletApple, AppleWalletInstalledAt: &now,
		WalletLastChangedAt: &now, WalletLastEvent: core.EventInstalled, CreatedAt: now, UpdatedAt: now,
	}
	if err := f.store.CreatePass(ctx, p, nil); err != nil {
		return fmt.Errorf("seeding pass %d: %w", i, err)
	}
	reg := core.Registration{
		DeviceLibraryID: fanoutHex(16), PassTypeIdentifier: passType, PassID: p.ID, WorkspaceID: f.ws,
		PushToken: fanoutHex(32), CreatedAt: now, UpdatedAt: now,
	}
	if _, err := f.store.RegisterDevice(ctx, reg, nil); err != nil {
		return fmt.Errorf("seeding registration %d: %w", i, err)
	}
	return nil
}

func fanoutHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pushAll runs one push-all with the timer stopped on entry; it starts
// the timer for the push-all itself and leaves it stopped. It returns
// the TLS connections the mock saw.
func (f *fanoutFixture) pushAll(b *testing.B) int {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	if f.analyze != nil {
		if err := f.analyze(ctx); err != nil {
			b.Fatal(err)
		}
	}
	f.mock.Reset()
	f.ok.Store(0)

	// A worker process: cold APNs pool, pusher, runner, relay.
	apns := apple.NewAPNs(apple.APNsConfig{BaseURL: f.mock.URL, RootCAs: f.mock.CAPool()})
	defer apns.Close()
	log := slog.New(slog.DiscardHandler)
	pusher := apple.NewPusher(f.store, f.issuer, apns, log)
	runner := core.NewJobRunner(f.store)
	runner.Handle(apple.JobPush, pusher)
	runner.Handle(apple.JobTemplatePush, pusher)
	pool, err := inproc.Start(ctx, f.store, runner, fanoutWorkers, 1<<14, log)
	if err != nil {
		b.Fatal(err)
	}

	b.StartTimer()
	if _, err := pusher.StartTemplatePush(ctx, f.ws, f.tpl); err != nil {
		b.Fatal(err)
	}
	pool.Notify()
	if err := pool.WaitIdle(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	pool.Stop()

	if n, err := pool.Failed(); n > 0 {
		// No retry here: with the mock answering 200, any failure is a
		// bug the benchmark must report.
		b.Fatalf("%d jobs failed, first: %v", n, err)
	}
	if got, ok := f.mock.Total(), f.ok.Load(); got != fanoutDevices || ok != fanoutDevices {
		b.Fatalf("the mock got %d pushes (%d accepted), want %d", got, ok, fanoutDevices)
	}
	return f.mock.Connections()
}
