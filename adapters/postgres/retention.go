package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// purgeBatch bounds one delete statement: short transactions, so a purge
// never holds locks the workers wait on for long.
const purgeBatch = 5000

// PurgeHistory deletes finished jobs and push-log rows older than before.
func (s *Store) PurgeHistory(ctx context.Context, before time.Time) (core.Purged, error) {
	var out core.Purged
	at := sqlstore.TruncTime(before)
	steps := []struct {
		what string
		sql  string
		n    *int64
	}{
		// (state, id) is indexed; finished jobs come in roughly id order.
		{"jobs", `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('done', 'failed') AND done_at < $1 ORDER BY id LIMIT $2)`, &out.Jobs},
		// push-log IDs grow with time: the oldest rows come first.
		{"push logs", `DELETE FROM push_logs WHERE id IN (SELECT id FROM push_logs WHERE at < $1 ORDER BY id LIMIT $2)`, &out.PushLogs},
	}
	for _, st := range steps {
		for {
			tag, err := s.pool.Exec(ctx, st.sql, at, purgeBatch)
			if err != nil {
				return out, fmt.Errorf("purging %s: %w", st.what, err)
			}
			*st.n += tag.RowsAffected()
			if tag.RowsAffected() < purgeBatch {
				break
			}
		}
	}
	return out, nil
}
