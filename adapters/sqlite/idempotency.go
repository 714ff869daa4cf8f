package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/passhub/passhub/core"
)

// ReserveIdempotencyKey claims (workspace, key), replacing a record that
// expired or a claim that went stale. The upsert runs under the write
// lock, so of two concurrent reserves exactly one wins.
func (s *Store) ReserveIdempotencyKey(ctx context.Context, rec core.IdempotencyRecord, expiresBefore, staleBefore time.Time) (core.IdempotencyRecord, bool, error) {
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = time.Now()
	}
	var existing core.IdempotencyRecord
	var ok bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var claimed string
		err := tx.QueryRowContext(ctx, `INSERT INTO idempotency_keys (workspace_id, key, fingerprint, done, status, content_type, body, created_at)
			VALUES (?, ?, ?, 0, 0, '', NULL, ?)
			ON CONFLICT (workspace_id, key) DO UPDATE SET
				fingerprint = excluded.fingerprint, done = 0, status = 0, content_type = '', body = NULL, created_at = excluded.created_at
			WHERE idempotency_keys.created_at < ? OR (idempotency_keys.done = 0 AND idempotency_keys.created_at < ?)
			RETURNING key`,
			rec.WorkspaceID, rec.Key, rec.Fingerprint, micros(rec.CreatedAt), micros(expiresBefore), micros(staleBefore)).Scan(&claimed)
		if err == nil {
			ok = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reserving idempotency key: %w", err)
		}
		existing, err = scanIdempotency(tx.QueryRowContext(ctx, `SELECT workspace_id, key, fingerprint, done, status, content_type, body, created_at
			FROM idempotency_keys WHERE workspace_id = ? AND key = ?`, rec.WorkspaceID, rec.Key))
		if err != nil {
			return fmt.Errorf("loading idempotency key: %w", err)
		}
		return nil
	})
	if err != nil {
		return core.IdempotencyRecord{}, false, err
	}
	return existing, ok, nil
}

func scanIdempotency(row scanner) (core.IdempotencyRecord, error) {
	var r core.IdempotencyRecord
	var done int
	var created int64
	if err := row.Scan(&r.WorkspaceID, &r.Key, &r.Fingerprint, &done, &r.Status, &r.ContentType, &r.Body, &created); err != nil {
		return core.IdempotencyRecord{}, err
	}
	r.Done = done != 0
	r.CreatedAt = fromMicros(created)
	return r, nil
}

// CompleteIdempotencyKey stores the answer of the caller's claim.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, rec core.IdempotencyRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET done = 1, status = ?, content_type = ?, body = ?
			WHERE workspace_id = ? AND key = ? AND fingerprint = ?`,
			rec.Status, rec.ContentType, rec.Body, rec.WorkspaceID, rec.Key, rec.Fingerprint)
		if err != nil {
			return fmt.Errorf("completing idempotency key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("completing idempotency key: %w", err)
		} else if n == 0 {
			return fmt.Errorf("idempotency key claim: %w", core.ErrNotFound)
		}
		return nil
	})
}

// ReleaseIdempotencyKey drops a claim that was never completed.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, workspaceID, key string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE workspace_id = ? AND key = ? AND done = 0`, workspaceID, key); err != nil {
			return fmt.Errorf("releasing idempotency key: %w", err)
		}
		return nil
	})
}

// PurgeIdempotencyKeys deletes records created before t.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, micros(before))
		if err != nil {
			return fmt.Errorf("purging idempotency keys: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
