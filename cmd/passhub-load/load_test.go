package main

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/passhub/passhub/connectors/verify"
)

func TestPercentileIsNearestRank(t *testing.T) {
	hundred := make(latencies, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // 100..1 ms, unsorted
	}
	hundred = hundred.sorted()
	for _, c := range []struct {
		name string
		l    latencies
		p    float64
		want time.Duration
	}{
		{"empty sample", nil, 99, 0},
		{"one value is every percentile", latencies{7}, 50, 7},
		{"one value is every percentile", latencies{7}, 99, 7},
		{"median of four is the second", latencies{1, 2, 3, 4}, 50, 2},
		{"p99 of four is the largest", latencies{1, 2, 3, 4}, 99, 4},
		{"p50 of 1..100 ms", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100 ms", hundred, 99, 99 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"a tiny p is the minimum", hundred, 0.001, 1 * time.Millisecond},
	} {
		if got := c.l.percentile(c.p); got != c.want {
			t.Errorf("%s: percentile(%v) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

func TestSpreadIsMedianMinMax(t *testing.T) {
	for _, c := range []struct {
		name string
		xs   []float64
		want spread
	}{
		{"none", nil, spread{}},
		{"odd count", []float64{5, 1, 3}, spread{Median: 3, Min: 1, Max: 5}},
		{"even count averages the middle two", []float64{4, 1, 2, 10}, spread{Median: 3, Min: 1, Max: 10}},
	} {
		if got := spreadOf(c.xs); got != c.want {
			t.Errorf("%s: spreadOf(%v) = %+v, want %+v", c.name, c.xs, got, c.want)
		}
	}
}

// TestShopifyDeliveriesVerify: what the harness sends is what passhub's
// Shopify verifier accepts, each a distinct delivery — and a wrong secret
// is refused, so the check can fail.
func TestShopifyDeliveriesVerify(t *testing.T) {
	s := newShopifyScenario(options{}).(*shopifyScenario)
	s.hookURL = "http://127.0.0.1:1/hooks/con_x"
	seen := map[string]bool{}
	for seq := int64(1); seq <= 3; seq++ {
		req, err := s.Request(seq)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(body); n < 1200 || n > 2000 {
			t.Errorf("body is %d bytes, want about 1.5 KB", n)
		}
		var customer map[string]any
		if err := json.Unmarshal(body, &customer); err != nil {
			t.Fatalf("body is not JSON: %v\n%s", err, body)
		}
		if customer["email"] == "" {
			t.Error("the customer has no email, so the loyalty mapping would skip it")
		}
		res, err := verify.Shopify{Secrets: []string{s.secret}}.Verify(verify.Request{URL: s.hookURL, Header: req.Header, Body: body})
		if err != nil {
			t.Fatalf("delivery %d does not verify: %v", seq, err)
		}
		ev := res.Events[0]
		if ev.Topic != "customers/create" || ev.OccurredAt.IsZero() {
			t.Errorf("event = topic %q, occurred %v", ev.Topic, ev.OccurredAt)
		}
		if seen[ev.DedupeKey] {
			t.Errorf("delivery %d repeats dedupe key %q", seq, ev.DedupeKey)
		}
		seen[ev.DedupeKey] = true
		_, err = verify.Shopify{Secrets: []string{"shpss_other"}}.Verify(verify.Request{Header: req.Header, Body: body})
		if !errors.Is(err, verify.ErrSignature) {
			t.Errorf("another secret: err = %v, want ErrSignature", err)
		}
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999.4: "999", 999.5: "1,000", 5123.4: "5,123", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestParseProcStatReadsCommAndCPUTicks(t *testing.T) {
	// comm may hold spaces and parentheses; utime and stime are fields 14 and 15.
	line := "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 500 0 0 0 120 30 0 0 20 0 1 0 100 1000 200 18446744073709551615"
	got, ok := parseProcStat(line)
	if !ok || got.comm != "my (odd) proc" || got.ticks != 150 {
		t.Fatalf("parseProcStat = %+v, %v; want comm %q, 150 ticks", got, ok, "my (odd) proc")
	}
	if _, ok := parseProcStat("garbage"); ok {
		t.Error("a line without (comm) parsed")
	}
}

func TestParseOptionsRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-scenario", "nope"},
		{"-mode", "worker"},
		{"-c", "8,x"},
		{"-c", "0"},
		{"-runs", "0"},
		{"-duration", "0s"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	o, err := parseOptions([]string{"-c", "8, 32,64", "-mode", "serve,api"}, io.Discard)
	if err != nil || len(o.Conc) != 3 || o.Conc[1] != 32 || len(o.Modes) != 2 || o.Modes[1] != "api" {
		t.Fatalf("-c 8, 32,64 -mode serve,api: %v %v %v", o.Conc, o.Modes, err)
	}
}

// TestPickBestPerMode: the best concurrency is the fastest one within the
// p99 bound and without errors, chosen for each passhub mode apart.
func TestPickBestPerMode(t *testing.T) {
	r := report{P99TargetMs: 50, Series: []series{
		{Mode: "serve", Concurrency: 8, PerSec: spread{Median: 1000}, P99ms: spread{Median: 10}},
		{Mode: "serve", Concurrency: 32, PerSec: spread{Median: 2000}, P99ms: spread{Median: 40}},
		{Mode: "serve", Concurrency: 64, PerSec: spread{Median: 3000}, P99ms: spread{Median: 50}}, // not under the bound
		{Mode: "api", Concurrency: 8, PerSec: spread{Median: 3000}, P99ms: spread{Median: 5}},
		{Mode: "api", Concurrency: 64, PerSec: spread{Median: 6000}, P99ms: spread{Median: 20}, Errors: 1}, // errors disqualify
	}}
	r.pickBest()
	var got []int
	for i, s := range r.Series {
		if s.Best {
			got = append(got, i)
		}
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("best series = %v, want [1 3] (serve C=32, api C=8)", got)
	}
}

func TestParseProcStatusReadsMemory(t *testing.T) {
	status := "Name:\tpasshub\nVmHWM:\t   81920 kB\nVmRSS:\t   51200 kB\nRssAnon:\t   40960 kB\nRssFile:\t   10240 kB\nThreads:\t9\n"
	got, err := parseProcStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	// kB are KiB: 51200 kB = 52.4288 MB.
	want := memSample{RSSMB: 52.4288, AnonMB: 41.94304, FileMB: 10.48576, HWMMB: 83.88608, Threads: 9}
	if got != want {
		t.Fatalf("parseProcStatus = %+v, want %+v", got, want)
	}
	if _, err := parseProcStatus("Name:\tx\n"); err == nil {
		t.Error("a status without VmRSS parsed")
	}
}

// TestSerialsSeedShape: device IDs are md5('dev' || d) in hex, as the
// seeding SQL makes them, and the tags asked for are the one before the
// device's last change (odd requests) and its last (even), the last
// device holding what is left over.
func TestSerialsSeedShape(t *testing.T) {
	// PostgreSQL: SELECT md5('dev' || 1)
	if got := deviceID(1); got != "cea099a8f5ac3e289e317d461beb9261" {
		t.Fatalf("deviceID(1) = %q, want PostgreSQL's md5('dev' || 1)", got)
	}
	s := newSerialsScenario(options{Passes: 10, PassesPerDevice: 4}).(*serialsScenario)
	if s.devices != 3 || s.lastTag(1) != 4 || s.lastTag(3) != 2 {
		t.Fatalf("10 passes by 4: %d devices, last tags %d and %d; want 3 devices, 4 and 2", s.devices, s.lastTag(1), s.lastTag(3))
	}
	s.base = "http://127.0.0.1:1"
	for seq := int64(1); seq <= 40; seq++ {
		req, err := s.Request(seq)
		if err != nil {
			t.Fatal(err)
		}
		dev := req.URL.Path[len("/apple/v1/devices/"):][:32]
		d := 0
		for i := 1; i <= s.devices; i++ {
			if deviceID(i) == dev {
				d = i
			}
		}
		if d == 0 {
			t.Fatalf("request %d asks for device %s, not a seeded one", seq, dev)
		}
		want := s.lastTag(d) - int(seq%2)
		if got := req.URL.Query().Get("passesUpdatedSince"); got != strconv.Itoa(want) {
			t.Fatalf("request %d for device %d: since %s, want %d", seq, d, got, want)
		}
	}
}

func TestScenarioDefaultsGiveWayToFlags(t *testing.T) {
	o, err := parseOptions([]string{"-scenario", "trigger-apns"}, io.Discard)
	if err != nil || o.Duration != 10*time.Second || o.P99Target != 500*time.Millisecond || len(o.Rates) != 1 || o.Rates[0] != 500 {
		t.Fatalf("trigger-apns defaults: duration %v p99 %v rates %v (%v)", o.Duration, o.P99Target, o.Rates, err)
	}
	o, err = parseOptions([]string{"-scenario", "serials", "-c", "8", "-passes", "1000"}, io.Discard)
	if err != nil || len(o.Conc) != 1 || o.Conc[0] != 8 || o.Passes != 1000 || o.P99Target != 5*time.Millisecond {
		t.Fatalf("serials with -c 8 -passes 1000: c %v passes %d p99 %v (%v)", o.Conc, o.Passes, o.P99Target, err)
	}
	o, err = parseOptions(nil, io.Discard)
	if err != nil || o.Duration != 5*time.Second || len(o.Conc) != 1 || o.Conc[0] != 32 {
		t.Fatalf("shopify keeps the command's defaults: %v %v (%v)", o.Duration, o.Conc, err)
	}
	o, err = parseOptions([]string{"-scenario", "trigger-apns", "-rate", "100, 250.5"}, io.Discard)
	if err != nil || len(o.Rates) != 2 || o.Rates[1] != 250.5 {
		t.Fatalf("-rate 100, 250.5: %v (%v)", o.Rates, err)
	}
	for _, args := range [][]string{{"-rate", "0"}, {"-rate", "100,x"}, {"-passes", "0"}, {"-samples", "0"}} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
