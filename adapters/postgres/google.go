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

var (
	_ core.GoogleCredentialStore = (*Store)(nil)
	_ core.GoogleCallbackStore   = (*Store)(nil)
)

const googleCredentialColumns = `workspace_id, issuer_id, client_email, key_sealed, created_at, updated_at`

func scanGoogleCredentials(row pgx.Row) (core.GoogleCredentials, error) {
	var c core.GoogleCredentials
	if err := row.Scan(&c.WorkspaceID, &c.IssuerID, &c.ClientEmail, &c.KeySealed, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return core.GoogleCredentials{}, err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = c.UpdatedAt.UTC()
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
	_, err := s.pool.Exec(ctx, `INSERT INTO google_credentials (`+googleCredentialColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (workspace_id) DO UPDATE SET issuer_id = EXCLUDED.issuer_id, client_email = EXCLUDED.client_email,
			key_sealed = EXCLUDED.key_sealed, updated_at = EXCLUDED.updated_at`,
		c.WorkspaceID, c.IssuerID, c.ClientEmail, key, c.CreatedAt, c.UpdatedAt)
	if cn, ok := constraintViolation(err, codeUniqueViolation); ok && cn == "google_credentials_issuer_id_key" {
		return &core.ConflictError{Field: "issuerId", Reason: fmt.Sprintf("issuer ID %q belongs to another workspace", c.IssuerID)}
	}
	if badText(err) {
		return core.Invalid("credentials", "contain characters that cannot be stored")
	}
	if err != nil {
		return fmt.Errorf("storing Google credentials: %w", err)
	}
	return nil
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
	c, err := scanGoogleCredentials(s.pool.QueryRow(ctx, `SELECT `+googleCredentialColumns+` FROM google_credentials WHERE `+col+` = $1`, val))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
		return core.GoogleCredentials{}, fmt.Errorf("Google credentials %q: %w", val, core.ErrNotFound)
	}
	if err != nil {
		return core.GoogleCredentials{}, fmt.Errorf("loading Google credentials %q: %w", val, err)
	}
	return c, nil
}

// DeleteGoogleCredentials removes the workspace's credentials.
func (s *Store) DeleteGoogleCredentials(ctx context.Context, workspaceID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM google_credentials WHERE workspace_id = $1`, workspaceID)
	if err != nil && !badText(err) {
		return fmt.Errorf("deleting Google credentials: %w", err)
	}
	if err != nil || tag.RowsAffected() == 0 {
		return fmt.Errorf("Google credentials of workspace %s: %w", workspaceID, core.ErrNotFound)
	}
	return nil
}

// ApplyGoogleCallback records the callback's nonce and, unless it was
// seen before or a callback at or after cb.At was already applied to the
// pass, lets fn change the pass, all in one transaction. The nonce is
// inserted first: a concurrent delivery of the same callback waits on it
// and then finds it taken (or free again, when this one rolled back). The
// pass row is then locked, so callbacks of one pass apply one at a time
// and each reads the stamp its predecessor committed. An unknown pass or
// fn's error rolls back the nonce too, so a retry is not taken for a
// replay.
func (s *Store) ApplyGoogleCallback(ctx context.Context, cb core.GoogleCallback, fn func(*core.Pass) ([]core.Event, error)) (bool, error) {
	at := sqlstore.TruncTime(cb.At)
	var applied bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO google_nonces (nonce, workspace_id, seen_at) VALUES ($1, $2, $3)
			ON CONFLICT (nonce) DO NOTHING`, cb.Nonce, cb.WorkspaceID, sqlstore.TruncTime(time.Now()))
		if badText(err) {
			return core.Invalid("nonce", "contains characters that cannot be stored")
		}
		if err != nil {
			return fmt.Errorf("recording Google callback nonce: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("Google callback nonce %q: %w", cb.Nonce, core.ErrReplayed)
		}
		var last *time.Time
		err = tx.QueryRow(ctx, `SELECT google_event_at FROM passes WHERE workspace_id = $1 AND id = $2 FOR UPDATE`,
			cb.WorkspaceID, cb.PassID).Scan(&last)
		if errors.Is(err, pgx.ErrNoRows) || badText(err) {
			return fmt.Errorf("pass %s: %w", cb.PassID, core.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("locking pass %s: %w", cb.PassID, err)
		}
		if sqlstore.GoogleCallbackStale(last, at) {
			return nil // stale: the nonce stays recorded
		}
		// The row is locked: this read sees it as the lock left it.
		pass, err := passIn(ctx, tx, cb.WorkspaceID, cb.PassID, "")
		if err != nil {
			return err
		}
		if _, err := changePass(ctx, tx, pass, fn); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE passes SET google_event_at = $1 WHERE workspace_id = $2 AND id = $3`,
			at, cb.WorkspaceID, cb.PassID); err != nil {
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM google_nonces WHERE seen_at < $1`, sqlstore.TruncTime(before))
	if err != nil {
		return 0, fmt.Errorf("purging Google callback nonces: %w", err)
	}
	return tag.RowsAffected(), nil
}
