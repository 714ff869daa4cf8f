// Package postgres is the production store: every core store port on
// PostgreSQL through pgx and pgxpool. Pass changes, their events and the
// events' dispatch jobs commit in one transaction; driver errors are
// translated into core's domain errors here and nowhere else.
package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options tune the connection pool. Zero values take the defaults.
type Options struct {
	// MaxConns bounds the pool (default 10).
	MaxConns int32
	// MinConns are kept open even when idle (default 0).
	MinConns int32
	// MaxConnLifetime recycles connections (default 1h).
	MaxConnLifetime time.Duration
	// MaxConnIdleTime closes idle connections (default 30m).
	MaxConnIdleTime time.Duration
	// Migrate applies pending migrations before the pool opens.
	Migrate bool
}

// Defaults for Options.
const (
	DefaultMaxConns        = 10
	DefaultMaxConnLifetime = time.Hour
	DefaultMaxConnIdleTime = 30 * time.Minute
)

func (o Options) withDefaults() Options {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxConnLifetime <= 0 {
		o.MaxConnLifetime = DefaultMaxConnLifetime
	}
	if o.MaxConnIdleTime <= 0 {
		o.MaxConnIdleTime = DefaultMaxConnIdleTime
	}
	return o
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.MinConns < 0 || o.MaxConns < 0 {
		return fmt.Errorf("postgres options: connection counts must not be negative")
	}
	if o.MaxConns > 0 && o.MinConns > o.MaxConns {
		return fmt.Errorf("postgres options: MinConns %d exceeds MaxConns %d", o.MinConns, o.MaxConns)
	}
	return nil
}

// acceptFlushes is how many merged AcceptTriggers transactions run at
// once. One keeps batches largest; two let a batch execute while the
// previous one waits for its commit to reach disk, and keep webhooks
// flowing while one batch waits on a row lock (another instance inserting
// the same dedupe key).
const acceptFlushes = 2

// Store is the PostgreSQL store.
type Store struct {
	pool *pgxpool.Pool
	// jobs runs the outbox's bookkeeping (a job started, done, failed,
	// handed to the queue; a push's tags and logs) with generic plans
	// and synchronous_commit off: the commit returns before its WAL
	// reaches disk. A crash of the server can lose the last fraction of
	// a second of these — work then runs again, which the outbox allows
	// (at least once, each job idempotent) — and nothing else: triggers,
	// pass changes and their events commit synchronously on pool, and
	// WAL is flushed in order, so a durable pass change is never behind
	// a lost record of its job. The workers then wait for a disk flush
	// at each pass change, not at every step.
	jobs *pgxpool.Pool
	// accept merges concurrent AcceptTriggers calls into shared
	// transactions.
	accept *sqlstore.Batcher[core.Trigger, core.Accepted]
}

var (
	_ core.Store            = (*Store)(nil)
	_ core.JobStore         = (*Store)(nil)
	_ core.IdempotencyStore = (*Store)(nil)
	_ core.Pinger           = (*Store)(nil)
)

// Open connects a pool to dsn. It migrates only when opts.Migrate is set:
// in production the migrate command (or one designated instance) owns
// the schema.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing postgres DSN: %w", err)
	}
	// The URL's pool_max_conns / pool_min_conns, when given, size the
	// pool: how an operator matches it to the server and the workers.
	if !strings.Contains(dsn, "pool_max_conns=") {
		cfg.MaxConns = opts.MaxConns
	}
	if !strings.Contains(dsn, "pool_min_conns=") {
		cfg.MinConns = opts.MinConns
	}
	cfg.MaxConnLifetime = opts.MaxConnLifetime
	cfg.MaxConnIdleTime = opts.MaxConnIdleTime
	if opts.Migrate {
		if err := Migrate(ctx, dsn); err != nil {
			return nil, err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening postgres pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	jobsCfg := cfg.Copy()
	jobsCfg.MinConns = 0
	jobsCfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	// Every statement on this pool finds its rows by key (a job's ID or
	// kind and key, a pass's registrations), so the generic plan is the
	// custom one: planning each execution again was a fifth of the
	// server's CPU per trigger (perf, 200 triggers/s).
	jobsCfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	jobs, err := pgxpool.NewWithConfig(ctx, jobsCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening postgres pool: %w", err)
	}
	s := &Store{pool: pool, jobs: jobs}
	s.accept = &sqlstore.Batcher[core.Trigger, core.Accepted]{Flush: s.acceptTriggers, MaxFlushes: acceptFlushes}
	return s, nil
}

// Close closes the pools, waiting for connections in use.
func (s *Store) Close() {
	s.jobs.Close()
	s.pool.Close()
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pinging postgres: %w", err)
	}
	return nil
}

// migrations lists the embedded migration files in version order.
func migrations() ([]sqlstore.Migration, error) { return sqlstore.Migrations(migrationFiles) }

// MigrationsHash identifies the embedded migrations: it changes whenever
// a migration is added or edited (pgtest names template databases by it).
func MigrationsHash() string {
	ms, err := migrations()
	h := sha256.New()
	if err != nil {
		h.Write([]byte(err.Error()))
	}
	for _, m := range ms {
		fmt.Fprintf(h, "%d\x00%s\x00%s\x00", m.Version, m.Name, m.SQL)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// migrationLockKey is the pg_advisory_lock key that serialises migrations
// of one database ("passhub" in ASCII).
const migrationLockKey = 0x70617373687562

// Migrate applies the embedded migrations not yet recorded in
// schema_migrations, each in its own transaction. An advisory lock makes
// concurrent starts wait for each other instead of racing.
func Migrate(ctx context.Context, dsn string) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	// Parsed as the pool parses it, so the URL's pool_* settings are not
	// sent to the server as run-time parameters (it refuses them).
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("parsing postgres DSN: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return fmt.Errorf("connecting to postgres to migrate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLockKey)); err != nil {
		return fmt.Errorf("taking migration lock: %w", err)
	}
	// Closing the session releases the lock too; unlock early anyway so a
	// pooled connection would not keep it.
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLockKey))
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	for _, v := range versions {
		applied[int(v)] = true
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("recording migration %s: %w", m.Name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in a transaction and returns fn's error as it is, so
// callers can match it with errors.Is and errors.As.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return inTxOn(ctx, s.pool, fn)
}

func inTxOn(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// PostgreSQL error codes the store translates.
const (
	codeUniqueViolation           = "23505"
	codeForeignKeyViolation       = "23503"
	codeUntranslatableCharacter   = "22P05"
	codeInvalidTextRepresentation = "22P02"
	codeCharacterNotInRepertoire  = "22021"
)

// constraintViolation returns the name of the violated constraint when err
// is a PostgreSQL error with code.
func constraintViolation(err error, code string) (string, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == code {
		return pe.ConstraintName, true
	}
	return "", false
}

// badText reports values PostgreSQL refuses to store as text or jsonb
// (NUL characters, invalid UTF-8): the client's input, not our failure.
func badText(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case codeUntranslatableCharacter, codeInvalidTextRepresentation, codeCharacterNotInRepertoire:
		return true
	}
	return false
}

// utc converts a timestamptz read back (pgx gives local time) to UTC.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}
