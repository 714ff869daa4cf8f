package main

import (
	"context"
	"database/sql"
	"io"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/sqlite"
)

// TestSQLiteReaderReadsTheEmbeddedSchema: the harness's reads of an
// embedded passhub's file work on the schema passhub migrates to, while
// another connection holds it open in WAL mode, and never write.
func TestSQLiteReaderReadsTheEmbeddedSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "passhub.db")
	st, err := sqlite.Open(ctx, path) // the real migrations
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// passhub's writer, kept open as while it runs.
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i, ext := range []string{"706405506930370085", "706405506930370086"} {
		exec(`INSERT INTO passes (id, workspace_id, template_id, external_id, data, lifecycle, version, auth_token, wallet_status, created_at, updated_at)
			VALUES (?, 'ws', 'tpl', ?, '{}', 'active', 1, ?, 'none', 0, 0)`, "pas_"+ext, ext, "auth"+string(rune('A'+i)))
	}
	since := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	us := func(d time.Duration) int64 { return since.Add(d).UnixMicro() }
	job := func(key, state string, created, enqueued, done any) {
		exec(`INSERT INTO jobs (workspace_id, kind, key, state, created_at, enqueued_at, done_at) VALUES ('ws', 'apple.push', ?, ?, ?, ?, ?)`,
			key, state, created, enqueued, done)
	}
	job("before", "done", us(-time.Second), us(-time.Second), us(0))                          // created before since: not read
	job("a", "done", us(0), us(20*time.Millisecond), us(70*time.Millisecond))                 // 20 ms to queue, 50 ms queued and run
	job("b", "done", us(time.Second), us(time.Second+40*time.Millisecond), us(2*time.Second)) // 40 ms, 960 ms
	job("c", "pending", us(time.Second), nil, nil)
	job("d", "enqueued", us(time.Second), us(time.Second), nil)

	db, err := openSQLiteReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	var r storeReader = newSQLiteReader(db)
	defer r.closeReader()

	if n, err := r.countPasses(ctx); err != nil || n != 2 {
		t.Errorf("countPasses = %d, %v; want 2", n, err)
	}
	auths, err := r.passAuths(ctx)
	if err != nil || len(auths) != 2 || auths["706405506930370086"] != (passAuth{id: "pas_706405506930370086", auth: "authB"}) {
		t.Errorf("passAuths = %+v, %v", auths, err)
	}
	if n, err := r.busyJobs(ctx); err != nil || n != 2 {
		t.Errorf("busyJobs = %d, %v; want 2 (one pending, one enqueued)", n, err)
	}
	times, err := r.jobTimes(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	var toQueue, queueRun []float64
	for _, j := range times {
		if j.kind != "apple.push" || j.toQueue == nil || j.queueRun == nil {
			t.Fatalf("job time %+v", j)
		}
		toQueue, queueRun = append(toQueue, *j.toQueue), append(queueRun, *j.queueRun)
	}
	slices.Sort(toQueue)
	slices.Sort(queueRun)
	if !nearAll(toQueue, []float64{0.020, 0.040}) || !nearAll(queueRun, []float64{0.050, 0.960}) {
		t.Errorf("job times in seconds: to queue %v, queue and run %v; want [0.02 0.04], [0.05 0.96]", toQueue, queueRun)
	}
	if s, err := r.stats(ctx); err != nil || s != nil {
		t.Errorf("stats = %+v, %v; want none on SQLite", s, err)
	}
	if err := r.analyze(ctx); err != nil {
		t.Errorf("analyze: %v", err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM jobs`); err == nil {
		t.Error("the harness's connection could write")
	}
	// passhub keeps writing while the harness reads.
	exec(`UPDATE jobs SET state = 'done', done_at = ? WHERE key IN ('c', 'd')`, us(3*time.Second))
	if n, err := r.busyJobs(ctx); err != nil || n != 0 {
		t.Errorf("busyJobs after the writer finished them = %d, %v; want 0", n, err)
	}
}

func nearAll(got, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			return false
		}
	}
	return true
}

// TestStagesInterpolateAsPercentileCont: the stage percentiles are
// PostgreSQL's percentile_cont on either store (SELECT
// percentile_cont(0.99) WITHIN GROUP (ORDER BY x) FROM unnest('{1,2,3,4}'::float8[]) x
// is 3.97).
func TestStagesInterpolateAsPercentileCont(t *testing.T) {
	for _, c := range []struct {
		name string
		xs   []float64
		f    float64
		want float64
	}{
		{"none", nil, 0.5, 0},
		{"one", []float64{7}, 0.99, 7},
		{"median of four is between the middle two", []float64{1, 2, 3, 4}, 0.5, 2.5},
		{"p99 of four", []float64{1, 2, 3, 4}, 0.99, 3.97},
		{"p100 is the maximum", []float64{1, 2, 3, 4}, 1, 4},
		{"p0 is the minimum", []float64{1, 2, 3, 4}, 0, 1},
	} {
		if got := percentileCont(c.xs, c.f); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: percentileCont(%v, %v) = %v, want %v", c.name, c.xs, c.f, got, c.want)
		}
	}
	f := func(v float64) *float64 { return &v }
	got := stagesOf([]jobTime{
		{kind: "apple.push", toQueue: f(0.004), queueRun: f(0.030)},
		{kind: "apple.push", toQueue: f(0.001), queueRun: f(0.010)},
		{kind: "apple.push", toQueue: f(0.002), queueRun: nil}, // counted, not in its stage
		{kind: "trigger", toQueue: f(0.5), queueRun: f(1)},
	})
	want := map[string]jobStage{
		"apple.push": {Jobs: 3, ToQueueP50ms: 2, ToQueueP99ms: 3.96, QueueRunP50ms: 20, QueueRunP99ms: 29.8},
		"trigger":    {Jobs: 1, ToQueueP50ms: 500, ToQueueP99ms: 500, QueueRunP50ms: 1000, QueueRunP99ms: 1000},
	}
	if len(got) != len(want) {
		t.Fatalf("stagesOf = %+v, want %+v", got, want)
	}
	for k, w := range want {
		g := got[k]
		if g.Jobs != w.Jobs || !nearAll([]float64{g.ToQueueP50ms, g.ToQueueP99ms, g.QueueRunP50ms, g.QueueRunP99ms},
			[]float64{w.ToQueueP50ms, w.ToQueueP99ms, w.QueueRunP50ms, w.QueueRunP99ms}) {
			t.Errorf("%s: %+v, want %+v", k, g, w)
		}
	}
}

func TestStoreFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string // nil: refused
	}{
		{[]string{"-scenario", "trigger-apns"}, []string{"postgres"}},
		{[]string{"-scenario", "trigger-apns", "-store", "sqlite"}, []string{"sqlite"}},
		{[]string{"-scenario", "trigger-apns", "-store", "postgres, sqlite"}, []string{"postgres", "sqlite"}},
		{[]string{"-scenario", "trigger-apns", "-store", "mysql"}, nil},
		{[]string{"-scenario", "trigger-apns", "-store", "sqlite,sqlite"}, nil},
		{[]string{"-scenario", "trigger-apns", "-store", ""}, nil},
		{[]string{"-scenario", "shopify"}, []string{"postgres"}},
		{[]string{"-scenario", "shopify", "-store", "sqlite"}, nil}, // only trigger-apns measures SQLite
	} {
		o, err := parseOptions(c.args, io.Discard)
		switch {
		case c.want == nil && err == nil:
			t.Errorf("%v: accepted (stores %v)", c.args, o.Stores)
		case c.want != nil && (err != nil || !slices.Equal(o.Stores, c.want)):
			t.Errorf("%v: stores %v (%v), want %v", c.args, o.Stores, err, c.want)
		}
	}
}

func TestResultNamesDoNotCollide(t *testing.T) {
	for _, c := range []struct {
		o       options
		variant string
		want    string
	}{
		{options{Scenario: "trigger-apns"}, "", "load-trigger-apns.json"},
		{options{Scenario: "trigger-apns"}, "sqlite", "load-trigger-apns-sqlite.json"},
		{options{Scenario: "trigger-apns", WorkerConcurrency: 8}, "sqlite", "load-trigger-apns-sqlite-wc8.json"},
		{options{Scenario: "shopify", WorkerConcurrency: 8}, "", "load-shopify-wc8.json"},
	} {
		if got := resultName(c.o, c.variant); got != c.want {
			t.Errorf("resultName(%s, wc %d, %q) = %q, want %q", c.o.Scenario, c.o.WorkerConcurrency, c.variant, got, c.want)
		}
	}
}
