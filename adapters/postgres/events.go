package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

const eventColumns = `seq, id, workspace_id, type, occurred_at, data`

func scanEvent(row pgx.Row) (core.Event, error) {
	var ev core.Event
	var typ string
	var data []byte
	if err := row.Scan(&ev.Seq, &ev.ID, &ev.WorkspaceID, &typ, &ev.OccurredAt, &data); err != nil {
		return core.Event{}, err
	}
	if err := json.Unmarshal(data, &ev.Data); err != nil {
		return core.Event{}, fmt.Errorf("decoding event %s: %w", ev.ID, err)
	}
	ev.Type = core.EventType(typ)
	ev.OccurredAt = ev.OccurredAt.UTC()
	return ev, nil
}

// Event loads one event of the workspace.
func (s *Store) Event(ctx context.Context, workspaceID, id string) (core.Event, error) {
	ev, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return core.Event{}, fmt.Errorf("event %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Event{}, fmt.Errorf("loading event %s: %w", id, err)
	}
	return ev, nil
}

// ListEvents pages the workspace's events newest first.
func (s *Store) ListEvents(ctx context.Context, workspaceID string, q core.EventQuery) ([]core.Event, string, error) {
	limit := sqlstore.PageLimit(q.Limit)
	var args queryArgs
	query := `SELECT ` + eventColumns + ` FROM events WHERE workspace_id = ` + args.add(workspaceID)
	if q.Cursor != "" {
		before, err := sqlstore.DecodeSeqCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND seq < ` + args.add(before)
	}
	if q.Type != "" {
		query += ` AND type = ` + args.add(string(q.Type))
	}
	if !q.Since.IsZero() {
		query += ` AND occurred_at >= ` + args.add(sqlstore.TruncTime(q.Since))
	}
	query += ` ORDER BY seq DESC LIMIT ` + args.add(limit+1)
	out, err := queryAll(ctx, s.pool, scanEvent, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing events: %w", err)
	}
	out, next := sqlstore.CutPage(out, limit, func(x core.Event) string { return strconv.FormatInt(x.Seq, 10) })
	return out, next, nil
}
