// Package runstats summarises a benchmark figure's runs: the harness
// (cmd/passhub-load), the peer run (cmd/passhub-bench-pkpass) and the
// report (cmd/passhub-bench-report) give every figure as the median of
// its runs with their min and max.
package runstats

import (
	"fmt"
	"slices"
)

// Spread is the median of several runs' figures with their min and max.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Of summarises xs; the median of an even count is the mean of the
// middle two (as benchstat does).
func Of(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	med := s[mid]
	if len(s)%2 == 0 {
		med = (s[mid-1] + s[mid]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[len(s)-1]}
}

// String is "median (min–max)", one decimal each.
func (s Spread) String() string {
	return fmt.Sprintf("%.1f (%.1f–%.1f)", s.Median, s.Min, s.Max)
}
