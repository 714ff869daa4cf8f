package core

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors of changes that carry a SourceChange or an expected version.
var (
	// ErrVersionMismatch: the pass is no longer at the version the change
	// was computed from (another change won the race). Re-read and
	// recompute. It is a conflict.
	ErrVersionMismatch = fmt.Errorf("%w: the pass changed since it was read", ErrConflict)
	// ErrAlreadyApplied: the pass already took the change with this
	// SourceChange.Key (a retried job); nothing was changed again.
	ErrAlreadyApplied = errors.New("this change was already applied to the pass")
)

// SourceState is what a pass remembers of the source-system changes that
// shaped it, so that mapped triggers apply once and in source order.
type SourceState struct {
	// Times is, per data key, when the source system says the change that
	// wrote its current value happened (Shopify X-Shopify-Triggered-At,
	// HubSpot occurredAt, Square created_at).
	Times map[string]time.Time `json:"times,omitempty"`
	// Recent holds the keys of the last changes applied, newest last, so a
	// job that runs again after a crash does not apply its change twice.
	Recent []string `json:"recent,omitempty"`
}

// MaxRecentSourceKeys bounds SourceState.Recent: a job retried after a
// crash retries within minutes, long before this many later changes.
const MaxRecentSourceKeys = 16

// SourceChange says where a change comes from.
type SourceChange struct {
	// Key names the change (trigger, rule, pass): a second change with
	// the same key is refused with ErrAlreadyApplied. Empty: no check.
	Key string
	// At is when the source says it happened; zero when unknown.
	At time.Time
	// Latest names the data keys whose new value is the event's own (not
	// computed from the pass): such a key is left alone when the pass
	// holds a value written by a change that happened later, so a late
	// retry of an old event cannot overwrite newer data. Keys not named
	// here are derived from the pass as it is now (points + 10) and are
	// always written: with IfVersion they are computed from fresh state.
	Latest map[string]bool
}

// applied reports whether the pass already took change key.
func (s *SourceState) applied(key string) bool {
	return key != "" && slices.Contains(s.Recent, key)
}

// admit filters data (a merge patch) to the keys the change may write,
// records their times and the change's key, and returns the kept patch
// and the keys dropped as stale.
func (s *SourceState) admit(c *SourceChange, data map[string]any) (kept map[string]any, stale []string) {
	if c == nil {
		return data, nil
	}
	kept = data
	if !c.At.IsZero() {
		kept = make(map[string]any, len(data))
		at := c.At.UTC().Truncate(time.Microsecond)
		for k, v := range data {
			prev, seen := s.Times[k]
			if c.Latest[k] && seen && at.Before(prev) {
				stale = append(stale, k)
				continue
			}
			kept[k] = v
			if !seen || at.After(prev) {
				if s.Times == nil {
					s.Times = map[string]time.Time{}
				}
				s.Times[k] = at
			}
		}
		slices.Sort(stale)
	}
	if c.Key != "" {
		s.Recent = append(s.Recent, c.Key)
		if n := len(s.Recent) - MaxRecentSourceKeys; n > 0 {
			s.Recent = slices.Delete(s.Recent, 0, n)
		}
	}
	return kept, stale
}

// Clone returns a deep copy.
func (s SourceState) Clone() SourceState {
	out := SourceState{Recent: slices.Clone(s.Recent)}
	if s.Times != nil {
		out.Times = make(map[string]time.Time, len(s.Times))
		for k, v := range s.Times {
			out.Times[k] = v
		}
	}
	return out
}

// sourceWithoutLatest is c recording times and key but treating no key as
// stale (a replacement of the whole data).
func sourceWithoutLatest(c *SourceChange) *SourceChange {
	if c == nil {
		return nil
	}
	cp := *c
	cp.Latest = nil
	return &cp
}
