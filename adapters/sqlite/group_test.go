package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// groupEnv is a store with a scratch table, and a way to hold the writer
// busy so that the writes sent meanwhile share one transaction.
type groupEnv struct {
	s       *Store
	release chan struct{}
}

func newGroupEnv(t *testing.T) *groupEnv {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.writer.ExecContext(t.Context(), `CREATE TABLE scratch (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return &groupEnv{s: s, release: make(chan struct{})}
}

// hold occupies the writer until release is closed.
func (e *groupEnv) hold(t *testing.T) <-chan error {
	held, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- e.s.inTx(context.Background(), func(tx *sql.Tx) error {
			close(held)
			<-e.release
			return nil
		})
	}()
	<-held
	return done
}

// queued sends n writes while the writer is held, then releases it:
// write i inserts row i and then fails if fail(i).
func (e *groupEnv) queued(t *testing.T, n int, write func(i int, tx *sql.Tx) error) []error {
	t.Helper()
	holder := e.hold(t)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = e.s.inTx(context.Background(), func(tx *sql.Tx) error { return write(i, tx) }) })
	}
	// Every write is waiting for the writer before it is let go.
	for e.waiting() < n {
		time.Sleep(time.Millisecond)
	}
	close(e.release)
	wg.Wait()
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	return errs
}

func (e *groupEnv) waiting() int {
	e.s.group.mu.Lock()
	defer e.s.group.mu.Unlock()
	return e.s.group.waiting
}

func (e *groupEnv) rows(t *testing.T) map[int]bool {
	t.Helper()
	rows, err := e.s.reader.QueryContext(t.Context(), `SELECT n FROM scratch`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[n] = true
	}
	return out
}

func insert(i int, tx *sql.Tx) error {
	_, err := tx.Exec(`INSERT INTO scratch (n) VALUES (?)`, i)
	return err
}

func TestGroupedWritesFailAlone(t *testing.T) {
	e := newGroupEnv(t)
	before := e.s.group.commits.Load()
	refused := errors.New("refused")
	errs := e.queued(t, 20, func(i int, tx *sql.Tx) error {
		if err := insert(i, tx); err != nil {
			return err
		}
		if i%3 == 0 {
			return fmt.Errorf("write %d: %w", i, refused)
		}
		return nil
	})
	got := e.rows(t)
	for i, err := range errs {
		switch {
		case i%3 == 0 && !errors.Is(err, refused):
			t.Errorf("write %d: err = %v, want its own refusal", i, err)
		case i%3 == 0 && got[i]:
			t.Errorf("write %d failed but its row stayed", i)
		case i%3 != 0 && err != nil:
			t.Errorf("write %d: %v", i, err)
		case i%3 != 0 && !got[i]:
			t.Errorf("write %d succeeded but its row is missing", i)
		}
	}
	// The 20 writes queued behind the held one shared few commits.
	if n := e.s.group.commits.Load() - before; n > 3 {
		t.Errorf("%d commits for the held write and 20 queued ones, want them grouped", n)
	}
}

func TestAGroupWhoseTransactionIsGoneFailsWhole(t *testing.T) {
	e := newGroupEnv(t)
	errs := e.queued(t, 6, func(i int, tx *sql.Tx) error {
		if err := insert(i, tx); err != nil {
			return err
		}
		if i == 3 {
			// As SQLite does on an I/O error or a full disk.
			if _, err := tx.Exec(`ROLLBACK`); err != nil {
				return err
			}
			return errors.New("disk I/O error")
		}
		return nil
	})
	for i, err := range errs {
		if err == nil {
			t.Errorf("write %d succeeded in a transaction that was rolled back", i)
		}
	}
	if got := e.rows(t); len(got) != 0 {
		t.Errorf("rows %v stayed from a rolled-back group (or ran outside any transaction)", got)
	}
	// The writer goes on.
	if err := e.s.inTx(t.Context(), func(tx *sql.Tx) error { return insert(100, tx) }); err != nil {
		t.Fatalf("a write after the failed group: %v", err)
	}
	if !e.rows(t)[100] {
		t.Error("the write after the failed group did not stay")
	}
}

func TestGroupedWriteWithACancelledContextDoesNotRun(t *testing.T) {
	e := newGroupEnv(t)
	holder := e.hold(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.s.inTx(ctx, func(tx *sql.Tx) error { return insert(1, tx) }) }()
	for e.waiting() < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	close(e.release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the cancellation", err)
	}
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	if e.rows(t)[1] {
		t.Error("a write cancelled before its turn ran")
	}
}
