package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// staleAfter: a row measured this long before the report says when.
const staleAfter = 12 * time.Hour

// row is one figure of the table.
type row struct {
	Figure string `json:"figure"`
	// Target is issue 7's target as text ("≥ 5,000/s"); TargetOp and
	// TargetValue the same for a program. Empty for informational rows.
	Target      string  `json:"target,omitempty"`
	TargetOp    string  `json:"targetOp,omitempty"`
	TargetValue float64 `json:"targetValue,omitempty"`
	// Measured is false when the input is missing: the numbers are then
	// zero and Note says why.
	Measured bool    `json:"measured"`
	Median   float64 `json:"median"`
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
	Unit     string  `json:"unit"`
	Runs     int     `json:"runs"`
	// Met is null without a target or when the row cannot be judged
	// against it (not measured, another rate than the target's).
	Met *bool `json:"met"`
	// Source is the results file (in the report's directory).
	Source     string     `json:"source"`
	MeasuredAt *time.Time `json:"measuredAt,omitempty"`
	Note       string     `json:"note,omitempty"`
	// section 0 holds the headline figures, 1 the others.
	section int
}

// target is a figure's goal.
type target struct {
	Op    string // ">=", "<=" or "<"
	Value float64
	Text  string
}

func (t *target) met(v float64) bool {
	switch t.Op {
	case ">=":
		return v >= t.Value
	case "<=":
		return v <= t.Value
	case "<":
		return v < t.Value
	}
	return false
}

// Issue 7's targets.
var (
	targetRenderSign = &target{">=", 700, "≥ 700/s"}
	targetPeerRatio  = &target{">=", 20, "≥ 20×"}
	targetPushAll    = &target{"<=", 10, "≤ 10 s"}
	targetShopify    = &target{">=", 5000, "≥ 5,000/s"}
	targetShopifyP99 = &target{"<", 50, "< 50 ms"}
	targetTriggerP99 = &target{"<", 500, "< 500 ms at 500/s"}
	targetSerialsP99 = &target{"<", 5, "< 5 ms"}
	targetDeliveries = &target{">=", 2000, "≥ 2,000/s"}
	targetIdleRSS    = &target{"<", 100, "< 100 MB"}
)

// triggerTargetRate is the offered rate targetTriggerP99 is about.
const triggerTargetRate = 500

func measured(figure string, s spread, unit string, runs int, source string, at time.Time) row {
	r := row{Figure: figure, Measured: true, Median: s.Median, Min: s.Min, Max: s.Max, Unit: unit, Runs: runs, Source: source}
	if !at.IsZero() {
		at = at.UTC()
		r.MeasuredAt = &at
	}
	return r
}

func notMeasured(figure string, t *target, source, why string) row {
	r := row{Figure: figure, Source: source, Note: why}
	r.setTarget(t)
	return r
}

func (r *row) setTarget(t *target) {
	if t != nil {
		r.Target, r.TargetOp, r.TargetValue = t.Text, t.Op, t.Value
	}
}

// judge sets the target and whether the median meets it; ok false fails
// the row whatever the median (errors, missing pushes).
func (r *row) judge(t *target, ok bool) {
	r.setTarget(t)
	met := ok && t.met(r.Median)
	r.Met = &met
}

func (r *row) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if r.Note == "" {
		r.Note = n
	} else {
		r.Note += "; " + n
	}
}

// benchSpec selects rows from the go test results: one row per matching
// benchmark (sub-benchmark, package, GOMAXPROCS) found in File.
type benchSpec struct {
	Figure string
	File   string
	Bench  string
	// Prefix: Bench matches longer names too (BenchmarkCreatePass matches
	// BenchmarkCreatePassSQLite); otherwise only Bench and its
	// sub-benchmarks.
	Prefix bool
	Procs  int // 0: any
	Metric string
	Unit   string // shown; default Metric
	Target *target
	// ShowPkg and ShowProcs add the package and the core count to the
	// figure (the same benchmark in several packages, -cpu 1,2).
	ShowPkg, ShowProcs bool
	section            int
}

func (s benchSpec) matches(name string) bool {
	if s.Prefix {
		return strings.HasPrefix(name, s.Bench)
	}
	return name == s.Bench || strings.HasPrefix(name, s.Bench+"/")
}

// variant names a matched benchmark within its figure: the
// sub-benchmark path with "key=" dropped, "/" as ", ", then the package
// and core count when asked.
func (s benchSpec) variant(g *benchGroup) string {
	var parts []string
	if s.ShowPkg && g.Pkg != "" {
		parts = append(parts, path.Base(g.Pkg))
	}
	if rest := strings.TrimPrefix(strings.TrimPrefix(g.Name, s.Bench), "/"); rest != "" {
		for _, p := range strings.Split(rest, "/") {
			if _, v, ok := strings.Cut(p, "="); ok {
				p = v
			}
			parts = append(parts, p)
		}
	}
	if s.ShowProcs {
		cores := "cores"
		if g.Procs == 1 {
			cores = "core"
		}
		parts = append(parts, fmt.Sprintf("%d %s", g.Procs, cores))
	}
	return strings.Join(parts, ", ")
}

func (br *benchResults) rows(s benchSpec) []row {
	unit := s.Unit
	if unit == "" {
		unit = s.Metric
	}
	var out []row
	for _, g := range br.Groups {
		if g.File != s.File || !s.matches(g.Name) || (s.Procs > 0 && g.Procs != s.Procs) {
			continue
		}
		vals := g.Values[s.Metric]
		if len(vals) == 0 {
			continue
		}
		fig := s.Figure
		if v := s.variant(g); v != "" {
			fig += " (" + v + ")"
		}
		r := measured(fig, spreadOf(vals), unit, len(vals), s.File, br.Files[s.File])
		if s.Target != nil {
			r.judge(s.Target, true)
		}
		r.section = s.section
		out = append(out, r)
	}
	if len(out) > 0 {
		return out
	}
	why := "no " + s.File
	if _, ok := br.Files[s.File]; ok {
		why = s.Bench + " " + s.Metric + " not in " + s.File
	}
	r := notMeasured(s.Figure, s.Target, s.File, why)
	r.section = s.section
	return []row{r}
}

// The load harness's and the peer comparison's JSON, as far as the
// report reads them (cmd/passhub-load, cmd/passhub-bench-pkpass).
type loadReport struct {
	Cores   int       `json:"cores"`
	Started time.Time `json:"started"`
	Series  []struct {
		Mode        string            `json:"mode"`
		Concurrency int               `json:"concurrency"`
		PerSec      spread            `json:"acceptedPerSec"`
		P99ms       spread            `json:"p99Ms"`
		Errors      int64             `json:"errors"`
		Runs        []json.RawMessage `json:"runs"`
	} `json:"series"`
}

type triggerReport struct {
	Cores   int       `json:"cores"`
	Started time.Time `json:"started"`
	Series  []struct {
		Rate         float64           `json:"offeredPerSec"`
		PushesPerSec spread            `json:"pushesPerSec"`
		P99ms        spread            `json:"p99Ms"`
		Missing      int               `json:"missing"`
		Errors       int64             `json:"errors"`
		Runs         []json.RawMessage `json:"runs"`
	} `json:"series"`
}

type idleReport struct {
	Cores        int               `json:"cores"`
	Started      time.Time         `json:"started"`
	IdleMB       spread            `json:"idleRssMB"`
	AfterBurstMB spread            `json:"afterBurstRssMB"`
	Runs         []json.RawMessage `json:"runs"`
}

type peerSide struct {
	PassesPerSecond spread            `json:"passesPerSecond"`
	Runs            []json.RawMessage `json:"runs"`
}

type peerReport struct {
	Time        time.Time `json:"time"`
	Cores       int       `json:"cores"`
	PeerVersion string    `json:"peerVersion"`
	Passhub     peerSide  `json:"passhub"`
	Peer        peerSide  `json:"peer"`
	Ratio       float64   `json:"ratio"`
	RoundRatios spread    `json:"roundRatios"`
}

// readJSON decodes dir/name into v; a missing file is (false, nil).
func readJSON(dir, name string, v any) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decoding %s: %w", name, err)
	}
	return true, nil
}

// jsonInput reads one JSON input; when it is missing or unreadable it
// returns the row standing for its figures (and notes why).
func (s *summary) jsonInput(name string, v any, figure string, t *target) (bool, []row) {
	found, err := readJSON(s.Dir, name, v)
	switch {
	case err != nil:
		s.Notes = append(s.Notes, err.Error())
		return false, []row{notMeasured(figure, t, name, "unreadable: see notes")}
	case !found:
		return false, []row{notMeasured(figure, t, name, "no "+name)}
	}
	return true, nil
}

// coresNote notes a JSON input measured on another core count than the
// report's machine.
func (s *summary) coresNote(r *row, cores int) {
	if cores > 0 && cores != s.Machine.Cores {
		r.note("measured on %d cores", cores)
	}
}

func (s *summary) peerRows() []row {
	const name = "peer-pkpass.json"
	const fig = "passhub ÷ passkit-generator, .pkpass render+sign, 1 core, same run"
	var p peerReport
	if ok, rows := s.jsonInput(name, &p, fig, targetPeerRatio); !ok {
		return rows
	}
	ratio := p.RoundRatios
	if ratio.Median == 0 {
		// Older files: only the ratio of the medians.
		ratio = spread{Median: p.Ratio, Min: p.Ratio, Max: p.Ratio}
	}
	runs := len(p.Passhub.Runs)
	peer := "passkit-generator"
	if p.PeerVersion != "" {
		peer += " " + p.PeerVersion
	}
	r := measured("passhub ÷ "+peer+", .pkpass render+sign, 1 core, same run", ratio, "×", runs, name, p.Time)
	r.judge(targetPeerRatio, true)
	r.note("ratio within each round")
	us := measured("passhub .pkpass render+sign in the peer run", p.Passhub.PassesPerSecond, "passes/s", runs, name, p.Time)
	them := measured(peer+" .pkpass render+sign in the same run", p.Peer.PassesPerSecond, "passes/s", len(p.Peer.Runs), name, p.Time)
	for _, x := range []*row{&r, &us, &them} {
		s.coresNote(x, p.Cores)
	}
	return []row{r, us, them}
}

// shopifyRows gives, per passhub shape, the fastest concurrency whose
// median p99 is under 50 ms without errors: accepted/s and its p99.
func (s *summary) shopifyRows() []row {
	const name = "load-shopify.json"
	const fig = "Shopify webhooks accepted durably/s, PostgreSQL"
	var rep loadReport
	if ok, rows := s.jsonInput(name, &rep, fig, targetShopify); !ok {
		return rows
	}
	var modes []string
	for _, se := range rep.Series {
		if !slices.Contains(modes, se.Mode) {
			modes = append(modes, se.Mode)
		}
	}
	var out []row
	for _, mode := range modes {
		best, within := -1, false
		for i, se := range rep.Series {
			if se.Mode != mode {
				continue
			}
			// Any series within the target beats every one outside it;
			// among equals the faster wins.
			ok := se.Errors == 0 && targetShopifyP99.met(se.P99ms.Median)
			if best < 0 || (ok && !within) || (ok == within && se.PerSec.Median > rep.Series[best].PerSec.Median) {
				best, within = i, ok
			}
		}
		se := rep.Series[best]
		label := fmt.Sprintf("%s (%s, C=%d)", fig, mode, se.Concurrency)
		rate := measured(label, se.PerSec, "accepted/s", len(se.Runs), name, rep.Started)
		p99 := measured(fmt.Sprintf("Shopify webhooks p99 (%s, C=%d)", mode, se.Concurrency), se.P99ms, "ms", len(se.Runs), name, rep.Started)
		if mode == "serve" {
			// The target is the intake's. serve maps each delivery it
			// accepts (a pass written, its events dispatched) at once on
			// the same cores, so its rate is the whole pipeline's.
			rate.setTarget(targetShopify)
			p99.setTarget(targetShopifyP99)
			rate.note("not judged: serve also maps every delivery it accepts, on the same cores (the intake is judged on api)")
		} else {
			rate.judge(targetShopify, within)
			p99.judge(targetShopifyP99, se.Errors == 0)
		}
		if !within {
			rate.note("no concurrency within p99 < 50 ms without errors; fastest shown")
		}
		if se.Errors > 0 {
			p99.note("%d errors", se.Errors)
		}
		s.coresNote(&rate, rep.Cores)
		s.coresNote(&p99, rep.Cores)
		out = append(out, rate, p99)
	}
	if len(out) == 0 {
		return []row{notMeasured(fig, targetShopify, name, "no series in "+name)}
	}
	return out
}

// triggerInputs are the trigger-apns results, one file per store
// passhub ran on (cmd/passhub-load -store).
var triggerInputs = []struct{ file, store string }{
	{"load-trigger-apns.json", "PostgreSQL"},
	{"load-trigger-apns-sqlite.json", "SQLite, embedded"},
}

// triggerRows gives, per store and offered rate, the trigger → push p99
// (judged at the target's rate) and the pushes/s delivered.
func (s *summary) triggerRows() []row {
	var out []row
	for _, in := range triggerInputs {
		out = append(out, s.triggerRowsOf(in.file, in.store)...)
	}
	return out
}

func (s *summary) triggerRowsOf(name, store string) []row {
	fig := "trigger → APNs push p99 (" + store + ")"
	var rep triggerReport
	if ok, rows := s.jsonInput(name, &rep, fig, targetTriggerP99); !ok {
		return rows
	}
	var out []row
	for _, se := range rep.Series {
		p99 := measured(fmt.Sprintf("%s, %s webhooks/s offered", fig, thousands(se.Rate)), se.P99ms, "ms", len(se.Runs), name, rep.Started)
		if se.Rate >= triggerTargetRate {
			p99.judge(targetTriggerP99, se.Missing == 0 && se.Errors == 0)
		} else {
			p99.setTarget(targetTriggerP99)
			p99.note("offered below %d/s: not judged", triggerTargetRate)
		}
		if se.Missing > 0 {
			p99.note("%d pushes missing", se.Missing)
		}
		if se.Errors > 0 {
			p99.note("%d errors", se.Errors)
		}
		pushes := measured(fmt.Sprintf("trigger → APNs pushes/s end to end (%s), %s webhooks/s offered", store, thousands(se.Rate)), se.PushesPerSec, "pushes/s", len(se.Runs), name, rep.Started)
		s.coresNote(&p99, rep.Cores)
		s.coresNote(&pushes, rep.Cores)
		out = append(out, p99, pushes)
	}
	if len(out) == 0 {
		return []row{notMeasured(fig, targetTriggerP99, name, "no series in "+name)}
	}
	return out
}

// serialsRows gives the fastest concurrency whose median p99 is under
// 5 ms without errors, else the one with the lowest p99.
func (s *summary) serialsRows() []row {
	const name = "load-serials.json"
	const fig = "Apple updated serials p99"
	var rep loadReport
	if ok, rows := s.jsonInput(name, &rep, fig, targetSerialsP99); !ok {
		return rows
	}
	if len(rep.Series) == 0 {
		return []row{notMeasured(fig, targetSerialsP99, name, "no series in "+name)}
	}
	best, within := -1, false
	for i, se := range rep.Series {
		ok := se.Errors == 0 && targetSerialsP99.met(se.P99ms.Median)
		switch {
		case best < 0, ok && !within:
			best, within = i, ok
		case ok && se.PerSec.Median > rep.Series[best].PerSec.Median:
			best = i
		case !ok && !within && se.P99ms.Median < rep.Series[best].P99ms.Median:
			best = i
		}
	}
	se := rep.Series[best]
	p99 := measured(fmt.Sprintf("%s (C=%d)", fig, se.Concurrency), se.P99ms, "ms", len(se.Runs), name, rep.Started)
	p99.judge(targetSerialsP99, se.Errors == 0)
	if within {
		p99.note("fastest C within 5 ms")
	} else {
		p99.note("no C within 5 ms without errors; lowest p99 shown")
	}
	rate := measured(fmt.Sprintf("Apple updated serials answers/s (C=%d)", se.Concurrency), se.PerSec, "answers/s", len(se.Runs), name, rep.Started)
	s.coresNote(&p99, rep.Cores)
	s.coresNote(&rate, rep.Cores)
	return []row{p99, rate}
}

func (s *summary) idleRows() []row {
	const name = "load-idle-rss.json"
	const fig = "idle RSS, embedded passhub serve"
	var rep idleReport
	if ok, rows := s.jsonInput(name, &rep, fig, targetIdleRSS); !ok {
		return rows
	}
	idle := measured(fig, rep.IdleMB, "MB", len(rep.Runs), name, rep.Started)
	idle.judge(targetIdleRSS, true)
	after := measured("RSS idle again after a burst of passes", rep.AfterBurstMB, "MB", len(rep.Runs), name, rep.Started)
	s.coresNote(&idle, rep.Cores)
	s.coresNote(&after, rep.Cores)
	return []row{idle, after}
}

// The go test figures.
var (
	specRenderSign1 = benchSpec{Figure: ".pkpass render+sign per core", File: "pkpass.txt", Bench: "BenchmarkRenderAndSign", Procs: 1, Metric: "passes/s", Target: targetRenderSign}
	specPushAll     = benchSpec{Figure: "APNs push-all, 100,000 devices", File: "fanout.txt", Bench: "BenchmarkTemplatePushFanout", Metric: "s/op", Unit: "s", Target: targetPushAll}
	specDeliveries  = benchSpec{Figure: "webhook deliveries/s, 1 event → 1,000 subscriptions", File: "webhooks.txt", Bench: "BenchmarkDeliveryFanout", Metric: "deliveries/s", Target: targetDeliveries}

	specsInformational = []benchSpec{
		{Figure: ".pkpass render+sign", File: "pkpass.txt", Bench: "BenchmarkRenderAndSign", Procs: 2, Metric: "passes/s", ShowProcs: true},
		{Figure: ".pkpass sign, cached render", File: "pkpass.txt", Bench: "BenchmarkSignCached", Metric: "passes/s", ShowProcs: true},
		{Figure: "mapping evaluations/s", File: "mappings.txt", Bench: "BenchmarkEvaluate", Metric: "evals/s"},
		{Figure: "webhook signature verifications/s", File: "verify.txt", Bench: "BenchmarkVerify", Metric: "verifications/s"},
		{Figure: "Google Wallet callback verifications/s", File: "verify.txt", Bench: "BenchmarkVerifyCallback", Metric: "verifications/s"},
		{Figure: "outbound webhook signatures/s", File: "sign.txt", Bench: "BenchmarkSign", Metric: "signatures/s"},
		{Figure: "pass creations/s via the API", File: "api.txt", Bench: "BenchmarkCreatePass", Prefix: true, Metric: "passes/s"},
		{Figure: "triggers stored durably/s (AcceptTrigger)", File: "intake.txt", Bench: "BenchmarkAcceptTrigger", Metric: "triggers/s", ShowPkg: true},
	}
)

// build reads dir and makes the report's rows: first issue 7's headline
// figures, then the informational ones.
func build(dir string, m machine) (*summary, error) {
	br, err := loadBench(dir)
	if err != nil {
		return nil, err
	}
	m.CPUModel = br.CPU
	s := &summary{Machine: m, Dir: dir}
	var rows []row
	rows = append(rows, br.rows(specRenderSign1)...)
	rows = append(rows, s.peerRows()...)
	rows = append(rows, br.rows(specPushAll)...)
	rows = append(rows, s.shopifyRows()...)
	rows = append(rows, s.triggerRows()...)
	rows = append(rows, s.serialsRows()...)
	rows = append(rows, br.rows(specDeliveries)...)
	rows = append(rows, s.idleRows()...)
	for _, spec := range specsInformational {
		spec.section = 1
		rows = append(rows, br.rows(spec)...)
	}
	for i := range rows {
		if at := rows[i].MeasuredAt; at != nil && m.Time.Sub(*at) > staleAfter {
			rows[i].note("measured %s", at.Format("2006-01-02"))
		}
	}
	s.Rows = rows
	return s, nil
}

// print writes the header and the table.
func (s *summary) print(w io.Writer) {
	fmt.Fprintln(w, s.Machine.header())
	line := "each figure: median (min–max) of its runs"
	if s.Machine.CPUModel != "" {
		line = "cpu: " + s.Machine.CPUModel + "; " + line
	}
	fmt.Fprintf(w, "%s; results in %s\n\n", line, s.Dir)
	// Through a buffer: tabwriter pads the section break and short last
	// cells with spaces, trimmed below.
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\ttarget\tmedian\t(min–max)\tunit\truns\tmet?\tnote")
	section := 0
	for _, r := range s.Rows {
		if r.section != section {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
			section = r.section
		}
		tgt := r.Target
		if tgt == "" {
			tgt = "-"
		}
		if !r.Measured {
			fmt.Fprintf(tw, "%s\t%s\tnot measured\t\t\t\t%s\t%s\n", r.Figure, tgt, metText(r.Met), r.Note)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t(%s–%s)\t%s\t%d\t%s\t%s\n", r.Figure, tgt, num(r.Median), num(r.Min), num(r.Max), r.Unit, r.Runs, metText(r.Met), r.Note)
	}
	tw.Flush()
	for _, l := range strings.SplitAfter(buf.String(), "\n") {
		if l != "" {
			fmt.Fprintln(w, strings.TrimRight(l, " \n"))
		}
	}
	for _, n := range s.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func metText(m *bool) string {
	switch {
	case m == nil:
		return "-"
	case *m:
		return "yes"
	}
	return "NO"
}

// num renders a figure with about three significant digits, thousands
// separated: 161518 → "161,518", 23.46 → "23.5", 1.834 → "1.83".
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1000:
		return thousands(v)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// thousands renders v rounded to a whole number with thousands
// separators: 5123.4 → "5,123".
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
