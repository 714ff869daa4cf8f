package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Group commit: every write goes through the one writer connection
// anyway, so concurrent writes queue for it. The writer takes whatever
// has queued meanwhile and runs it in one transaction, each write in a
// savepoint of its own: one commit, and one copy in the WAL of the pages
// several writes dirty (the jobs table's last page, its indexes), instead
// of one per write. Under load a trigger makes about ten small writes;
// their commits were the writer's largest cost.
//
// A write that fails rolls back to its savepoint and fails alone; a
// commit that fails fails every write of the group, none of which is
// then durable. A write returns once the transaction holding it has
// committed. A lone write runs as before, without a savepoint.

// maxGroup bounds the writes one transaction holds.
const maxGroup = 64

type groupWrite struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error
}

type txGroup struct {
	writer *sql.DB
	calls  chan *groupWrite
	stop   chan struct{}
	wg     sync.WaitGroup

	closeOnce sync.Once

	// For tests: writes waiting for the writer, and commits made.
	mu      sync.Mutex
	waiting int
	commits atomic.Int64
}

func startGroup(writer *sql.DB) *txGroup {
	g := &txGroup{writer: writer, calls: make(chan *groupWrite), stop: make(chan struct{})}
	g.wg.Go(g.run)
	return g
}

// close stops the writer after the writes under way; again, nothing.
func (g *txGroup) close() {
	g.closeOnce.Do(func() { close(g.stop) })
	g.wg.Wait()
}

func (g *txGroup) do(ctx context.Context, fn func(tx *sql.Tx) error) error {
	w := &groupWrite{ctx: ctx, fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.waiting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
	}()
	select {
	case g.calls <- w:
	case <-ctx.Done():
		return fmt.Errorf("beginning transaction: %w", ctx.Err())
	case <-g.stop:
		return fmt.Errorf("beginning transaction: %w", sql.ErrConnDone)
	}
	return <-w.done
}

func (g *txGroup) run() {
	batch := make([]*groupWrite, 0, maxGroup)
	for {
		select {
		case w := <-g.calls:
			batch = append(batch[:0], w)
		case <-g.stop:
			return
		}
	more:
		for len(batch) < maxGroup {
			select {
			case w := <-g.calls:
				batch = append(batch, w)
			default:
				break more
			}
		}
		g.commit(batch)
	}
}

// commit runs batch in one transaction and tells each write its outcome.
func (g *txGroup) commit(batch []*groupWrite) {
	live := batch[:0:0]
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.done <- fmt.Errorf("beginning transaction: %w", err)
			continue
		}
		live = append(live, w)
	}
	if len(live) == 0 {
		return
	}
	// The group's transaction outlives any one caller's context: a
	// cancelled statement would interrupt, and roll back, everyone's.
	ctx := context.WithoutCancel(live[0].ctx)
	tx, err := g.writer.BeginTx(ctx, nil)
	if err != nil {
		for _, w := range live {
			w.done <- fmt.Errorf("beginning transaction: %w", err)
		}
		return
	}
	errs := make([]error, len(live))
	gone := false
	for i, w := range live {
		if len(live) == 1 {
			// A lone write needs no savepoint: if it fails, the whole
			// transaction is rolled back.
			errs[i] = w.fn(tx)
			break
		}
		if gone, errs[i] = savepoint(ctx, tx, w.fn); gone {
			// SQLite rolled the whole transaction back (an I/O error, a
			// full disk): nothing of the group stands, and what follows
			// must not run outside a transaction.
			for j := range live {
				if j != i && (j > i || errs[j] == nil) {
					errs[j] = fmt.Errorf("the shared transaction was rolled back: %w", errs[i])
				}
			}
			break
		}
	}
	if gone || !slices.Contains(errs, nil) {
		_ = tx.Rollback() // nothing to keep
	} else if err := tx.Commit(); err == nil {
		g.commits.Add(1)
	} else {
		err = fmt.Errorf("committing transaction: %w", err)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	for i, w := range live {
		w.done <- errs[i]
	}
}

// savepoint runs fn in a savepoint of tx, undoing what it did if it
// fails. gone reports that the transaction itself no longer exists.
func savepoint(ctx context.Context, tx *sql.Tx, fn func(tx *sql.Tx) error) (gone bool, err error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
		return true, fmt.Errorf("beginning savepoint: %w", err)
	}
	if err := fn(tx); err != nil {
		// Rolling back to a savepoint fails only when SQLite has already
		// rolled the transaction back, savepoint and all.
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
			return true, err
		}
		if _, rerr := tx.ExecContext(ctx, "RELEASE w"); rerr != nil {
			return true, err
		}
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
		return true, fmt.Errorf("releasing savepoint: %w", err)
	}
	return false, nil
}
