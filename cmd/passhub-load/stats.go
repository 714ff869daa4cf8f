package main

import (
	"math"
	"slices"
	"time"
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

// spread is the median of several runs' figures with their min and max.
type spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// spreadOf summarises xs; the median of an even count is the mean of the
// middle two.
func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	med := s[mid]
	if len(s)%2 == 0 {
		med = (s[mid-1] + s[mid]) / 2
	}
	return spread{Median: med, Min: s[0], Max: s[len(s)-1]}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
