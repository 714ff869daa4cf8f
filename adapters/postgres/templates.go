package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// queryArgs collects positional arguments while a query is built.
type queryArgs []any

func (a *queryArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// CreateTemplate stores a template as its JSON document.
func (s *Store) CreateTemplate(ctx context.Context, t core.Template) error {
	t = sqlstore.NormTemplate(t)
	doc, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encoding template: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO templates (id, workspace_id, name, doc, created_at) VALUES ($1, $2, $3, $4, $5)`,
		t.ID, t.WorkspaceID, t.Name, json.RawMessage(doc), t.CreatedAt)
	if _, ok := constraintViolation(err, codeUniqueViolation); ok {
		return &core.ConflictError{Field: "id", Reason: "a template with this ID already exists"}
	}
	if badText(err) {
		return core.Invalid("template", "contains characters that cannot be stored")
	}
	if err != nil {
		return fmt.Errorf("inserting template: %w", err)
	}
	return nil
}

func scanTemplate(row pgx.Row) (core.Template, error) {
	var doc []byte
	if err := row.Scan(&doc); err != nil {
		return core.Template{}, err
	}
	return decodeTemplate(doc)
}

func decodeTemplate(doc []byte) (core.Template, error) {
	var t core.Template
	if err := json.Unmarshal(doc, &t); err != nil {
		return core.Template{}, fmt.Errorf("decoding template: %w", err)
	}
	return t, nil
}

// Template loads one template of the workspace.
func (s *Store) Template(ctx context.Context, workspaceID, id string) (core.Template, error) {
	return templateIn(ctx, s.pool, workspaceID, id, "")
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func templateIn(ctx context.Context, q querier, workspaceID, id, lock string) (core.Template, error) {
	var doc []byte
	err := q.QueryRow(ctx, `SELECT doc FROM templates WHERE workspace_id = $1 AND id = $2 `+lock, workspaceID, id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return core.Template{}, fmt.Errorf("template %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Template{}, fmt.Errorf("loading template %s: %w", id, err)
	}
	return decodeTemplate(doc)
}

// ListTemplates pages the workspace's templates by ID (creation order).
func (s *Store) ListTemplates(ctx context.Context, workspaceID string, page core.Page) ([]core.Template, string, error) {
	return pageByID(ctx, s.pool, "templates", `SELECT doc FROM templates`, scanTemplate, func(x core.Template) string { return x.ID }, workspaceID, page)
}

// UpdateTemplate changes a template with its row locked.
func (s *Store) UpdateTemplate(ctx context.Context, workspaceID, id string, fn func(*core.Template) error) (core.Template, error) {
	var out core.Template
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var doc []byte
		err := tx.QueryRow(ctx, `SELECT doc FROM templates WHERE workspace_id = $1 AND id = $2 FOR UPDATE`, workspaceID, id).Scan(&doc)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("template %s: %w", id, core.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("loading template %s: %w", id, err)
		}
		// fn gets its own decoded copy, so comparing with before is sound
		// whatever fn does to maps and slices.
		before, err := decodeTemplate(doc)
		if err != nil {
			return err
		}
		t, err := decodeTemplate(doc)
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
		newDoc, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("encoding template: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE templates SET name = $1, doc = $2, created_at = $3 WHERE workspace_id = $4 AND id = $5`,
			t.Name, json.RawMessage(newDoc), t.CreatedAt, workspaceID, id)
		if badText(err) {
			return core.Invalid("template", "contains characters that cannot be stored")
		}
		if err != nil {
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
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := templateIn(ctx, tx, workspaceID, id, "FOR UPDATE"); err != nil {
			return err
		}
		var live bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM passes WHERE workspace_id = $1 AND template_id = $2 AND lifecycle <> $3)`,
			workspaceID, id, string(core.LifecycleDeleted)).Scan(&live); err != nil {
			return fmt.Errorf("checking passes of template %s: %w", id, err)
		}
		if live {
			return &core.ConflictError{Reason: "template still has passes"}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM templates WHERE workspace_id = $1 AND id = $2`, workspaceID, id); err != nil {
			return fmt.Errorf("deleting template %s: %w", id, err)
		}
		return nil
	})
}
