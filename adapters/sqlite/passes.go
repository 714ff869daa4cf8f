package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

const passColumns = `id, workspace_id, template_id, external_id, data, lifecycle, version, auth_token, wallet_status,
	apple_installed_at, google_installed_at, wallet_last_changed_at, wallet_last_event, created_at, updated_at, message, changed, source_state`

func scanPass(row scanner) (core.Pass, error) {
	var p core.Pass
	var data, lifecycle, wallet, lastEvent, changedKeys, source string
	var apple, google, changed sql.NullInt64
	var created, updated int64
	if err := row.Scan(&p.ID, &p.WorkspaceID, &p.TemplateID, &p.ExternalID, &data, &lifecycle, &p.Version, &p.AuthToken, &wallet,
		&apple, &google, &changed, &lastEvent, &created, &updated, &p.Message, &changedKeys, &source); err != nil {
		return core.Pass{}, err
	}
	if err := json.Unmarshal([]byte(data), &p.Data); err != nil {
		return core.Pass{}, fmt.Errorf("decoding data of pass %s: %w", p.ID, err)
	}
	keys, err := sqlstore.DecodeChanged([]byte(changedKeys))
	if err != nil {
		return core.Pass{}, fmt.Errorf("pass %s: %w", p.ID, err)
	}
	p.Changed = keys
	if p.Source, err = sqlstore.DecodeSource([]byte(source)); err != nil {
		return core.Pass{}, fmt.Errorf("pass %s: %w", p.ID, err)
	}
	if p.Data == nil {
		p.Data = map[string]any{}
	}
	p.Lifecycle = core.Lifecycle(lifecycle)
	p.WalletStatus = core.WalletStatus(wallet)
	p.WalletLastEvent = core.EventType(lastEvent)
	p.AppleWalletInstalledAt = fromNullMicros(apple)
	p.GoogleWalletInstalledAt = fromNullMicros(google)
	p.WalletLastChangedAt = fromNullMicros(changed)
	p.CreatedAt = fromMicros(created)
	p.UpdatedAt = fromMicros(updated)
	return p, nil
}

func encodeData(m map[string]any) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encoding pass data: %w", err)
	}
	return string(b), nil
}

// CreatePass stores a new pass, its events and their dispatch jobs in one
// transaction.
func (s *Store) CreatePass(ctx context.Context, p core.Pass, events []core.Event) error {
	data, err := encodeData(p.Data)
	if err != nil {
		return err
	}
	changedKeys, err := sqlstore.EncodeChanged(p.Changed)
	if err != nil {
		return err
	}
	source, err := sqlstore.EncodeSource(p.Source)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO passes (`+passColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.WorkspaceID, p.TemplateID, p.ExternalID, data, string(p.Lifecycle), p.Version, p.AuthToken, string(p.WalletStatus),
			nullMicros(p.AppleWalletInstalledAt), nullMicros(p.GoogleWalletInstalledAt), nullMicros(p.WalletLastChangedAt),
			string(p.WalletLastEvent), micros(p.CreatedAt), micros(p.UpdatedAt), p.Message, string(changedKeys), string(source))
		if cols, ok := uniqueViolation(err); ok {
			if strings.Contains(cols, "external_id") {
				return &core.ConflictError{Field: "externalId", Reason: fmt.Sprintf("a pass of template %s with external ID %q already exists", p.TemplateID, p.ExternalID)}
			}
			return &core.ConflictError{Field: "id", Reason: "a pass with this ID already exists"}
		}
		if err != nil {
			return fmt.Errorf("inserting pass: %w", err)
		}
		return insertEvents(ctx, tx, events)
	})
}

// insertEvents appends events and a dispatch job for each (claimed when
// ctx chains, see core.DispatchJob).
func insertEvents(ctx context.Context, tx *sql.Tx, events []core.Event) error {
	for _, ev := range events {
		data, err := json.Marshal(sqlstore.NormEventData(ev.Data))
		if err != nil {
			return fmt.Errorf("encoding event %s: %w", ev.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, workspace_id, pass_id, type, occurred_at, data) VALUES (?, ?, ?, ?, ?, ?)`,
			ev.ID, ev.WorkspaceID, ev.Data.PassID, string(ev.Type), micros(ev.OccurredAt), string(data)); err != nil {
			return fmt.Errorf("inserting event %s: %w", ev.ID, err)
		}
		// A claimed job's ID is not reported (core.JobInserted): if this
		// write rolls back, SQLite gives its rowid to the next job
		// inserted, so the chain starts it by kind and key instead.
		if err := insertJob(ctx, tx, core.DispatchJob(ctx, ev), ev.OccurredAt); err != nil {
			return err
		}
	}
	return nil
}

// Pass loads one pass of the workspace.
func (s *Store) Pass(ctx context.Context, workspaceID, id string) (core.Pass, error) {
	return passIn(ctx, s.reader, workspaceID, id)
}

func passIn(ctx context.Context, q querier, workspaceID, id string) (core.Pass, error) {
	p, err := scanPass(q.QueryRowContext(ctx, `SELECT `+passColumns+` FROM passes WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Pass{}, fmt.Errorf("pass %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Pass{}, fmt.Errorf("loading pass %s: %w", id, err)
	}
	return p, nil
}

// PassByExternalID loads the pass of a template with a source system's ID.
func (s *Store) PassByExternalID(ctx context.Context, workspaceID, templateID, externalID string) (core.Pass, error) {
	p, err := scanPass(s.reader.QueryRowContext(ctx, `SELECT `+passColumns+` FROM passes WHERE workspace_id = ? AND template_id = ? AND external_id = ?`,
		workspaceID, templateID, externalID))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Pass{}, fmt.Errorf("pass with external ID %q: %w", externalID, core.ErrNotFound)
	}
	if err != nil {
		return core.Pass{}, fmt.Errorf("loading pass by external ID: %w", err)
	}
	return p, nil
}

// ListPasses pages the workspace's passes by ID with the query's filters.
func (s *Store) ListPasses(ctx context.Context, workspaceID string, q core.PassQuery) ([]core.Pass, string, error) {
	limit := sqlstore.PageLimit(q.Limit)
	query := `SELECT ` + passColumns + ` FROM passes WHERE workspace_id = ?`
	args := []any{workspaceID}
	if q.Cursor != "" {
		after, err := sqlstore.DecodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND id > ?`
		args = append(args, after)
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
	query += ` ORDER BY id LIMIT ?`
	args = append(args, limit+1)
	out, err := queryAll(ctx, s.reader, scanPass, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing passes: %w", err)
	}
	out, next := sqlstore.CutPage(out, limit, func(x core.Pass) string { return x.ID })
	return out, next, nil
}

// UpdatePass changes a pass under the write lock and appends fn's events
// with their jobs in the same transaction.
func (s *Store) UpdatePass(ctx context.Context, workspaceID, id string, fn func(*core.Pass) ([]core.Event, error)) (core.Pass, error) {
	var out core.Pass
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		before, err := passIn(ctx, tx, workspaceID, id)
		if err != nil {
			return err
		}
		out, err = changePass(ctx, tx, before, fn)
		return err
	})
	if err != nil {
		return core.Pass{}, err
	}
	return out, nil
}

// changePass lets fn change before (read in tx, under the write lock),
// saves what it changed and appends its events with their jobs. It
// returns the pass as saved.
func changePass(ctx context.Context, tx *sql.Tx, before core.Pass, fn func(*core.Pass) ([]core.Event, error)) (core.Pass, error) {
	p, data, events, changed, err := sqlstore.ApplyPassChange(before, fn)
	if err != nil {
		return core.Pass{}, err
	}
	if !changed {
		return before, nil
	}
	changedKeys, err := sqlstore.EncodeChanged(p.Changed)
	if err != nil {
		return core.Pass{}, err
	}
	source, err := sqlstore.EncodeSource(p.Source)
	if err != nil {
		return core.Pass{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE passes SET data = ?, lifecycle = ?, version = ?, wallet_status = ?,
		apple_installed_at = ?, google_installed_at = ?, wallet_last_changed_at = ?, wallet_last_event = ?, updated_at = ?,
		message = ?, changed = ?, source_state = ?
		WHERE workspace_id = ? AND id = ?`,
		string(data), string(p.Lifecycle), p.Version, string(p.WalletStatus),
		nullMicros(p.AppleWalletInstalledAt), nullMicros(p.GoogleWalletInstalledAt), nullMicros(p.WalletLastChangedAt),
		string(p.WalletLastEvent), micros(p.UpdatedAt), p.Message, string(changedKeys), string(source), p.WorkspaceID, p.ID); err != nil {
		return core.Pass{}, fmt.Errorf("updating pass %s: %w", p.ID, err)
	}
	if err := insertEvents(ctx, tx, events); err != nil {
		return core.Pass{}, err
	}
	return p, nil
}
