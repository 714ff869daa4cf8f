package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// series is one concurrency's runs and their summary.
type series struct {
	Mode        string      `json:"mode"`
	Concurrency int         `json:"concurrency"`
	PerSec      spread      `json:"acceptedPerSec"`
	P50ms       spread      `json:"p50Ms"`
	P99ms       spread      `json:"p99Ms"`
	Errors      int64       `json:"errors"`
	CPU         *cpuShares  `json:"cpuCoresMedian,omitempty"`
	Best        bool        `json:"best"`
	Runs        []runResult `json:"runs"`
	// SetupSeconds is how long the scenario's setup took, by step, where
	// it says (serials: the seeding).
	SetupSeconds   map[string]float64 `json:"setupSeconds,omitempty"`
	WarmupAccepted int64              `json:"warmupAccepted"`
}

func (s *series) summarise() {
	var rate, p50, p99 []float64
	var cpu [6][]float64
	for _, r := range s.Runs {
		rate, p50, p99 = append(rate, r.PerSec), append(p50, r.P50ms), append(p99, r.P99ms)
		s.Errors += r.Errors
		if r.CPU != nil {
			for i, v := range []float64{r.CPU.Passhub, r.CPU.Loadgen, r.CPU.Postgres, r.CPU.Redis, r.CPU.Other, r.CPU.Machine} {
				cpu[i] = append(cpu[i], v)
			}
		}
	}
	s.PerSec, s.P50ms, s.P99ms = spreadOf(rate), spreadOf(p50), spreadOf(p99)
	if len(cpu[0]) > 0 {
		med := func(i int) float64 { return spreadOf(cpu[i]).Median }
		s.CPU = &cpuShares{Passhub: med(0), Loadgen: med(1), Postgres: med(2), Redis: med(3), Other: med(4), Machine: med(5)}
	}
}

// report is what a command run measured, written as JSON.
type report struct {
	Scenario          string    `json:"scenario"`
	Figure            string    `json:"figure"`
	Cores             int       `json:"cores"`
	GOMAXPROCS        int       `json:"gomaxprocs"`
	GoVersion         string    `json:"goVersion"`
	Started           time.Time `json:"started"`
	LoadAvgBefore     float64   `json:"loadAvg1mBefore"`
	LoadAvgAfter      float64   `json:"loadAvg1mAfter"`
	WorkerConcurrency int       `json:"workerConcurrency,omitempty"`
	Runs              int       `json:"runsPerConcurrency"`
	MaxRequests       int64     `json:"maxRequestsPerRun"`
	MaxSeconds        float64   `json:"maxSecondsPerRun"`
	WarmupSeconds     float64   `json:"warmupSeconds"`
	P99TargetMs       float64   `json:"p99TargetMs"`
	// AnalyzedAfterWarmup: the database had statistics for the runs.
	AnalyzedAfterWarmup bool     `json:"analyzedAfterWarmup"`
	Series              []series `json:"series"`
}

// pickBest marks, per passhub mode, the concurrency with the highest
// median rate whose median p99 is within the target and which had no
// errors; none is marked where no concurrency qualifies.
func (r *report) pickBest() {
	best := map[string]int{}
	for i, s := range r.Series {
		if s.Errors > 0 || s.P99ms.Median >= r.P99TargetMs {
			continue
		}
		if b, ok := best[s.Mode]; !ok || s.PerSec.Median > r.Series[b].PerSec.Median {
			best[s.Mode] = i
		}
	}
	for _, i := range best {
		r.Series[i].Best = true
	}
}

func (r *report) printTable(w io.Writer) {
	wc := "default"
	if r.WorkerConcurrency > 0 {
		wc = strconv.Itoa(r.WorkerConcurrency)
	}
	fmt.Fprintf(w, "\n%s — worker concurrency %s; %d cores; median of %d runs (each ≤%d requests, ≤%gs) after a %gs warm-up; load average %.2f before, %.2f after\n",
		r.Scenario, wc, r.Cores, r.Runs, r.MaxRequests, r.MaxSeconds, r.WarmupSeconds, r.LoadAvgBefore, r.LoadAvgAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tpasshub\tC\tmedian/s (min–max)\tp50 ms\tp99 ms median (min–max)\terrors\tcores\tCPU cores: passhub / load / postgres / redis / other\t")
	for _, s := range r.Series {
		mark := ""
		if s.Best {
			mark = "  ← best within p99 < " + trimFloat(r.P99TargetMs) + " ms"
		}
		cpu := "-"
		if s.CPU != nil {
			cpu = fmt.Sprintf("%.2f / %.2f / %.2f / %.2f / %.2f", s.CPU.Passhub, s.CPU.Loadgen, s.CPU.Postgres, s.CPU.Redis, s.CPU.Other)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s (%s–%s)\t%.1f\t%.1f (%.1f–%.1f)\t%d\t%d\t%s\t%s\n",
			r.Figure, s.Mode, s.Concurrency, thousands(s.PerSec.Median), thousands(s.PerSec.Min), thousands(s.PerSec.Max),
			s.P50ms.Median, s.P99ms.Median, s.P99ms.Min, s.P99ms.Max, s.Errors, r.Cores, cpu, mark)
	}
	tw.Flush()
}

// write stores the report as dir/name and returns the path.
func (r *report) write(dir, name string) (string, error) { return writeJSON(dir, name, r) }

// writeJSON stores v indented as dir/name and returns the path.
func writeJSON(dir, name string, v any) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding results: %w", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("writing results: %w", err)
	}
	return path, nil
}

// thousands renders a rate rounded to a whole number with thousands
// separators: 5123.4 → "5,123".
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
