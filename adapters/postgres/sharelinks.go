package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

const shareLinkColumns = `id, workspace_id, pass_id, token, created_at, revoked_at`

func scanShareLink(row pgx.Row) (core.ShareLink, error) {
	var l core.ShareLink
	if err := row.Scan(&l.ID, &l.WorkspaceID, &l.PassID, &l.Token, &l.CreatedAt, &l.RevokedAt); err != nil {
		return core.ShareLink{}, err
	}
	l.CreatedAt = l.CreatedAt.UTC()
	l.RevokedAt = utc(l.RevokedAt)
	return l, nil
}

// CreateShareLink stores a link; a taken token is a conflict on "token".
func (s *Store) CreateShareLink(ctx context.Context, l core.ShareLink) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO share_links (`+shareLinkColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		l.ID, l.WorkspaceID, l.PassID, l.Token, sqlstore.TruncTime(l.CreatedAt), sqlstore.TruncTimePtr(l.RevokedAt))
	if c, ok := constraintViolation(err, codeUniqueViolation); ok {
		if c == "share_links_token_key" {
			return &core.ConflictError{Field: "token", Reason: "a share link with this token already exists"}
		}
		return &core.ConflictError{Field: "id", Reason: "a share link with this ID already exists"}
	}
	if badText(err) {
		return core.Invalid("shareLink", "contains characters that cannot be stored")
	}
	if err != nil {
		return fmt.Errorf("inserting share link: %w", err)
	}
	return nil
}

// ShareLinkByToken finds a link by its token, in any workspace.
func (s *Store) ShareLinkByToken(ctx context.Context, token string) (core.ShareLink, error) {
	l, err := scanShareLink(s.pool.QueryRow(ctx, `SELECT `+shareLinkColumns+` FROM share_links WHERE token = $1`, token))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
		return core.ShareLink{}, fmt.Errorf("share link: %w", core.ErrNotFound)
	}
	if err != nil {
		return core.ShareLink{}, fmt.Errorf("loading share link by token: %w", err)
	}
	return l, nil
}

// ShareLink loads one link of the workspace.
func (s *Store) ShareLink(ctx context.Context, workspaceID, id string) (core.ShareLink, error) {
	l, err := scanShareLink(s.pool.QueryRow(ctx, `SELECT `+shareLinkColumns+` FROM share_links WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
		return core.ShareLink{}, fmt.Errorf("share link %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.ShareLink{}, fmt.Errorf("loading share link %s: %w", id, err)
	}
	return l, nil
}

// ListShareLinks returns a pass's links, newest first.
func (s *Store) ListShareLinks(ctx context.Context, workspaceID, passID string) ([]core.ShareLink, error) {
	out, err := queryAll(ctx, s.pool, scanShareLink, `SELECT `+shareLinkColumns+` FROM share_links
		WHERE workspace_id = $1 AND pass_id = $2 ORDER BY created_at DESC, id DESC`, workspaceID, passID)
	if badText(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing share links of pass %s: %w", passID, err)
	}
	return out, nil
}

// RevokeShareLink stamps the link revoked at at, unless it already is.
func (s *Store) RevokeShareLink(ctx context.Context, workspaceID, id string, at time.Time) (core.ShareLink, error) {
	l, err := scanShareLink(s.pool.QueryRow(ctx, `UPDATE share_links SET revoked_at = coalesce(revoked_at, $1)
		WHERE workspace_id = $2 AND id = $3 RETURNING `+shareLinkColumns, sqlstore.TruncTime(at), workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
		return core.ShareLink{}, fmt.Errorf("share link %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.ShareLink{}, fmt.Errorf("revoking share link %s: %w", id, err)
	}
	return l, nil
}
