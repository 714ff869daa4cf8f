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

const jobColumns = `id, workspace_id, kind, key, payload, state, attempts, last_error, created_at, enqueued_at, done_at`

const defaultJobLimit = 100

func scanJob(row scanner) (core.Job, error) {
	var j core.Job
	var payload []byte
	var state string
	var created int64
	var enqueued, done sql.NullInt64
	if err := row.Scan(&j.ID, &j.WorkspaceID, &j.Kind, &j.Key, &payload, &state, &j.Attempts, &j.LastError, &created, &enqueued, &done); err != nil {
		return core.Job{}, err
	}
	if payload != nil {
		j.Payload = payload
	}
	j.State = core.JobState(state)
	j.CreatedAt = fromMicros(created)
	j.EnqueuedAt = fromNullMicros(enqueued)
	j.DoneAt = fromNullMicros(done)
	return j, nil
}

// A claimed (chained) job is enqueued as of its insertion, for the
// sweeper: the seventh argument.
const insertJobSQL = `INSERT INTO jobs (workspace_id, kind, key, payload, state, attempts, last_error, created_at, enqueued_at)
	VALUES (?1, ?2, ?3, ?4, ?5, ?8, '', ?6, CASE WHEN ?5 = 'enqueued' THEN ?7 END) ON CONFLICT (kind, key) DO NOTHING`

// execer is a transaction or a statement prepared in one.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// preparedExec runs its statement whatever query it is given.
type preparedExec struct{ stmt *sql.Stmt }

func (p preparedExec) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return p.stmt.ExecContext(ctx, args...)
}

// insertJob writes a job unless one of its kind and key exists.
func insertJob(ctx context.Context, tx *sql.Tx, j core.Job, at time.Time) error {
	_, err := insertJobID(ctx, tx, j, at)
	return err
}

// insertJobID is insertJob returning the new job's ID, 0 when one of its
// kind and key existed; ex is the transaction or insertJobSQL prepared in
// it.
func insertJobID(ctx context.Context, ex execer, j core.Job, at time.Time) (int64, error) {
	if j.State == "" {
		j.State = core.JobPending
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = at
	}
	var payload any
	if j.Payload != nil {
		payload = []byte(j.Payload)
	}
	res, err := ex.ExecContext(ctx, insertJobSQL, j.WorkspaceID, j.Kind, j.Key, payload, string(j.State), micros(j.CreatedAt), micros(at), j.Attempts)
	if err != nil {
		return 0, fmt.Errorf("inserting %s job %s: %w", j.Kind, j.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("inserting %s job %s: %w", j.Kind, j.Key, err)
	}
	if n == 0 {
		return 0, nil
	}
	// The job's ID is its rowid (INTEGER PRIMARY KEY).
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("inserting %s job %s: %w", j.Kind, j.Key, err)
	}
	return id, nil
}

// CreateJobs inserts pending jobs, skipping any whose kind and key exist,
// and returns how many were new.
func (s *Store) CreateJobs(ctx context.Context, jobs []core.Job) (int, error) {
	if len(jobs) == 0 {
		return 0, nil
	}
	at := time.Now()
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, insertJobSQL)
		if err != nil {
			return fmt.Errorf("preparing job insert: %w", err)
		}
		defer stmt.Close()
		n = 0
		for _, j := range jobs {
			j.State = core.JobPending
			j.Attempts = 0
			id, err := insertJobID(ctx, preparedExec{stmt}, j, at)
			if err != nil {
				return err
			}
			if id != 0 {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (s *Store) listJobs(ctx context.Context, query string, args ...any) ([]core.Job, error) {
	return queryAll(ctx, s.reader, scanJob, query, args...)
}

// PendingJobs returns up to limit pending jobs, oldest first.
func (s *Store) PendingJobs(ctx context.Context, limit int) ([]core.Job, error) {
	if limit <= 0 {
		limit = defaultJobLimit
	}
	jobs, err := s.listJobs(ctx, `SELECT `+jobColumns+` FROM jobs WHERE state = 'pending' ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("listing pending jobs: %w", err)
	}
	return jobs, nil
}

// StaleJobs returns up to limit jobs enqueued before t, oldest first.
func (s *Store) StaleJobs(ctx context.Context, enqueuedBefore time.Time, limit int) ([]core.Job, error) {
	if limit <= 0 {
		limit = defaultJobLimit
	}
	jobs, err := s.listJobs(ctx, `SELECT `+jobColumns+` FROM jobs WHERE state = 'enqueued' AND enqueued_at < ? ORDER BY id LIMIT ?`,
		micros(enqueuedBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("listing stale jobs: %w", err)
	}
	return jobs, nil
}

// MarkJobsEnqueued moves pending or enqueued jobs to enqueued at t.
func (s *Store) MarkJobsEnqueued(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Chunks stay well under SQLite's bound-parameter limit.
		for len(ids) > 0 {
			n := min(len(ids), 500)
			args := []any{string(core.JobEnqueued), micros(at), string(core.JobPending), string(core.JobEnqueued)}
			for _, id := range ids[:n] {
				args = append(args, id)
			}
			q := `UPDATE jobs SET state = ?, enqueued_at = ? WHERE state IN (?, ?) AND id IN (?` + strings.Repeat(", ?", n-1) + `)`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("marking jobs enqueued: %w", err)
			}
			ids = ids[n:]
		}
		return nil
	})
}

// Job loads one job.
func (s *Store) Job(ctx context.Context, id int64) (core.Job, error) {
	return jobIn(ctx, s.reader, id)
}

func jobIn(ctx context.Context, q querier, id int64) (core.Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Job{}, fmt.Errorf("job %d: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Job{}, fmt.Errorf("loading job %d: %w", id, err)
	}
	return j, nil
}

// StartJob counts an attempt on a job that is not finished.
func (s *Store) StartJob(ctx context.Context, id int64) (core.Job, error) {
	var out core.Job
	var finished bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		j, err := scanJob(tx.QueryRowContext(ctx, `UPDATE jobs SET attempts = attempts + 1 WHERE id = ? AND state NOT IN (?, ?) RETURNING `+jobColumns,
			id, string(core.JobDone), string(core.JobFailed)))
		if err == nil {
			out = j
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("starting job %d: %w", id, err)
		}
		j, err = jobIn(ctx, tx, id)
		if err != nil {
			return err
		}
		out, finished = j, true
		return nil
	})
	if err != nil {
		return core.Job{}, err
	}
	if finished {
		return out, fmt.Errorf("job %d is %s: %w", id, out.State, core.ErrJobDone)
	}
	return out, nil
}

// CompleteJob marks a job done and inserts its children, once.
func (s *Store) CompleteJob(ctx context.Context, id int64, children []core.Job, at time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := completeJobIn(ctx, tx, id, at); err != nil {
			return err
		}
		if len(children) == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx, insertJobSQL)
		if err != nil {
			return fmt.Errorf("preparing job insert: %w", err)
		}
		defer stmt.Close()
		for i, c := range children {
			if children[i].ID, err = insertJobID(ctx, preparedExec{stmt}, c, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// completeJobIn marks job id done in tx: ErrJobDone when it is done or
// failed already, ErrNotFound when there is none.
func completeJobIn(ctx context.Context, tx *sql.Tx, id int64, at time.Time) error {
	res, err := tx.ExecContext(ctx, completeJobSQL, string(core.JobDone), micros(at), id, string(core.JobDone), string(core.JobFailed))
	if err != nil {
		return fmt.Errorf("completing job %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("completing job %d: %w", id, err)
	} else if n == 0 {
		if _, err := jobIn(ctx, tx, id); err != nil {
			return err
		}
		return fmt.Errorf("job %d: %w", id, core.ErrJobDone)
	}
	return nil
}

// FailJob records a failed attempt; final makes the job failed. A job
// already done is left alone.
func (s *Store) FailJob(ctx context.Context, id int64, msg string, final bool, at time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if final {
			res, err = tx.ExecContext(ctx, `UPDATE jobs SET last_error = ?, state = ?, done_at = ? WHERE id = ? AND state <> ?`,
				msg, string(core.JobFailed), micros(at), id, string(core.JobDone))
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE jobs SET last_error = ? WHERE id = ? AND state <> ?`, msg, id, string(core.JobDone))
		}
		if err != nil {
			return fmt.Errorf("failing job %d: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("failing job %d: %w", id, err)
		} else if n == 0 {
			if _, err := jobIn(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}
