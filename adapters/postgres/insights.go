package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// CountWalletEvents counts wallet events per bucket, platform and type in
// one statement (one snapshot), over the partial covering indexes of
// migration 0007; bucket -1 holds the events before q.From, counted
// without a bucket expression (they are most of a long history). Buckets
// are computed in whole microseconds (extract gives an exact numeric).
func (s *Store) CountWalletEvents(ctx context.Context, workspaceID string, q core.WalletEventCountQuery) (core.WalletEventCounts, error) {
	var args queryArgs
	from, ws := args.add(sqlstore.TruncTime(q.From)), args.add(workspaceID)
	where := `workspace_id = ` + ws + ` AND type IN ('pass.installed', 'pass.uninstalled')`
	if q.TemplateID != "" {
		where += ` AND template_id = ` + args.add(q.TemplateID)
	}
	query := `SELECT -1::bigint, coalesce(platform, ''), type, count(*) FROM events
			WHERE ` + where + ` AND occurred_at < ` + from + ` GROUP BY 2, 3
		UNION ALL
		SELECT (extract(epoch FROM occurred_at - ` + from + `) * 1000000)::bigint / ` + args.add(q.Width.Microseconds()) + `,
			coalesce(platform, ''), type, count(*) FROM events
			WHERE ` + where + ` AND occurred_at >= ` + from + ` AND occurred_at < ` + args.add(sqlstore.TruncTime(q.To)) + `
			GROUP BY 1, 2, 3`
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return core.WalletEventCounts{}, fmt.Errorf("counting wallet events: %w", err)
	}
	tally := sqlstore.NewWalletEventTally(int(q.To.Sub(q.From) / q.Width))
	var bucket, n int64
	var platform, typ string
	_, err = pgx.ForEachRow(rows, []any{&bucket, &platform, &typ, &n}, func() error {
		return tally.Add(bucket, platform, typ, n)
	})
	if badText(err) {
		return tally.Counts(), nil // a template ID PostgreSQL cannot store has no events
	}
	if err != nil {
		return core.WalletEventCounts{}, fmt.Errorf("counting wallet events: %w", err)
	}
	return tally.Counts(), nil
}
