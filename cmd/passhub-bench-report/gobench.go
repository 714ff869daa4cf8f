package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/internal/runstats"
)

// benchGroup is one benchmark's runs in one results file: every
// "BenchmarkX-N iters v unit v unit ..." line of the same package, name
// and GOMAXPROCS, each unit's values in run order.
type benchGroup struct {
	File  string
	Pkg   string
	Name  string // without the -N suffix
	Procs int    // the -N suffix; 1 when absent (go test omits -1)
	// Values holds each unit's per-run values ("passes/s": one per line).
	Values map[string][]float64
}

// benchResults is every *.txt of a results directory.
type benchResults struct {
	Groups []*benchGroup
	// Files are the files read, with their modification times (when the
	// go test run that wrote them ended).
	Files map[string]time.Time
	CPU   string
}

// loadBench reads dir/*.txt; a missing directory holds no results.
func loadBench(dir string) (*benchResults, error) {
	br := &benchResults{Files: map[string]time.Time{}}
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	slices.Sort(paths)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("reading results: %w", err)
		}
		st, err := f.Stat()
		if err == nil {
			br.Files[filepath.Base(p)] = st.ModTime()
		}
		err = br.parse(f, filepath.Base(p))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
	}
	return br, nil
}

// parse adds the benchmark lines of one file's go test output. Lines
// that are not results (PASS, ok, logs, --- FAIL) are skipped. A result
// may be split: go test prints the name before running the benchmark,
// so output the benchmark writes to stdout lands between the name and
// its figures.
func (br *benchResults) parse(r io.Reader, file string) error {
	if br.Files == nil {
		br.Files = map[string]time.Time{}
	}
	if _, ok := br.Files[file]; !ok {
		br.Files[file] = time.Time{}
	}
	index := map[[3]string]*benchGroup{}
	for _, g := range br.Groups {
		index[[3]string{g.File, g.Pkg, g.Name + "-" + strconv.Itoa(g.Procs)}] = g
	}
	var pkg, pending string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
			continue
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimSpace(strings.TrimPrefix(line, "pkg: "))
			continue
		case strings.HasPrefix(line, "cpu: ") && br.CPU == "":
			br.CPU = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
			continue
		}
		name, rest := pending, fields
		if strings.HasPrefix(fields[0], "Benchmark") {
			name, rest = fields[0], fields[1:]
		}
		if name == "" {
			continue
		}
		values, ok := parseFigures(rest)
		if !ok {
			// The name, alone or followed by the benchmark's own output:
			// the figures may follow on a later line.
			if strings.HasPrefix(fields[0], "Benchmark") {
				pending = name
			}
			continue
		}
		pending = ""
		base, procs := splitProcs(name)
		key := [3]string{file, pkg, base + "-" + strconv.Itoa(procs)}
		g := index[key]
		if g == nil {
			g = &benchGroup{File: file, Pkg: pkg, Name: base, Procs: procs, Values: map[string][]float64{}}
			index[key] = g
			br.Groups = append(br.Groups, g)
		}
		for _, v := range values {
			g.Values[v.unit] = append(g.Values[v.unit], v.value)
		}
	}
	return sc.Err()
}

type figure struct {
	value float64
	unit  string
}

// parseFigures parses "iters v unit v unit ..." (iters is dropped).
func parseFigures(f []string) ([]figure, bool) {
	if len(f) < 3 || len(f)%2 != 1 {
		return nil, false
	}
	if _, err := strconv.ParseInt(f[0], 10, 64); err != nil {
		return nil, false
	}
	out := make([]figure, 0, len(f)/2)
	for i := 1; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nil, false
		}
		out = append(out, figure{v, f[i+1]})
	}
	return out, true
}

// splitProcs splits go test's GOMAXPROCS suffix off a benchmark name:
// "BenchmarkX/a-2" is BenchmarkX/a on 2; without a suffix it ran on 1.
func splitProcs(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return name, 1
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n <= 0 || name[i+1] == '+' {
		return name, 1
	}
	return name[:i], n
}

// spread is the median of several runs with their min and max.
type spread = runstats.Spread

func spreadOf(xs []float64) spread { return runstats.Of(xs) }
