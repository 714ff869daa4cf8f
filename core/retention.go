package core

import (
	"context"
	"time"
)

// Purged counts what a history purge deleted.
type Purged struct {
	Jobs     int64
	PushLogs int64
}

// HistoryStore forgets operational history past its retention: finished
// jobs (the outbox rows of work done or given up) and push-log rows. It
// keeps passes, events and triggers: they are the record a CRM rebuilds
// from and the dedupe memory of the connectors.
type HistoryStore interface {
	// PurgeHistory deletes done and failed jobs finished before t and
	// push-log rows written before t, in batches, until none is left or
	// ctx ends.
	PurgeHistory(ctx context.Context, before time.Time) (Purged, error)
}
