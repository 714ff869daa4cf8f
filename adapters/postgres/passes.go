package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

const passColumns = `id, workspace_id, template_id, external_id, data, lifecycle, version, auth_token, wallet_status,
	apple_installed_at, google_installed_at, wallet_last_changed_at, wallet_last_event, created_at, updated_at, message, changed, source_state`

func scanPass(row pgx.Row) (core.Pass, error) {
	var p core.Pass
	var data, changedKeys, source []byte
	var lifecycle, wallet, lastEvent string
	if err := row.Scan(&p.ID, &p.WorkspaceID, &p.TemplateID, &p.ExternalID, &data, &lifecycle, &p.Version, &p.AuthToken, &wallet,
		&p.AppleWalletInstalledAt, &p.GoogleWalletInstalledAt, &p.WalletLastChangedAt, &lastEvent, &p.CreatedAt, &p.UpdatedAt,
		&p.Message, &changedKeys, &source); err != nil {
		return core.Pass{}, err
	}
	if err := json.Unmarshal(data, &p.Data); err != nil {
		return core.Pass{}, fmt.Errorf("decoding data of pass %s: %w", p.ID, err)
	}
	keys, err := sqlstore.DecodeChanged(changedKeys)
	if err != nil {
		return core.Pass{}, fmt.Errorf("pass %s: %w", p.ID, err)
	}
	p.Changed = keys
	if p.Source, err = sqlstore.DecodeSource(source); err != nil {
		return core.Pass{}, fmt.Errorf("pass %s: %w", p.ID, err)
	}
	if p.Data == nil {
		p.Data = map[string]any{}
	}
	p.Lifecycle = core.Lifecycle(lifecycle)
	p.WalletStatus = core.WalletStatus(wallet)
	p.WalletLastEvent = core.EventType(lastEvent)
	p.AppleWalletInstalledAt = utc(p.AppleWalletInstalledAt)
	p.GoogleWalletInstalledAt = utc(p.GoogleWalletInstalledAt)
	p.WalletLastChangedAt = utc(p.WalletLastChangedAt)
	p.CreatedAt = p.CreatedAt.UTC()
	p.UpdatedAt = p.UpdatedAt.UTC()
	return p, nil
}

func encodeData(m map[string]any) (json.RawMessage, error) {
	if m == nil {
		return json.RawMessage("{}"), nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding pass data: %w", err)
	}
	return b, nil
}

// CreatePass stores a new pass, its events and their dispatch jobs in one
// transaction.
func (s *Store) CreatePass(ctx context.Context, p core.Pass, events []core.Event) error {
	p = sqlstore.NormPass(p)
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
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO passes (`+passColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			p.ID, p.WorkspaceID, p.TemplateID, p.ExternalID, data, string(p.Lifecycle), p.Version, p.AuthToken, string(p.WalletStatus),
			p.AppleWalletInstalledAt, p.GoogleWalletInstalledAt, p.WalletLastChangedAt, string(p.WalletLastEvent), p.CreatedAt, p.UpdatedAt,
			p.Message, json.RawMessage(changedKeys), json.RawMessage(source))
		if c, ok := constraintViolation(err, codeUniqueViolation); ok {
			if c == "passes_external_id_key" {
				return &core.ConflictError{Field: "externalId", Reason: fmt.Sprintf("a pass of template %s with external ID %q already exists", p.TemplateID, p.ExternalID)}
			}
			return &core.ConflictError{Field: "id", Reason: "a pass with this ID already exists"}
		}
		if badText(err) {
			return core.Invalid("data", "contains characters that cannot be stored (such as NUL)")
		}
		if err != nil {
			return fmt.Errorf("inserting pass: %w", err)
		}
		return insertEvents(ctx, tx, events)
	})
}

// insertEvents appends events and one dispatch job for each, in one
// round trip.
func insertEvents(ctx context.Context, tx pgx.Tx, events []core.Event) error {
	var w writes
	if err := queueEvents(ctx, &w, events); err != nil {
		return err
	}
	_, err := w.send(ctx, tx)
	return err
}

// Pass loads one pass of the workspace.
func (s *Store) Pass(ctx context.Context, workspaceID, id string) (core.Pass, error) {
	return passIn(ctx, s.pool, workspaceID, id, "")
}

func passIn(ctx context.Context, q querier, workspaceID, id, lock string) (core.Pass, error) {
	return loadedPass(id, q.QueryRow(ctx, passByIDSQL+lock, workspaceID, id))
}

// passByIDSQL reads pass $2 of workspace $1; a lock clause may follow.
const passByIDSQL = `SELECT ` + passColumns + ` FROM passes WHERE workspace_id = $1 AND id = $2 `

// loadedPass scans the pass id from row: ErrNotFound when there is none.
func loadedPass(id string, row pgx.Row) (core.Pass, error) {
	p, err := scanPass(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return core.Pass{}, fmt.Errorf("pass %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Pass{}, fmt.Errorf("loading pass %s: %w", id, err)
	}
	return p, nil
}

// PassByExternalID loads the pass of a template with a source system's ID.
func (s *Store) PassByExternalID(ctx context.Context, workspaceID, templateID, externalID string) (core.Pass, error) {
	p, err := scanPass(s.pool.QueryRow(ctx, `SELECT `+passColumns+` FROM passes WHERE workspace_id = $1 AND template_id = $2 AND external_id = $3`,
		workspaceID, templateID, externalID))
	if errors.Is(err, pgx.ErrNoRows) {
		return core.Pass{}, fmt.Errorf("pass with external ID %q: %w", externalID, core.ErrNotFound)
	}
	if badText(err) {
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
	var args queryArgs
	query := `SELECT ` + passColumns + ` FROM passes WHERE workspace_id = ` + args.add(workspaceID)
	if q.Cursor != "" {
		after, err := sqlstore.DecodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND id > ` + args.add(after)
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
	query += ` ORDER BY id LIMIT ` + args.add(limit+1)
	out, err := queryAll(ctx, s.pool, scanPass, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing passes: %w", err)
	}
	out, next := sqlstore.CutPage(out, limit, func(x core.Pass) string { return x.ID })
	return out, next, nil
}

// UpdatePass changes a pass with its row locked (SELECT ... FOR UPDATE)
// and appends fn's events with their jobs in the same transaction, in two
// round trips (lockedChange).
func (s *Store) UpdatePass(ctx context.Context, workspaceID, id string, fn func(*core.Pass) ([]core.Event, error)) (core.Pass, error) {
	var before, out core.Pass
	err := lockedChange(ctx, s.pool, func(row pgx.Row) error {
		var err error
		before, err = loadedPass(id, row)
		return err
	}, func(w *writes) error {
		var err error
		out, err = queuePassChange(ctx, w, before, fn)
		return err
	}, passByIDSQL+`FOR UPDATE`, workspaceID, id)
	if err != nil {
		return core.Pass{}, err
	}
	return out, nil
}

// changePass lets fn change before (read in tx with its row locked),
// saves what it changed and appends its events with their jobs, in one
// round trip. It returns the pass as saved.
func changePass(ctx context.Context, tx pgx.Tx, before core.Pass, fn func(*core.Pass) ([]core.Event, error)) (core.Pass, error) {
	var w writes
	p, err := queuePassChange(ctx, &w, before, fn)
	if err != nil {
		return core.Pass{}, err
	}
	if _, err := w.send(ctx, tx); err != nil {
		return core.Pass{}, err
	}
	return p, nil
}

// queuePassChange lets fn change before and queues what it changed, with
// its events and their jobs; nothing when nothing changed. It returns the
// pass as it will be saved.
func queuePassChange(ctx context.Context, w *writes, before core.Pass, fn func(*core.Pass) ([]core.Event, error)) (core.Pass, error) {
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
	w.add(func(err error) error {
		if badText(err) {
			return core.Invalid("data", "contains characters that cannot be stored (such as NUL)")
		}
		return fmt.Errorf("updating pass %s: %w", p.ID, err)
	}, `UPDATE passes SET data = $1, lifecycle = $2, version = $3, wallet_status = $4,
		apple_installed_at = $5, google_installed_at = $6, wallet_last_changed_at = $7, wallet_last_event = $8, updated_at = $9,
		message = $10, changed = $11, source_state = $12
		WHERE workspace_id = $13 AND id = $14`,
		json.RawMessage(data), string(p.Lifecycle), p.Version, string(p.WalletStatus),
		p.AppleWalletInstalledAt, p.GoogleWalletInstalledAt, p.WalletLastChangedAt,
		string(p.WalletLastEvent), p.UpdatedAt, p.Message, json.RawMessage(changedKeys), json.RawMessage(source), p.WorkspaceID, p.ID)
	if err := queueEvents(ctx, w, events); err != nil {
		return core.Pass{}, err
	}
	return p, nil
}
