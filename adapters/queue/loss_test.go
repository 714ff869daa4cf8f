package queue_test

// The loss tests check the promise "Redis is transport, the store is the
// truth": a FLUSHALL of Redis or a kill -9 of a passhub process in the
// middle of a load loses no event, and every event's work ends up done at
// least once and never twice in effect. "In effect" is what the store
// accepts: a job is completed (CompleteJob succeeds) exactly once however
// often its handler ran; duplicate runs are allowed and counted.

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/passhub/passhub/adapters/postgres"
	"github.com/passhub/passhub/adapters/postgres/pgtest"
	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/adapters/queue/internal/losstest"
	"github.com/passhub/passhub/adapters/queue/redistest"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/core"
)

const (
	lossPasses      = 500 // each is created, then updated: 1000 events
	lossLoaders     = 8   // concurrent API clients
	lossConcurrency = 8   // worker concurrency
)

type lossStore interface {
	core.Store
	core.JobStore
}

// jobRow is a job as the store's table holds it; the tests read the
// table directly because the outbox port has no "list all jobs".
type jobRow struct {
	ID        int64
	Kind, Key string
	State     core.JobState
	Attempts  int
	LastError string
}

const jobRowsQuery = `SELECT id, kind, key, state, attempts, last_error FROM jobs ORDER BY id`

func scanJobRows(next func() bool, scan func(...any) error, err func() error) ([]jobRow, error) {
	var out []jobRow
	for next() {
		var r jobRow
		if e := scan(&r.ID, &r.Kind, &r.Key, &r.State, &r.Attempts, &r.LastError); e != nil {
			return nil, e
		}
		out = append(out, r)
	}
	return out, err()
}

func pgJobRows(dsn string) func(context.Context) ([]jobRow, error) {
	return func(ctx context.Context) ([]jobRow, error) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return nil, err
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, jobRowsQuery)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return scanJobRows(rows.Next, rows.Scan, rows.Err)
	}
}

func sqliteJobRows(path string) func(context.Context) ([]jobRow, error) {
	return func(ctx context.Context) ([]jobRow, error) {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
		if err != nil {
			return nil, err
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, jobRowsQuery)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return scanJobRows(rows.Next, rows.Scan, rows.Err)
	}
}

// effects is the in-process losstest.Recorder.
type effects struct {
	mu   sync.Mutex
	ran  map[int64]int
	done map[int64]int
}

func newEffects() *effects { return &effects{ran: map[int64]int{}, done: map[int64]int{}} }

func (e *effects) Ran(id int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ran[id]++
}

func (e *effects) Completed(id int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done[id]++
}

// setupWorkspace makes the workspace and template the load writes to.
func setupWorkspace(t *testing.T, svc *core.Service) (wsID, tplID string) {
	t.Helper()
	ctx := context.Background()
	ws, _, err := svc.CreateWorkspace(ctx, "loss", "")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := svc.CreateTemplate(ctx, ws.ID, core.Template{Name: "card", Style: core.StyleStoreCard, OrganizationName: "passhub"})
	if err != nil {
		t.Fatal(err)
	}
	return ws.ID, tpl.ID
}

// runLoad creates lossPasses passes and updates each once through the
// service, lossLoaders at a time; mid runs once, in the loader that
// reaches half the operations, while the others keep going. It returns
// how many operations were acknowledged: each is exactly one event.
func runLoad(t *testing.T, svc *core.Service, wsID, tplID string, mid func()) int {
	t.Helper()
	ctx := context.Background()
	var acked atomic.Int64
	var once sync.Once
	ack := func() {
		if acked.Add(1) == lossPasses {
			once.Do(mid)
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range lossLoaders {
		wg.Go(func() {
			for i := range next {
				p, err := svc.CreatePass(ctx, wsID, core.PassInput{TemplateID: tplID, ExternalID: fmt.Sprintf("c-%d", i), Data: map[string]any{"points": i}})
				if err != nil {
					t.Errorf("creating pass %d: %v", i, err)
					continue
				}
				ack()
				if _, err := svc.UpdatePass(ctx, wsID, p.ID, core.PassPatch{Data: map[string]any{"points": i + 1}}); err != nil {
					t.Errorf("updating pass %d: %v", i, err)
					continue
				}
				ack()
			}
		})
	}
	for i := range lossPasses {
		next <- i
	}
	close(next)
	wg.Wait()
	return int(acked.Load())
}

// waitAllDone polls the job table until every event has its dispatch and
// effect job and nothing is left to do, and returns the final rows.
func waitAllDone(t *testing.T, timeout time.Duration, events int, rows func(context.Context) ([]jobRow, error)) []jobRow {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := rows(ctx)
		cancel()
		if err != nil {
			t.Fatalf("reading jobs: %v", err)
		}
		open := 0
		for _, r := range got {
			switch r.State {
			case core.JobFailed:
				t.Fatalf("job %d (%s %s) failed: %s", r.ID, r.Kind, r.Key, r.LastError)
			case core.JobPending, core.JobEnqueued:
				open++
			}
		}
		if open == 0 && len(got) >= 2*events {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d jobs of %d expected, %d still to do", timeout, len(got), 2*events, open)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// verifyNoLoss checks the end state: every acknowledged operation has its
// event, every event exactly one dispatch job and one effect job, all
// done; no job completed twice; every effect ran at least once. When
// exact, every job's completion was observed (in-process); otherwise a
// completion may have gone unrecorded by a killed process, at most one
// per task it was running.
func verifyNoLoss(t *testing.T, store core.EventStore, wsID string, acked int, rows []jobRow, eff *effects, exact bool) {
	t.Helper()
	var events []core.Event
	for cursor := ""; ; {
		page, next, err := store.ListEvents(context.Background(), wsID, core.EventQuery{Page: core.Page{Cursor: cursor, Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(events) != acked {
		t.Errorf("%d events for %d acknowledged operations", len(events), acked)
	}
	byKey := map[string]map[string][]jobRow{core.JobKindDispatch: {}, losstest.EffectKind: {}}
	for _, r := range rows {
		if byKey[r.Kind] == nil {
			t.Errorf("unexpected job %d of kind %s", r.ID, r.Kind)
			continue
		}
		byKey[r.Kind][r.Key] = append(byKey[r.Kind][r.Key], r)
	}
	eff.mu.Lock()
	defer eff.mu.Unlock()
	unrecorded, duplicateRuns, attempts := 0, 0, 0
	for _, ev := range events {
		for _, kind := range []string{core.JobKindDispatch, losstest.EffectKind} {
			jobs := byKey[kind][ev.ID]
			if len(jobs) != 1 {
				t.Errorf("event %s has %d %s jobs, want 1", ev.ID, len(jobs), kind)
				continue
			}
			j := jobs[0]
			attempts += j.Attempts
			if j.State != core.JobDone {
				t.Errorf("event %s: %s job %d is %s", ev.ID, kind, j.ID, j.State)
			}
			switch n := eff.done[j.ID]; {
			case n > 1:
				t.Errorf("event %s: %s job %d completed %d times", ev.ID, kind, j.ID, n)
			case n == 0 && exact:
				t.Errorf("event %s: %s job %d done without a completion", ev.ID, kind, j.ID)
			case n == 0:
				unrecorded++
			}
			if kind == losstest.EffectKind {
				if eff.ran[j.ID] == 0 {
					t.Errorf("event %s: effect job %d done but never ran", ev.ID, j.ID)
				}
				duplicateRuns += max(eff.ran[j.ID]-1, 0)
			}
		}
	}
	if len(rows) != 2*len(events) {
		t.Errorf("%d jobs for %d events, want %d", len(rows), len(events), 2*len(events))
	}
	if unrecorded > lossConcurrency {
		t.Errorf("%d completions unrecorded, more than the %d tasks a killed worker can have in flight", unrecorded, lossConcurrency)
	}
	t.Logf("%d events, %d jobs, %d attempts, %d duplicate effect runs (no-ops), %d completions lost with a killed process",
		len(events), len(rows), attempts, duplicateRuns, unrecorded)
}

func TestLossFlushRedisPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	store, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	testLossFlushRedis(t, store, pgJobRows(dsn))
}

func TestLossFlushRedisSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "passhub.db")
	store, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	testLossFlushRedis(t, store, sqliteJobRows(path))
}

// testLossFlushRedis flushes the test's Redis database in the middle of
// the load. It is the test's FLUSHALL: flushing the whole server would
// wipe the databases of tests running in parallel, and one database is
// all this process's queue has.
func testLossFlushRedis(t *testing.T, store lossStore, rows func(context.Context) ([]jobRow, error)) {
	start := time.Now()
	opt := redistest.NewRedis(t)
	svc := core.NewService(store)
	wsID, tplID := setupWorkspace(t, svc)

	// Effects wait at this gate until the flush, so the flush finds
	// tasks both running (filling every worker slot) and queued behind
	// them: it is sure to lose some.
	gate := make(chan struct{})
	var waiting atomic.Int32
	eff := newEffects()
	runner := losstest.NewRunner(store, store, eff, func(ctx context.Context, _ core.Job) error {
		waiting.Add(1)
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	enq := newEnqueuer(t, opt, queue.EnqueuerConfig{})
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() { cancel(); bg.Wait() }()
	relayer, err := queue.NewRelayer(&core.Relay{Store: store, Queue: enq}, queue.RelayConfig{
		PollInterval: 20 * time.Millisecond, SweepInterval: 250 * time.Millisecond, StaleAge: time.Second, Logger: testLogger(), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	bg.Go(func() { relayer.Run(ctx) })
	startWorker(t, queue.WorkerConfig{Redis: opt, Runner: runner, Concurrency: lossConcurrency, TaskPoll: 20 * time.Millisecond, RetryPoll: 200 * time.Millisecond})

	rdb := redis.NewClient(&redis.Options{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB})
	defer rdb.Close()
	var flushed int64
	acked := runLoad(t, svc, wsID, tplID, func() {
		if !waitUntil(30*time.Second, func() bool { return waiting.Load() >= lossConcurrency }) {
			t.Error("effects did not fill the worker")
		}
		var err error
		if flushed, err = rdb.DBSize(context.Background()).Result(); err != nil {
			t.Errorf("sizing redis: %v", err)
		}
		if err := rdb.FlushDB(context.Background()).Err(); err != nil {
			t.Errorf("flushing redis: %v", err)
		}
		close(gate)
	})
	if flushed == 0 {
		t.Error("the flush found Redis empty; it tested nothing")
	}
	loaded := time.Since(start)
	final := waitAllDone(t, 60*time.Second, acked, rows)
	verifyNoLoss(t, store, wsID, acked, final, eff, true)
	t.Logf("flushed %d keys mid-load, sweeper re-drove %v jobs; load took %s, all done after %s", flushed,
		counterValue(t, reg, "passhub_sweeper_redriven_total", nil), loaded.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// TestLossKillWorker kills the worker process (relay, sweeper and worker)
// with SIGKILL in the middle of the load and starts another. The tasks
// the dead worker held stay "active" in Redis until asynq's recoverer in
// the new worker sees their lease expired for 30s (it looks once a
// minute, from its start), so this test takes a little over a minute;
// asynq fixes both durations.
func TestLossKillWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("takes over a minute (asynq's lease recovery); run without -short")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "lossworker")
	build := exec.Command("go", "build", "-o", bin, "./internal/lossworker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building lossworker: %v\n%s", err, out)
	}
	start := time.Now()
	dsn := pgtest.NewDatabase(t)
	opt := redistest.NewRedis(t)
	store, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	svc := core.NewService(store)
	wsID, tplID := setupWorkspace(t, svc)
	record := filepath.Join(t.TempDir(), "record")

	startProc := func() *exec.Cmd {
		cmd := exec.Command(bin, "-postgres", dsn, "-redis", redistest.URL(opt), "-record", record, "-concurrency", strconv.Itoa(lossConcurrency))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Stop it before the database is dropped (cleanups run last first).
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "ready\n" {
			t.Fatalf("lossworker did not start: %q, %v", line, err)
		}
		return cmd
	}

	first := startProc()
	acked := runLoad(t, svc, wsID, tplID, func() {
		if !waitUntil(30*time.Second, func() bool { return len(readRecord(t, record).done) >= 100 }) {
			t.Error("the first worker did not get going")
		}
		if err := first.Process.Signal(syscall.SIGKILL); err != nil {
			t.Errorf("killing worker: %v", err)
		}
		first.Wait()
		startProc()
	})
	killedAt := time.Since(start)
	final := waitAllDone(t, 80*time.Second, acked, pgJobRows(dsn))
	verifyNoLoss(t, store, wsID, acked, final, readRecord(t, record), false)
	t.Logf("killed the worker after %s; all done after %s", killedAt.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// readRecord parses the lossworker's record file.
func readRecord(t *testing.T, path string) *effects {
	t.Helper()
	e := newEffects()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		what, idText, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue // a line cut short by the kill
		}
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			continue
		}
		switch what {
		case "ran":
			e.ran[id]++
		case "done":
			e.done[id]++
		}
	}
	return e
}
