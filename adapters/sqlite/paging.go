package sqlite

import (
	"context"
	"fmt"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// pageByID pages a workspace's rows by ID, which is creation order:
// selectFrom is the SELECT … FROM part, what names the rows in errors.
func pageByID[T any](ctx context.Context, q querier, what, selectFrom string, scan func(scanner) (T, error), id func(T) string, workspaceID string, page core.Page) ([]T, string, error) {
	limit := sqlstore.PageLimit(page.Limit)
	query := selectFrom + ` WHERE workspace_id = ?`
	args := []any{workspaceID}
	if page.Cursor != "" {
		after, err := sqlstore.DecodeCursor(page.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND id > ?`
		args = append(args, after)
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, limit+1)
	out, err := queryAll(ctx, q, scan, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing %s: %w", what, err)
	}
	out, next := sqlstore.CutPage(out, limit, id)
	return out, next, nil
}
