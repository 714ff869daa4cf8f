package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/core"
)

var _ core.ChainStore = (*Store)(nil)

// StartChainedJob counts the first attempt of the claimed, never started
// job of kind and key (see core.ChainStore).
func (s *Store) StartChainedJob(ctx context.Context, kind, key string) (core.Job, error) {
	// The row by its unique (kind, key) first: filtered on state, the
	// planner may walk every enqueued job instead.
	j, err := scanJob(s.jobs.QueryRow(ctx, `UPDATE jobs SET attempts = 1
		WHERE id = (SELECT id FROM jobs WHERE kind = $1 AND key = $2) AND state = 'enqueued' AND attempts = 0 RETURNING `+jobColumns, kind, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return core.Job{}, fmt.Errorf("claimed %s job %s: %w", kind, key, core.ErrNotFound)
	}
	if err != nil {
		return core.Job{}, fmt.Errorf("starting claimed %s job %s: %w", kind, key, err)
	}
	return j, nil
}

// RequeueJob records msg and hands job id back to the relay, unless it
// is done or failed.
func (s *Store) RequeueJob(ctx context.Context, id int64, msg string) error {
	tag, err := s.jobs.Exec(ctx, `UPDATE jobs SET state = 'pending', enqueued_at = NULL, last_error = $2
		WHERE id = $1 AND state NOT IN ('done', 'failed')`, id, msg)
	if err != nil {
		return fmt.Errorf("requeueing job %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := jobIn(ctx, s.pool, id); err != nil {
			return err
		}
	}
	return nil
}
