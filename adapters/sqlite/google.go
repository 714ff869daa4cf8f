package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

var (
	_ core.GoogleCredentialStore = (*Store)(nil)
	_ core.GoogleCallbackStore   = (*Store)(nil)
)

const googleCredentialColumns = `workspace_id, issuer_id, client_email, key_sealed, created_at, updated_at`

func scanGoogleCredentials(row scanner) (core.GoogleCredentials, error) {
	var c core.GoogleCredentials
	var created, updated int64
	if err := row.Scan(&c.WorkspaceID, &c.IssuerID, &c.ClientEmail, &c.KeySealed, &created, &updated); err != nil {
		return core.GoogleCredentials{}, err
	}
	c.CreatedAt = fromMicros(created)
	c.UpdatedAt = fromMicros(updated)
	return c, nil
}

// PutGoogleCredentials inserts or replaces the workspace's credentials;
// a replacement keeps the first CreatedAt.
func (s *Store) PutGoogleCredentials(ctx context.Context, c core.GoogleCredentials) error {
	c = sqlstore.NormGoogleCredentials(c)
	key := c.KeySealed
	if key == nil {
		key = []byte{}
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO google_credentials (`+googleCredentialColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (workspace_id) DO UPDATE SET issuer_id = excluded.issuer_id, client_email = excluded.client_email,
				key_sealed = excluded.key_sealed, updated_at = excluded.updated_at`,
			c.WorkspaceID, c.IssuerID, c.ClientEmail, key, micros(c.CreatedAt), micros(c.UpdatedAt))
		if cols, ok := uniqueViolation(err); ok && strings.Contains(cols, "issuer_id") {
			return &core.ConflictError{Field: "issuerId", Reason: fmt.Sprintf("issuer ID %q belongs to another workspace", c.IssuerID)}
		}
		if err != nil {
			return fmt.Errorf("storing Google credentials: %w", err)
		}
		return nil
	})
}

// GoogleCredentials loads the workspace's credentials.
func (s *Store) GoogleCredentials(ctx context.Context, workspaceID string) (core.GoogleCredentials, error) {
	return s.googleCredentialsWhere(ctx, "workspace_id", workspaceID)
}

// GoogleCredentialsByIssuer finds credentials by issuer ID.
func (s *Store) GoogleCredentialsByIssuer(ctx context.Context, issuerID string) (core.GoogleCredentials, error) {
	return s.googleCredentialsWhere(ctx, "issuer_id", issuerID)
}

// googleCredentialsWhere loads the credentials whose column col (both
// candidates are unique) is val.
func (s *Store) googleCredentialsWhere(ctx context.Context, col, val string) (core.GoogleCredentials, error) {
	c, err := scanGoogleCredentials(s.reader.QueryRowContext(ctx, `SELECT `+googleCredentialColumns+` FROM google_credentials WHERE `+col+` = ?`, val))
	if errors.Is(err, sql.ErrNoRows) {
		return core.GoogleCredentials{}, fmt.Errorf("Google credentials %q: %w", val, core.ErrNotFound)
	}
	if err != nil {
		return core.GoogleCredentials{}, fmt.Errorf("loading Google credentials %q: %w", val, err)
	}
	return c, nil
}

// DeleteGoogleCredentials removes the workspace's credentials.
func (s *Store) DeleteGoogleCredentials(ctx context.Context, workspaceID string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM google_credentials WHERE workspace_id = ?`, workspaceID)
		if err != nil {
			return fmt.Errorf("deleting Google credentials: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting Google credentials: %w", err)
		} else if n == 0 {
			return fmt.Errorf("Google credentials of workspace %s: %w", workspaceID, core.ErrNotFound)
		}
		return nil
	})
}

// ApplyGoogleCallback records the callback's nonce and, unless it was
// seen before or a callback at or after cb.At was already applied to the
// pass, lets fn change the pass, all in one write transaction (the single
// writer is the pass lock). An unknown pass or fn's error rolls back the
// nonce too, so a retry is not taken for a replay.
func (s *Store) ApplyGoogleCallback(ctx context.Context, cb core.GoogleCallback, fn func(*core.Pass) ([]core.Event, error)) (bool, error) {
	at := sqlstore.TruncTime(cb.At)
	var applied bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO google_nonces (nonce, workspace_id, seen_at) VALUES (?, ?, ?)
			ON CONFLICT (nonce) DO NOTHING`, cb.Nonce, cb.WorkspaceID, micros(time.Now()))
		if err != nil {
			return fmt.Errorf("recording Google callback nonce: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("recording Google callback nonce: %w", err)
		} else if n == 0 {
			return fmt.Errorf("Google callback nonce %q: %w", cb.Nonce, core.ErrReplayed)
		}
		var last sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT google_event_at FROM passes WHERE workspace_id = ? AND id = ?`,
			cb.WorkspaceID, cb.PassID).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("pass %s: %w", cb.PassID, core.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("loading pass %s: %w", cb.PassID, err)
		}
		if sqlstore.GoogleCallbackStale(fromNullMicros(last), at) {
			return nil // stale: the nonce stays recorded
		}
		pass, err := passIn(ctx, tx, cb.WorkspaceID, cb.PassID)
		if err != nil {
			return err
		}
		if _, err := changePass(ctx, tx, pass, fn); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE passes SET google_event_at = ? WHERE workspace_id = ? AND id = ?`,
			micros(at), cb.WorkspaceID, cb.PassID); err != nil {
			return fmt.Errorf("stamping pass %s with its Google callback: %w", cb.PassID, err)
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return applied, nil
}

// PurgeGoogleNonces deletes the nonces recorded before t.
func (s *Store) PurgeGoogleNonces(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM google_nonces WHERE seen_at < ?`, micros(before))
		if err != nil {
			return fmt.Errorf("purging Google callback nonces: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
