package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// The idle-rss figure: the memory of `passhub serve` with the embedded
// defaults (SQLite and the in-process Redis in one process, a fresh data
// dir), idle after start, and idle again after a burst of API work. Not a
// request rate, so it is measured beside the driver: each run starts its
// own passhub and samples VmRSS from /proc/PID/status.

// memSample is one reading of the process's memory, in MB (10^6 bytes).
type memSample struct {
	RSSMB     float64 `json:"rssMB"`
	AnonMB    float64 `json:"rssAnonMB"`
	FileMB    float64 `json:"rssFileMB"`
	HWMMB     float64 `json:"peakRssMB"`
	HeapInuse float64 `json:"goHeapInuseMB,omitempty"` // from /metrics
	GoSysMB   float64 `json:"goSysMB,omitempty"`       // memory the Go runtime got from the OS
	Threads   int     `json:"threads"`
}

// idleRun is one passhub's life: idle after start, a burst, idle again.
type idleRun struct {
	ReadySeconds float64     `json:"readySeconds"`
	Idle         []memSample `json:"idle"`
	IdleMedianMB float64     `json:"idleRssMedianMB"`
	BurstPasses  int         `json:"burstPasses"`
	BurstSeconds float64     `json:"burstSeconds"`
	After        []memSample `json:"afterBurst"`
	AfterMedian  float64     `json:"afterBurstRssMedianMB"`
}

type idleReport struct {
	Scenario      string    `json:"scenario"`
	Figure        string    `json:"figure"`
	Cores         int       `json:"cores"`
	GoVersion     string    `json:"goVersion"`
	Started       time.Time `json:"started"`
	LoadAvgBefore float64   `json:"loadAvg1mBefore"`
	LoadAvgAfter  float64   `json:"loadAvg1mAfter"`
	IdleSeconds   float64   `json:"idleSecondsBeforeSampling"`
	Samples       int       `json:"samplesPerPhase"`
	TargetMB      float64   `json:"targetMB"`
	IdleMB        spread    `json:"idleRssMB"`
	AfterBurstMB  spread    `json:"afterBurstRssMB"`
	PeakMB        spread    `json:"peakRssMB"`
	Met           bool      `json:"targetMet"`
	Runs          []idleRun `json:"runs"`
}

const idleTargetMB = 100

func runIdleRSS(ctx context.Context, o options, stdout io.Writer) error {
	rep := idleReport{
		Scenario: o.Scenario, Figure: "passhub serve, embedded defaults (SQLite + in-process Redis): RSS", Cores: numCores(),
		GoVersion: runtime.Version(), Started: time.Now().UTC(), LoadAvgBefore: loadAvg(),
		IdleSeconds: o.Idle.Seconds(), Samples: o.Samples, TargetMB: idleTargetMB,
	}
	for i := range o.Runs {
		r, err := idleOnce(ctx, o)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		rep.Runs = append(rep.Runs, r)
		fmt.Fprintf(os.Stderr, "passhub-load: idle-rss run %d/%d: ready in %.2fs, idle %.1f MB; %d passes in %.1fs; idle after %.1f MB (peak %.1f MB)\n",
			i+1, o.Runs, r.ReadySeconds, r.IdleMedianMB, r.BurstPasses, r.BurstSeconds, r.AfterMedian, lastPeak(r))
	}
	rep.LoadAvgAfter = loadAvg()
	var idle, after, peak []float64
	for _, r := range rep.Runs {
		idle, after, peak = append(idle, r.IdleMedianMB), append(after, r.AfterMedian), append(peak, lastPeak(r))
	}
	rep.IdleMB, rep.AfterBurstMB, rep.PeakMB = spreadOf(idle), spreadOf(after), spreadOf(peak)
	rep.Met = len(rep.Runs) > 0 && rep.IdleMB.Median < idleTargetMB
	rep.printTable(stdout)
	path, err := writeJSON(o.Out, resultName(o, ""), rep)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "results:", path)
	return nil
}

func lastPeak(r idleRun) float64 {
	if len(r.After) == 0 {
		return 0
	}
	return r.After[len(r.After)-1].HWMMB
}

// idleOnce starts a passhub on the embedded defaults, lets it idle,
// samples, runs the burst, idles and samples again.
func idleOnce(ctx context.Context, o options) (idleRun, error) {
	var r idleRun
	t0 := time.Now()
	h, err := startEmbedded(ctx, o)
	if err != nil {
		return r, err
	}
	defer h.close()
	r.ReadySeconds = time.Since(t0).Seconds()
	pid := h.Pid()

	if r.Idle, err = idleAndSample(ctx, h, pid, o); err != nil {
		return r, err
	}
	r.IdleMedianMB = medianRSS(r.Idle)

	t1 := time.Now()
	if err := burst(ctx, h, o.BurstPasses); err != nil {
		return r, err
	}
	r.BurstPasses = o.BurstPasses
	r.BurstSeconds = time.Since(t1).Seconds()

	if r.After, err = idleAndSample(ctx, h, pid, o); err != nil {
		return r, err
	}
	r.AfterMedian = medianRSS(r.After)
	return r, nil
}

// startEmbedded runs `passhub serve` on its embedded defaults: SQLite in
// a fresh data dir and the in-process Redis.
func startEmbedded(ctx context.Context, o options) (*hub, error) {
	return startHub(ctx, hubOptions{Binary: o.Passhub, Store: storeSQLite, Mode: "serve", LogLevel: o.LogLevel})
}

// idleAndSample waits o.Idle, then reads the memory o.Samples times a
// second apart.
func idleAndSample(ctx context.Context, h *hub, pid int, o options) ([]memSample, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(o.Idle):
	}
	var out []memSample
	for i := range o.Samples {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return nil, fmt.Errorf("reading passhub's memory: %w", err)
		}
		s, err := parseProcStatus(string(b))
		if err != nil {
			return nil, err
		}
		if m, err := goMetrics(ctx, h.Base); err == nil {
			s.HeapInuse, s.GoSysMB = m["go_memstats_heap_inuse_bytes"]/1e6, m["go_memstats_sys_bytes"]/1e6
		}
		out = append(out, s)
	}
	return out, nil
}

// parseProcStatus reads the memory lines of /proc/PID/status (kB).
func parseProcStatus(status string) (memSample, error) {
	var s memSample
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		mb := v * 1024 / 1e6
		switch name {
		case "VmRSS":
			s.RSSMB = mb
			seen++
		case "RssAnon":
			s.AnonMB = mb
		case "RssFile":
			s.FileMB = mb
		case "VmHWM":
			s.HWMMB = mb
		case "Threads":
			s.Threads = int(v)
		}
	}
	if seen == 0 {
		return s, fmt.Errorf("no VmRSS in /proc/PID/status")
	}
	return s, nil
}

// goMetrics reads the unlabelled samples of passhub's /metrics.
func goMetrics(ctx context.Context, base string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	res, err := readyClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: status %d", res.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.Contains(line, "{") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

func medianRSS(s []memSample) float64 {
	xs := make([]float64, len(s))
	for i, m := range s {
		xs[i] = m.RSSMB
	}
	return spreadOf(xs).Median
}

// burst is a short stretch of API work: a template and n passes, from 8
// clients.
func burst(ctx context.Context, h *hub, n int) error {
	tpl, err := h.api(ctx, http.MethodPost, "/v1/templates", map[string]any{
		"name": "loyalty", "style": "storeCard", "organizationName": "Acme", "description": "Acme loyalty card",
		"fields": map[string]any{
			"primary":   []any{map[string]any{"key": "points", "label": "Points"}},
			"secondary": []any{map[string]any{"key": "name", "label": "Member"}},
		},
	}, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("creating the template: %w", err)
	}
	id, _ := tpl["id"].(string)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) || ctx.Err() != nil {
					return
				}
				_, err := h.api(ctx, http.MethodPut, fmt.Sprintf("/v1/templates/%s/passes/member-%d", id, i),
					map[string]any{"data": map[string]any{"points": i % 500, "name": fmt.Sprintf("Member %d", i)}}, http.StatusCreated)
				if err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d passes failed, e.g.: %w", f, n, firstErr)
	}
	return ctx.Err()
}

func (r *idleReport) printTable(w io.Writer) {
	fmt.Fprintf(w, "\n%s — %d cores; median (min–max) of %d runs, each a fresh passhub: %gs idle after ready, then %d samples 1 s apart; the same after a burst; load average %.2f before, %.2f after\n",
		r.Scenario, r.Cores, len(r.Runs), r.IdleSeconds, r.Samples, r.LoadAvgBefore, r.LoadAvgAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tidle MB\tafter burst MB\tpeak MB\tburst\ttarget\t")
	verdict := "missed"
	if r.Met {
		verdict = "met"
	}
	burst := "-"
	if len(r.Runs) > 0 {
		burst = fmt.Sprintf("template + %d passes", r.Runs[0].BurstPasses)
	}
	fmt.Fprintf(tw, "%s\t%.1f (%.1f–%.1f)\t%.1f (%.1f–%.1f)\t%.1f (%.1f–%.1f)\t%s\tidle < %d MB: %s\t\n", r.Figure,
		r.IdleMB.Median, r.IdleMB.Min, r.IdleMB.Max, r.AfterBurstMB.Median, r.AfterBurstMB.Min, r.AfterBurstMB.Max,
		r.PeakMB.Median, r.PeakMB.Min, r.PeakMB.Max, burst, idleTargetMB, verdict)
	tw.Flush()
}
