package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

const eventColumns = `seq, id, workspace_id, type, occurred_at, data`

func scanEvent(row scanner) (core.Event, error) {
	var ev core.Event
	var typ, data string
	var occurred int64
	if err := row.Scan(&ev.Seq, &ev.ID, &ev.WorkspaceID, &typ, &occurred, &data); err != nil {
		return core.Event{}, err
	}
	if err := json.Unmarshal([]byte(data), &ev.Data); err != nil {
		return core.Event{}, fmt.Errorf("decoding event %s: %w", ev.ID, err)
	}
	ev.Type = core.EventType(typ)
	ev.OccurredAt = fromMicros(occurred)
	return ev, nil
}

// Event loads one event of the workspace.
func (s *Store) Event(ctx context.Context, workspaceID, id string) (core.Event, error) {
	ev, err := scanEvent(s.reader.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	query := `SELECT ` + eventColumns + ` FROM events WHERE workspace_id = ?`
	args := []any{workspaceID}
	if q.Cursor != "" {
		before, err := sqlstore.DecodeSeqCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND seq < ?`
		args = append(args, before)
	}
	if q.Type != "" {
		query += ` AND type = ?`
		args = append(args, string(q.Type))
	}
	if !q.Since.IsZero() {
		query += ` AND occurred_at >= ?`
		args = append(args, micros(q.Since))
	}
	query += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit+1)
	out, err := queryAll(ctx, s.reader, scanEvent, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing events: %w", err)
	}
	out, next := sqlstore.CutPage(out, limit, func(x core.Event) string { return strconv.FormatInt(x.Seq, 10) })
	return out, next, nil
}
