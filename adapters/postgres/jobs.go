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

const jobColumns = `id, workspace_id, kind, key, payload, state, attempts, last_error, created_at, enqueued_at, done_at`

const defaultJobLimit = 100

func scanJob(row pgx.Row) (core.Job, error) {
	var j core.Job
	var payload []byte
	var state string
	if err := row.Scan(&j.ID, &j.WorkspaceID, &j.Kind, &j.Key, &payload, &state, &j.Attempts, &j.LastError, &j.CreatedAt, &j.EnqueuedAt, &j.DoneAt); err != nil {
		return core.Job{}, err
	}
	if payload != nil {
		j.Payload = payload
	}
	j.State = core.JobState(state)
	j.CreatedAt = j.CreatedAt.UTC()
	j.EnqueuedAt = utc(j.EnqueuedAt)
	j.DoneAt = utc(j.DoneAt)
	return j, nil
}

func (s *Store) listJobs(ctx context.Context, query string, args ...any) ([]core.Job, error) {
	return queryAll(ctx, s.pool, scanJob, query, args...)
}

// PendingJobs returns up to limit pending jobs, oldest first.
func (s *Store) PendingJobs(ctx context.Context, limit int) ([]core.Job, error) {
	if limit <= 0 {
		limit = defaultJobLimit
	}
	jobs, err := s.listJobs(ctx, `SELECT `+jobColumns+` FROM jobs WHERE state = 'pending' ORDER BY id LIMIT $1`, limit)
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
	jobs, err := s.listJobs(ctx, `SELECT `+jobColumns+` FROM jobs WHERE state = 'enqueued' AND enqueued_at < $1 ORDER BY id LIMIT $2`,
		sqlstore.TruncTime(enqueuedBefore), limit)
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
	if _, err := s.jobs.Exec(ctx, `UPDATE jobs SET state = $1, enqueued_at = $2 WHERE id = ANY($3) AND state IN ($4, $5)`,
		string(core.JobEnqueued), sqlstore.TruncTime(at), ids, string(core.JobPending), string(core.JobEnqueued)); err != nil {
		return fmt.Errorf("marking jobs enqueued: %w", err)
	}
	return nil
}

// Job loads one job.
func (s *Store) Job(ctx context.Context, id int64) (core.Job, error) {
	return jobIn(ctx, s.pool, id)
}

func jobIn(ctx context.Context, q querier, id int64) (core.Job, error) {
	j, err := scanJob(q.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return core.Job{}, fmt.Errorf("job %d: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Job{}, fmt.Errorf("loading job %d: %w", id, err)
	}
	return j, nil
}

// StartJob counts an attempt on a job that is not finished.
func (s *Store) StartJob(ctx context.Context, id int64) (core.Job, error) {
	j, err := scanJob(s.jobs.QueryRow(ctx, `UPDATE jobs SET attempts = attempts + 1 WHERE id = $1 AND state NOT IN ($2, $3) RETURNING `+jobColumns,
		id, string(core.JobDone), string(core.JobFailed)))
	if err == nil {
		return j, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return core.Job{}, fmt.Errorf("starting job %d: %w", id, err)
	}
	// Finished or missing; finished jobs do not come back to life, so
	// this second read cannot contradict the update.
	j, err = jobIn(ctx, s.pool, id)
	if err != nil {
		return core.Job{}, err
	}
	return j, fmt.Errorf("job %d is %s: %w", id, j.State, core.ErrJobDone)
}

// CompleteJob marks a job done and inserts its children, once: the
// conditional update is the compare-and-set, and a concurrent caller
// blocks on the row lock, then finds the job done.
func (s *Store) CompleteJob(ctx context.Context, id int64, children []core.Job, at time.Time) error {
	// One statement, so one round trip and an implicit transaction: the
	// children are inserted only if this call completed the job. Without
	// children (every push job) a plain UPDATE, cheaper to plan and run
	// than the CTE with an empty insert.
	var n int64
	if len(children) == 0 {
		tag, err := s.jobs.Exec(ctx, completeJobNoChildrenSQL, sqlstore.TruncTime(at), id)
		if err != nil {
			return fmt.Errorf("completing job %d: %w", id, err)
		}
		n = tag.RowsAffected()
	} else {
		c := jobColumnsOf(children, at)
		var kinds, keys []string
		var ids []int64
		err := s.jobs.QueryRow(ctx, completeJobSQL, c.workspaces, c.kinds, c.keys, c.payloads, c.states, c.created, sqlstore.TruncTime(at), id, c.attempts).
			Scan(&n, &kinds, &keys, &ids)
		if err != nil {
			return fmt.Errorf("completing job %d with %d children: %w", id, len(children), err)
		}
		setChildIDs(children, kinds, keys, ids)
	}
	if n == 0 {
		return s.notCompleted(ctx, id)
	}
	return nil
}

// notCompleted says why a completion of job id changed nothing: it is
// missing (ErrNotFound) or finished already (ErrJobDone).
func (s *Store) notCompleted(ctx context.Context, id int64) error {
	if _, err := jobIn(ctx, s.jobs, id); err != nil {
		return err
	}
	return fmt.Errorf("job %d: %w", id, core.ErrJobDone)
}

// setChildIDs sets the ID of each child the insert returned (by kind and
// key, unique among a job's children).
func setChildIDs(children []core.Job, kinds, keys []string, ids []int64) {
	for i := range ids {
		for c := range children {
			if children[c].Kind == kinds[i] && children[c].Key == keys[i] {
				children[c].ID = ids[i]
				break
			}
		}
	}
}

// jobArrays are jobs as the column arrays of an unnest insert.
type jobArrays struct {
	workspaces, kinds, keys, states []string
	payloads                        [][]byte
	created                         []time.Time
	attempts                        []int32
}

func jobColumnsOf(jobs []core.Job, at time.Time) jobArrays {
	n := len(jobs)
	c := jobArrays{workspaces: make([]string, n), kinds: make([]string, n), keys: make([]string, n), states: make([]string, n),
		payloads: make([][]byte, n), created: make([]time.Time, n), attempts: make([]int32, n)}
	for i, j := range jobs {
		if j.State == "" {
			j.State = core.JobPending
		}
		if j.CreatedAt.IsZero() {
			j.CreatedAt = at
		}
		c.workspaces[i], c.kinds[i], c.keys[i], c.states[i] = j.WorkspaceID, j.Kind, j.Key, string(j.State)
		c.payloads[i] = j.Payload
		c.created[i] = sqlstore.TruncTime(j.CreatedAt)
		c.attempts[i] = int32(j.Attempts)
	}
	return c
}

// completeJobNoChildrenSQL completes job $2 at $1.
const completeJobNoChildrenSQL = `UPDATE jobs SET state = 'done', done_at = $1 WHERE id = $2 AND state NOT IN ('done', 'failed')`

// completeJobSQL completes job $8 at $7 and inserts its children ($1–$6
// and $9, see jobArrays; a claimed one enqueued as of $7) if it did,
// skipping any whose kind and key exist; it returns how many jobs it
// completed (0 or 1) and the kinds, keys and IDs of the children it
// inserted.
const completeJobSQL = `WITH done AS (
		UPDATE jobs SET state = 'done', done_at = $7 WHERE id = $8 AND state NOT IN ('done', 'failed') RETURNING id
	), children AS (
		INSERT INTO jobs (workspace_id, kind, key, payload, state, attempts, created_at, enqueued_at)
		SELECT w, k, key, p, s, a, c, CASE WHEN s = 'enqueued' THEN $7::timestamptz END
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::timestamptz[], $9::int[]) AS u(w, k, key, p, s, c, a)
		WHERE EXISTS (SELECT 1 FROM done)
		ON CONFLICT (kind, key) DO NOTHING
		RETURNING id, kind, key
	)
	SELECT d.n, coalesce(c.kinds, '{}'), coalesce(c.keys, '{}'), coalesce(c.ids, '{}')
	FROM (SELECT count(*) AS n FROM done) d,
		(SELECT array_agg(kind) AS kinds, array_agg(key) AS keys, array_agg(id) AS ids FROM children) c`

// FailJob records a failed attempt; final makes the job failed. A job
// already done is left alone.
func (s *Store) FailJob(ctx context.Context, id int64, msg string, final bool, at time.Time) error {
	var tag interface{ RowsAffected() int64 }
	var err error
	if final {
		tag, err = s.jobs.Exec(ctx, `UPDATE jobs SET last_error = $1, state = $2, done_at = $3 WHERE id = $4 AND state <> $5`,
			msg, string(core.JobFailed), sqlstore.TruncTime(at), id, string(core.JobDone))
	} else {
		tag, err = s.jobs.Exec(ctx, `UPDATE jobs SET last_error = $1 WHERE id = $2 AND state <> $3`, msg, id, string(core.JobDone))
	}
	if err != nil {
		return fmt.Errorf("failing job %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := jobIn(ctx, s.pool, id); err != nil {
			return err
		}
	}
	return nil
}

// CreateJobs inserts pending jobs in one statement, skipping any whose
// kind and key exist, and returns how many were new.
func (s *Store) CreateJobs(ctx context.Context, jobs []core.Job) (int, error) {
	if len(jobs) == 0 {
		return 0, nil
	}
	at := time.Now()
	n := len(jobs)
	workspaces, kinds, keys, states := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	payloads := make([][]byte, n)
	created := make([]time.Time, n)
	for i, j := range jobs {
		workspaces[i], kinds[i], keys[i], states[i] = j.WorkspaceID, j.Kind, j.Key, string(core.JobPending)
		if j.Payload != nil {
			payloads[i] = j.Payload
		}
		if j.CreatedAt.IsZero() {
			j.CreatedAt = at
		}
		created[i] = sqlstore.TruncTime(j.CreatedAt)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO jobs (workspace_id, kind, key, payload, state, created_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::timestamptz[])
		ON CONFLICT (kind, key) DO NOTHING`, workspaces, kinds, keys, payloads, states, created)
	if badText(err) {
		return 0, core.Invalid("job", "contains characters that cannot be stored")
	}
	if err != nil {
		return 0, fmt.Errorf("inserting jobs: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
