package core

import (
	"context"
	"time"
)

// Backfill: a source system that was down asks for every pass that changed
// since T and rebuilds its truth from the answers. A pass changes when
// something its view shows changes: its data or lifecycle (UpdatedAt) or
// its wallet status (WalletLastChangedAt). The store stamps every such
// write with a change time at least as late as both, and walks passes in
// (change time, ID) order. A cursor walk in that order never skips a pass
// and repeats one only when it changed again during the walk: the change
// moves it to the end, so the walk sees it again with its new state, which
// is what a rebuild wants: the last time a walk shows a pass, it shows the
// pass as it was when the walk read its last page.

// PassChangeQuery filters and pages passes in change order.
type PassChangeQuery struct {
	// PassQuery's filters (template, wallet status, lifecycle, updated
	// since) and page apply; its cursor must come from ListPassChanges.
	PassQuery
	// ChangedSince keeps passes whose change time is at or after it: every
	// pass whose UpdatedAt or WalletLastChangedAt is at or after it, and
	// possibly a few changed just before (the change time is when the store
	// wrote the change, which is no earlier than the times the view shows).
	ChangedSince time.Time
}

// PassChangeStore walks passes in change order.
type PassChangeStore interface {
	// ListPassChanges pages the workspace's passes by (change time, ID).
	// A pass written after a page was read sorts after every pass already
	// returned, so a walk never misses a change made during it.
	ListPassChanges(ctx context.Context, workspaceID string, q PassChangeQuery) ([]Pass, string, error)
}

// ListPassChanges pages passes changed since q.ChangedSince in change
// order, for a source system rebuilding its state (see PassChangeQuery).
func (s *Service) ListPassChanges(ctx context.Context, workspaceID string, q PassChangeQuery) ([]Pass, string, error) {
	if q.WalletStatus != "" && !q.WalletStatus.Valid() {
		return nil, "", Invalid("walletStatus", "must be none, apple, google or both")
	}
	if q.Lifecycle != "" && !q.Lifecycle.Valid() {
		return nil, "", Invalid("lifecycle", "must be active, expired, voided or deleted")
	}
	return s.store.ListPassChanges(ctx, workspaceID, q)
}
