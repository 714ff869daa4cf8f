// Package redistest gives each test its own database on a real Redis
// server, so tests that use Redis can run in parallel (across packages
// too) without seeing each other's keys.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// EnvURL overrides DefaultURL; its database number is ignored.
const EnvURL = "PASSHUB_TEST_REDIS_URL"

// DefaultURL is the Redis server tests use unless EnvURL says otherwise.
const DefaultURL = "redis://127.0.0.1:6379/0"

const (
	firstDB, lastDB = 1, 15 // DB 0 holds the claims
	// claimTTL outlives any test; a claim of a crashed test run expires.
	claimTTL  = 10 * time.Minute
	claimWait = 2 * time.Minute
)

// releaseScript deletes a claim only if it is still ours.
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// NewRedis claims a free database 1..15 for the test, flushes it and
// returns its connection options; the claim is released when the test
// ends. It waits while all databases are taken and fails the test (never
// skips it) when Redis cannot be reached.
func NewRedis(t testing.TB) asynq.RedisClientOpt {
	t.Helper()
	raw := os.Getenv(EnvURL)
	if raw == "" {
		raw = DefaultURL
	}
	base, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("redistest: parsing %s: %v", raw, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), claimWait)
	defer cancel()

	base.DB = 0
	admin := redis.NewClient(base)
	defer admin.Close()
	if err := admin.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: Redis at %s is not reachable (start it, or set %s): %v", base.Addr, EnvURL, err)
	}
	token := newToken()
	for {
		for db := firstDB; db <= lastDB; db++ {
			key := claimKey(db)
			ok, err := admin.SetNX(ctx, key, token, claimTTL).Result()
			if err != nil {
				t.Fatalf("redistest: claiming database %d: %v", db, err)
			}
			if !ok {
				continue
			}
			t.Cleanup(func() { release(t, base, key, token) })
			opt := *base
			opt.DB = db
			c := redis.NewClient(&opt)
			err = c.FlushDB(ctx).Err()
			c.Close()
			if err != nil {
				t.Fatalf("redistest: flushing database %d: %v", db, err)
			}
			return asynq.RedisClientOpt{
				Network: opt.Network, Addr: opt.Addr, Username: opt.Username, Password: opt.Password,
				DB: db, TLSConfig: opt.TLSConfig,
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: all Redis databases %d..%d stayed taken for %s", firstDB, lastDB, claimWait)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// URL renders opt as a redis:// URL, for handing a test database to a
// child process.
func URL(opt asynq.RedisClientOpt) string {
	u := url.URL{Scheme: "redis", Host: opt.Addr, Path: "/" + strconv.Itoa(opt.DB)}
	if opt.TLSConfig != nil {
		u.Scheme = "rediss"
	}
	if opt.Username != "" || opt.Password != "" {
		u.User = url.UserPassword(opt.Username, opt.Password)
	}
	return u.String()
}

func release(t testing.TB, base *redis.Options, key, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin := redis.NewClient(base)
	defer admin.Close()
	if err := releaseScript.Run(ctx, admin, []string{key}, token).Err(); err != nil {
		t.Errorf("redistest: releasing %s: %v", key, err)
	}
}

func claimKey(db int) string { return fmt.Sprintf("passhub:redistest:db:%d", db) }

func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
