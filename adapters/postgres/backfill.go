package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// changeLockClass is the advisory lock class ("pass" in ASCII) the
// passes_stamp_change trigger of migration 0007 takes shared per
// workspace while it stamps changed_at, until its transaction ends.
const changeLockClass int32 = 0x70617373

// changedPass is a pass with its change stamp (passes.changed_at).
type changedPass struct {
	pass core.Pass
	at   time.Time
}

// withChangedAt scans the pass columns and then changed_at, so scanPass
// stays the one reader of a pass row.
type withChangedAt struct {
	row pgx.Row
	at  *time.Time
}

func (w withChangedAt) Scan(dest ...any) error { return w.row.Scan(append(dest, w.at)...) }

func scanChangedPass(row pgx.Row) (changedPass, error) {
	var c changedPass
	p, err := scanPass(withChangedAt{row: row, at: &c.at})
	c.pass = p
	return c, err
}

// changeHorizon is the instant before which every stamp of the
// workspace belongs to a committed transaction. Taking the workspace's
// change lock exclusively waits for the writers stamping now to commit
// (or roll back); the clock is read while it is held, so every writer
// after it stamps later. The lock goes with the statement's transaction.
// A CTE that is MATERIALIZED runs before the SELECT list reads the clock.
func (s *Store) changeHorizon(ctx context.Context, workspaceID string) (time.Time, error) {
	var h time.Time
	err := s.pool.QueryRow(ctx, `WITH barrier AS MATERIALIZED (SELECT pg_advisory_xact_lock($1, hashtext($2)))
		SELECT clock_timestamp() FROM barrier`, changeLockClass, workspaceID).Scan(&h)
	if err != nil {
		return time.Time{}, fmt.Errorf("waiting for pass writes in flight: %w", err)
	}
	return h, nil
}

// ListPassChanges pages the workspace's passes by (changed_at, ID), up to
// the change horizon: a transaction that stamped earlier but commits
// after this page is read would otherwise land behind the cursor.
func (s *Store) ListPassChanges(ctx context.Context, workspaceID string, q core.PassChangeQuery) ([]core.Pass, string, error) {
	limit := sqlstore.PageLimit(q.Limit)
	var args queryArgs
	query := `SELECT ` + passColumns + `, changed_at FROM passes WHERE workspace_id = ` + args.add(workspaceID) +
		` AND changed_at >= ` + args.add(sqlstore.TruncTime(q.ChangedSince))
	if q.Cursor != "" {
		at, id, err := sqlstore.DecodeChangeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND (changed_at, id) > (` + args.add(at) + `, ` + args.add(id) + `)`
	}
	if q.TemplateID != "" {
		query += ` AND template_id = ` + args.add(q.TemplateID)
	}
	if q.WalletStatus != "" {
		query += ` AND wallet_status = ` + args.add(string(q.WalletStatus))
	}
	if q.Lifecycle != "" {
		query += ` AND lifecycle = ` + args.add(string(q.Lifecycle))
	}
	if !q.UpdatedSince.IsZero() {
		query += ` AND updated_at >= ` + args.add(sqlstore.TruncTime(q.UpdatedSince))
	}
	horizon, err := s.changeHorizon(ctx, workspaceID)
	if err != nil {
		return nil, "", err
	}
	query += ` AND changed_at < ` + args.add(horizon) + ` ORDER BY changed_at, id LIMIT ` + args.add(limit+1)
	rows, err := queryAll(ctx, s.pool, scanChangedPass, query, args...)
	if badText(err) {
		return nil, "", nil // no pass has an ID or filter value PostgreSQL cannot even store
	}
	if err != nil {
		return nil, "", fmt.Errorf("listing pass changes: %w", err)
	}
	rows, next := sqlstore.CutPage(rows, limit, func(c changedPass) string {
		return sqlstore.ChangeCursorKey(c.at, c.pass.ID)
	})
	out := make([]core.Pass, len(rows))
	for i, c := range rows {
		out[i] = c.pass
	}
	return out, next, nil
}
