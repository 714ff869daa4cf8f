package sqlite

import (
	"path/filepath"
	"testing"
)

// The statement cache is invisible: the same text run again, run while
// a Rows of it is still open, scripts, and errors all behave as without
// it; and the statements are prepared once per connection.
func TestStatementCache(t *testing.T) {
	ctx := t.Context()
	db := openCaching(dsn(filepath.Join(t.TempDir(), "c.db"), true))
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// A script (several statements) runs unprepared.
	mustExec(`CREATE TABLE n (v INTEGER NOT NULL UNIQUE); CREATE TABLE m (v INTEGER);`)
	for i := range 5 {
		mustExec(`INSERT INTO n (v) VALUES (?)`, i)
	}
	// A constraint error leaves the cached statement usable.
	if _, err := db.ExecContext(ctx, `INSERT INTO n (v) VALUES (?)`, 1); err == nil {
		t.Fatal("duplicate insert succeeded")
	}
	mustExec(`INSERT INTO n (v) VALUES (?)`, 5)

	// The same query inside a loop over its own open Rows.
	const q = `SELECT v FROM n WHERE v >= ? ORDER BY v`
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	var outer, inner int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		outer++
		in, err := tx.QueryContext(ctx, q, v)
		if err != nil {
			t.Fatal(err)
		}
		for in.Next() {
			inner++
		}
		if err := in.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if outer != 6 || inner != 6+5+4+3+2+1 {
		t.Errorf("outer %d, inner %d rows; want 6 and 21", outer, inner)
	}
	// Released after Close: the next run reads the whole result again.
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM n WHERE v >= ?`, 2).Scan(&n); err != nil || n != 4 {
		t.Errorf("count = %d, %v; want 4", n, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM n WHERE v >= ?`, 0).Scan(&n); err != nil || n != 6 {
		t.Errorf("count = %d, %v; want 6", n, err)
	}

	// Prepared once: the connection's cache holds each text once.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Raw(func(dc any) error {
		c := dc.(*cachingConn)
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, want := range []string{`INSERT INTO n (v) VALUES (?)`, q, `SELECT count(*) FROM n WHERE v >= ?`} {
			if cs, ok := c.stmts[want]; !ok || cs.busy {
				t.Errorf("statement %q cached %v, busy; want cached and idle", want, ok)
			}
		}
		if len(c.stmts) != 3 {
			t.Errorf("%d cached statements, want 3 (a script is not cached)", len(c.stmts))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
