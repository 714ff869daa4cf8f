package core

import (
	"context"
	"fmt"
	"time"
)

// Install insights: how many passes went into and out of each wallet per
// hour or day, and how many were installed at the end of each bucket. They
// are counted from the pass.installed and pass.uninstalled events, so they
// agree with what the event list and the webhooks said; the active count
// at an instant is the installs minus the uninstalls of every event before
// it (a pass emits them alternately per platform, so that is the number of
// passes in the wallet).

// Interval is the width of an insights bucket. Buckets are aligned to UTC.
type Interval string

const (
	IntervalHour Interval = "hour"
	IntervalDay  Interval = "day"
)

// Duration is the width of the interval (a UTC day is always 24 hours).
func (i Interval) Duration() time.Duration {
	switch i {
	case IntervalHour:
		return time.Hour
	case IntervalDay:
		return 24 * time.Hour
	}
	return 0
}

// Valid reports whether i is a known interval.
func (i Interval) Valid() bool { return i.Duration() > 0 }

// MaxInsightBuckets bounds one insights answer.
const MaxInsightBuckets = 1000

// InstallsQuery asks for install insights over [From, To).
type InstallsQuery struct {
	From, To time.Time
	Interval Interval
	// TemplateID, when set, counts the passes of one template only.
	TemplateID string
}

// InstallCounts are the installs and uninstalls of one platform.
type InstallCounts struct {
	Installs   int64 `json:"installs"`
	Uninstalls int64 `json:"uninstalls"`
}

// Net is installs minus uninstalls.
func (c InstallCounts) Net() int64 { return c.Installs - c.Uninstalls }

// PlatformCounts are InstallCounts per platform.
type PlatformCounts struct {
	Apple  InstallCounts `json:"apple"`
	Google InstallCounts `json:"google"`
}

// ActiveInstalls are the passes installed at an instant.
type ActiveInstalls struct {
	Apple  int64 `json:"apple"`
	Google int64 `json:"google"`
	Total  int64 `json:"total"`
}

// InstallBucket is one interval of install insights.
type InstallBucket struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	PlatformCounts
	// ActiveInstalls is the count at End.
	ActiveInstalls ActiveInstalls `json:"activeInstalls"`
}

// InstallInsights answers an InstallsQuery. From and To are the query's,
// widened to whole buckets.
type InstallInsights struct {
	From       time.Time       `json:"from"`
	To         time.Time       `json:"to"`
	Interval   Interval        `json:"interval"`
	TemplateID string          `json:"templateId,omitempty"`
	Buckets    []InstallBucket `json:"buckets"`
}

// WalletEventCountQuery asks a store to count wallet events.
type WalletEventCountQuery struct {
	// From and To bound the buckets; To - From is a whole number of Width.
	From, To time.Time
	Width    time.Duration
	// TemplateID, when set, counts the events of that template's passes.
	TemplateID string
}

// WalletEventCounts are the counted pass.installed and pass.uninstalled
// events: those before From, and those in each bucket from From on
// (Buckets[i] covers [From + i*Width, From + (i+1)*Width)).
type WalletEventCounts struct {
	Before  PlatformCounts
	Buckets []PlatformCounts
}

// InsightStore counts events for insights.
type InsightStore interface {
	// CountWalletEvents counts the workspace's pass.installed and
	// pass.uninstalled events per platform, before q.From and per bucket,
	// all from one snapshot of the events.
	CountWalletEvents(ctx context.Context, workspaceID string, q WalletEventCountQuery) (WalletEventCounts, error)
}

// InstallInsights counts installs and uninstalls per platform and bucket,
// with the installs active at the end of each bucket. From is rounded down
// and To up to whole buckets of UTC hours or days.
func (s *Service) InstallInsights(ctx context.Context, workspaceID string, q InstallsQuery) (InstallInsights, error) {
	if !q.Interval.Valid() {
		return InstallInsights{}, Invalid("interval", "must be hour or day")
	}
	if q.From.IsZero() {
		return InstallInsights{}, Invalid("from", "is required")
	}
	if q.To.IsZero() {
		return InstallInsights{}, Invalid("to", "is required")
	}
	if !q.From.Before(q.To) {
		return InstallInsights{}, Invalid("to", "must be after from")
	}
	width := q.Interval.Duration()
	from := q.From.UTC().Truncate(width)
	to := q.To.UTC().Truncate(width)
	if to.Before(q.To) {
		to = to.Add(width)
	}
	n := int(to.Sub(from) / width)
	if n > MaxInsightBuckets {
		return InstallInsights{}, Invalid("to", "is %d %ss after from; at most %d buckets are answered at once", n, q.Interval, MaxInsightBuckets)
	}
	counts, err := s.store.CountWalletEvents(ctx, workspaceID, WalletEventCountQuery{From: from, To: to, Width: width, TemplateID: q.TemplateID})
	if err != nil {
		return InstallInsights{}, fmt.Errorf("counting wallet events: %w", err)
	}
	if len(counts.Buckets) != n {
		return InstallInsights{}, fmt.Errorf("counting wallet events: store answered %d buckets, want %d", len(counts.Buckets), n)
	}
	out := InstallInsights{From: from, To: to, Interval: q.Interval, TemplateID: q.TemplateID, Buckets: make([]InstallBucket, n)}
	apple, google := counts.Before.Apple.Net(), counts.Before.Google.Net()
	for i, c := range counts.Buckets {
		apple += c.Apple.Net()
		google += c.Google.Net()
		start := from.Add(time.Duration(i) * width)
		out.Buckets[i] = InstallBucket{
			Start: start, End: start.Add(width), PlatformCounts: c,
			ActiveInstalls: ActiveInstalls{Apple: apple, Google: google, Total: apple + google},
		}
	}
	return out, nil
}
