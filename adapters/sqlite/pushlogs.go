package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

const pushLogColumns = `id, workspace_id, at, platform, pass_id, external_id, token_hash, status, http_status, reason, latency_ms, job_id`

func scanPushLog(row scanner) (core.PushLog, error) {
	var l core.PushLog
	var at int64
	var platform, status string
	if err := row.Scan(&l.ID, &l.WorkspaceID, &at, &platform, &l.PassID, &l.ExternalID, &l.TokenHash, &status, &l.HTTPStatus,
		&l.Reason, &l.LatencyMS, &l.JobID); err != nil {
		return core.PushLog{}, err
	}
	l.At = fromMicros(at)
	l.Platform = core.Platform(platform)
	l.Status = core.PushStatus(status)
	return l, nil
}

// pushLogBatch rows at most go in one INSERT (11 parameters each, well
// under SQLite's limit).
const pushLogBatch = 512

// insertPushLogsSQL inserts n push logs. OR FAIL: a failed row fails the
// statement without undoing its earlier rows, which spares SQLite the
// statement journal a multi-row INSERT otherwise keeps; the transaction
// is rolled back on any error anyway.
func insertPushLogsSQL(n int) string {
	return `INSERT OR FAIL INTO push_logs (workspace_id, at, platform, pass_id, external_id, token_hash, status, http_status, reason, latency_ms, job_id) VALUES ` +
		strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", n-1) + `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
}

// AppendPushLogs inserts the logs; IDs are the database's. The rows go
// in statements of a power of two rows (the largest that fits, then the
// next...), so a handful of statement texts serve every count and stay
// prepared on the writer.
func (s *Store) AppendPushLogs(ctx context.Context, logs []core.PushLog) error {
	if len(logs) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { return insertPushLogs(ctx, tx, logs) })
}

func insertPushLogs(ctx context.Context, tx *sql.Tx, logs []core.PushLog) error {
	for rest := logs; len(rest) > 0; {
		n := pushLogBatch
		for n > len(rest) {
			n /= 2
		}
		args := make([]any, 0, n*11)
		for _, l := range rest[:n] {
			args = append(args, l.WorkspaceID, micros(l.At), string(l.Platform), l.PassID, l.ExternalID, l.TokenHash,
				string(l.Status), l.HTTPStatus, l.Reason, l.LatencyMS, l.JobID)
		}
		if _, err := tx.ExecContext(ctx, insertPushLogsSQL(n), args...); err != nil {
			return fmt.Errorf("inserting push logs: %w", err)
		}
		rest = rest[n:]
	}
	return nil
}

// FinishPushJob writes a push job's logs and completes it in one
// transaction.
func (s *Store) FinishPushJob(ctx context.Context, logs []core.PushLog, jobID int64, at time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := completeJobIn(ctx, tx, jobID, at); err != nil {
			return err
		}
		return insertPushLogs(ctx, tx, logs)
	})
}

// ListPushLogs pages the workspace's push logs newest first.
func (s *Store) ListPushLogs(ctx context.Context, workspaceID string, q core.PushLogQuery) ([]core.PushLog, string, error) {
	limit := sqlstore.PageLimit(q.Limit)
	query := `SELECT ` + pushLogColumns + ` FROM push_logs WHERE workspace_id = ?`
	args := []any{workspaceID}
	if q.Cursor != "" {
		before, err := sqlstore.DecodeSeqCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND id < ?`
		args = append(args, before)
	}
	if q.PassID != "" {
		query += ` AND pass_id = ?`
		args = append(args, q.PassID)
	}
	if q.Platform != "" {
		query += ` AND platform = ?`
		args = append(args, string(q.Platform))
	}
	if q.Status != "" {
		query += ` AND status = ?`
		args = append(args, string(q.Status))
	}
	if !q.Since.IsZero() {
		query += ` AND at >= ?`
		args = append(args, micros(q.Since))
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)
	out, err := queryAll(ctx, s.reader, scanPushLog, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing push logs: %w", err)
	}
	out, next := sqlstore.CutPage(out, limit, func(x core.PushLog) string { return strconv.FormatInt(x.ID, 10) })
	return out, next, nil
}

// SettledTokens returns the token hashes job logged as ok, failed or
// dropped. The push_logs_job index (job_id, status, token_hash) covers
// it: one range per status.
func (s *Store) SettledTokens(ctx context.Context, jobID int64) (map[string]bool, error) {
	hashes, err := queryAll(ctx, s.reader, func(sc scanner) (string, error) {
		var h string
		err := sc.Scan(&h)
		return h, err
	}, `SELECT DISTINCT token_hash FROM push_logs WHERE job_id = ? AND status IN (?, ?, ?)`,
		jobID, string(core.PushOK), string(core.PushFailed), string(core.PushDropped))
	if err != nil {
		return nil, fmt.Errorf("reading tokens settled by job %d: %w", jobID, err)
	}
	out := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		out[h] = true
	}
	return out, nil
}
