package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the embedded store's file, read by the harness
)

// Stores a passhub under load can run on (-store).
const (
	// storePostgres is PostgreSQL and Redis, each on the given server.
	storePostgres = "postgres"
	// storeSQLite is the embedded default: SQLite in the data dir and an
	// in-process Redis, as when PASSHUB_DATABASE_URL and
	// PASSHUB_REDIS_URL are empty.
	storeSQLite = "sqlite"
)

// hubOptions says how to start the passhub under load.
type hubOptions struct {
	Binary string // passhub executable
	// Store is storePostgres (also when empty) or storeSQLite; the two
	// URLs below are for PostgreSQL only.
	Store             string
	PostgresURL       string // admin DSN of the server; a fresh database is made on it
	RedisURL          string // server; a free database number is claimed on it
	Mode              string // serve (API and workers, as deployed) or api (intake only)
	WorkerConcurrency int    // 0 keeps passhub's default
	PGPool            int    // PostgreSQL pool_max_conns of the passhub; 0 keeps its default
	LogLevel          string
	// Env is more PASSHUB_* settings; a name given here wins over the
	// defaults above (a scenario's local APNs mock, say).
	Env []string
}

// hub is one running passhub on its own PostgreSQL database and Redis
// database, both removed by close, or on the embedded store in its own
// data dir.
type hub struct {
	Base     string // http://127.0.0.1:port
	AdminKey string
	// DB is the passhub database on PostgreSQL, for scenarios that only
	// run there; nil on SQLite. What every store answers goes through
	// storeReader.
	DB *pgxpool.Pool
	storeReader

	cmd     *exec.Cmd
	exited  chan error
	dir     string
	logPath string
	cleanup []func()
}

// startHub makes a database and a Redis database, starts passhub on them
// and waits until /readyz answers 200. On error everything made so far is
// removed.
func startHub(ctx context.Context, o hubOptions) (h *hub, err error) {
	h = &hub{}
	defer func() {
		if err != nil {
			if tail := h.logTail(); tail != "" {
				err = fmt.Errorf("%w\npasshub log (last lines):\n%s", err, tail)
			}
			h.close()
			h = nil
		}
	}()
	if h.dir, err = os.MkdirTemp("", "passhub-load"); err != nil {
		return h, fmt.Errorf("making a data dir: %w", err)
	}
	h.cleanup = append(h.cleanup, func() { _ = os.RemoveAll(h.dir) })

	addr, err := freeAddr()
	if err != nil {
		return h, err
	}
	h.Base = "http://" + addr
	h.AdminKey = "phk_load_" + randomHex(12)
	dataDir := filepath.Join(h.dir, "data")
	env := []string{
		"PASSHUB_ADDR=" + addr,
		"PASSHUB_DATA_DIR=" + dataDir,
		"PASSHUB_MASTER_KEY=" + base64.StdEncoding.EncodeToString(randomBytes(32)),
		"PASSHUB_BOOTSTRAP_KEY=" + h.AdminKey,
		"PASSHUB_LOG_LEVEL=" + o.LogLevel,
		// Nothing under load may leave the machine: the providers point at
		// a closed loopback port unless Env points APNs at the harness's
		// own mock (no pass here has a Google class).
		"PASSHUB_APNS_URL=https://127.0.0.1:9",
		"PASSHUB_GOOGLE_API_URL=http://127.0.0.1:9/",
		"PASSHUB_GOOGLE_KEYS_URL=http://127.0.0.1:9/keys",
	}
	if o.WorkerConcurrency > 0 {
		env = append(env, "PASSHUB_WORKER_CONCURRENCY="+strconv.Itoa(o.WorkerConcurrency))
	}
	var dsn string
	switch o.Store {
	case storeSQLite:
		// No database or Redis URL: passhub opens DATA_DIR/passhub.db and
		// runs its Redis in process.
	case storePostgres, "":
		var drop, release func()
		if dsn, drop, err = createDatabase(ctx, o.PostgresURL); err != nil {
			return h, err
		}
		h.cleanup = append(h.cleanup, drop)
		var redisURL string
		if redisURL, release, err = claimRedisDB(ctx, o.RedisURL); err != nil {
			return h, err
		}
		h.cleanup = append(h.cleanup, release)
		passhubDSN := dsn
		if o.PGPool > 0 {
			u, err := url.Parse(dsn)
			if err != nil {
				return h, fmt.Errorf("parsing the database URL: %w", err)
			}
			q := u.Query()
			q.Set("pool_max_conns", strconv.Itoa(o.PGPool))
			u.RawQuery = q.Encode()
			passhubDSN = u.String()
		}
		env = append(env, "PASSHUB_DATABASE_URL="+passhubDSN, "PASSHUB_REDIS_URL="+redisURL)
	default:
		return h, fmt.Errorf("unknown store %q", o.Store)
	}
	env = append(env, o.Env...) // exec keeps the last value of a repeated name
	h.logPath = filepath.Join(h.dir, "passhub.log")
	logf, err := os.Create(h.logPath)
	if err != nil {
		return h, fmt.Errorf("creating the passhub log: %w", err)
	}
	h.cleanup = append(h.cleanup, func() { _ = logf.Close() })
	h.cmd = exec.Command(o.Binary, o.Mode)
	h.cmd.Env = append(environWithout("PASSHUB_"), env...)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	if err := h.cmd.Start(); err != nil {
		return h, fmt.Errorf("starting %s: %w", o.Binary, err)
	}
	h.exited = make(chan error, 1)
	go func() { h.exited <- h.cmd.Wait() }()

	if err := h.waitReady(ctx, 60*time.Second); err != nil {
		return h, err
	}
	if o.Store == storeSQLite {
		db, err := openSQLiteReadOnly(filepath.Join(dataDir, "passhub.db"))
		if err != nil {
			return h, err
		}
		h.storeReader = newSQLiteReader(db)
		return h, nil
	}
	if h.DB, err = pgxpool.New(ctx, dsn); err != nil {
		return h, fmt.Errorf("connecting to the passhub database: %w", err)
	}
	h.storeReader = newPGReader(h.DB)
	return h, nil
}

var readyClient = &http.Client{Timeout: 2 * time.Second}

func (h *hub) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case err := <-h.exited:
			h.exited <- err
			return fmt.Errorf("passhub exited before it was ready: %v", err)
		default:
		}
		res, err := readyClient.Get(h.Base + "/readyz")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("passhub not ready after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Pid is the passhub process, for its CPU time.
func (h *hub) Pid() int { return h.cmd.Process.Pid }

// close stops passhub (SIGTERM, then kill after 30 s) and removes its
// databases and files, in reverse order of making.
func (h *hub) close() {
	if h.storeReader != nil {
		h.closeReader()
	} else if h.DB != nil {
		h.DB.Close()
	}
	if h.cmd != nil && h.cmd.Process != nil {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.exited:
		case <-time.After(30 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.exited
		}
	}
	for i := len(h.cleanup) - 1; i >= 0; i-- {
		h.cleanup[i]()
	}
}

// logTail is the end of passhub's log, for error messages.
func (h *hub) logTail() string {
	if h.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// api calls the admin API with a JSON body and decodes a JSON answer; a
// status other than want is an error carrying the body.
func (h *hub) api(ctx context.Context, method, path string, body any, want int) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.Base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.AdminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return out, nil
}

// createDatabase makes a fresh, empty database on the server at admin
// (passhub migrates it at start) and returns its DSN and how to drop it.
func createDatabase(ctx context.Context, admin string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to PostgreSQL at %s: %w", redactURL(admin), err)
	}
	defer conn.Close(context.Background())
	name := "passhub_load_" + randomHex(6)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "passhub-load: database %s left behind: %v\n", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			fmt.Fprintf(os.Stderr, "passhub-load: dropping database %s: %v\n", name, err)
		}
	}
	u, err := url.Parse(admin)
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("parsing the PostgreSQL URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// Redis databases are claimed with the keys adapters/queue/redistest uses
// (in database 0, set only if absent, expiring), so a load run and a test
// run on the same server never share a database.
const (
	redisFirstDB, redisLastDB = 1, 15
	redisClaimTTL             = 10 * time.Minute
)

func redisClaimKey(db int) string { return fmt.Sprintf("passhub:redistest:db:%d", db) }

var redisRelease = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// claimRedisDB claims a free database on the server at raw, flushes it and
// returns its URL and how to flush and release it. The claim is renewed
// while held.
func claimRedisDB(ctx context.Context, raw string) (string, func(), error) {
	base, err := redis.ParseURL(raw)
	if err != nil {
		return "", nil, fmt.Errorf("parsing the Redis URL: %w", err)
	}
	base.DB = 0
	admin := redis.NewClient(base)
	token := randomHex(8)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for db := redisFirstDB; db <= redisLastDB; db++ {
			key := redisClaimKey(db)
			ok, err := admin.SetNX(ctx, key, token, redisClaimTTL).Result()
			if err != nil {
				admin.Close()
				return "", nil, fmt.Errorf("claiming Redis database %d at %s: %w", db, base.Addr, err)
			}
			if !ok {
				continue
			}
			opt := *base
			opt.DB = db
			flush := func() error {
				c := redis.NewClient(&opt)
				defer c.Close()
				return c.FlushDB(context.Background()).Err()
			}
			if err := flush(); err != nil {
				admin.Close()
				return "", nil, fmt.Errorf("flushing Redis database %d: %w", db, err)
			}
			stop := make(chan struct{})
			go func() {
				t := time.NewTicker(redisClaimTTL / 4)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						_ = admin.Expire(context.Background(), key, redisClaimTTL).Err()
					}
				}
			}()
			release := func() {
				close(stop)
				if err := flush(); err != nil {
					fmt.Fprintf(os.Stderr, "passhub-load: flushing Redis database %d: %v\n", db, err)
				}
				_ = redisRelease.Run(context.Background(), admin, []string{key}, token).Err()
				admin.Close()
			}
			u := url.URL{Scheme: "redis", Host: base.Addr, Path: "/" + strconv.Itoa(db)}
			if base.TLSConfig != nil {
				u.Scheme = "rediss"
			}
			if base.Username != "" || base.Password != "" {
				u.User = url.UserPassword(base.Username, base.Password)
			}
			return u.String(), release, nil
		}
		if time.Now().After(deadline) {
			admin.Close()
			return "", nil, errors.New("every Redis database 1..15 stayed claimed for 2 minutes")
		}
		select {
		case <-ctx.Done():
			admin.Close()
			return "", nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// buildPasshub builds ./cmd/passhub (run from the module root) into dir.
func buildPasshub(dir string) (string, error) {
	bin := filepath.Join(dir, "passhub")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/passhub")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/passhub (run from the module root, or pass -passhub): %v\n%s", err, out)
	}
	return bin, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// environWithout is this process's environment less the variables whose
// names start with prefix (so a developer's PASSHUB_* settings do not leak
// into the measured process).
func environWithout(prefix string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// pgCounters are the passhub database's cumulative statistics (PostgreSQL
// publishes them with up to a second's delay, so a run's delta is close,
// not exact).
type pgCounters struct {
	Commits, Rollbacks, Inserted, Updated, Deleted, Fetched int64
}

func (h *hub) pgCounters(ctx context.Context) (pgCounters, error) {
	return pgReader{pool: h.DB}.pgCounters(ctx)
}

func (p pgReader) pgCounters(ctx context.Context) (pgCounters, error) {
	var c pgCounters
	err := p.pool.QueryRow(ctx, `SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_fetched
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&c.Commits, &c.Rollbacks, &c.Inserted, &c.Updated, &c.Deleted, &c.Fetched)
	if err != nil {
		return c, fmt.Errorf("reading pg_stat_database: %w", err)
	}
	return c, nil
}

// perRequest is the delta from a to b divided by n, by counter.
func (b pgCounters) perRequest(a pgCounters, n int64) map[string]float64 {
	if n <= 0 {
		return nil
	}
	f := func(x, y int64) float64 { return float64(y-x) / float64(n) }
	return map[string]float64{
		"commits": f(a.Commits, b.Commits), "rollbacks": f(a.Rollbacks, b.Rollbacks), "rowsInserted": f(a.Inserted, b.Inserted),
		"rowsUpdated": f(a.Updated, b.Updated), "rowsDeleted": f(a.Deleted, b.Deleted), "rowsFetched": f(a.Fetched, b.Fetched),
	}
}

// tableCounters are the passhub database's cumulative row and scan
// counts by table (PostgreSQL publishes them with up to a second's
// delay), to say which tables a figure's work lands on.
type tableCounters map[string][7]int64 // inserted, updated, deleted, index scans, sequential scans, rows fetched by index scans, rows read by sequential scans

func (p pgReader) tableCounters(ctx context.Context) (tableCounters, error) {
	rows, err := p.pool.Query(ctx, `SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, coalesce(idx_scan, 0), seq_scan, coalesce(idx_tup_fetch, 0), seq_tup_read FROM pg_stat_user_tables`)
	if err != nil {
		return nil, fmt.Errorf("reading pg_stat_user_tables: %w", err)
	}
	defer rows.Close()
	out := tableCounters{}
	for rows.Next() {
		var name string
		var c [7]int64
		if err := rows.Scan(&name, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6]); err != nil {
			return nil, fmt.Errorf("reading pg_stat_user_tables: %w", err)
		}
		out[name] = c
	}
	return out, rows.Err()
}

// perRequest is the delta from a to b divided by n, by table, leaving
// out tables nothing happened to.
func (b tableCounters) perRequest(a tableCounters, n int64) map[string]map[string]float64 {
	if n <= 0 {
		return nil
	}
	names := [7]string{"inserted", "updated", "deleted", "indexScans", "seqScans", "indexRowsFetched", "seqRowsRead"}
	out := map[string]map[string]float64{}
	for table, after := range b {
		before := a[table]
		m := map[string]float64{}
		for i := range after {
			if d := after[i] - before[i]; d != 0 {
				m[names[i]] = float64(d) / float64(n)
			}
		}
		if len(m) > 0 {
			out[table] = m
		}
	}
	return out
}

// storeReader is what the harness reads straight from a passhub's
// database, on whichever store it runs: setup checks, the job queue's
// state and the counters of a run.
type storeReader interface {
	// countPasses is how many passes exist.
	countPasses(ctx context.Context) (int, error)
	// passAuths is every pass's ID and authenticationToken, by external ID.
	passAuths(ctx context.Context) (map[string]passAuth, error)
	// busyJobs is how many jobs are pending or enqueued.
	busyJobs(ctx context.Context) (int, error)
	// jobTimes are the stage times of the done jobs created since t.
	jobTimes(ctx context.Context, since time.Time) ([]jobTime, error)
	// analyze refreshes the planner's statistics where the harness may
	// (PostgreSQL; SQLite is opened read-only, so nothing).
	analyze(ctx context.Context) error
	// stats are the database's cumulative counters; nil where the store
	// keeps none (SQLite).
	stats(ctx context.Context) (*dbStats, error)
	closeReader()
}

// passAuth is a pass's ID and the authenticationToken its .pkpass gives
// a device.
type passAuth struct{ id, auth string }

// jobTime is one done job's stage times in seconds: creation to the
// hand-over to the queue, and hand-over to done. Nil where a time is
// missing.
type jobTime struct {
	kind              string
	toQueue, queueRun *float64
}

// dbStats are PostgreSQL's cumulative counters, whole database and by
// table.
type dbStats struct {
	db     pgCounters
	tables tableCounters
}

// sqlReader reads a passhub's database through database/sql: the
// queries both stores answer alike. jobTimesSQL differs (PostgreSQL
// keeps timestamps, SQLite Unix microseconds) and takes the start as
// since gives it.
type sqlReader struct {
	db          *sql.DB
	jobTimesSQL string
	since       func(time.Time) any
}

// pgReader reads a passhub's PostgreSQL database; pool also serves its
// PostgreSQL-only counters.
type pgReader struct {
	sqlReader
	pool *pgxpool.Pool
}

func newPGReader(pool *pgxpool.Pool) pgReader {
	return pgReader{pool: pool, sqlReader: sqlReader{
		db: stdlib.OpenDBFromPool(pool),
		jobTimesSQL: `SELECT kind,
		  extract(epoch FROM enqueued_at - created_at)::float8, extract(epoch FROM done_at - enqueued_at)::float8
		FROM jobs WHERE created_at >= $1 AND state = 'done'`,
		since: func(t time.Time) any { return t },
	}}
}

func (r sqlReader) countPasses(ctx context.Context) (int, error) {
	var n int
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM passes`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting passes: %w", err)
	}
	return n, nil
}

func (r sqlReader) passAuths(ctx context.Context) (map[string]passAuth, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT external_id, id, auth_token FROM passes`)
	if err != nil {
		return nil, fmt.Errorf("reading passes: %w", err)
	}
	defer rows.Close()
	out := map[string]passAuth{}
	for rows.Next() {
		var ext string
		var a passAuth
		if err := rows.Scan(&ext, &a.id, &a.auth); err != nil {
			return nil, fmt.Errorf("reading passes: %w", err)
		}
		out[ext] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading passes: %w", err)
	}
	return out, nil
}

func (r sqlReader) busyJobs(ctx context.Context) (int, error) {
	var n int
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE state IN ('pending', 'enqueued')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting busy jobs: %w", err)
	}
	return n, nil
}

func (r sqlReader) jobTimes(ctx context.Context, since time.Time) ([]jobTime, error) {
	rows, err := r.db.QueryContext(ctx, r.jobTimesSQL, r.since(since))
	if err != nil {
		return nil, fmt.Errorf("reading job times: %w", err)
	}
	defer rows.Close()
	var out []jobTime
	for rows.Next() {
		var j jobTime
		var a, b sql.NullFloat64
		if err := rows.Scan(&j.kind, &a, &b); err != nil {
			return nil, fmt.Errorf("reading job times: %w", err)
		}
		if a.Valid {
			j.toQueue = &a.Float64
		}
		if b.Valid {
			j.queueRun = &b.Float64
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading job times: %w", err)
	}
	return out, nil
}

func (p pgReader) analyze(ctx context.Context) error {
	if _, err := p.pool.Exec(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("analyzing the passhub database: %w", err)
	}
	return nil
}

func (p pgReader) stats(ctx context.Context) (*dbStats, error) {
	c, err := p.pgCounters(ctx)
	if err != nil {
		return nil, err
	}
	t, err := p.tableCounters(ctx)
	if err != nil {
		return nil, err
	}
	return &dbStats{db: c, tables: t}, nil
}

func (p pgReader) closeReader() {
	_ = p.db.Close()
	p.pool.Close()
}

// sqliteReader reads an embedded passhub's SQLite file beside it,
// read-only (see openSQLiteReadOnly).
type sqliteReader struct{ sqlReader }

func newSQLiteReader(db *sql.DB) sqliteReader {
	return sqliteReader{sqlReader{
		db: db,
		// The SQLite store keeps times as Unix microseconds.
		jobTimesSQL: `SELECT kind, (enqueued_at - created_at) / 1e6, (done_at - enqueued_at) / 1e6
		FROM jobs WHERE created_at >= ? AND state = 'done'`,
		since: func(t time.Time) any { return t.UnixMicro() },
	}}
}

// openSQLiteReadOnly opens the file a running passhub writes. WAL lets
// these reads run beside passhub's writer without blocking it; mode=ro
// and query_only make sure the harness never takes the write lock, and
// the busy timeout rides out a checkpoint.
func openSQLiteReadOnly(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "query_only(1)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(2)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s read-only: %w", path, err)
	}
	return db, nil
}

func (sqliteReader) analyze(context.Context) error { return nil }

func (sqliteReader) stats(context.Context) (*dbStats, error) { return nil, nil }

func (s sqliteReader) closeReader() { _ = s.db.Close() }
