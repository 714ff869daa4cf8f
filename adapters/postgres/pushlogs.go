package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

const pushLogColumns = `id, workspace_id, at, platform, pass_id, external_id, token_hash, status, http_status, reason, latency_ms, job_id`

func scanPushLog(row pgx.Row) (core.PushLog, error) {
	var l core.PushLog
	var platform, status string
	var httpStatus int32
	if err := row.Scan(&l.ID, &l.WorkspaceID, &l.At, &platform, &l.PassID, &l.ExternalID, &l.TokenHash, &status, &httpStatus,
		&l.Reason, &l.LatencyMS, &l.JobID); err != nil {
		return core.PushLog{}, err
	}
	l.At = l.At.UTC()
	l.Platform = core.Platform(platform)
	l.Status = core.PushStatus(status)
	l.HTTPStatus = int(httpStatus)
	return l, nil
}

// AppendPushLogs copies the logs in (COPY); IDs are the database's.
func (s *Store) AppendPushLogs(ctx context.Context, logs []core.PushLog) error {
	if len(logs) == 0 {
		return nil
	}
	if len(logs) <= copyFromAt {
		return s.insertPushLogs(ctx, logs)
	}
	// A push job's own record, on the bookkeeping pool (see Store.jobs):
	// a job whose log a crash loses runs again and logs again.
	if _, err := s.jobs.CopyFrom(ctx, pgx.Identifier{"push_logs"}, pushLogCopyColumns, pushLogRows(logs)); err != nil {
		return pushLogErr(err)
	}
	return nil
}

var pushLogCopyColumns = []string{"workspace_id", "at", "platform", "pass_id", "external_id", "token_hash", "status", "http_status", "reason", "latency_ms", "job_id"}

func pushLogRows(logs []core.PushLog) pgx.CopyFromSource {
	return pgx.CopyFromSlice(len(logs), func(i int) ([]any, error) {
		l := logs[i]
		return []any{l.WorkspaceID, sqlstore.TruncTime(l.At), string(l.Platform), l.PassID, l.ExternalID, l.TokenHash,
			string(l.Status), int32(l.HTTPStatus), l.Reason, l.LatencyMS, l.JobID}, nil
	})
}

// copyFromAt is the batch size from which COPY pays: setting one up costs
// about half a millisecond of the server's time, five times a one-row
// INSERT (a trigger's push logs one row).
const copyFromAt = 64

// insertPushLogsSQL inserts the logs given as column arrays ($1–$11, see
// pushLogArgs).
const insertPushLogsSQL = `INSERT INTO push_logs (workspace_id, at, platform, pass_id, external_id, token_hash, status, http_status, reason, latency_ms, job_id)
	SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::bigint[], $11::bigint[])`

// pushLogArgs are logs as the column arrays of insertPushLogsSQL.
func pushLogArgs(logs []core.PushLog) []any {
	n := len(logs)
	ws, at, platform, pass, ext, hash, status, reason := make([]string, n), make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	code, latency, job := make([]int32, n), make([]int64, n), make([]int64, n)
	for i, l := range logs {
		ws[i], at[i], platform[i], pass[i], ext[i], hash[i] = l.WorkspaceID, sqlstore.TruncTime(l.At), string(l.Platform), l.PassID, l.ExternalID, l.TokenHash
		status[i], code[i], reason[i], latency[i], job[i] = string(l.Status), int32(l.HTTPStatus), l.Reason, l.LatencyMS, l.JobID
	}
	return []any{ws, at, platform, pass, ext, hash, status, code, reason, latency, job}
}

// pushLogErr maps a failed push log write.
func pushLogErr(err error) error {
	if badText(err) {
		return core.Invalid("pushLog", "contains characters that cannot be stored")
	}
	return fmt.Errorf("inserting push logs: %w", err)
}

// insertPushLogs writes a few logs in one prepared statement.
func (s *Store) insertPushLogs(ctx context.Context, logs []core.PushLog) error {
	if _, err := s.jobs.Exec(ctx, insertPushLogsSQL, pushLogArgs(logs)...); err != nil {
		return pushLogErr(err)
	}
	return nil
}

// FinishPushJob writes a push job's logs and completes it in one
// statement (its implicit transaction), on the bookkeeping pool as its
// other writes: a lost completion runs the job again, which skips the
// tokens its log settled.
func (s *Store) FinishPushJob(ctx context.Context, logs []core.PushLog, jobID int64, at time.Time) error {
	if len(logs) == 0 {
		return s.CompleteJob(ctx, jobID, nil, at)
	}
	var n int64
	if len(logs) > copyFromAt {
		// Many logs (a template push batch): the completion, then COPY,
		// in one transaction.
		err := pgx.BeginFunc(ctx, s.jobs, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, completeJobNoChildrenSQL, sqlstore.TruncTime(at), jobID)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"push_logs"}, pushLogCopyColumns, pushLogRows(logs)); err != nil {
				return pushLogErr(err)
			}
			n = 1
			return nil
		})
		if err != nil {
			return fmt.Errorf("completing push job %d: %w", jobID, err)
		}
	} else {
		args := append(pushLogArgs(logs), sqlstore.TruncTime(at), jobID)
		tag, err := s.jobs.Exec(ctx, `WITH done AS (
				UPDATE jobs SET state = 'done', done_at = $12 WHERE id = $13 AND state NOT IN ('done', 'failed') RETURNING id
			)
			`+insertPushLogsSQL+` WHERE EXISTS (SELECT 1 FROM done)`, args...)
		if err != nil {
			return pushLogErr(err)
		}
		n = tag.RowsAffected()
	}
	if n == 0 {
		return s.notCompleted(ctx, jobID)
	}
	return nil
}

// ListPushLogs pages the workspace's push logs newest first.
func (s *Store) ListPushLogs(ctx context.Context, workspaceID string, q core.PushLogQuery) ([]core.PushLog, string, error) {
	limit := sqlstore.PageLimit(q.Limit)
	var args queryArgs
	query := `SELECT ` + pushLogColumns + ` FROM push_logs WHERE workspace_id = ` + args.add(workspaceID)
	if q.Cursor != "" {
		before, err := sqlstore.DecodeSeqCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND id < ` + args.add(before)
	}
	if q.PassID != "" {
		query += ` AND pass_id = ` + args.add(q.PassID)
	}
	if q.Platform != "" {
		query += ` AND platform = ` + args.add(string(q.Platform))
	}
	if q.Status != "" {
		query += ` AND status = ` + args.add(string(q.Status))
	}
	if !q.Since.IsZero() {
		query += ` AND at >= ` + args.add(sqlstore.TruncTime(q.Since))
	}
	query += ` ORDER BY id DESC LIMIT ` + args.add(limit+1)
	out, err := queryAll(ctx, s.pool, scanPushLog, query, args...)
	if badText(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("listing push logs: %w", err)
	}
	out, next := sqlstore.CutPage(out, limit, func(x core.PushLog) string { return strconv.FormatInt(x.ID, 10) })
	return out, next, nil
}

// SettledTokens returns the token hashes job logged as ok, failed or
// dropped. The push_logs_job index (job_id, status) INCLUDE (token_hash)
// covers it: an index-only scan on both columns. (IN with one parameter
// per status rather than = ANY($2): a generic plan keeps the status an
// index condition then, where an array parameter became a filter.)
func (s *Store) SettledTokens(ctx context.Context, jobID int64) (map[string]bool, error) {
	hashes, err := queryAll(ctx, s.pool, func(r pgx.Row) (string, error) {
		var h string
		err := r.Scan(&h)
		return h, err
	}, `SELECT DISTINCT token_hash FROM push_logs WHERE job_id = $1 AND status IN ($2, $3, $4)`,
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
