package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/passhub/passhub/core"
)

var _ core.ChainStore = (*Store)(nil)

// StartChainedJob counts the first attempt of the claimed, never started
// job of kind and key (see core.ChainStore).
func (s *Store) StartChainedJob(ctx context.Context, kind, key string) (core.Job, error) {
	var out core.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The row by its unique (kind, key) first: filtered on state, the
		// planner may walk every enqueued job instead.
		j, err := scanJob(tx.QueryRowContext(ctx, `UPDATE jobs SET attempts = 1
			WHERE id = (SELECT id FROM jobs WHERE kind = ? AND key = ?) AND state = 'enqueued' AND attempts = 0 RETURNING `+jobColumns, kind, key))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("claimed %s job %s: %w", kind, key, core.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("starting claimed %s job %s: %w", kind, key, err)
		}
		out = j
		return nil
	})
	return out, err
}

// RequeueJob records msg and hands job id back to the relay, unless it
// is done or failed.
func (s *Store) RequeueJob(ctx context.Context, id int64, msg string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'pending', enqueued_at = NULL, last_error = ?
			WHERE id = ? AND state NOT IN ('done', 'failed')`, msg, id)
		if err != nil {
			return fmt.Errorf("requeueing job %d: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("requeueing job %d: %w", id, err)
		} else if n == 0 {
			if _, err := jobIn(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}
