package sqlite

import (
	"context"
	"fmt"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// changedPass is a pass with its change stamp (the passes.changed_at
// column, kept by triggers; see migration 0007).
type changedPass struct {
	pass core.Pass
	at   int64
}

// withChangedAt scans the pass columns and then changed_at, so scanPass
// stays the one reader of a pass row.
type withChangedAt struct {
	row scanner
	at  *int64
}

func (w withChangedAt) Scan(dest ...any) error { return w.row.Scan(append(dest, w.at)...) }

func scanChangedPass(row scanner) (changedPass, error) {
	var c changedPass
	p, err := scanPass(withChangedAt{row: row, at: &c.at})
	c.pass = p
	return c, err
}

// ListPassChanges pages the workspace's passes by (changed_at, ID). One
// writer commits at a time and each stamps past the workspace's latest,
// so what commits after a page sorts after it.
func (s *Store) ListPassChanges(ctx context.Context, workspaceID string, q core.PassChangeQuery) ([]core.Pass, string, error) {
	limit := sqlstore.PageLimit(q.Limit)
	query := `SELECT ` + passColumns + `, changed_at FROM passes WHERE workspace_id = ? AND changed_at >= ?`
	args := []any{workspaceID, micros(q.ChangedSince)}
	if q.Cursor != "" {
		at, id, err := sqlstore.DecodeChangeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND (changed_at, id) > (?, ?)`
		args = append(args, micros(at), id)
	}
	if q.TemplateID != "" {
		query += ` AND template_id = ?`
		args = append(args, q.TemplateID)
	}
	if q.WalletStatus != "" {
		query += ` AND wallet_status = ?`
		args = append(args, string(q.WalletStatus))
	}
	if q.Lifecycle != "" {
		query += ` AND lifecycle = ?`
		args = append(args, string(q.Lifecycle))
	}
	if !q.UpdatedSince.IsZero() {
		query += ` AND updated_at >= ?`
		args = append(args, micros(q.UpdatedSince))
	}
	query += ` ORDER BY changed_at, id LIMIT ?`
	args = append(args, limit+1)
	rows, err := queryAll(ctx, s.reader, scanChangedPass, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing pass changes: %w", err)
	}
	rows, next := sqlstore.CutPage(rows, limit, func(c changedPass) string {
		return sqlstore.ChangeCursorKey(fromMicros(c.at), c.pass.ID)
	})
	out := make([]core.Pass, len(rows))
	for i, c := range rows {
		out[i] = c.pass
	}
	return out, next, nil
}
