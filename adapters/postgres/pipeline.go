package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

// writes are statements sent in one round trip (a pgx batch), each with
// what its failure means. The server runs them in order and stops at the
// first that fails.
type writes struct {
	b     pgx.Batch
	stmts []write
}

// write is what a queued statement's outcome means.
type write struct {
	fail func(error) error
	// read, where set, reads the statement's one row (pgx.ErrNoRows when
	// it returned none) instead of its command tag.
	read func(pgx.Row) error
}

func (w *writes) add(fail func(error) error, sql string, args ...any) {
	w.addRow(fail, nil, sql, args...)
}

// addRow queues a statement whose row read reads.
func (w *writes) addRow(fail func(error) error, read func(pgx.Row) error, sql string, args ...any) {
	w.b.Queue(sql, args...)
	w.stmts = append(w.stmts, write{fail: fail, read: read})
}

// batchSender is a transaction or a connection.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// send runs the writes and returns the last one's command tag.
func (w *writes) send(ctx context.Context, to batchSender) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	if len(w.stmts) == 0 {
		return tag, nil
	}
	br := to.SendBatch(ctx, &w.b)
	for _, st := range w.stmts {
		var err error
		if st.read != nil {
			tag = pgconn.CommandTag{}
			err = st.read(br.QueryRow())
		} else {
			tag, err = br.Exec()
		}
		if err != nil {
			_ = br.Close()
			return tag, st.fail(err)
		}
	}
	return tag, br.Close()
}

// queueEvents queues events and one dispatch job for each (claimed when
// ctx chains, see core.DispatchJob).
func queueEvents(ctx context.Context, w *writes, events []core.Event) error {
	for _, ev := range events {
		data, err := json.Marshal(sqlstore.NormEventData(ev.Data))
		if err != nil {
			return fmt.Errorf("encoding event %s: %w", ev.ID, err)
		}
		w.add(func(err error) error {
			if badText(err) {
				return core.Invalid("data", "contains characters that cannot be stored (such as NUL)")
			}
			return fmt.Errorf("inserting event %s: %w", ev.ID, err)
		}, `INSERT INTO events (id, workspace_id, pass_id, type, occurred_at, data) VALUES ($1, $2, $3, $4, $5, $6)`,
			ev.ID, ev.WorkspaceID, ev.Data.PassID, string(ev.Type), sqlstore.TruncTime(ev.OccurredAt), json.RawMessage(data))
		j := core.DispatchJob(ctx, ev)
		// A single-row VALUES insert: on the main pool statements may be
		// planned per execution, and an unnest insert costs more to plan.
		// A claimed job is enqueued as of its event and started, and its
		// ID goes to the chain that runs it (a sequence never hands a
		// rolled-back insert's ID out again).
		if j.State == core.JobEnqueued {
			j.Attempts = 1
		}
		w.addRow(func(err error) error { return fmt.Errorf("inserting %s job %s: %w", j.Kind, j.Key, err) }, func(row pgx.Row) error {
			var id int64
			err := row.Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // a job of its kind and key exists
			}
			if err == nil && j.State == core.JobEnqueued {
				core.JobInserted(ctx, j.Kind, j.Key, id)
			}
			return err
		}, `INSERT INTO jobs (workspace_id, kind, key, state, attempts, created_at, enqueued_at)
			VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $4 = 'enqueued' THEN $6::timestamptz END) ON CONFLICT (kind, key) DO NOTHING
			RETURNING id`,
			j.WorkspaceID, j.Kind, j.Key, string(j.State), j.Attempts, sqlstore.TruncTime(j.CreatedAt))
	}
	return nil
}

// lockedChange is a transaction of two round trips on a connection of
// pool: BEGIN with query, a locking read of one row that scan reads,
// then the writes write queues for what it found, with COMMIT. A pgx
// transaction takes a round trip for each of BEGIN, the read, every
// write and COMMIT: six for a pass update with its event and dispatch
// job.
//
// No writes roll the transaction back (nothing changed). Any failure
// rolls back; a connection left in a transaction is not reused (the
// pool destroys it).
func lockedChange(ctx context.Context, pool *pgxpool.Pool, scan func(pgx.Row) error, write func(w *writes) error, query string, args ...any) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquiring a connection: %w", err)
	}
	defer conn.Release()
	var b pgx.Batch
	b.Queue("BEGIN")
	b.Queue(query, args...)
	br := conn.SendBatch(ctx, &b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		rollback(ctx, conn)
		return fmt.Errorf("beginning transaction: %w", err)
	}
	err = scan(br.QueryRow())
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("reading: %w", cerr)
	}
	if err != nil {
		rollback(ctx, conn)
		return err
	}
	var w writes
	if err := write(&w); err != nil {
		rollback(ctx, conn)
		return err
	}
	if len(w.stmts) == 0 {
		rollback(ctx, conn)
		return nil
	}
	w.add(func(err error) error { return fmt.Errorf("committing transaction: %w", err) }, "COMMIT")
	tag, err := w.send(ctx, conn)
	if err != nil {
		rollback(ctx, conn)
		return err
	}
	// COMMIT of a transaction that failed answers ROLLBACK.
	if tag.String() != "COMMIT" {
		return errors.New("committing transaction: rolled back")
	}
	return nil
}

// rollback ends a transaction lockedChange began, even after ctx ended.
func rollback(ctx context.Context, conn *pgxpool.Conn) {
	_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
}
