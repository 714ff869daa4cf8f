package main

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/passhub/passhub/connectors/verify"
)

func at(msec int) time.Time { return t0.Add(time.Duration(msec) * time.Millisecond) }

func TestMatchPushes(t *testing.T) {
	const missing = time.Duration(-1)
	msec := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	for _, c := range []struct {
		name     string
		sent     []sentTrigger
		arrivals map[string][]time.Time
		want     []time.Duration
		matched  int
		miss     int
		extra    int
	}{
		{
			name:     "one trigger per token: latency is arrival minus send",
			sent:     []sentTrigger{{"a", at(0)}, {"b", at(2)}},
			arrivals: map[string][]time.Time{"a": {at(40)}, "b": {at(7)}},
			want:     []time.Duration{msec(40), msec(5)},
			matched:  2,
		},
		{
			name:     "a trigger whose push never came is missing",
			sent:     []sentTrigger{{"a", at(0)}, {"b", at(2)}},
			arrivals: map[string][]time.Time{"a": {at(40)}},
			want:     []time.Duration{msec(40), missing},
			matched:  1, miss: 1,
		},
		{
			name:     "two triggers of one pass each take their own push, in order",
			sent:     []sentTrigger{{"a", at(4000)}, {"a", at(0)}},
			arrivals: map[string][]time.Time{"a": {at(4030), at(25)}},
			want:     []time.Duration{msec(30), msec(25)},
			matched:  2,
		},
		{
			name: "a push that arrived before its trigger left is not its push",
			sent: []sentTrigger{{"a", at(100)}},
			// left over from an earlier phase
			arrivals: map[string][]time.Time{"a": {at(50), at(130)}},
			want:     []time.Duration{msec(30)},
			matched:  1, extra: 1,
		},
		{
			name:     "two triggers coalesced into one push: the later one is missing",
			sent:     []sentTrigger{{"a", at(0)}, {"a", at(10)}},
			arrivals: map[string][]time.Time{"a": {at(60)}},
			want:     []time.Duration{msec(60), missing},
			matched:  1, miss: 1,
		},
		{
			name:     "a duplicate push and a push to an unknown token are extra",
			sent:     []sentTrigger{{"a", at(0)}},
			arrivals: map[string][]time.Time{"a": {at(20), at(21)}, "zz": {at(5)}},
			want:     []time.Duration{msec(20)},
			matched:  1, extra: 2,
		},
		{
			name: "nothing sent, nothing arrived",
		},
	} {
		got := matchPushes(c.sent, c.arrivals)
		if !slices.Equal(got.Latency, c.want) && len(c.want)+len(got.Latency) > 0 {
			t.Errorf("%s: latencies %v, want %v", c.name, got.Latency, c.want)
		}
		if got.Matched != c.matched || got.Missing != c.miss || got.Extra != c.extra {
			t.Errorf("%s: matched %d missing %d extra %d, want %d %d %d", c.name, got.Matched, got.Missing, got.Extra, c.matched, c.miss, c.extra)
		}
	}
}

// TestMatchPushesDoesNotReorderItsInput: the caller's arrival lists are
// left as they were (the recorder's snapshot may be reused).
func TestMatchPushesDoesNotReorderItsInput(t *testing.T) {
	arr := map[string][]time.Time{"a": {at(30), at(10)}}
	matchPushes([]sentTrigger{{"a", at(0)}}, arr)
	if !arr["a"][0].Equal(at(30)) {
		t.Fatal("matchPushes sorted the caller's slice")
	}
}

func TestPushRecorderRecordsAndResets(t *testing.T) {
	r := newPushRecorder()
	before := time.Now()
	if st, reason := r.decide("a"); st != 0 || reason != "" {
		t.Fatalf("decide = %d %q, want 0 (the mock's default 200)", st, reason)
	}
	r.decide("a")
	r.decide("b")
	got, n := r.snapshot()
	if n != 3 || len(got["a"]) != 2 || len(got["b"]) != 1 || got["a"][0].Before(before) {
		t.Fatalf("snapshot = %v, %d", got, n)
	}
	r.reset()
	if got, n := r.snapshot(); n != 0 || len(got) != 0 {
		t.Fatalf("after reset: %v, %d", got, n)
	}
}

// TestOrderPaidVerifiesAndCarriesTheCustomer: each trigger is a Shopify
// orders/paid that passhub's verifier accepts, with its own dedupe key,
// for the target's customer, and a total the mapping turns into points.
func TestOrderPaidVerifiesAndCarriesTheCustomer(t *testing.T) {
	shop := newShopifyScenario(options{}).(*shopifyScenario)
	shop.hookURL = "http://127.0.0.1:1/hooks/con_x"
	l := &triggerLoad{shop: shop}
	seen := map[string]bool{}
	for k := int64(0); k < 3; k++ {
		tgt := triggerTarget{customer: shopifyCustomerID(k + 1), passID: "pass_x", token: "ab"}
		req, err := l.order(tgt, k)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatal(err)
		}
		res, err := verify.Shopify{Secrets: []string{shop.secret}}.Verify(verify.Request{URL: shop.hookURL, Header: req.Header, Body: body})
		if err != nil {
			t.Fatalf("order %d does not verify: %v", k, err)
		}
		ev := res.Events[0]
		if ev.Topic != "orders/paid" || seen[ev.DedupeKey] {
			t.Fatalf("order %d: topic %q, dedupe key %q (seen before: %v)", k, ev.Topic, ev.DedupeKey, seen[ev.DedupeKey])
		}
		seen[ev.DedupeKey] = true
		var order struct {
			TotalPrice string `json:"total_price"`
			Customer   struct {
				ID json.Number `json:"id"`
			} `json:"customer"`
		}
		if err := json.Unmarshal(body, &order); err != nil {
			t.Fatalf("body is not JSON: %v\n%s", err, body)
		}
		if order.Customer.ID.String() != strconv.FormatInt(tgt.customer, 10) || order.TotalPrice == "0.00" {
			t.Errorf("order %d: customer %s, total %s", k, order.Customer.ID, order.TotalPrice)
		}
		if n := len(body); n < 1200 || n > 2500 {
			t.Errorf("body is %d bytes, want about 1.5 KB", n)
		}
		_, err = verify.Shopify{Secrets: []string{"shpss_other"}}.Verify(verify.Request{Header: req.Header, Body: body})
		if !errors.Is(err, verify.ErrSignature) {
			t.Errorf("another secret: err = %v, want ErrSignature", err)
		}
	}
}
