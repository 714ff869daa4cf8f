// Package sqlite is the single-file store: every core store port on
// SQLite (modernc.org/sqlite, no cgo), for development, tests and small
// single-node installs.
//
// SQLite allows one writer at a time. Rather than let concurrent write
// transactions collide and fail with SQLITE_BUSY, the store funnels every
// write through one connection (transactions begin IMMEDIATE, so a
// read-then-write transaction holds the write lock from its first
// statement), and serves plain reads from a pool that WAL lets run
// alongside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite store.
type Store struct {
	// writer has exactly one connection: writes queue in Go, not in SQLite.
	writer *sql.DB
	// reader serves reads; it is writer itself for an in-memory database,
	// which exists per connection.
	reader *sql.DB
	// accept merges concurrent AcceptTriggers calls into shared
	// transactions.
	accept *sqlstore.Batcher[core.Trigger, core.Accepted]
	// group runs concurrent writes in shared transactions (group.go).
	group *txGroup
}

var (
	_ core.Store            = (*Store)(nil)
	_ core.JobStore         = (*Store)(nil)
	_ core.IdempotencyStore = (*Store)(nil)
	_ core.Pinger           = (*Store)(nil)
)

// Open opens (creating if needed) the database at path and brings its
// schema up to date. path ":memory:" is a private in-memory database.
func Open(ctx context.Context, path string) (*Store, error) {
	memory := path == ":memory:" || strings.HasPrefix(path, "file::memory:")
	writer := openCaching(dsn(path, true))
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("opening sqlite database %s: %w", path, err)
	}
	s := &Store{writer: writer, reader: writer, group: startGroup(writer)}
	s.accept = &sqlstore.Batcher[core.Trigger, core.Accepted]{Flush: s.acceptTriggers, MaxFlushes: 1}
	if err := s.migrate(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if !memory {
		reader := openCaching(dsn(path, false))
		reader.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
		reader.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
		if err := reader.PingContext(ctx); err != nil {
			reader.Close()
			_ = s.Close()
			return nil, fmt.Errorf("opening sqlite reader %s: %w", path, err)
		}
		s.reader = reader
	}
	return s, nil
}

func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Statement journals and sorts in memory, not in temporary files.
	q.Add("_pragma", "temp_store(MEMORY)")
	if writer {
		q.Set("_txlock", "immediate")
		// Every write runs on this one connection: a page cache of
		// 64 MiB (SQLite's default is 2 MiB) keeps the pages large
		// batches of writes read and dirty in memory, rather than
		// re-reading them from the file and spilling them to the WAL
		// mid-transaction. The cache grows only as pages are used.
		q.Add("_pragma", "cache_size(-65536)")
	} else {
		// A read connection that tried to write would contend with the
		// writer; make that a loud error instead.
		q.Add("_pragma", "query_only(1)")
	}
	if strings.HasPrefix(path, "file:") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		return path + sep + q.Encode()
	}
	return "file:" + path + "?" + q.Encode()
}

// Close closes the database.
func (s *Store) Close() error {
	s.group.close()
	var errs []error
	if s.reader != s.writer {
		errs = append(errs, s.reader.Close())
	}
	errs = append(errs, s.writer.Close())
	return errors.Join(errs...)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging sqlite: %w", err)
	}
	return nil
}

// migrations lists the embedded migration files in version order.
func migrations() ([]sqlstore.Migration, error) { return sqlstore.Migrations(migrationFiles) }

// migrate applies the migrations not yet recorded in schema_migrations,
// each in its own immediate transaction, so two processes opening the
// same file do not apply one twice.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := s.inTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return fmt.Errorf("checking migration %s: %w", m.Name, err)
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, time.Now().UnixMicro()); err != nil {
				return fmt.Errorf("recording migration %s: %w", m.Name, err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in a write transaction on the single writer connection,
// shared with the writes queued at the same time (group.go). fn must use
// tx only, and not write through the store: the writer would wait for
// itself.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.group.do(ctx, fn)
}

// SQLite extended result codes the store translates.
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// uniqueViolation reports whether err is a unique (or primary key)
// violation and names the columns, as SQLite does: "table.col, ...".
func uniqueViolation(err error) (string, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return "", false
	}
	if se.Code() != sqliteConstraintUnique && se.Code() != sqliteConstraintPrimaryKey {
		return "", false
	}
	_, cols, _ := strings.Cut(se.Error(), "constraint failed: ")
	return cols, true
}

func foreignKeyViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqliteConstraintForeignKey
}

// Timestamps are stored as microseconds since the epoch; reading gives UTC.
func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// queryAll runs a read query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

type scanner interface {
	Scan(dest ...any) error
}
