package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// CreateWorkspace stores a workspace and its first key together.
func (s *Store) CreateWorkspace(ctx context.Context, ws core.Workspace, key core.APIKey) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)`,
			ws.ID, ws.Name, sqlstore.TruncTime(ws.CreatedAt))
		if c, ok := constraintViolation(err, codeUniqueViolation); ok && c == "workspaces_name_key" {
			return &core.ConflictError{Field: "name", Reason: fmt.Sprintf("workspace %q already exists", ws.Name)}
		}
		if badText(err) {
			return core.Invalid("name", "contains characters that cannot be stored")
		}
		if err != nil {
			return fmt.Errorf("inserting workspace: %w", err)
		}
		return insertAPIKey(ctx, tx, key)
	})
}

func insertAPIKey(ctx context.Context, tx pgx.Tx, key core.APIKey) error {
	_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, workspace_id, name, role, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		key.ID, key.WorkspaceID, key.Name, string(key.Role), key.Hash, sqlstore.TruncTime(key.CreatedAt))
	if c, ok := constraintViolation(err, codeUniqueViolation); ok && c == "api_keys_hash_key" {
		return &core.ConflictError{Field: "key", Reason: "an API key with this secret already exists"}
	}
	if _, ok := constraintViolation(err, codeForeignKeyViolation); ok {
		return fmt.Errorf("workspace %s: %w", key.WorkspaceID, core.ErrNotFound)
	}
	if badText(err) {
		return core.Invalid("name", "contains characters that cannot be stored")
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
	err := s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM workspaces WHERE `+col+` = $1`, val).
		Scan(&ws.ID, &ws.Name, &ws.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return core.Workspace{}, fmt.Errorf("workspace %q: %w", val, core.ErrNotFound)
	}
	if err != nil {
		return core.Workspace{}, fmt.Errorf("loading workspace %q: %w", val, err)
	}
	ws.CreatedAt = ws.CreatedAt.UTC()
	return ws, nil
}

// CreateAPIKey adds a key to an existing workspace.
func (s *Store) CreateAPIKey(ctx context.Context, key core.APIKey) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return insertAPIKey(ctx, tx, key) })
}

// APIKeyByHash finds a key by the hash of its secret.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (core.APIKey, error) {
	var k core.APIKey
	var role string
	err := s.pool.QueryRow(ctx, `SELECT id, workspace_id, name, role, hash, created_at FROM api_keys WHERE hash = $1`, hash).
		Scan(&k.ID, &k.WorkspaceID, &k.Name, &role, &k.Hash, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return core.APIKey{}, fmt.Errorf("API key: %w", core.ErrNotFound)
	}
	if err != nil {
		return core.APIKey{}, fmt.Errorf("loading API key: %w", err)
	}
	k.Role = core.Role(role)
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}
