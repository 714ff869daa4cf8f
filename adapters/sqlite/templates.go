package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// CreateTemplate stores a template as its JSON document.
func (s *Store) CreateTemplate(ctx context.Context, t core.Template) error {
	t = sqlstore.NormTemplate(t)
	doc, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encoding template: %w", err)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO templates (id, workspace_id, name, doc, created_at) VALUES (?, ?, ?, ?, ?)`,
			t.ID, t.WorkspaceID, t.Name, string(doc), micros(t.CreatedAt))
		if _, ok := uniqueViolation(err); ok {
			return &core.ConflictError{Field: "id", Reason: "a template with this ID already exists"}
		}
		if err != nil {
			return fmt.Errorf("inserting template: %w", err)
		}
		return nil
	})
}

func scanTemplate(row scanner) (core.Template, error) {
	var doc string
	if err := row.Scan(&doc); err != nil {
		return core.Template{}, err
	}
	var t core.Template
	if err := json.Unmarshal([]byte(doc), &t); err != nil {
		return core.Template{}, fmt.Errorf("decoding template: %w", err)
	}
	return t, nil
}

// Template loads one template of the workspace.
func (s *Store) Template(ctx context.Context, workspaceID, id string) (core.Template, error) {
	return templateIn(ctx, s.reader, workspaceID, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func templateIn(ctx context.Context, q querier, workspaceID, id string) (core.Template, error) {
	t, err := scanTemplate(q.QueryRowContext(ctx, `SELECT doc FROM templates WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Template{}, fmt.Errorf("template %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Template{}, fmt.Errorf("loading template %s: %w", id, err)
	}
	return t, nil
}

// ListTemplates pages the workspace's templates by ID (creation order).
func (s *Store) ListTemplates(ctx context.Context, workspaceID string, page core.Page) ([]core.Template, string, error) {
	return pageByID(ctx, s.reader, "templates", `SELECT doc FROM templates`, scanTemplate, func(x core.Template) string { return x.ID }, workspaceID, page)
}

// UpdateTemplate changes a template under the write lock.
func (s *Store) UpdateTemplate(ctx context.Context, workspaceID, id string, fn func(*core.Template) error) (core.Template, error) {
	var out core.Template
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		before, err := templateIn(ctx, tx, workspaceID, id)
		if err != nil {
			return err
		}
		// fn gets its own decoded copy, so comparing with before is sound
		// whatever fn does to maps and slices.
		t, err := templateIn(ctx, tx, workspaceID, id)
		if err != nil {
			return err
		}
		if err := fn(&t); err != nil {
			return err
		}
		t.ID, t.WorkspaceID = before.ID, before.WorkspaceID
		t = sqlstore.NormTemplate(t)
		if reflect.DeepEqual(before, t) {
			out = before
			return nil
		}
		doc, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("encoding template: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE templates SET name = ?, doc = ?, created_at = ? WHERE workspace_id = ? AND id = ?`,
			t.Name, string(doc), micros(t.CreatedAt), workspaceID, id); err != nil {
			return fmt.Errorf("updating template %s: %w", id, err)
		}
		out = t
		return nil
	})
	if err != nil {
		return core.Template{}, err
	}
	return out, nil
}

// DeleteTemplate removes a template none of whose passes is live.
func (s *Store) DeleteTemplate(ctx context.Context, workspaceID, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := templateIn(ctx, tx, workspaceID, id); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM passes WHERE workspace_id = ? AND template_id = ? AND lifecycle <> ?`,
			workspaceID, id, string(core.LifecycleDeleted)).Scan(&live); err != nil {
			return fmt.Errorf("counting passes of template %s: %w", id, err)
		}
		if live > 0 {
			return &core.ConflictError{Reason: "template still has passes"}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM templates WHERE workspace_id = ? AND id = ?`, workspaceID, id); err != nil {
			return fmt.Errorf("deleting template %s: %w", id, err)
		}
		return nil
	})
}
