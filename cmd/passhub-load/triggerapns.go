package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/passhub/passhub/adapters/apple/apnstest"
	"github.com/passhub/passhub/adapters/apple/testpki"
)

// The trigger-apns figure: how long from a shop's webhook leaving to the
// push reaching Apple, at a fixed arrival rate. Each trigger is a signed
// Shopify orders/paid for a customer whose loyalty pass is on one
// registered iPhone; the example mapping adds the order's points, the
// change is pushed, and the APNs mock (in this process, HTTP/2 TLS with
// client certificates, on loopback) notes when the push for that
// device's token arrived. Latency is that arrival minus the moment the
// webhook request left.

// triggerRun is one open-loop phase.
type triggerRun struct {
	Sent     int64            `json:"sent"`
	Accepted int64            `json:"accepted"` // answered 2xx
	Errors   int64            `json:"errors"`
	ByStatus map[string]int64 `json:"byStatus,omitempty"`
	Samples  []string         `json:"errorSamples,omitempty"`
	// Seconds is the scheduled window; AcceptedPerSec is accepted
	// triggers over it (the achieved rate).
	Seconds        float64 `json:"seconds"`
	OfferedPerSec  float64 `json:"offeredPerSec"`
	AcceptedPerSec float64 `json:"acceptedPerSec"`
	// Pushed triggers got their push; Missing did not within the grace
	// after the last send; ExtraPushes no trigger claimed.
	Pushed      int `json:"pushed"`
	Missing     int `json:"missing"`
	ExtraPushes int `json:"extraPushes"`
	// MockRefused are pushes the APNs mock answered with an error (bad
	// topic, payload, certificate...): none is expected.
	MockRefused int `json:"mockRefused"`
	// Trigger → push latency over the pushed triggers.
	P50ms float64 `json:"p50Ms"`
	P90ms float64 `json:"p90Ms"`
	P99ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
	// IntakeP99ms is the webhook answer's p99; SendLagP99ms how late the
	// requests left against the schedule (the load generator's own lag).
	IntakeP99ms  float64 `json:"intakeP99Ms"`
	SendLagP99ms float64 `json:"sendLagP99Ms"`
	// DrainSeconds is from the end of the window to the last push;
	// PushesPerSec is the pushes over the window and the drain: what the
	// whole path delivered, below the offered rate when it falls behind.
	DrainSeconds float64    `json:"drainSeconds"`
	PushesPerSec float64    `json:"pushesPerSec"`
	CPU          *cpuShares `json:"cpuCores,omitempty"`
	// PGPerTrigger is the passhub database's activity from the start of
	// the run until its jobs were all done, per accepted trigger:
	// transactions and rows, everything the trigger caused included.
	PGPerTrigger map[string]float64 `json:"postgresPerTrigger,omitempty"`
	// PGTablesPerTrigger is the same by table.
	PGTablesPerTrigger map[string]map[string]float64 `json:"postgresTablesPerTrigger,omitempty"`
	// Stages is where the time went, per job kind the triggers caused:
	// p50/p99 ms from a job's creation to its hand-over to the queue (the
	// relay) and from the hand-over to done (the queue's wait and the run).
	Stages map[string]jobStage `json:"stages,omitempty"`
	// SettleSeconds is how long after the last push the job queue took
	// to empty, before the next run.
	SettleSeconds float64 `json:"settleSeconds"`
}

// triggerSeries is the runs at one rate and their summary.
type triggerSeries struct {
	Rate           float64      `json:"offeredPerSec"`
	AcceptedPerSec spread       `json:"acceptedPerSec"`
	PushesPerSec   spread       `json:"pushesPerSec"`
	P50ms          spread       `json:"p50Ms"`
	P99ms          spread       `json:"p99Ms"`
	Accepted       int64        `json:"accepted"`
	Pushed         int64        `json:"pushed"`
	Missing        int          `json:"missing"`
	Errors         int64        `json:"errors"`
	CPU            *cpuShares   `json:"cpuCoresMedian,omitempty"`
	Met            bool         `json:"targetMet"`
	Warmup         *triggerRun  `json:"warmup,omitempty"`
	Runs           []triggerRun `json:"runs"`
}

// triggerReport is what a trigger-apns command run measured.
type triggerReport struct {
	Scenario string `json:"scenario"`
	Figure   string `json:"figure"`
	// Store is what passhub ran on: storePostgres or storeSQLite.
	Store             string             `json:"store"`
	Cores             int                `json:"cores"`
	GoVersion         string             `json:"goVersion"`
	Started           time.Time          `json:"started"`
	LoadAvgBefore     float64            `json:"loadAvg1mBefore"`
	LoadAvgAfter      float64            `json:"loadAvg1mAfter"`
	WorkerConcurrency int                `json:"workerConcurrency,omitempty"`
	PGPool            int                `json:"pgPool,omitempty"`
	PasshubEnv        []string           `json:"passhubEnv,omitempty"`
	Passes            int                `json:"passes"`
	RunSeconds        float64            `json:"secondsPerRun"`
	WarmupSeconds     float64            `json:"warmupSeconds"`
	GraceSeconds      float64            `json:"graceSeconds"`
	P99TargetMs       float64            `json:"p99TargetMs"`
	Setup             map[string]float64 `json:"setupSeconds"`
	Series            []triggerSeries    `json:"series"`
}

// triggerLoad is the prepared hub: a connector, passes with one device
// each, and the mock that receives their pushes.
type triggerLoad struct {
	shop    *shopifyScenario
	store   string
	h       *hub
	rec     *pushRecorder
	mock    *apnstest.Server
	client  *http.Client
	targets []triggerTarget
	next    atomic.Int64 // next trigger number, across phases
	orderID atomic.Int64
}

// triggerTarget is a pass the load updates: its Shopify customer and the
// push token of the device holding it.
type triggerTarget struct {
	customer int64
	passID   string
	token    string
}

// triggerFigures name the figure by store.
var triggerFigures = map[string]string{
	storePostgres: "Shopify orders/paid → APNs push at the mock (PostgreSQL)",
	storeSQLite:   "Shopify orders/paid → APNs push at the mock (SQLite, embedded)",
}

// runTriggerAPNs measures each store in turn, each on its own fresh
// passhub, into its own results file.
func runTriggerAPNs(ctx context.Context, o options, stdout io.Writer) error {
	if o.Passes < 1 {
		return fmt.Errorf("-passes must be at least 1")
	}
	for _, store := range o.Stores {
		so := o
		if o.CPUProfile != "" && len(o.Stores) > 1 {
			ext := filepath.Ext(o.CPUProfile)
			so.CPUProfile = strings.TrimSuffix(o.CPUProfile, ext) + "-" + store + ext
		}
		if err := runTriggerAPNsOn(ctx, so, store, stdout); err != nil {
			return fmt.Errorf("store %s: %w", store, err)
		}
	}
	return nil
}

func runTriggerAPNsOn(ctx context.Context, o options, store string, stdout io.Writer) error {
	rep := triggerReport{
		Scenario: o.Scenario, Figure: triggerFigures[store], Store: store, Cores: numCores(),
		GoVersion: runtime.Version(), Started: time.Now().UTC(), LoadAvgBefore: loadAvg(), WorkerConcurrency: o.WorkerConcurrency, PGPool: o.PGPool, PasshubEnv: o.PasshubEnv, Passes: o.Passes,
		RunSeconds: o.Duration.Seconds(), WarmupSeconds: o.Warmup.Seconds(), GraceSeconds: o.Grace.Seconds(),
		P99TargetMs: ms(o.P99Target), Setup: map[string]float64{},
	}
	pki, err := testpki.New(testpki.Options{})
	if err != nil {
		return fmt.Errorf("making the test PKI: %w", err)
	}
	rec := newPushRecorder()
	mock, err := apnstest.NewServer(apnstest.Options{ClientCAs: pki.Pool(), Topic: pki.PassTypeID, Decide: rec.decide})
	if err != nil {
		return err
	}
	defer mock.Close()
	dir, err := os.MkdirTemp("", "passhub-load-apns")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "apns-ca.pem")
	if err := os.WriteFile(caFile, mock.CAPEM(), 0o600); err != nil {
		return err
	}
	env := append([]string{"PASSHUB_APNS_URL=" + mock.URL, "PASSHUB_APNS_CA_FILE=" + caFile}, o.PasshubEnv...)
	var debugAddr string
	if o.CPUProfile != "" {
		if debugAddr, err = freeLoopbackAddr(); err != nil {
			return err
		}
		env = append(env, "PASSHUB_DEBUG_ADDR="+debugAddr)
	}
	h, err := startHub(ctx, hubOptions{
		Binary: o.Passhub, Store: store, PostgresURL: o.PostgresURL, RedisURL: o.RedisURL, Mode: "serve",
		WorkerConcurrency: o.WorkerConcurrency, PGPool: o.PGPool, LogLevel: o.LogLevel, Env: env,
	})
	if err != nil {
		return err
	}
	defer h.close()

	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, IdleConnTimeout: 2 * time.Minute, DisableCompression: true}
	defer tr.CloseIdleConnections()
	l := &triggerLoad{
		shop: newShopifyScenario(o).(*shopifyScenario), store: store, h: h, rec: rec, mock: mock,
		client: &http.Client{Transport: tr, Timeout: o.Timeout},
	}
	if err := l.setup(ctx, o, pki, rep.Setup); err != nil {
		return err
	}
	if o.Analyze {
		if err := h.analyze(ctx); err != nil {
			return err
		}
	}
	for _, rate := range o.Rates {
		s := triggerSeries{Rate: rate}
		if o.Warmup > 0 {
			w, err := l.phase(ctx, o, rate, o.Warmup)
			if err != nil {
				return err
			}
			s.Warmup = &w
			fmt.Fprintf(os.Stderr, "passhub-load: trigger-apns %s %g/s warm-up: %.0f/s accepted, pushes %d/%d, p99 %.1f ms\n", store, rate, w.AcceptedPerSec, w.Pushed, w.Accepted, w.P99ms)
		}
		for i := range o.Runs {
			if err := ctx.Err(); err != nil {
				return err
			}
			var prof chan error
			if o.CPUProfile != "" && len(rep.Series) == 0 && i == 0 {
				prof = make(chan error, 1)
				go func() { prof <- fetchCPUProfile(ctx, debugAddr, o.Duration, o.CPUProfile) }()
			}
			r, err := l.phase(ctx, o, rate, o.Duration)
			if err != nil {
				return err
			}
			if prof != nil {
				if err := <-prof; err != nil {
					return err
				}
				fmt.Fprintln(os.Stderr, "passhub-load: passhub CPU profile of this run:", o.CPUProfile)
			}
			s.Runs = append(s.Runs, r)
			fmt.Fprintf(os.Stderr, "passhub-load: trigger-apns %s %g/s run %d/%d: %.0f/s accepted, pushes %d/%d (missing %d), p50 %.1f ms, p99 %.1f ms, max %.1f ms, drain %.2fs%s\n",
				store, rate, i+1, o.Runs, r.AcceptedPerSec, r.Pushed, r.Accepted, r.Missing, r.P50ms, r.P99ms, r.MaxMs, r.DrainSeconds, cpuNote(r.CPU))
			for _, k := range slices.Sorted(maps.Keys(r.Stages)) {
				st := r.Stages[k]
				fmt.Fprintf(os.Stderr, "passhub-load:   %s ×%d: to queue p50 %.0f p99 %.0f ms; queue+run p50 %.0f p99 %.0f ms\n", k, st.Jobs, st.ToQueueP50ms, st.ToQueueP99ms, st.QueueRunP50ms, st.QueueRunP99ms)
			}
			if r.Errors > 0 {
				fmt.Fprintf(os.Stderr, "passhub-load:   errors: %s; e.g. %q\n", statusKeys(r.ByStatus), r.Samples)
			}
		}
		s.summarise(rep.P99TargetMs)
		rep.Series = append(rep.Series, s)
	}
	rep.LoadAvgAfter = loadAvg()
	rep.printTable(stdout)
	variant := ""
	if store != storePostgres {
		variant = store
	}
	path, err := writeJSON(o.Out, resultName(o, variant), rep)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "results:", path)
	return nil
}

// setup uploads the Apple credentials, makes the connector (template,
// mapping), issues o.Passes loyalty passes through customers/create
// webhooks, registers one device per pass through the PassKit web
// service, and waits until the jobs all that caused are done.
func (l *triggerLoad) setup(ctx context.Context, o options, pki *testpki.PKI, took map[string]float64) error {
	h := l.h
	t0 := time.Now()
	if _, err := h.api(ctx, http.MethodPut, "/v1/credentials/apple", map[string]any{
		"passTypeIdentifier": pki.PassTypeID, "teamIdentifier": pki.TeamID,
		"certificate": string(pki.CertPEM), "privateKey": string(pki.KeyPEM), "wwdrCertificate": string(pki.WWDRPEM),
	}, http.StatusOK); err != nil {
		return fmt.Errorf("uploading Apple credentials: %w", err)
	}
	if err := l.shop.Setup(ctx, h); err != nil {
		return err
	}

	// The passes, as a shop's sign-ups make them: customer 1..N.
	t1 := time.Now()
	d := newDriver(l.shop, 16, o.Timeout)
	r := d.run(ctx, int64(o.Passes), 5*time.Minute)
	d.close()
	if r.Accepted != int64(o.Passes) {
		return fmt.Errorf("issuing %d passes: %d customers/create accepted (%s; e.g. %q)", o.Passes, r.Accepted, statusKeys(r.ByStatus), r.Samples)
	}
	if err := waitFor(ctx, 5*time.Minute, fmt.Sprintf("%d passes", o.Passes), func() (bool, error) {
		n, err := h.countPasses(ctx)
		return n >= o.Passes, err
	}); err != nil {
		return err
	}
	took["issuePasses"] = time.Since(t1).Seconds()

	// Which pass each customer got, and its authenticationToken (what the
	// .pkpass gives a device; read here to skip rendering N passes).
	byExt, err := h.passAuths(ctx)
	if err != nil {
		return err
	}

	t2 := time.Now()
	l.targets = make([]triggerTarget, o.Passes)
	auths := make([]string, o.Passes)
	for i := range l.targets {
		cust := shopifyCustomerID(int64(i + 1))
		p, ok := byExt[strconv.FormatInt(cust, 10)]
		if !ok {
			return fmt.Errorf("customer %d has no pass (external IDs are not the customer IDs?)", cust)
		}
		l.targets[i] = triggerTarget{customer: cust, passID: p.id, token: randomHex(32)}
		auths[i] = p.auth
	}
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := l.register(ctx, pki.PassTypeID, randomHex(16), i, auths[i]); err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	for i := range l.targets {
		work <- i
	}
	close(work)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d registrations failed, e.g.: %w", n, o.Passes, firstErr)
	}
	took["registerDevices"] = time.Since(t2).Seconds()

	t3 := time.Now()
	if err := waitJobsIdle(ctx, h, 5*time.Minute); err != nil {
		return err
	}
	took["settle"] = time.Since(t3).Seconds()
	took["total"] = time.Since(t0).Seconds()
	l.next.Store(0)
	fmt.Fprintf(os.Stderr, "passhub-load: trigger-apns %s setup: %d passes issued in %.1fs, %d devices registered in %.1fs\n",
		l.store, o.Passes, took["issuePasses"], o.Passes, took["registerDevices"])
	return nil
}

// register is a device adding pass i, as Wallet does it.
func (l *triggerLoad) register(ctx context.Context, passType, device string, i int, auth string) error {
	t := l.targets[i]
	body := []byte(`{"pushToken":"` + t.token + `"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.h.Base+"/apple/v1/devices/"+device+"/registrations/"+passType+"/"+t.passID, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "ApplePass "+auth)
	req.Header.Set("Content-Type", "application/json")
	res, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("registering pass %s: %w", t.passID, err)
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
	_ = res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("registering pass %s: status %d, want 201: %s", t.passID, res.StatusCode, b)
	}
	return nil
}

// phase fires orders/paid at rate for d, round-robin over the passes,
// waits up to o.Grace for every accepted trigger's push, then until the
// job queue is empty (so no phase inherits another's backlog).
func (l *triggerLoad) phase(ctx context.Context, o options, rate float64, d time.Duration) (triggerRun, error) {
	l.rec.reset()
	mockBefore := l.mock.Total()
	statsBefore, err := l.h.stats(ctx)
	if err != nil {
		return triggerRun{}, err
	}
	start := time.Now().Add(20 * time.Millisecond)
	p := pacer{start: start, rate: rate}
	n := p.count(d)
	type outcome struct {
		at      time.Time // when the request left
		lag     time.Duration
		took    time.Duration
		target  int
		status  int
		errText string
	}
	outs := make([]outcome, n)
	cpuBefore := takeCPU()
	first := l.next.Add(n) - n
	sent := openLoop(ctx, wallClock{}, p, d, func(i int64, due time.Time) {
		k := first + i
		ti := int(k % int64(len(l.targets)))
		out := &outs[i]
		out.target = ti
		req, err := l.order(l.targets[ti], k)
		if err != nil {
			out.errText = "build: " + err.Error()
			return
		}
		out.at = time.Now()
		out.lag = out.at.Sub(due)
		res, err := l.client.Do(req.WithContext(ctx))
		out.took = time.Since(out.at)
		if err != nil {
			out.errText = "transport: " + err.Error()
			return
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		out.status = res.StatusCode
		if res.StatusCode < 200 || res.StatusCode > 299 {
			out.errText = fmt.Sprintf("%d %s", res.StatusCode, b)
		}
	})
	end := p.start.Add(d)

	r := triggerRun{Sent: sent, Seconds: d.Seconds(), OfferedPerSec: rate, ByStatus: map[string]int64{}}
	var triggers []sentTrigger
	var intake, lags latencies
	for _, out := range outs[:sent] {
		if !out.at.IsZero() {
			lags = append(lags, out.lag)
		}
		if out.errText != "" || out.status == 0 {
			key := strconv.Itoa(out.status)
			if out.status == 0 {
				key = "transport"
			}
			r.ByStatus[key]++
			r.Errors++
			if len(r.Samples) < 5 {
				r.Samples = append(r.Samples, out.errText)
			}
			continue
		}
		r.Accepted++
		intake = append(intake, out.took)
		triggers = append(triggers, sentTrigger{Token: l.targets[out.target].token, At: out.at})
	}
	if len(r.ByStatus) == 0 {
		r.ByStatus = nil
	}
	r.AcceptedPerSec = float64(r.Accepted) / d.Seconds()
	r.IntakeP99ms = ms(intake.sorted().percentile(99))
	r.SendLagP99ms = ms(lags.sorted().percentile(99))

	// Wait for the pushes: every accepted trigger's, or the grace.
	deadline := time.Now().Add(o.Grace)
	var m matchResult
	var got int
	for {
		var arrivals map[string][]time.Time
		arrivals, got = l.rec.snapshot()
		m = matchPushes(triggers, arrivals)
		if m.Missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpuAfter := takeCPU()
	if len(cpuBefore.procs) > 0 {
		sh := sharesBetween(cpuBefore, cpuAfter, l.h.Pid(), os.Getpid())
		r.CPU = &sh
	}
	r.Pushed, r.Missing, r.ExtraPushes = m.Matched, m.Missing, m.Extra
	r.MockRefused = l.mock.Total() - mockBefore - got
	var lat latencies
	var last time.Time
	for i, v := range m.Latency {
		if v < 0 {
			continue
		}
		lat = append(lat, v)
		if a := triggers[i].At.Add(v); a.After(last) {
			last = a
		}
	}
	lat = lat.sorted()
	r.P50ms, r.P90ms, r.P99ms = ms(lat.percentile(50)), ms(lat.percentile(90)), ms(lat.percentile(99))
	if len(lat) > 0 {
		r.MaxMs = ms(lat[len(lat)-1])
		r.DrainSeconds = max(0, last.Sub(end).Seconds())
		r.PushesPerSec = float64(r.Pushed) / (d.Seconds() + r.DrainSeconds)
	}
	t := time.Now()
	if err := waitJobsIdle(ctx, l.h, 5*time.Minute); err != nil {
		return r, err
	}
	r.SettleSeconds = time.Since(t).Seconds()
	// Read after the queue emptied, so the counters include all the
	// trigger's work (PostgreSQL publishes an idle backend's statistics
	// up to seconds late: the figures per trigger are a close lower bound).
	if statsAfter, err := l.h.stats(ctx); err == nil && statsBefore != nil && statsAfter != nil {
		r.PGPerTrigger = statsAfter.db.perRequest(statsBefore.db, r.Accepted)
		r.PGTablesPerTrigger = statsAfter.tables.perRequest(statsBefore.tables, r.Accepted)
	}
	if st, err := l.h.jobStages(ctx, start); err == nil {
		r.Stages = st
	}
	return r, nil
}

// jobStage is one job kind's share of the trigger → push latency.
type jobStage struct {
	Jobs          int     `json:"jobs"`
	ToQueueP50ms  float64 `json:"toQueueP50Ms"`
	ToQueueP99ms  float64 `json:"toQueueP99Ms"`
	QueueRunP50ms float64 `json:"queueAndRunP50Ms"`
	QueueRunP99ms float64 `json:"queueAndRunP99Ms"`
}

// jobStages reads the stage times of the jobs created since t from the
// passhub's outbox (a child job's creation time is its event's).
func (h *hub) jobStages(ctx context.Context, since time.Time) (map[string]jobStage, error) {
	times, err := h.jobTimes(ctx, since)
	if err != nil {
		return nil, err
	}
	return stagesOf(times), nil
}

// stagesOf summarises job times by kind; the percentiles interpolate
// as PostgreSQL's percentile_cont does, and a missing time is left out
// of its stage but the job is counted.
func stagesOf(times []jobTime) map[string]jobStage {
	type cols struct {
		n                 int
		toQueue, queueRun []float64
	}
	by := map[string]*cols{}
	for _, t := range times {
		c := by[t.kind]
		if c == nil {
			c = &cols{}
			by[t.kind] = c
		}
		c.n++
		if t.toQueue != nil {
			c.toQueue = append(c.toQueue, *t.toQueue)
		}
		if t.queueRun != nil {
			c.queueRun = append(c.queueRun, *t.queueRun)
		}
	}
	out := make(map[string]jobStage, len(by))
	for kind, c := range by {
		slices.Sort(c.toQueue)
		slices.Sort(c.queueRun)
		out[kind] = jobStage{
			Jobs:          c.n,
			ToQueueP50ms:  1000 * percentileCont(c.toQueue, 0.5),
			ToQueueP99ms:  1000 * percentileCont(c.toQueue, 0.99),
			QueueRunP50ms: 1000 * percentileCont(c.queueRun, 0.5),
			QueueRunP99ms: 1000 * percentileCont(c.queueRun, 0.99),
		}
	}
	return out
}

// percentileCont is the fraction f (0..1) of sorted xs, interpolating
// linearly between the two nearest values; 0 for none.
func percentileCont(xs []float64, f float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	pos := f * float64(len(xs)-1)
	lo := int(pos)
	if lo >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	return xs[lo] + (xs[lo+1]-xs[lo])*(pos-float64(lo))
}

// order is trigger k: a paid order of the target's customer, its own
// order and webhook IDs, signed as Shopify signs.
func (l *triggerLoad) order(t triggerTarget, k int64) (*http.Request, error) {
	now := time.Now().UTC()
	oid := 820982911946154508 + l.orderID.Add(1)
	body := orderPaid(oid, t.customer, k, now)
	req, err := http.NewRequest(http.MethodPost, l.shop.hookURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	id := l.shop.runID + "-o" + strconv.FormatInt(k, 10)
	req.Header = http.Header{
		"Content-Type":           {"application/json"},
		"User-Agent":             {"Shopify-Captain-Hook"},
		"X-Shopify-Hmac-Sha256":  {signShopify(l.shop.secret, body)},
		"X-Shopify-Topic":        {"orders/paid"},
		"X-Shopify-Shop-Domain":  {l.shop.shop},
		"X-Shopify-Api-Version":  {"2025-10"},
		"X-Shopify-Webhook-Id":   {"c3a1f5e2-" + id},
		"X-Shopify-Event-Id":     {"f1e2d3c4-" + id},
		"X-Shopify-Triggered-At": {now.Format(time.RFC3339Nano)},
	}
	return req, nil
}

// orderPaid is an orders/paid body as Shopify's REST webhooks send it
// (trimmed to one line item, about 1.6 KB); its total is 10 to 59 whole
// units, so every order changes the points.
func orderPaid(orderID, customerID, k int64, at time.Time) []byte {
	ts := at.Format("2006-01-02T15:04:05-07:00")
	total := 10 + k%50
	return fmt.Appendf(nil, `{"id":%[1]d,"admin_graphql_api_id":"gid:\/\/shopify\/Order\/%[1]d","name":"#%[2]d","order_number":%[2]d,`+
		`"email":"customer%[3]d@example.com","created_at":%[4]q,"updated_at":%[4]q,"processed_at":%[4]q,"currency":"EUR",`+
		`"financial_status":"paid","fulfillment_status":null,"confirmed":true,"test":false,"gateway":"shopify_payments",`+
		`"subtotal_price":"%[5]d.00","total_tax":"0.00","total_discounts":"0.00","total_price":"%[5]d.00","total_weight":0,`+
		`"taxes_included":true,"source_name":"web","tags":"","note":null,"buyer_accepts_marketing":true,`+
		`"line_items":[{"id":%[6]d,"variant_id":447654529,"title":"Espresso beans 1 kg","quantity":1,"sku":"ESP-1KG",`+
		`"vendor":"Acme Roasters","product_id":632910392,"requires_shipping":true,"taxable":true,"gift_card":false,`+
		`"name":"Espresso beans 1 kg","price":"%[5]d.00","total_discount":"0.00","fulfillment_status":null,"tax_lines":[]}],`+
		`"shipping_address":{"first_name":"Ada","last_name":"Lovelace","address1":"12 Rue de la Paix","city":"Paris","zip":"75002",`+
		`"country":"France","country_code":"FR"},`+
		`"customer":{"id":%[3]d,"email":"customer%[3]d@example.com","first_name":"Ada","last_name":"Lovelace","state":"enabled",`+
		`"verified_email":true,"currency":"EUR","admin_graphql_api_id":"gid:\/\/shopify\/Customer\/%[3]d"}}`,
		orderID, 1000+k, customerID, ts, total, orderID+1)
}

// shopifyCustomerID is the customer of customers/create delivery seq.
func shopifyCustomerID(seq int64) int64 { return 706405506930370084 + seq }

// waitFor polls cond every 100 ms until it holds, fails or limit passes.
func waitFor(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s after %s", what, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitJobsIdle waits until no job is pending or queued: what setup
// caused is done before anything is measured.
func waitJobsIdle(ctx context.Context, h *hub, limit time.Duration) error {
	return waitFor(ctx, limit, "idle job queue", func() (bool, error) {
		n, err := h.busyJobs(ctx)
		return n == 0, err
	})
}

func (s *triggerSeries) summarise(targetMs float64) {
	var rate, pushes, p50, p99 []float64
	var cpu []*cpuShares
	for _, x := range s.Runs {
		rate, p50, p99 = append(rate, x.AcceptedPerSec), append(p50, x.P50ms), append(p99, x.P99ms)
		pushes = append(pushes, x.PushesPerSec)
		s.Accepted += x.Accepted
		s.Pushed += int64(x.Pushed)
		s.Missing += x.Missing
		s.Errors += x.Errors
		cpu = append(cpu, x.CPU)
	}
	s.AcceptedPerSec, s.PushesPerSec, s.P50ms, s.P99ms = spreadOf(rate), spreadOf(pushes), spreadOf(p50), spreadOf(p99)
	s.CPU = cpuMedian(cpu)
	s.Met = len(s.Runs) > 0 && s.Missing == 0 && s.Errors == 0 && s.P99ms.Median < targetMs &&
		s.AcceptedPerSec.Median >= 0.99*s.Rate
}

func (r *triggerReport) printTable(w io.Writer) {
	wc := "default"
	if r.WorkerConcurrency > 0 {
		wc = strconv.Itoa(r.WorkerConcurrency)
	}
	runs := 0
	if len(r.Series) > 0 {
		runs = len(r.Series[0].Runs)
	}
	on := "PostgreSQL + Redis"
	if r.Store == storeSQLite {
		on = "embedded SQLite + in-process Redis"
	}
	fmt.Fprintf(w, "\n%s — passhub serve on %s, worker concurrency %s; %d cores; %d passes, one device each; median of %d runs (each %gs, then ≤%gs for the pushes) after a %gs warm-up; load average %.2f before, %.2f after\n",
		r.Scenario, on, wc, r.Cores, r.Passes, runs, r.RunSeconds, r.GraceSeconds, r.WarmupSeconds, r.LoadAvgBefore, r.LoadAvgAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\toffered/s\taccepted/s median (min–max)\tpushes/s median (min–max)\tpushed / accepted\tmissing\terrors\tp50 ms\tp99 ms median (min–max)\ttarget\tcores\tCPU cores: passhub / load / postgres / redis / other\t")
	for _, s := range r.Series {
		verdict := "missed"
		if s.Met {
			verdict = "met"
		}
		cpu := "-"
		if c := s.CPU; c != nil {
			cpu = fmt.Sprintf("%.2f / %.2f / %.2f / %.2f / %.2f", c.Passhub, c.Loadgen, c.Postgres, c.Redis, c.Other)
		}
		fmt.Fprintf(tw, "%s\t%g\t%s (%s–%s)\t%s (%s–%s)\t%d / %d\t%d\t%d\t%.1f\t%.1f (%.1f–%.1f)\tp99 < %s ms: %s\t%d\t%s\t\n",
			r.Figure, s.Rate, thousands(s.AcceptedPerSec.Median), thousands(s.AcceptedPerSec.Min), thousands(s.AcceptedPerSec.Max),
			thousands(s.PushesPerSec.Median), thousands(s.PushesPerSec.Min), thousands(s.PushesPerSec.Max), s.Pushed, s.Accepted, s.Missing, s.Errors, s.P50ms.Median, s.P99ms.Median, s.P99ms.Min, s.P99ms.Max,
			trimFloat(r.P99TargetMs), verdict, r.Cores, cpu)
	}
	tw.Flush()
}

// cpuMedian is the median of each process's share over runs.
func cpuMedian(runs []*cpuShares) *cpuShares {
	var cols [6][]float64
	for _, c := range runs {
		if c == nil {
			continue
		}
		for i, v := range []float64{c.Passhub, c.Loadgen, c.Postgres, c.Redis, c.Other, c.Machine} {
			cols[i] = append(cols[i], v)
		}
	}
	if len(cols[0]) == 0 {
		return nil
	}
	m := func(i int) float64 { return spreadOf(cols[i]).Median }
	return &cpuShares{Passhub: m(0), Loadgen: m(1), Postgres: m(2), Redis: m(3), Other: m(4), Machine: m(5)}
}

// freeLoopbackAddr is a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// fetchCPUProfile asks the passhub's debug listener for a CPU profile
// over d and writes it to path.
func fetchCPUProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the CPU profile: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("fetching the CPU profile: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing the CPU profile: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing the CPU profile: %w", err)
	}
	return nil
}
