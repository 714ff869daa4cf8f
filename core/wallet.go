package core

import "time"

// Wallet status changes. They describe where the pass lives, not what it
// says: they never bump the pass's Version or UpdatedAt, so a device that
// just installed a pass is not told it changed.

// MarkInstalled records that the pass is now in platform's wallet as of
// at and returns the pass.installed event; nothing when it already was.
func MarkInstalled(p *Pass, platform Platform, at time.Time) []Event {
	slot := installedSlot(p, platform)
	if slot == nil || *slot != nil {
		return nil
	}
	t := at
	*slot = &t
	return walletEvent(p, EventInstalled, platform, at)
}

// MarkUninstalled records that the pass left platform's wallet as of at
// and returns the pass.uninstalled event; nothing when it was not there.
func MarkUninstalled(p *Pass, platform Platform, at time.Time) []Event {
	slot := installedSlot(p, platform)
	if slot == nil || *slot == nil {
		return nil
	}
	*slot = nil
	return walletEvent(p, EventUninstalled, platform, at)
}

func installedSlot(p *Pass, platform Platform) **time.Time {
	switch platform {
	case PlatformApple:
		return &p.AppleWalletInstalledAt
	case PlatformGoogle:
		return &p.GoogleWalletInstalledAt
	}
	return nil
}

func walletEvent(p *Pass, t EventType, platform Platform, at time.Time) []Event {
	changed := at
	p.WalletStatus = p.DeriveWalletStatus()
	p.WalletLastChangedAt = &changed
	p.WalletLastEvent = t
	ev := NewEvent(t, p, at)
	ev.Data.Platform = platform
	return []Event{ev}
}
