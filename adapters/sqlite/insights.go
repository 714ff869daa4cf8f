package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// CountWalletEvents counts wallet events per bucket, platform and type in
// one statement (one snapshot), over the partial indexes of migration
// 0007; bucket -1 holds the events before q.From.
func (s *Store) CountWalletEvents(ctx context.Context, workspaceID string, q core.WalletEventCountQuery) (core.WalletEventCounts, error) {
	from, width := micros(q.From), q.Width.Microseconds()
	query := `SELECT CASE WHEN occurred_at < ? THEN -1 ELSE (occurred_at - ?) / ? END AS bucket, platform, type, count(*)
		FROM events
		WHERE workspace_id = ? AND type IN ('pass.installed', 'pass.uninstalled') AND occurred_at < ?`
	args := []any{from, from, width, workspaceID, micros(q.To)}
	if q.TemplateID != "" {
		query += ` AND template_id = ?`
		args = append(args, q.TemplateID)
	}
	query += ` GROUP BY bucket, platform, type`
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return core.WalletEventCounts{}, fmt.Errorf("counting wallet events: %w", err)
	}
	defer rows.Close()
	tally := sqlstore.NewWalletEventTally(int(q.To.Sub(q.From) / q.Width))
	for rows.Next() {
		var bucket, n int64
		var platform sql.NullString
		var typ string
		if err := rows.Scan(&bucket, &platform, &typ, &n); err != nil {
			return core.WalletEventCounts{}, fmt.Errorf("counting wallet events: %w", err)
		}
		if err := tally.Add(bucket, platform.String, typ, n); err != nil {
			return core.WalletEventCounts{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return core.WalletEventCounts{}, fmt.Errorf("counting wallet events: %w", err)
	}
	return tally.Counts(), nil
}
