package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/adapters/secretbox"
)

// Config is every setting of passhub, parsed once here from flags and
// environment (flags win) and passed down; nothing below cmd reads the
// environment.
type Config struct {
	Addr              string
	PublicURL         string
	DataDir           string
	DatabaseURL       secret // may carry a password
	RedisURL          secret // may carry a password
	MasterKey         secret // base64 of 32 bytes
	BootstrapKey      secret
	LogLevel          string
	MaxBodyBytes      int64
	WorkerConcurrency int
	ShutdownTimeout   time.Duration
	SweepAfter        time.Duration
	Retention         time.Duration
	TaskPoll          time.Duration
	// WebhooksAllowPrivate lets webhook subscriptions reach loopback and
	// private addresses (local development and tests only).
	WebhooksAllowPrivate bool
	APNsURL              string
	APNsCAFile           string
	GoogleAPIURL         string
	GoogleKeysURL        string
	GoogleSenderID       string
	GoogleOrigins        []string
	MappingsDir          string
	// DebugAddr, when set, serves Go's pprof profiles there: a separate
	// listener so it is never reachable through the public address.
	DebugAddr string

	masterKey []byte // decoded MasterKey, set by load
}

// secret is a string that never prints.
type secret string

func (s secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue keeps secrets out of structured logs too.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// LogValue lists the settings with every secret masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("publicURL", c.PublicURL),
		slog.String("dataDir", c.DataDir),
		slog.String("database", c.databaseKind()),
		slog.String("redis", c.redisKind()),
		slog.String("logLevel", c.LogLevel),
		slog.Int64("maxBodyBytes", c.MaxBodyBytes),
		slog.Int("workerConcurrency", c.WorkerConcurrency),
		slog.String("shutdownTimeout", c.ShutdownTimeout.String()),
		slog.String("sweepAfter", c.SweepAfter.String()),
		slog.String("retention", c.Retention.String()),
		slog.String("taskPoll", c.TaskPoll.String()),
		slog.Bool("webhooksAllowPrivate", c.WebhooksAllowPrivate),
		slog.String("apnsURL", c.APNsURL),
		slog.String("apnsCAFile", c.APNsCAFile),
		slog.String("googleAPIURL", c.GoogleAPIURL),
		slog.String("googleKeysURL", c.GoogleKeysURL),
		slog.String("googleSenderID", c.GoogleSenderID),
		slog.Any("googleOrigins", c.GoogleOrigins),
		slog.String("mappingsDir", c.MappingsDir),
		slog.String("debugAddr", c.DebugAddr),
		slog.Bool("bootstrapKey", c.BootstrapKey != ""),
	)
}

func (c Config) databaseKind() string {
	if c.DatabaseURL == "" {
		return "sqlite:" + c.sqlitePath()
	}
	return "postgres"
}

func (c Config) redisKind() string {
	if c.RedisURL == "" {
		return "embedded"
	}
	return "redis"
}

func (c Config) sqlitePath() string { return filepath.Join(c.DataDir, "passhub.db") }

// setting is one configuration entry: its flag, its environment variable,
// its default and where it lands.
type setting struct {
	flag, env, def, usage string
	set                   func(*Config, string) error
}

func settings() []setting {
	str := func(f func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *f(c) = v; return nil }
	}
	sec := func(f func(*Config) *secret) func(*Config, string) error {
		return func(c *Config, v string) error { *f(c) = secret(v); return nil }
	}
	return []setting{
		{"addr", "PASSHUB_ADDR", "127.0.0.1:8080", "listen address host:port", str(func(c *Config) *string { return &c.Addr })},
		{"public-url", "PASSHUB_PUBLIC_URL", "", "URL wallets and source systems reach passhub at (default http://ADDR)", str(func(c *Config) *string { return &c.PublicURL })},
		{"data-dir", "PASSHUB_DATA_DIR", "./data", "directory for the embedded database and generated master key", str(func(c *Config) *string { return &c.DataDir })},
		{"database-url", "PASSHUB_DATABASE_URL", "", "postgres://… selects PostgreSQL; empty selects embedded SQLite in the data dir", sec(func(c *Config) *secret { return &c.DatabaseURL })},
		{"redis-url", "PASSHUB_REDIS_URL", "", "redis://… for the task queue; empty starts an in-process Redis", sec(func(c *Config) *secret { return &c.RedisURL })},
		{"master-key", "PASSHUB_MASTER_KEY", "", "base64 of 32 bytes encrypting secrets at rest; embedded default generates DATA_DIR/master.key", sec(func(c *Config) *secret { return &c.MasterKey })},
		{"bootstrap-key", "PASSHUB_BOOTSTRAP_KEY", "", "ensure workspace 'default' with this admin API key", sec(func(c *Config) *secret { return &c.BootstrapKey })},
		{"log-level", "PASSHUB_LOG_LEVEL", "info", "debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })},
		{"max-body-bytes", "PASSHUB_MAX_BODY_BYTES", "1048576", "largest request body accepted (413 above)", func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1024 {
				return errors.New("must be a whole number of bytes, at least 1024")
			}
			c.MaxBodyBytes = n
			return nil
		}},
		{"worker-concurrency", "PASSHUB_WORKER_CONCURRENCY", "20", "tasks a worker runs at once", func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return errors.New("must be a whole number from 1 to 10000")
			}
			c.WorkerConcurrency = n
			return nil
		}},
		{"shutdown-timeout", "PASSHUB_SHUTDOWN_TIMEOUT", "25s", "how long in-flight requests and tasks get to finish on stop", func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return errors.New("must be a positive duration such as 25s")
			}
			c.ShutdownTimeout = d
			return nil
		}},
		{"sweep-after", "PASSHUB_SWEEP_AFTER", "2m", "re-drive a queued job not done after this long (its task may be lost)", func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				return errors.New("must be a duration of at least 1s, such as 2m")
			}
			c.SweepAfter = d
			return nil
		}},
		{"task-poll", "PASSHUB_TASK_POLL", "", "how often an idle worker asks Redis for new tasks, the latency floor of each queue hop (default 25ms with PASSHUB_REDIS_URL; 100ms with the in-process Redis, where each poll costs passhub's own CPU)", func(c *Config, v string) error {
			if v == "" {
				return nil // chosen in validate, by the Redis in use
			}
			d, err := time.ParseDuration(v)
			if err != nil || d < 5*time.Millisecond || d > 10*time.Second {
				return errors.New("must be a duration from 5ms to 10s, such as 100ms")
			}
			c.TaskPoll = d
			return nil
		}},
		{"retention", "PASSHUB_RETENTION", "720h", "finished jobs and push logs older than this are deleted (hourly)", func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 24*time.Hour {
				return errors.New("must be a duration of at least 24h, such as 720h")
			}
			c.Retention = d
			return nil
		}},
		{"webhooks-allow-private", "PASSHUB_WEBHOOKS_ALLOW_PRIVATE", "false", "let webhook URLs reach loopback, private and link-local addresses (development and tests only)", func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("must be true or false")
			}
			c.WebhooksAllowPrivate = b
			return nil
		}},
		{"apns-url", "PASSHUB_APNS_URL", "https://api.push.apple.com", "APNs base URL (the development server or a local mock for tests)", str(func(c *Config) *string { return &c.APNsURL })},
		{"google-api-url", "PASSHUB_GOOGLE_API_URL", "https://walletobjects.googleapis.com/", "Google Wallet API base URL (a local fake in tests)", str(func(c *Config) *string { return &c.GoogleAPIURL })},
		{"google-keys-url", "PASSHUB_GOOGLE_KEYS_URL", "https://pay.google.com/gp/m/issuer/keys", "where Google's callback root signing keys are published", str(func(c *Config) *string { return &c.GoogleKeysURL })},
		{"google-sender-id", "PASSHUB_GOOGLE_SENDER_ID", "GooglePayPasses", "sender ID in Google's callback signatures", str(func(c *Config) *string { return &c.GoogleSenderID })},
		{"google-origins", "PASSHUB_GOOGLE_ORIGINS", "", "comma-separated origins allowed to show save-to-Google buttons (default the public URL)", func(c *Config, v string) error {
			c.GoogleOrigins = nil
			for _, o := range strings.Split(v, ",") {
				if o = strings.TrimSpace(o); o != "" {
					c.GoogleOrigins = append(c.GoogleOrigins, o)
				}
			}
			return nil
		}},
		{"mappings-dir", "PASSHUB_MAPPINGS_DIR", "", "directory of mapping files loaded into workspace 'default' at start (new version when changed)", str(func(c *Config) *string { return &c.MappingsDir })},
		{"debug-addr", "PASSHUB_DEBUG_ADDR", "", "serve Go's pprof profiles (/debug/pprof/) on this loopback host:port; empty serves none", str(func(c *Config) *string { return &c.DebugAddr })},
		{"apns-ca-file", "PASSHUB_APNS_CA_FILE", "", "PEM file of extra root certificates to trust for APNs (a local mock); empty trusts the system roots only", str(func(c *Config) *string { return &c.APNsCAFile })},
	}
}

// loadConfig parses args (the subcommand's flags) over env over defaults,
// then validates. Every error names the setting at fault.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, []string, error) {
	fs := flag.NewFlagSet("passhub "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	vals := map[string]*string{}
	all := settings()
	for _, s := range all {
		vals[s.flag] = fs.String(s.flag, "", fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def))
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var c Config
	for _, s := range all {
		v, from := s.def, "default"
		if e := getenv(s.env); e != "" {
			v, from = e, s.env
		}
		if given[s.flag] {
			v, from = *vals[s.flag], "--"+s.flag
		}
		if err := s.set(&c, v); err != nil {
			return Config{}, nil, fmt.Errorf("invalid %s (%s): %w", s.env, from, err)
		}
	}
	if err := c.validate(); err != nil {
		return Config{}, nil, err
	}
	return c, fs.Args(), nil
}

func (c *Config) validate() error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("invalid PASSHUB_ADDR %q: want host:port: %w", c.Addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("invalid PASSHUB_ADDR %q: port must be 0 to 65535", c.Addr)
	}
	if c.PublicURL == "" {
		if host == "" {
			host = "127.0.0.1"
		}
		c.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("invalid PASSHUB_PUBLIC_URL %q: want an absolute http(s) URL without query or fragment", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.DataDir == "" {
		return errors.New("invalid PASSHUB_DATA_DIR: must not be empty")
	}
	if d := string(c.DatabaseURL); d != "" && !strings.HasPrefix(d, "postgres://") && !strings.HasPrefix(d, "postgresql://") {
		return errors.New("invalid PASSHUB_DATABASE_URL: must start with postgres:// or postgresql:// (or be empty for embedded SQLite)")
	}
	if r := string(c.RedisURL); r != "" && !strings.HasPrefix(r, "redis://") && !strings.HasPrefix(r, "rediss://") {
		return errors.New("invalid PASSHUB_REDIS_URL: must start with redis:// or rediss:// (or be empty for the in-process Redis)")
	}
	if c.MasterKey != "" {
		k, err := base64.StdEncoding.DecodeString(string(c.MasterKey))
		if err != nil || len(k) != secretbox.KeySize {
			return fmt.Errorf("invalid PASSHUB_MASTER_KEY: must be base64 of exactly %d bytes (try: openssl rand -base64 32)", secretbox.KeySize)
		}
		c.masterKey = k
	}
	if b := string(c.BootstrapKey); b != "" && len(b) < 20 {
		return errors.New("invalid PASSHUB_BOOTSTRAP_KEY: must be at least 20 characters")
	}
	if u, err := url.Parse(c.APNsURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("invalid PASSHUB_APNS_URL %q: want https://host[:port]", c.APNsURL)
	}
	c.APNsURL = strings.TrimRight(c.APNsURL, "/")
	for _, set := range []struct{ env, v string }{{"PASSHUB_GOOGLE_API_URL", c.GoogleAPIURL}, {"PASSHUB_GOOGLE_KEYS_URL", c.GoogleKeysURL}} {
		if u, err := url.Parse(set.v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("invalid %s %q: want an absolute http(s) URL", set.env, set.v)
		}
	}
	if c.GoogleSenderID == "" {
		return errors.New("invalid PASSHUB_GOOGLE_SENDER_ID: must not be empty")
	}
	if len(c.GoogleOrigins) == 0 {
		c.GoogleOrigins = []string{c.PublicURL}
	}
	if c.DebugAddr != "" {
		// Profiles expose memory contents and cost CPU: loopback only.
		h, p, err := net.SplitHostPort(c.DebugAddr)
		if ip := net.ParseIP(h); err != nil || (h != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return fmt.Errorf("invalid PASSHUB_DEBUG_ADDR %q: want a loopback host:port such as 127.0.0.1:6060", c.DebugAddr)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("invalid PASSHUB_DEBUG_ADDR %q: port must be 0 to 65535", c.DebugAddr)
		}
	}
	if c.TaskPoll == 0 {
		// A poll of a real Redis is a round trip; of the in-process one,
		// a Lua script run in passhub (idle: 3% of a core at 100ms, 9% at
		// 20ms).
		c.TaskPoll = 25 * time.Millisecond
		if c.RedisURL == "" {
			c.TaskPoll = 100 * time.Millisecond
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("invalid PASSHUB_LOG_LEVEL %q: must be debug, info, warn or error", c.LogLevel)
	}
	return nil
}

func (c Config) slogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevel)) // validated already
	return l
}

// loadMasterKey returns the configured master key or, for the embedded
// default, reads or creates DATA_DIR/master.key (mode 0600). A shared
// PostgreSQL deployment must set the key, or replicas would disagree.
func (c *Config) loadMasterKey() ([]byte, error) {
	if c.masterKey != nil {
		return c.masterKey, nil
	}
	if c.DatabaseURL != "" {
		return nil, errors.New("PASSHUB_MASTER_KEY is required with PostgreSQL (every process must share it; try: openssl rand -base64 32)")
	}
	path := filepath.Join(c.DataDir, "master.key")
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != secretbox.KeySize {
			return nil, fmt.Errorf("reading %s: not base64 of %d bytes", path, secretbox.KeySize)
		}
		c.masterKey = k
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading master key: %w", err)
	}
	k := make([]byte, secretbox.KeySize)
	if _, err := randRead(k); err != nil {
		return nil, fmt.Errorf("generating master key: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	// O_EXCL: two processes starting at once must not both write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return c.loadMasterKey()
	}
	if err != nil {
		return nil, fmt.Errorf("creating master key file: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing master key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing master key file: %w", err)
	}
	c.masterKey = k
	return k, nil
}
