package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/passhub/passhub/core"
)

// CreateWorkspace stores a workspace and its first key together.
func (s *Store) CreateWorkspace(ctx context.Context, ws core.Workspace, key core.APIKey) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)`,
			ws.ID, ws.Name, micros(ws.CreatedAt))
		if cols, ok := uniqueViolation(err); ok && strings.Contains(cols, "workspaces.name") {
			return &core.ConflictError{Field: "name", Reason: fmt.Sprintf("workspace %q already exists", ws.Name)}
		}
		if err != nil {
			return fmt.Errorf("inserting workspace: %w", err)
		}
		return insertAPIKey(ctx, tx, key)
	})
}

func insertAPIKey(ctx context.Context, tx *sql.Tx, key core.APIKey) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, workspace_id, name, role, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		key.ID, key.WorkspaceID, key.Name, string(key.Role), key.Hash, micros(key.CreatedAt))
	if cols, ok := uniqueViolation(err); ok && strings.Contains(cols, "api_keys.hash") {
		return &core.ConflictError{Field: "key", Reason: "an API key with this secret already exists"}
	}
	if foreignKeyViolation(err) {
		return fmt.Errorf("workspace %s: %w", key.WorkspaceID, core.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("inserting API key: %w", err)
	}
	return nil
}

// Workspace finds a workspace by ID.
func (s *Store) Workspace(ctx context.Context, id string) (core.Workspace, error) {
	return s.workspaceWhere(ctx, "id", id)
}

// WorkspaceByName finds a workspace by its unique name.
func (s *Store) WorkspaceByName(ctx context.Context, name string) (core.Workspace, error) {
	return s.workspaceWhere(ctx, "name", name)
}

// workspaceWhere loads the workspace whose column col (id or name, both
// unique) is val.
func (s *Store) workspaceWhere(ctx context.Context, col, val string) (core.Workspace, error) {
	var ws core.Workspace
	var created int64
	err := s.reader.QueryRowContext(ctx, `SELECT id, name, created_at FROM workspaces WHERE `+col+` = ?`, val).
		Scan(&ws.ID, &ws.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Workspace{}, fmt.Errorf("workspace %q: %w", val, core.ErrNotFound)
	}
	if err != nil {
		return core.Workspace{}, fmt.Errorf("loading workspace %q: %w", val, err)
	}
	ws.CreatedAt = fromMicros(created)
	return ws, nil
}

// CreateAPIKey adds a key to an existing workspace.
func (s *Store) CreateAPIKey(ctx context.Context, key core.APIKey) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return insertAPIKey(ctx, tx, key) })
}

// APIKeyByHash finds a key by the hash of its secret.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (core.APIKey, error) {
	var k core.APIKey
	var role string
	var created int64
	err := s.reader.QueryRowContext(ctx, `SELECT id, workspace_id, name, role, hash, created_at FROM api_keys WHERE hash = ?`, hash).
		Scan(&k.ID, &k.WorkspaceID, &k.Name, &role, &k.Hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return core.APIKey{}, fmt.Errorf("API key: %w", core.ErrNotFound)
	}
	if err != nil {
		return core.APIKey{}, fmt.Errorf("loading API key: %w", err)
	}
	k.Role = core.Role(role)
	k.CreatedAt = fromMicros(created)
	return k, nil
}
