package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testMachine is a fixed machine, so the output does not depend on where
// the test runs.
var testMachine = machine{
	Cores: 2, OnlineCPUs: 2, GOMAXPROCS: 2, GoVersion: "go1.26.8", Platform: "linux/amd64",
	Time: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), LoadAvg: []float64{1.5, 0.75, 0.25},
}

// testResults copies testdata/results into a temporary directory with
// every file's modification time set (go test results carry no time of
// their own) and returns the directory.
func testResults(t *testing.T, mod time.Time) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir("testdata/results")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata/results", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, e.Name())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s", path, got)
	}
}

// TestReportGolden builds the table and the JSON from testdata/results:
// go test output with -cpu 1,2, split result lines, a failed benchmark,
// two packages with the same benchmark; load results where one passhub
// shape has no concurrency within the p99 target; trigger figures on
// both stores, one rate below the target's; an old peer run on another core count; and missing
// go test inputs (TestMissingDirectoryIsNotAnError: missing JSON).
func TestReportGolden(t *testing.T) {
	dir := testResults(t, time.Date(2026, 11, 23, 11, 30, 0, 0, time.UTC))
	s, err := build(dir, testMachine)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	s.print(&table)
	golden(t, "report.golden", bytes.ReplaceAll(table.Bytes(), []byte(dir), []byte("testdata/results")))

	out := filepath.Join(t.TempDir(), "sub", "summary.json")
	if err := s.write(out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.golden.json", bytes.ReplaceAll(b, []byte(dir), []byte("testdata/results")))

	// The JSON holds the table's rows.
	var back summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != len(s.Rows) {
		t.Fatalf("JSON has %d rows, the table %d", len(back.Rows), len(s.Rows))
	}
	for i, r := range back.Rows {
		if !strings.Contains(table.String(), r.Figure) {
			t.Errorf("row %d %q is in the JSON but not in the table", i, r.Figure)
		}
	}
}

// Every row for the same inputs, judged by hand.
func TestReportJudgement(t *testing.T) {
	s, err := build(testResults(t, testMachine.Time.Add(-time.Hour)), testMachine)
	if err != nil {
		t.Fatal(err)
	}
	byFigure := map[string]row{}
	for _, r := range s.Rows {
		byFigure[r.Figure] = r
	}
	yes, no := true, false
	for _, c := range []struct {
		figure      string
		measured    bool
		median      float64
		runs        int
		met         *bool
		noteContain string
	}{
		{".pkpass render+sign per core", true, 388.2, 3, &no, ""},
		{".pkpass render+sign (2 cores)", true, (791.8 + 796.7) / 2, 2, nil, ""},
		{"passhub ÷ passkit-generator 3.6.1, .pkpass render+sign, 1 core, same run", true, 22.4, 5, &yes, "measured on 4 cores"},
		{"passkit-generator 3.6.1 .pkpass render+sign in the same run", true, 17.6, 5, nil, "measured 2026-11-20"},
		{"APNs push-all, 100,000 devices (sqlite)", true, 6.912, 3, &yes, ""},
		{"APNs push-all, 100,000 devices (postgres)", true, (10.51 + 11.01) / 2, 4, &no, ""},
		{"Shopify webhooks accepted durably/s, PostgreSQL (serve, C=64)", true, 5210.4, 3, nil, "not judged: serve also maps"},
		{"Shopify webhooks p99 (serve, C=64)", true, 44.9, 3, nil, ""},
		{"Shopify webhooks accepted durably/s, PostgreSQL (api, C=128)", true, 8010, 3, &no, "no concurrency within p99 < 50 ms"},
		{"Shopify webhooks p99 (api, C=128)", true, 61, 3, &no, ""},
		{"trigger → APNs push p99 (PostgreSQL), 100 webhooks/s offered", true, 1800, 3, nil, "not judged"},
		{"trigger → APNs push p99 (PostgreSQL), 500 webhooks/s offered", true, 11600, 3, &no, "2 pushes missing"},
		{"trigger → APNs pushes/s end to end (PostgreSQL), 500 webhooks/s offered", true, 249, 3, nil, ""},
		{"trigger → APNs push p99 (SQLite, embedded), 500 webhooks/s offered", true, 420, 3, &yes, ""},
		{"trigger → APNs pushes/s end to end (SQLite, embedded), 500 webhooks/s offered", true, 497, 3, nil, ""},
		{"Apple updated serials p99 (C=4)", true, 1.8, 5, &yes, "fastest C within 5 ms"},
		{"Apple updated serials answers/s (C=4)", true, 9937, 5, nil, ""},
		{"webhook deliveries/s, 1 event → 1,000 subscriptions", false, 0, 0, nil, "BenchmarkDeliveryFanout deliveries/s not in webhooks.txt"},
		{"idle RSS, embedded passhub serve", true, 43.8, 3, &yes, ""},
		{"RSS idle again after a burst of passes", true, 52.5, 3, nil, ""},
		{"webhook signature verifications/s (shopify, valid)", true, 95120, 3, nil, ""},
		{"webhook signature verifications/s (hubspot-v3, valid)", true, 16116, 1, nil, ""},
		{"Google Wallet callback verifications/s (valid)", true, (4867 + 4808) / 2.0, 2, nil, ""},
		{"triggers stored durably/s (AcceptTrigger) (postgres, merged)", true, (20403 + 19947) / 2.0, 2, nil, ""},
		{"triggers stored durably/s (AcceptTrigger) (sqlite, merged)", true, (10203 + 9987) / 2.0, 2, nil, ""},
		{"outbound webhook signatures/s", false, 0, 0, nil, "no sign.txt"},
	} {
		r, ok := byFigure[c.figure]
		if !ok {
			t.Errorf("no row %q", c.figure)
			continue
		}
		if r.Measured != c.measured || !near(r.Median, c.median) || r.Runs != c.runs || !reflect.DeepEqual(r.Met, c.met) || !strings.Contains(r.Note, c.noteContain) {
			t.Errorf("row %q: measured %v median %v runs %d met %v note %q; want %v %v %d %v note containing %q",
				c.figure, r.Measured, r.Median, r.Runs, metText(r.Met), r.Note, c.measured, c.median, c.runs, metText(c.met), c.noteContain)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestMissingDirectoryIsNotAnError(t *testing.T) {
	s, err := build(filepath.Join(t.TempDir(), "none"), testMachine)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rows) == 0 {
		t.Fatal("no rows")
	}
	for _, r := range s.Rows {
		if r.Measured || r.Met != nil || r.Note == "" {
			t.Errorf("row %+v: want not measured, not judged, with a reason", r)
		}
	}
}

// TestTriggerStoresAreApart: each store's trigger figure comes from its
// own file, so one store measured alone leaves the other not measured.
func TestTriggerStoresAreApart(t *testing.T) {
	dir := testResults(t, testMachine.Time)
	if err := os.Remove(filepath.Join(dir, "load-trigger-apns-sqlite.json")); err != nil {
		t.Fatal(err)
	}
	s, err := build(dir, testMachine)
	if err != nil {
		t.Fatal(err)
	}
	var pg, lite []row
	for _, r := range s.Rows {
		switch {
		case strings.Contains(r.Figure, "trigger → APNs") && strings.Contains(r.Figure, "(PostgreSQL)"):
			pg = append(pg, r)
		case strings.Contains(r.Figure, "trigger → APNs") && strings.Contains(r.Figure, "(SQLite, embedded)"):
			lite = append(lite, r)
		}
	}
	if len(pg) != 4 || !pg[0].Measured || pg[0].Source != "load-trigger-apns.json" {
		t.Errorf("PostgreSQL rows %+v, want 4 measured from load-trigger-apns.json", pg)
	}
	if len(lite) != 1 || lite[0].Measured || lite[0].Note != "no load-trigger-apns-sqlite.json" || lite[0].Target == "" {
		t.Errorf("SQLite rows %+v, want one not measured, with the target and the missing file", lite)
	}
}

func TestUnreadableJSONIsANote(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "load-idle-rss.json"), []byte(`{"idleRssMB": `), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := build(dir, testMachine)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "load-idle-rss.json") {
		t.Fatalf("notes %q, want one about load-idle-rss.json", s.Notes)
	}
	for _, r := range s.Rows {
		if r.Source == "load-idle-rss.json" && (r.Measured || !strings.Contains(r.Note, "unreadable")) {
			t.Errorf("row %+v: want not measured, unreadable", r)
		}
	}
}

func TestParse(t *testing.T) {
	in := strings.Join([]string{
		"goos: linux",
		"pkg: example.com/a",
		"cpu: Some CPU",
		"BenchmarkA        \t     100\t  1000 ns/op\t  5.5 x/s",
		"BenchmarkA-2      \t     200\t   500 ns/op\t 11.0 x/s",
		"BenchmarkA        \t     100\t  1100 ns/op\t  4.5 x/s",
		"BenchmarkB/k=v/sub-8 \t 3\t 7 ns/op",
		"BenchmarkC-2 \t--- FAIL: BenchmarkC-2",
		"    c_test.go:1: 3 1 ns/op", // a log line under a failure: not figures
		"BenchmarkD-2 \tsome output",
		"more output",
		"      10\t 99 ns/op\t 3 widgets",
		"BenchmarkE-2 \t 1 \t notanumber ns/op",
		"BenchmarkF-x \t 1 \t 2 ns/op",
		"pkg: example.com/b",
		"BenchmarkA-2      \t     300\t   400 ns/op",
		"PASS",
		"ok  \texample.com/b\t1.0s",
	}, "\n")
	var br benchResults
	if err := br.parse(strings.NewReader(in), "f.txt"); err != nil {
		t.Fatal(err)
	}
	type got struct {
		Pkg, Name string
		Procs     int
		Values    map[string][]float64
	}
	var gs []got
	for _, g := range br.Groups {
		if g.File != "f.txt" {
			t.Errorf("group %s: file %q", g.Name, g.File)
		}
		gs = append(gs, got{g.Pkg, g.Name, g.Procs, g.Values})
	}
	want := []got{
		{"example.com/a", "BenchmarkA", 1, map[string][]float64{"ns/op": {1000, 1100}, "x/s": {5.5, 4.5}}},
		{"example.com/a", "BenchmarkA", 2, map[string][]float64{"ns/op": {500}, "x/s": {11}}},
		{"example.com/a", "BenchmarkB/k=v/sub", 8, map[string][]float64{"ns/op": {7}}},
		{"example.com/a", "BenchmarkD", 2, map[string][]float64{"ns/op": {99}, "widgets": {3}}},
		{"example.com/a", "BenchmarkF-x", 1, map[string][]float64{"ns/op": {2}}},
		{"example.com/b", "BenchmarkA", 2, map[string][]float64{"ns/op": {400}}},
	}
	if !reflect.DeepEqual(gs, want) {
		t.Errorf("groups\n%+v\nwant\n%+v", gs, want)
	}
	if br.CPU != "Some CPU" {
		t.Errorf("cpu %q", br.CPU)
	}
}

func TestSpreadOf(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want spread
	}{
		{nil, spread{}},
		{[]float64{3}, spread{Median: 3, Min: 3, Max: 3}},
		{[]float64{5, 1, 3}, spread{Median: 3, Min: 1, Max: 5}},
		{[]float64{4, 1, 3, 2}, spread{Median: 2.5, Min: 1, Max: 4}},
	} {
		if got := spreadOf(c.in); got != c.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestTargetMet(t *testing.T) {
	for _, c := range []struct {
		t    *target
		v    float64
		want bool
	}{
		{targetPeerRatio, 20, true},
		{targetPeerRatio, 19.99, false},
		{targetPushAll, 10, true},
		{targetPushAll, 10.01, false},
		{targetIdleRSS, 100, false},
		{targetIdleRSS, 99.9, true},
	} {
		if got := c.t.met(c.v); got != c.want {
			t.Errorf("%s met by %v = %v, want %v", c.t.Text, c.v, got, c.want)
		}
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 0.01234: "0.0123", 1.834: "1.83", 23.46: "23.5", 381.3: "381", 161518.4: "161,518", 1234567: "1,234,567", -2500: "-2,500",
	} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestCountCPUList(t *testing.T) {
	for s, want := range map[string]int{"0": 1, "0-1": 2, "0-3,6": 5, "0,2,4-7": 6, "": 0, "x": 0, "3-1": 0} {
		if got := countCPUList(s); got != want {
			t.Errorf("countCPUList(%q) = %d, want %d", s, got, want)
		}
	}
}
