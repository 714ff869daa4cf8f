// Command passhub-load drives a running passhub over HTTP and reports
// what it sustains: each figure the median of several bounded runs, with
// min and max, p99 latency and where the CPU went.
//
// It starts its own passhub (`passhub serve`, as deployed: API and
// workers in one process) on a fresh PostgreSQL database and a free Redis
// database, both on loopback and both removed at the end; every request
// goes to 127.0.0.1 and every run is bounded in count and time.
//
// Scenarios that are not a closed loop of requests run beside the
// driver: trigger-apns (open-loop webhooks at a fixed rate, latency to
// the push at a local APNs mock; on PostgreSQL, on the embedded SQLite
// with its in-process Redis, or each in turn: -store) and idle-rss
// (memory of the embedded single binary; no PostgreSQL or Redis).
//
//	go run ./cmd/passhub-load -scenario shopify -c 8,32,64,128
//	go run ./cmd/passhub-load -scenario trigger-apns -rate 500 -store postgres,sqlite
//	go run ./cmd/passhub-load -scenario serials -passes 1000000 -c 1,4,16
//	go run ./cmd/passhub-load -scenario idle-rss
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	Scenario          string
	Passhub           string
	PostgresURL       string
	RedisURL          string
	Modes             []string
	WorkerConcurrency int
	PGPool            int
	// PasshubEnv is more PASSHUB_* settings for the passhub under load.
	PasshubEnv  []string
	LogLevel    string
	MappingFile string
	Conc        []int
	Runs        int
	Requests    int64
	Duration    time.Duration
	Warmup      time.Duration
	Timeout     time.Duration
	P99Target   time.Duration
	Out         string
	Analyze     bool
	// CPUProfile, when set, is where the passhub's CPU profile of the
	// first measured run is written (trigger-apns).
	CPUProfile string
	// Stores are what the passhub under load runs on, each measured on
	// its own (trigger-apns; the other scenarios run on PostgreSQL).
	Stores []string
	// trigger-apns and serials
	Rates           []float64
	Passes          int
	PassesPerDevice int
	Grace           time.Duration
	// idle-rss
	Idle        time.Duration
	Samples     int
	BurstPasses int
}

// scenarios are the loads this command knows, by -scenario name.
var scenarios = map[string]func(options) scenario{
	"shopify": newShopifyScenario,
	"serials": newSerialsScenario,
}

// experiments are the figures measured beside the closed-loop driver.
var experiments = map[string]func(context.Context, options, io.Writer) error{
	"trigger-apns": runTriggerAPNs,
	"idle-rss":     runIdleRSS,
}

// scenarioDefaults are each scenario's flag defaults where they differ
// from the command's (which are shopify's); a flag given wins.
var scenarioDefaults = map[string]map[string]string{
	"trigger-apns": {"duration": "10s", "runs": "3", "p99": "500ms", "warmup": "3s"},
	"serials":      {"c": "1,4,16", "duration": "5s", "p99": "5ms", "passes": "1000000", "n": "1000000"},
	"idle-rss":     {"runs": "3"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "passhub-load:", err)
		os.Exit(1)
	}
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("passhub-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	names := make([]string, 0, len(scenarios)+len(experiments))
	for n := range scenarios {
		names = append(names, n)
	}
	for n := range experiments {
		names = append(names, n)
	}
	slices.Sort(names)
	fs.StringVar(&o.Scenario, "scenario", "shopify", "load to run: "+strings.Join(names, ", "))
	fs.StringVar(&o.Passhub, "passhub", "", "passhub binary to run (default: go build ./cmd/passhub into a temporary directory)")
	fs.StringVar(&o.PostgresURL, "pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server (admin DSN); a fresh database is created on it and dropped after")
	fs.StringVar(&o.RedisURL, "redis", "redis://127.0.0.1:6379/0", "Redis server; a free database 1..15 is claimed and flushed after")
	stores := fs.String("store", storePostgres, "trigger-apns: what passhub runs on: postgres (a fresh database on -pg, Redis on -redis) or sqlite (the embedded default: SQLite in its data dir, Redis in process); both as postgres,sqlite, each on its own passhub and results file")
	modes := fs.String("mode", "serve", "passhub subcommand: serve (API and workers, as deployed), api (intake only, no workers) or both as serve,api")
	fs.IntVar(&o.WorkerConcurrency, "worker-concurrency", 0, "PASSHUB_WORKER_CONCURRENCY for the passhub under load (0: its default)")
	fs.IntVar(&o.PGPool, "pg-pool", 0, "pool_max_conns in the PostgreSQL URL of the passhub under load (0: its default)")
	fs.Func("env", "a PASSHUB_NAME=value setting for the passhub under load (repeatable; trigger-apns)", func(v string) error {
		if !strings.HasPrefix(v, "PASSHUB_") || !strings.Contains(v, "=") {
			return fmt.Errorf("want PASSHUB_NAME=value, not %q", v)
		}
		o.PasshubEnv = append(o.PasshubEnv, v)
		return nil
	})
	fs.StringVar(&o.LogLevel, "log-level", "info", "PASSHUB_LOG_LEVEL for the passhub under load")
	fs.StringVar(&o.MappingFile, "mapping-file", "mappings/examples/shopify-loyalty.yaml", "mapping attached to the shopify connector")
	conc := fs.String("c", "32", "concurrent keep-alive clients; a comma-separated list measures each (e.g. 8,32,64,128)")
	fs.IntVar(&o.Runs, "runs", 5, "measured runs per concurrency (the figure is their median)")
	fs.Int64Var(&o.Requests, "n", 50000, "most requests per run")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "longest run")
	fs.DurationVar(&o.Warmup, "warmup", 3*time.Second, "unmeasured load before the runs (connections, caches, JIT of the database plans)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "longest wait for one answer (then it counts as an error)")
	fs.DurationVar(&o.P99Target, "p99", 50*time.Millisecond, "p99 latency bound for choosing the best concurrency")
	fs.StringVar(&o.Out, "out", "bench/results", "directory for the JSON results")
	fs.BoolVar(&o.Analyze, "analyze", true, "ANALYZE the passhub database after the warm-up, as autovacuum would have in a database that has been running (false: measure a fresh one)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "trigger-apns: write the passhub process's CPU profile over the first measured run here (served by PASSHUB_DEBUG_ADDR)")
	rates := fs.String("rate", "500", "trigger-apns: webhooks sent per second (open loop: at this rate whatever passhub answers); a comma-separated list measures each on the same passhub")
	fs.IntVar(&o.Passes, "passes", 5000, "trigger-apns: passes (one registered device each) the triggers go round; serials: passes seeded, each with a registration")
	fs.IntVar(&o.PassesPerDevice, "passes-per-device", 1, "serials: passes each seeded device holds")
	fs.DurationVar(&o.Grace, "grace", 15*time.Second, "trigger-apns: longest wait after a run for its pushes (a push not there by then is missing)")
	fs.DurationVar(&o.Idle, "idle", 20*time.Second, "idle-rss: idle time before sampling, after start and after the burst")
	fs.IntVar(&o.Samples, "samples", 5, "idle-rss: memory samples per phase, 1 s apart")
	fs.IntVar(&o.BurstPasses, "burst-passes", 1000, "idle-rss: passes created through the API between the two idle phases")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	_, closed := scenarios[o.Scenario]
	_, beside := experiments[o.Scenario]
	if !closed && !beside {
		return o, fmt.Errorf("-scenario %q: want one of %s", o.Scenario, strings.Join(names, ", "))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, v := range scenarioDefaults[o.Scenario] {
		if !given[name] {
			if err := fs.Set(name, v); err != nil {
				return o, fmt.Errorf("default -%s %s: %w", name, v, err)
			}
		}
	}
	for _, m := range strings.Split(*modes, ",") {
		m = strings.TrimSpace(m)
		if m != "serve" && m != "api" {
			return o, fmt.Errorf("-mode %q: want serve, api or serve,api", *modes)
		}
		o.Modes = append(o.Modes, m)
	}
	for _, st := range strings.Split(*stores, ",") {
		st = strings.TrimSpace(st)
		if st != storePostgres && st != storeSQLite || slices.Contains(o.Stores, st) {
			return o, fmt.Errorf("-store %q: want postgres, sqlite or postgres,sqlite", *stores)
		}
		o.Stores = append(o.Stores, st)
	}
	if o.Scenario != "trigger-apns" && !slices.Equal(o.Stores, []string{storePostgres}) {
		return o, fmt.Errorf("-store %s: only trigger-apns runs on another store than postgres", *stores)
	}
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 || r > 100000 {
			return o, fmt.Errorf("-rate %q: want rates from 0 to 100000 per second", *rates)
		}
		o.Rates = append(o.Rates, r)
	}
	for _, f := range strings.Split(*conc, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 || c > 4096 {
			return o, fmt.Errorf("-c %q: want whole numbers from 1 to 4096", *conc)
		}
		o.Conc = append(o.Conc, c)
	}
	switch {
	case o.Runs < 1:
		return o, errors.New("-runs must be at least 1")
	case o.Requests < 1:
		return o, errors.New("-n must be at least 1")
	case o.Duration <= 0 || o.Duration > 10*time.Minute:
		return o, errors.New("-duration must be positive and at most 10m")
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return o, errors.New("-warmup must be from 0 to 1m")
	case o.Timeout <= 0:
		return o, errors.New("-timeout must be positive")
	case o.Passes < 1 || o.Passes > 100_000_000:
		return o, errors.New("-passes must be from 1 to 100,000,000")
	case o.PassesPerDevice < 1:
		return o, errors.New("-passes-per-device must be at least 1")
	case o.Grace < 0 || o.Grace > 10*time.Minute:
		return o, errors.New("-grace must be from 0 to 10m")
	case o.Idle < 0 || o.Idle > 10*time.Minute:
		return o, errors.New("-idle must be from 0 to 10m")
	case o.Samples < 1:
		return o, errors.New("-samples must be at least 1")
	case o.BurstPasses < 0:
		return o, errors.New("-burst-passes must not be negative")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseOptions(args, os.Stderr)
	if err != nil {
		return err
	}
	if o.Passhub == "" {
		dir, err := os.MkdirTemp("", "passhub-load-bin")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "passhub-load: building ./cmd/passhub")
		if o.Passhub, err = buildPasshub(dir); err != nil {
			return err
		}
	}
	if ex, ok := experiments[o.Scenario]; ok {
		return ex(ctx, o, stdout)
	}
	rep := report{
		Scenario: o.Scenario, Figure: scenarios[o.Scenario](o).Figure(), Cores: numCores(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), Started: time.Now().UTC(), LoadAvgBefore: loadAvg(),
		WorkerConcurrency: o.WorkerConcurrency, Runs: o.Runs, MaxRequests: o.Requests,
		MaxSeconds: o.Duration.Seconds(), WarmupSeconds: o.Warmup.Seconds(), P99TargetMs: ms(o.P99Target), AnalyzedAfterWarmup: o.Analyze,
	}
	for _, mode := range o.Modes {
		if r, ok := scenarios[o.Scenario](o).(hubReuser); ok && r.reuseHub() {
			ss, err := runSeriesShared(ctx, o, mode)
			rep.Series = append(rep.Series, ss...)
			if err != nil {
				return fmt.Errorf("passhub %s: %w", mode, err)
			}
			continue
		}
		for _, c := range o.Conc {
			s, err := runSeries(ctx, o, mode, c)
			if err != nil {
				return fmt.Errorf("passhub %s, concurrency %d: %w", mode, c, err)
			}
			rep.Series = append(rep.Series, s)
		}
	}
	rep.LoadAvgAfter = loadAvg()
	rep.pickBest()
	rep.printTable(stdout)
	path, err := rep.write(o.Out, resultName(o, ""))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "results:", path)
	return nil
}

// resultName is load-<scenario>.json; a variant (another store than
// PostgreSQL) and a non-default worker concurrency get their own file so
// they do not overwrite the deployed shape's.
func resultName(o options, variant string) string {
	name := "load-" + o.Scenario
	if variant != "" {
		name += "-" + variant
	}
	if o.WorkerConcurrency > 0 {
		name += "-wc" + strconv.Itoa(o.WorkerConcurrency)
	}
	return name + ".json"
}

// hubReuser is a scenario whose setup is too costly to repeat per
// concurrency (a seeded million rows) and whose requests change nothing,
// so one passhub serves every concurrency measured.
type hubReuser interface{ reuseHub() bool }

// setupReporter is a scenario that reports how long its setup took.
type setupReporter interface{ SetupFacts() map[string]float64 }

// runSeries starts a fresh passhub (`passhub mode`), warms it up and
// measures o.Runs runs at concurrency c; passhub and its databases are
// removed afterwards, so no series inherits another's backlog.
func runSeries(ctx context.Context, o options, mode string, c int) (series, error) {
	sc := scenarios[o.Scenario](o)
	h, err := startHub(ctx, hubOptions{
		Binary: o.Passhub, PostgresURL: o.PostgresURL, RedisURL: o.RedisURL,
		Mode: mode, WorkerConcurrency: o.WorkerConcurrency, LogLevel: o.LogLevel,
	})
	if err != nil {
		return series{Mode: mode, Concurrency: c}, err
	}
	defer h.close()
	if err := sc.Setup(ctx, h); err != nil {
		return series{Mode: mode, Concurrency: c}, err
	}
	return measureSeries(ctx, o, h, sc, mode, c, 0)
}

// runSeriesShared sets up one passhub and measures every concurrency on
// it, in the order given.
func runSeriesShared(ctx context.Context, o options, mode string) ([]series, error) {
	sc := scenarios[o.Scenario](o)
	h, err := startHub(ctx, hubOptions{
		Binary: o.Passhub, PostgresURL: o.PostgresURL, RedisURL: o.RedisURL,
		Mode: mode, WorkerConcurrency: o.WorkerConcurrency, LogLevel: o.LogLevel,
	})
	if err != nil {
		return nil, err
	}
	defer h.close()
	if err := sc.Setup(ctx, h); err != nil {
		return nil, err
	}
	var out []series
	var accepted int64
	for _, c := range o.Conc {
		s, err := measureSeries(ctx, o, h, sc, mode, c, accepted)
		if err != nil {
			return out, fmt.Errorf("concurrency %d: %w", c, err)
		}
		for _, r := range s.Runs {
			accepted += r.Accepted
		}
		accepted += s.WarmupAccepted
		out = append(out, s)
	}
	return out, nil
}

// measureSeries warms h up at concurrency c and measures o.Runs runs;
// accepted is what earlier series on the same passhub had accepted.
func measureSeries(ctx context.Context, o options, h *hub, sc scenario, mode string, c int, accepted int64) (series, error) {
	s := series{Mode: mode, Concurrency: c}
	if sr, ok := sc.(setupReporter); ok {
		s.SetupSeconds = sr.SetupFacts()
	}
	d := newDriver(sc, c, o.Timeout)
	defer d.close()

	if o.Warmup > 0 {
		w := d.run(ctx, o.Requests, o.Warmup)
		accepted += w.Accepted
		s.WarmupAccepted = w.Accepted
		fmt.Fprintf(os.Stderr, "passhub-load: %s c=%d warm-up: %.0f/s, p99 %.1f ms, %d errors\n", mode, c, w.PerSec, w.P99ms, w.Errors)
	}
	if o.Analyze {
		// Without statistics the planner may pick a worse index on the
		// tables the warm-up just filled (it did: passes by external ID
		// through passes_template, a scan of every pass of the template).
		if err := h.analyze(ctx); err != nil {
			return s, err
		}
	}
	self := os.Getpid()
	for i := range o.Runs {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		pgBefore, err := h.pgCounters(ctx)
		if err != nil {
			return s, err
		}
		before := takeCPU()
		r := d.run(ctx, o.Requests, o.Duration)
		after := takeCPU()
		if pgAfter, err := h.pgCounters(ctx); err == nil {
			r.PGPerAccepted = pgAfter.perRequest(pgBefore, r.Accepted)
		}
		if len(before.procs) > 0 {
			sh := sharesBetween(before, after, h.Pid(), self)
			r.CPU = &sh
		}
		accepted += r.Accepted
		store, err := sc.Check(ctx, h, accepted)
		r.Store = store
		s.Runs = append(s.Runs, r)
		fmt.Fprintf(os.Stderr, "passhub-load: %s c=%d run %d/%d: %.0f/s, p50 %.1f ms, p99 %.1f ms, %d errors%s\n",
			mode, c, i+1, o.Runs, r.PerSec, r.P50ms, r.P99ms, r.Errors, cpuNote(r.CPU))
		if err != nil {
			return s, fmt.Errorf("run %d: %w", i+1, err)
		}
		if r.Errors > 0 {
			fmt.Fprintf(os.Stderr, "passhub-load:   errors: %s; e.g. %q\n", statusKeys(r.ByStatus), r.Samples)
		}
	}
	s.summarise()
	return s, nil
}

func cpuNote(c *cpuShares) string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf(", cpu cores: passhub %.2f, load %.2f, postgres %.2f, redis %.2f, other %.2f", c.Passhub, c.Loadgen, c.Postgres, c.Redis, c.Other)
}

func numCores() int { return runtime.NumCPU() }

// loadAvg is the 1-minute load average, to show how shared the machine
// was (0 where /proc/loadavg is missing).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
