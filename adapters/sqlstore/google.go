package sqlstore

import (
	"time"

	"github.com/passhub/passhub/core"
)

// NormGoogleCredentials is c with its times truncated as the columns are;
// a zero UpdatedAt is now and a zero CreatedAt is UpdatedAt.
func NormGoogleCredentials(c core.GoogleCredentials) core.GoogleCredentials {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = time.Now()
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = c.UpdatedAt
	}
	c.CreatedAt = TruncTime(c.CreatedAt)
	c.UpdatedAt = TruncTime(c.UpdatedAt)
	return c
}

// GoogleCallbackStale reports whether a callback at `at` is stale for a
// pass whose last applied callback was at last (nil when none was): it is
// when last is at or after it, compared at the stores' precision.
func GoogleCallbackStale(last *time.Time, at time.Time) bool {
	return last != nil && !TruncTime(*last).Before(TruncTime(at))
}
