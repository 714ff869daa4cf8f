package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// pageByID pages a workspace's rows by ID, which is creation order:
// selectFrom is the SELECT … FROM part, what names the rows in errors.
func pageByID[T any](ctx context.Context, q querier, what, selectFrom string, scan func(pgx.Row) (T, error), id func(T) string, workspaceID string, page core.Page) ([]T, string, error) {
	limit := sqlstore.PageLimit(page.Limit)
	var args queryArgs
	query := selectFrom + ` WHERE workspace_id = ` + args.add(workspaceID)
	if page.Cursor != "" {
		after, err := sqlstore.DecodeCursor(page.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND id > ` + args.add(after)
	}
	query += ` ORDER BY id LIMIT ` + args.add(limit+1)
	out, err := queryAll(ctx, q, scan, query, args...)
	if badText(err) {
		return nil, "", nil // a workspace ID no row can have (NUL)
	}
	if err != nil {
		return nil, "", fmt.Errorf("listing %s: %w", what, err)
	}
	out, next := sqlstore.CutPage(out, limit, id)
	return out, next, nil
}
