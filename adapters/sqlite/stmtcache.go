package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"

	msqlite "modernc.org/sqlite"
)

// SQLite parses a statement each time database/sql hands the driver its
// text: under a trigger load a fifth of passhub's CPU went to parsing the
// same few dozen statements, much of it while holding the one writer
// connection. cachingConn keeps each connection's prepared statements by
// text and runs them again, as prepared statements in other stores are.

// maxCachedStmts bounds a connection's cache; statements built with a
// varying number of placeholders beyond it run unprepared.
const maxCachedStmts = 256

// cachingConnector opens modernc connections wrapped in cachingConn.
type cachingConnector struct {
	dsn string
	drv *msqlite.Driver
}

func (c cachingConnector) Connect(context.Context) (driver.Conn, error) {
	inner, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConn{inner: inner, stmts: map[string]*cachedStmt{}}, nil
}

func (c cachingConnector) Driver() driver.Driver { return c.drv }

// openCaching is sql.Open("sqlite", dsn) with statement caching.
func openCaching(dsn string) *sql.DB {
	return sql.OpenDB(cachingConnector{dsn: dsn, drv: &msqlite.Driver{}})
}

// innerConn is what database/sql uses of a modernc connection.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type cachingConn struct {
	inner driver.Conn
	// database/sql uses a connection from one goroutine at a time, but a
	// Rows it returned may be closed from another.
	mu    sync.Mutex
	stmts map[string]*cachedStmt
}

// cachedStmt is a prepared statement; busy while a Rows reads from it.
type cachedStmt struct {
	st   driver.Stmt
	busy bool
}

var (
	_ driver.ExecerContext  = (*cachingConn)(nil)
	_ driver.QueryerContext = (*cachingConn)(nil)
)

func (c *cachingConn) in() (innerConn, error) {
	ic, ok := c.inner.(innerConn)
	if !ok {
		return nil, errors.New("sqlite: the driver's connection lacks a context method")
	}
	return ic, nil
}

// cacheable: one statement, nothing after it (a script runs unprepared).
func cacheable(query string) bool {
	q := strings.TrimSpace(query)
	return !strings.Contains(strings.TrimSuffix(q, ";"), ";")
}

// take returns the idle prepared statement for query, preparing it when
// there is none; nil when it cannot be cached (then run unprepared).
func (c *cachingConn) take(ctx context.Context, query string, forRows bool) (*cachedStmt, error) {
	if !cacheable(query) {
		return nil, nil
	}
	c.mu.Lock()
	cs, ok := c.stmts[query]
	if ok && !cs.busy {
		cs.busy = forRows
		c.mu.Unlock()
		return cs, nil
	}
	full := len(c.stmts) >= maxCachedStmts
	c.mu.Unlock()
	if ok || full {
		return nil, nil // in use by an open Rows, or no room: unprepared
	}
	ic, err := c.in()
	if err != nil {
		return nil, err
	}
	st, err := ic.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	cs = &cachedStmt{st: st, busy: forRows}
	c.mu.Lock()
	c.stmts[query] = cs
	c.mu.Unlock()
	return cs, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ic, err := c.in()
	if err != nil {
		return nil, err
	}
	cs, err := c.take(ctx, query, false)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return ic.ExecContext(ctx, query, args)
	}
	return cs.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	ic, err := c.in()
	if err != nil {
		return nil, err
	}
	cs, err := c.take(ctx, query, true)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return ic.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.release(cs)
		return nil, err
	}
	return &cachedRows{Rows: rows, release: func() { c.release(cs) }}, nil
}

func (c *cachingConn) release(cs *cachedStmt) {
	c.mu.Lock()
	cs.busy = false
	c.mu.Unlock()
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	ic, err := c.in()
	if err != nil {
		return nil, err
	}
	return ic.PrepareContext(ctx, query)
}

func (c *cachingConn) Begin() (driver.Tx, error) { return c.inner.Begin() } //nolint:staticcheck // driver.Conn requires it

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	ic, err := c.in()
	if err != nil {
		return nil, err
	}
	return ic.BeginTx(ctx, opts)
}

func (c *cachingConn) Ping(ctx context.Context) error {
	ic, err := c.in()
	if err != nil {
		return err
	}
	return ic.Ping(ctx)
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	ic, err := c.in()
	if err != nil {
		return err
	}
	return ic.ResetSession(ctx)
}

func (c *cachingConn) IsValid() bool {
	ic, err := c.in()
	return err == nil && ic.IsValid()
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	c.mu.Lock()
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.st.Close())
		delete(c.stmts, q)
	}
	c.mu.Unlock()
	errs = append(errs, c.inner.Close())
	return errors.Join(errs...)
}

// cachedRows gives its statement back when closed.
type cachedRows struct {
	driver.Rows
	once    sync.Once
	release func()
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.release)
	return err
}
