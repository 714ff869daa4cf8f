// Command passhub-bench-report prints the one table `make bench` ends
// with: every figure of the benchmark harness as the median (min–max) of
// its runs, with issue 7's target and whether it was met where there is
// one, headed by the machine it ran on.
//
// It reads what the harness left in -dir (bench/results): the raw
// `go test -bench -count N` output (*.txt), the load harness's JSON
// (load-shopify.json, load-trigger-apns.json and its SQLite twin
// load-trigger-apns-sqlite.json, load-serials.json, load-idle-rss.json)
// and the peer comparison (peer-pkpass.json). A figure whose input is
// missing is a "not measured" row, not an error, so `make bench-report`
// works on whatever part of the harness ran. The rows
// are also written as JSON (-out, default DIR/summary.json).
//
//	go run ./cmd/passhub-bench-report -dir bench/results
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type options struct {
	Dir string
	Out string
}

func main() {
	var o options
	flag.StringVar(&o.Dir, "dir", "bench/results", "directory holding the harness's results")
	flag.StringVar(&o.Out, "out", "", `summary JSON to write (default DIR/summary.json; "-" writes none)`)
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "passhub-bench-report:", err)
		os.Exit(1)
	}
}

func run(o options, w io.Writer) error {
	if o.Out == "" {
		o.Out = filepath.Join(o.Dir, "summary.json")
	}
	s, err := build(o.Dir, thisMachine(time.Now()))
	if err != nil {
		return err
	}
	s.print(w)
	if o.Out == "-" {
		return nil
	}
	if err := s.write(o.Out); err != nil {
		return err
	}
	fmt.Fprintf(w, "rows as JSON: %s\n", o.Out)
	return nil
}

// machine is where the report is printed: normally where `make bench`
// just ran.
type machine struct {
	// Cores is runtime.NumCPU: the CPUs this process may run on, the
	// count nproc prints.
	Cores int `json:"cores"`
	// OnlineCPUs is every online CPU (nproc --all); 0 when unknown.
	OnlineCPUs int       `json:"onlineCpus,omitempty"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	GoVersion  string    `json:"goVersion"`
	Platform   string    `json:"platform"`
	Time       time.Time `json:"time"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute averages.
	LoadAvg []float64 `json:"loadAvg,omitempty"`
	// CPUModel is the "cpu:" line of the go test results.
	CPUModel string `json:"cpuModel,omitempty"`
}

func thisMachine(now time.Time) machine {
	m := machine{
		Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, Time: now.UTC(),
	}
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		m.OnlineCPUs = countCPUList(strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		for _, x := range f[:min(3, len(f))] {
			v, err := strconv.ParseFloat(x, 64)
			if err != nil {
				break
			}
			m.LoadAvg = append(m.LoadAvg, v)
		}
	}
	return m
}

// countCPUList counts the CPUs of a kernel CPU list such as "0-3,6";
// 0 when it does not parse.
func countCPUList(s string) int {
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

func (m machine) header() string {
	var b strings.Builder
	fmt.Fprintf(&b, "passhub benchmarks: %d cores (runtime.NumCPU %d", m.Cores, m.Cores)
	if m.OnlineCPUs > 0 {
		fmt.Fprintf(&b, ", nproc --all %d", m.OnlineCPUs)
	}
	fmt.Fprintf(&b, ", GOMAXPROCS %d), %s %s, %s", m.GOMAXPROCS, m.GoVersion, m.Platform, m.Time.Format("2006-01-02 15:04 MST"))
	if len(m.LoadAvg) > 0 {
		parts := make([]string, len(m.LoadAvg))
		for i, v := range m.LoadAvg {
			parts[i] = strconv.FormatFloat(v, 'f', 2, 64)
		}
		fmt.Fprintf(&b, ", load average %s", strings.Join(parts, " "))
	}
	return b.String()
}

// summary is the report: printed as a table, written as JSON.
type summary struct {
	Machine machine `json:"machine"`
	Dir     string  `json:"dir"`
	Rows    []row   `json:"rows"`
	// Notes are inputs that could not be read, and the like.
	Notes []string `json:"notes,omitempty"`
}

func (s *summary) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing the summary: %w", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // targetOp ">=" as is
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("encoding the summary: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the summary: %w", err)
	}
	return nil
}
