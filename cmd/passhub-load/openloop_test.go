package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock jumps to whatever time the scheduler sleeps until, plus a
// delay for chosen wake-ups (a busy machine waking the dispatcher late).
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	late  map[int]time.Duration // by wake-up number
	wakes int
	slept []time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(_ context.Context, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, t)
	if t.After(c.now) {
		c.now = t
	}
	c.now = c.now.Add(c.late[c.wakes])
	c.wakes++
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestPacerDueTimesAndCount(t *testing.T) {
	for _, c := range []struct {
		name string
		rate float64
		d    time.Duration
		want int64
	}{
		{"500/s for 10 s", 500, 10 * time.Second, 5000},
		{"500/s for 3 s", 500, 3 * time.Second, 1500},
		{"a window shorter than one interval still sends the first", 2, 100 * time.Millisecond, 1},
		{"a partial last interval counts the request due inside it", 3, 1100 * time.Millisecond, 4},
		{"a rate that does not divide a second", 7, time.Second, 7},
	} {
		p := pacer{start: t0, rate: c.rate}
		if got := p.count(c.d); got != c.want {
			t.Errorf("%s: count = %d, want %d", c.name, got, c.want)
		}
		// Every counted request is due inside the window, the next one not.
		if n := p.count(c.d); !p.due(n-1).Before(t0.Add(c.d)) || p.due(n).Before(t0.Add(c.d)) {
			t.Errorf("%s: due(%d) = %v, due(%d) = %v, window ends %v", c.name, n-1, p.due(n-1), n, p.due(n), t0.Add(c.d))
		}
	}
	p := pacer{start: t0, rate: 500}
	if got := p.due(0); !got.Equal(t0) {
		t.Errorf("due(0) = %v, want the start", got)
	}
	if got := p.due(4999).Sub(t0); got != 9998*time.Millisecond {
		t.Errorf("due(4999) is %v after the start, want 9.998s (no drift from adding intervals)", got)
	}
}

// TestOpenLoopSendsOnScheduleWhateverTheServer: every request starts at
// its due time; a slow send does not delay the next (open loop); a
// dispatcher that wakes late starts the overdue ones at once and skips
// none.
func TestOpenLoopSendsOnScheduleWhateverTheServer(t *testing.T) {
	clk := &fakeClock{now: t0, late: map[int]time.Duration{3: 35 * time.Millisecond}}
	p := pacer{start: t0, rate: 100} // one every 10 ms
	type call struct {
		i   int64
		due time.Time
	}
	var mu sync.Mutex
	var calls []call
	lastStarted := make(chan struct{})
	n := openLoop(t.Context(), clk, p, 100*time.Millisecond, func(i int64, due time.Time) {
		mu.Lock()
		calls = append(calls, call{i, due})
		mu.Unlock()
		switch i {
		case 0:
			// The first answer comes only once the last request has
			// left: a closed loop would never get there.
			<-lastStarted
		case 9:
			close(lastStarted)
		}
	})
	if n != 10 || len(calls) != 10 {
		t.Fatalf("started %d, called %d, want 10 each", n, len(calls))
	}
	slices.SortFunc(calls, func(a, b call) int { return int(a.i - b.i) })
	for k, c := range calls {
		if c.i != int64(k) || !c.due.Equal(p.due(int64(k))) {
			t.Fatalf("call %d: i %d due %v, want i %d due %v", k, c.i, c.due, k, p.due(int64(k)))
		}
	}
	// Wake-up 3 (for request 4, due at 40 ms) came 35 ms late, at 75 ms:
	// requests 4..7 (due 40..70 ms) were overdue and left without another
	// sleep; the scheduler slept again only for request 8 (80 ms).
	if len(clk.slept) != 6 {
		t.Errorf("slept %d times, want 6 (requests 1, 2, 3, 4, 8, 9): %v", len(clk.slept), clk.slept)
	}
	for _, want := range []int64{1, 2, 3, 4, 8, 9} {
		if !slices.ContainsFunc(clk.slept, func(s time.Time) bool { return s.Equal(p.due(want)) }) {
			t.Errorf("no sleep until request %d's due time", want)
		}
	}
}

// cancellingClock ends the run during its n-th sleep.
type cancellingClock struct {
	fakeClock
	at     int
	cancel context.CancelFunc
}

func (c *cancellingClock) SleepUntil(ctx context.Context, t time.Time) {
	if c.wakes == c.at {
		c.cancel()
	}
	c.fakeClock.SleepUntil(ctx, t)
}

func TestOpenLoopStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	clk := &cancellingClock{fakeClock: fakeClock{now: t0}, at: 2, cancel: cancel}
	var sent atomic.Int64
	n := openLoop(ctx, clk, pacer{start: t0, rate: 10}, time.Second, func(int64, time.Time) { sent.Add(1) })
	// Requests 0, 1 and 2 left; the run ended while waiting for 3.
	if n != 3 || sent.Load() != 3 {
		t.Fatalf("started %d, sent %d; want 3 and 3", n, sent.Load())
	}
}
