package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

const shareLinkColumns = `id, workspace_id, pass_id, token, created_at, revoked_at`

func scanShareLink(row scanner) (core.ShareLink, error) {
	var l core.ShareLink
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&l.ID, &l.WorkspaceID, &l.PassID, &l.Token, &created, &revoked); err != nil {
		return core.ShareLink{}, err
	}
	l.CreatedAt = fromMicros(created)
	l.RevokedAt = fromNullMicros(revoked)
	return l, nil
}

// CreateShareLink stores a link; a taken token is a conflict on "token".
func (s *Store) CreateShareLink(ctx context.Context, l core.ShareLink) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO share_links (`+shareLinkColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			l.ID, l.WorkspaceID, l.PassID, l.Token, micros(l.CreatedAt), nullMicros(l.RevokedAt))
		if cols, ok := uniqueViolation(err); ok {
			if strings.Contains(cols, "token") {
				return &core.ConflictError{Field: "token", Reason: "a share link with this token already exists"}
			}
			return &core.ConflictError{Field: "id", Reason: "a share link with this ID already exists"}
		}
		if err != nil {
			return fmt.Errorf("inserting share link: %w", err)
		}
		return nil
	})
}

// ShareLinkByToken finds a link by its token, in any workspace.
func (s *Store) ShareLinkByToken(ctx context.Context, token string) (core.ShareLink, error) {
	l, err := scanShareLink(s.reader.QueryRowContext(ctx, `SELECT `+shareLinkColumns+` FROM share_links WHERE token = ?`, token))
	if errors.Is(err, sql.ErrNoRows) {
		return core.ShareLink{}, fmt.Errorf("share link: %w", core.ErrNotFound)
	}
	if err != nil {
		return core.ShareLink{}, fmt.Errorf("loading share link by token: %w", err)
	}
	return l, nil
}

// ShareLink loads one link of the workspace.
func (s *Store) ShareLink(ctx context.Context, workspaceID, id string) (core.ShareLink, error) {
	l, err := scanShareLink(s.reader.QueryRowContext(ctx, `SELECT `+shareLinkColumns+` FROM share_links WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.ShareLink{}, fmt.Errorf("share link %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.ShareLink{}, fmt.Errorf("loading share link %s: %w", id, err)
	}
	return l, nil
}

// ListShareLinks returns a pass's links, newest first.
func (s *Store) ListShareLinks(ctx context.Context, workspaceID, passID string) ([]core.ShareLink, error) {
	out, err := queryAll(ctx, s.reader, scanShareLink, `SELECT `+shareLinkColumns+` FROM share_links
		WHERE workspace_id = ? AND pass_id = ? ORDER BY created_at DESC, id DESC`, workspaceID, passID)
	if err != nil {
		return nil, fmt.Errorf("listing share links of pass %s: %w", passID, err)
	}
	return out, nil
}

// RevokeShareLink stamps the link revoked at at, unless it already is.
func (s *Store) RevokeShareLink(ctx context.Context, workspaceID, id string, at time.Time) (core.ShareLink, error) {
	var out core.ShareLink
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		l, err := scanShareLink(tx.QueryRowContext(ctx, `UPDATE share_links SET revoked_at = coalesce(revoked_at, ?)
			WHERE workspace_id = ? AND id = ? RETURNING `+shareLinkColumns, micros(at), workspaceID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("share link %s: %w", id, core.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("revoking share link %s: %w", id, err)
		}
		out = l
		return nil
	})
	if err != nil {
		return core.ShareLink{}, err
	}
	return out, nil
}
