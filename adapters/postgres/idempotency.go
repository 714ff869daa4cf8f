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

// ReserveIdempotencyKey claims (workspace, key), replacing a record that
// expired or a claim that went stale. INSERT ... ON CONFLICT settles
// concurrent reserves: exactly one inserts or replaces, the others find
// the row (locked by the upsert, so the read below sees it) and get it.
func (s *Store) ReserveIdempotencyKey(ctx context.Context, rec core.IdempotencyRecord, expiresBefore, staleBefore time.Time) (core.IdempotencyRecord, bool, error) {
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = time.Now()
	}
	var existing core.IdempotencyRecord
	var ok bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var claimed bool
		err := tx.QueryRow(ctx, `INSERT INTO idempotency_keys AS k (workspace_id, key, fingerprint, done, status, content_type, body, created_at)
			VALUES ($1, $2, $3, false, 0, '', NULL, $4)
			ON CONFLICT (workspace_id, key) DO UPDATE SET
				fingerprint = excluded.fingerprint, done = false, status = 0, content_type = '', body = NULL, created_at = excluded.created_at
			WHERE k.created_at < $5 OR (NOT k.done AND k.created_at < $6)
			RETURNING true`,
			rec.WorkspaceID, rec.Key, rec.Fingerprint, sqlstore.TruncTime(rec.CreatedAt), sqlstore.TruncTime(expiresBefore), sqlstore.TruncTime(staleBefore)).Scan(&claimed)
		if err == nil {
			ok = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("reserving idempotency key: %w", err)
		}
		err = tx.QueryRow(ctx, `SELECT workspace_id, key, fingerprint, done, status, content_type, body, created_at
			FROM idempotency_keys WHERE workspace_id = $1 AND key = $2`, rec.WorkspaceID, rec.Key).
			Scan(&existing.WorkspaceID, &existing.Key, &existing.Fingerprint, &existing.Done, &existing.Status,
				&existing.ContentType, &existing.Body, &existing.CreatedAt)
		if err != nil {
			return fmt.Errorf("loading idempotency key: %w", err)
		}
		existing.CreatedAt = existing.CreatedAt.UTC()
		return nil
	})
	if err != nil {
		return core.IdempotencyRecord{}, false, err
	}
	return existing, ok, nil
}

// CompleteIdempotencyKey stores the answer of the caller's claim.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, rec core.IdempotencyRecord) error {
	tag, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET done = true, status = $1, content_type = $2, body = $3
		WHERE workspace_id = $4 AND key = $5 AND fingerprint = $6`,
		rec.Status, rec.ContentType, rec.Body, rec.WorkspaceID, rec.Key, rec.Fingerprint)
	if err != nil {
		return fmt.Errorf("completing idempotency key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("idempotency key claim: %w", core.ErrNotFound)
	}
	return nil
}

// ReleaseIdempotencyKey drops a claim that was never completed.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, workspaceID, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND NOT done`, workspaceID, key); err != nil {
		return fmt.Errorf("releasing idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotencyKeys deletes records created before t.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, sqlstore.TruncTime(before))
	if err != nil {
		return 0, fmt.Errorf("purging idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
