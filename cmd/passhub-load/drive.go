package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// scenario is one kind of closed-loop HTTP load against a running
// passhub (shopify, serials). Figures of another shape are measured
// beside the driver: trigger-apns (open loop, latency to a push) and
// idle-rss (memory), see experiments in main.go.
type scenario interface {
	// Figure names what the rate counts, for the table.
	Figure() string
	// Setup creates what the requests need, through the admin API.
	Setup(ctx context.Context, h *hub) error
	// Request builds request number seq; every seq gives a distinct
	// delivery. It is called on the load's goroutines, so it is cheap and
	// safe for concurrent use.
	Request(seq int64) (*http.Request, error)
	// Check verifies in the store that exactly accepted requests took
	// effect, and returns counts worth reporting.
	Check(ctx context.Context, h *hub, accepted int64) (map[string]int64, error)
}

// runResult is one bounded run of closed-loop load.
type runResult struct {
	Requests int64            `json:"requests"`
	Accepted int64            `json:"accepted"` // answered 2xx
	Errors   int64            `json:"errors"`   // anything else, transport errors included
	ByStatus map[string]int64 `json:"byStatus,omitempty"`
	Samples  []string         `json:"errorSamples,omitempty"`
	Seconds  float64          `json:"seconds"`
	PerSec   float64          `json:"acceptedPerSec"`
	P50ms    float64          `json:"p50Ms"`
	P90ms    float64          `json:"p90Ms"`
	P99ms    float64          `json:"p99Ms"`
	MaxMs    float64          `json:"maxMs"`
	CPU      *cpuShares       `json:"cpuCores,omitempty"`
	Store    map[string]int64 `json:"store,omitempty"`
	// PGPerAccepted is the passhub database's activity during the run per
	// accepted request: transactions and rows, the workers' included.
	PGPerAccepted map[string]float64 `json:"postgresPerAccepted,omitempty"`
}

// driver sends a scenario's requests from conc keep-alive connections.
type driver struct {
	sc     scenario
	client *http.Client
	conc   int
	seq    atomic.Int64 // next request number, across runs
}

func newDriver(sc scenario, conc int, timeout time.Duration) *driver {
	tr := &http.Transport{
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		MaxConnsPerHost:     conc,
		IdleConnTimeout:     2 * time.Minute,
		DisableCompression:  true,
	}
	return &driver{sc: sc, conc: conc, client: &http.Client{Transport: tr, Timeout: timeout}}
}

func (d *driver) close() { d.client.CloseIdleConnections() }

// run sends requests from d.conc goroutines, each waiting for its answer
// before the next (closed loop), until n requests are sent or limit has
// passed or ctx ends, and measures every request's latency.
func (d *driver) run(ctx context.Context, n int64, limit time.Duration) runResult {
	type part struct {
		lat      latencies
		accepted int64
		byStatus map[string]int64
		samples  []string
	}
	parts := make([]part, d.conc)
	var sent atomic.Int64
	start := time.Now()
	deadline := start.Add(limit)
	var wg sync.WaitGroup
	for w := range d.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parts[w]
			p.byStatus = map[string]int64{}
			p.lat = make(latencies, 0, 1024)
			fail := func(key, msg string) {
				p.byStatus[key]++
				if len(p.samples) < 3 {
					p.samples = append(p.samples, msg)
				}
			}
			for ctx.Err() == nil && sent.Add(1) <= n && time.Now().Before(deadline) {
				req, err := d.sc.Request(d.seq.Add(1))
				if err != nil {
					fail("build", err.Error())
					continue
				}
				t0 := time.Now()
				res, err := d.client.Do(req.WithContext(ctx))
				if err != nil {
					p.lat = append(p.lat, time.Since(t0))
					fail("transport", err.Error())
					continue
				}
				body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				p.lat = append(p.lat, time.Since(t0))
				if res.StatusCode >= 200 && res.StatusCode < 300 {
					p.accepted++
					continue
				}
				fail(strconv.Itoa(res.StatusCode), fmt.Sprintf("%d %s", res.StatusCode, body))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var r runResult
	var all latencies
	r.ByStatus = map[string]int64{}
	for _, p := range parts {
		all = append(all, p.lat...)
		r.Accepted += p.accepted
		for k, v := range p.byStatus {
			r.ByStatus[k] += v
			r.Errors += v
		}
		for _, s := range p.samples {
			if len(r.Samples) < 5 {
				r.Samples = append(r.Samples, s)
			}
		}
	}
	if len(r.ByStatus) == 0 {
		r.ByStatus = nil
	}
	all = all.sorted()
	r.Requests = int64(len(all)) + r.ByStatus["build"]
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.PerSec = float64(r.Accepted) / r.Seconds
	}
	r.P50ms, r.P90ms, r.P99ms = ms(all.percentile(50)), ms(all.percentile(90)), ms(all.percentile(99))
	if len(all) > 0 {
		r.MaxMs = ms(all[len(all)-1])
	}
	return r
}

// statusKeys lists a ByStatus map's keys in order, for messages.
func statusKeys(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s×%d", k, m[k])
	}
	return s
}
