package main

import (
	"context"
	"sync"
	"time"
)

// Open-loop load: requests leave at a fixed rate whatever the server
// answers, the way webhooks arrive from a shop. A closed loop would slow
// down with the server and hide its queueing; here a slow server builds
// a backlog, and the latency shows it.

// pacer says when request i of an open-loop run is due: start + i/rate.
// Due times are computed from i, not by adding intervals, so no rounding
// accumulates over a long run.
type pacer struct {
	start time.Time
	rate  float64 // requests per second, > 0
}

func (p pacer) due(i int64) time.Time {
	return p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
}

// count is how many requests fall due within d of the start: those with
// due(i) < start+d.
func (p pacer) count(d time.Duration) int64 {
	n := int64(d.Seconds() * p.rate)
	for n > 0 && !p.due(n-1).Before(p.start.Add(d)) {
		n--
	}
	for p.due(n).Before(p.start.Add(d)) {
		n++
	}
	return n
}

// clock is time as the scheduler sees it, so tests can run it without
// waiting.
type clock interface {
	Now() time.Time
	// SleepUntil returns at t or when ctx ends, whichever is first.
	SleepUntil(ctx context.Context, t time.Time)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) SleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

// openLoop starts send(i, due) on its own goroutine for every request
// due within d of p.start, at its due time. A dispatcher that wakes late
// (a busy machine) starts every overdue request at once and skips none,
// so the count is fixed by rate and duration; how late each left is for
// send to measure against due. It returns once every send has returned,
// and the number started (fewer only when ctx ended).
func openLoop(ctx context.Context, clk clock, p pacer, d time.Duration, send func(i int64, due time.Time)) int64 {
	n := p.count(d)
	var wg sync.WaitGroup
	var i int64
	for ; i < n && ctx.Err() == nil; i++ {
		due := p.due(i)
		if clk.Now().Before(due) {
			clk.SleepUntil(ctx, due)
			if ctx.Err() != nil {
				break
			}
		}
		wg.Add(1)
		go func(i int64, due time.Time) {
			defer wg.Done()
			send(i, due)
		}(i, due)
	}
	wg.Wait()
	return i
}
