package sqlstore

import (
	"fmt"

	"github.com/passhub/passhub/core"
)

// WalletEventTally collects the rows of a wallet event count (bucket -1
// is before From) into counts of n buckets.
type WalletEventTally struct {
	counts core.WalletEventCounts
}

// NewWalletEventTally is a tally of n empty buckets.
func NewWalletEventTally(n int) *WalletEventTally {
	return &WalletEventTally{counts: core.WalletEventCounts{Buckets: make([]core.PlatformCounts, n)}}
}

// Add counts n events of type typ on platform in bucket.
func (t *WalletEventTally) Add(bucket int64, platform, typ string, n int64) error {
	pc := &t.counts.Before
	if bucket >= 0 {
		if bucket >= int64(len(t.counts.Buckets)) {
			return fmt.Errorf("counting wallet events: bucket %d of %d", bucket, len(t.counts.Buckets))
		}
		pc = &t.counts.Buckets[bucket]
	}
	var c *core.InstallCounts
	switch core.Platform(platform) {
	case core.PlatformApple:
		c = &pc.Apple
	case core.PlatformGoogle:
		c = &pc.Google
	default:
		return nil // not a wallet platform: nothing to count
	}
	switch core.EventType(typ) {
	case core.EventInstalled:
		c.Installs += n
	case core.EventUninstalled:
		c.Uninstalls += n
	}
	return nil
}

// Counts is the tally.
func (t *WalletEventTally) Counts() core.WalletEventCounts { return t.counts }
