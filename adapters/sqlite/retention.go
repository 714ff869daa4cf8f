package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/passhub/passhub/core"
)

// purgeBatch bounds one delete transaction: SQLite has one writer, and
// the workers must not wait behind a long purge.
const purgeBatch = 5000

// PurgeHistory deletes finished jobs and push-log rows older than before.
func (s *Store) PurgeHistory(ctx context.Context, before time.Time) (core.Purged, error) {
	var out core.Purged
	at := micros(before)
	steps := []struct {
		what string
		sql  string
		n    *int64
	}{
		{"jobs", `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('done', 'failed') AND done_at < ? ORDER BY id LIMIT ?)`, &out.Jobs},
		{"push logs", `DELETE FROM push_logs WHERE id IN (SELECT id FROM push_logs WHERE at < ? ORDER BY id LIMIT ?)`, &out.PushLogs},
	}
	for _, st := range steps {
		for {
			var n int64
			err := s.inTx(ctx, func(tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, st.sql, at, purgeBatch)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return out, fmt.Errorf("purging %s: %w", st.what, err)
			}
			*st.n += n
			if n < purgeBatch {
				break
			}
		}
	}
	return out, nil
}
