package main

import (
	"math"
	"slices"
	"time"

	"github.com/passhub/passhub/internal/runstats"
)

// latencies is every request's latency of one run, sorted once, so each
// percentile is exact (no histogram buckets to round into).
type latencies []time.Duration

// sorted returns l sorted ascending (in place).
func (l latencies) sorted() latencies {
	slices.Sort(l)
	return l
}

// percentile is the nearest-rank percentile of sorted l: the smallest
// value with at least p% of the sample at or below it. p is in (0, 100].
// An empty sample has no percentile (0).
func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(l))))
	rank = min(max(rank, 1), len(l))
	return l[rank-1]
}

// spread is the median of several runs with their min and max.
type spread = runstats.Spread

func spreadOf(xs []float64) spread { return runstats.Of(xs) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
