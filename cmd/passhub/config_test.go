package main

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedence(t *testing.T) {
	env := envOf(map[string]string{"PASSHUB_ADDR": "127.0.0.1:9000", "PASSHUB_LOG_LEVEL": "debug"})
	cfg, _, err := loadConfig("serve", []string{"--addr", "127.0.0.1:9100"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9100" {
		t.Errorf("Addr = %q: the flag must win over the environment", cfg.Addr)
	}
	if cfg.LogLevel != "debug" {
		t.Errorf("LogLevel = %q: the environment must win over the default", cfg.LogLevel)
	}
	if cfg.PublicURL != "http://127.0.0.1:9100" {
		t.Errorf("PublicURL = %q: default is http:// + addr", cfg.PublicURL)
	}
	if cfg.DataDir != "./data" || cfg.MaxBodyBytes != 1<<20 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PASSHUB_ADDR": "nonsense"}, "PASSHUB_ADDR"},
		{map[string]string{"PASSHUB_PUBLIC_URL": "ftp://x"}, "PASSHUB_PUBLIC_URL"},
		{map[string]string{"PASSHUB_DATABASE_URL": "mysql://x"}, "PASSHUB_DATABASE_URL"},
		{map[string]string{"PASSHUB_REDIS_URL": "http://x"}, "PASSHUB_REDIS_URL"},
		{map[string]string{"PASSHUB_MASTER_KEY": "c2hvcnQ="}, "PASSHUB_MASTER_KEY"},
		{map[string]string{"PASSHUB_BOOTSTRAP_KEY": "short"}, "PASSHUB_BOOTSTRAP_KEY"},
		{map[string]string{"PASSHUB_LOG_LEVEL": "loud"}, "PASSHUB_LOG_LEVEL"},
		{map[string]string{"PASSHUB_MAX_BODY_BYTES": "lots"}, "PASSHUB_MAX_BODY_BYTES"},
		{map[string]string{"PASSHUB_WORKER_CONCURRENCY": "0"}, "PASSHUB_WORKER_CONCURRENCY"},
		{map[string]string{"PASSHUB_SHUTDOWN_TIMEOUT": "-1s"}, "PASSHUB_SHUTDOWN_TIMEOUT"},
		{map[string]string{"PASSHUB_RETENTION": "1h"}, "PASSHUB_RETENTION"},
		{map[string]string{"PASSHUB_TASK_POLL": "1ms"}, "PASSHUB_TASK_POLL"},
		{map[string]string{"PASSHUB_WEBHOOKS_ALLOW_PRIVATE": "maybe"}, "PASSHUB_WEBHOOKS_ALLOW_PRIVATE"},
		{map[string]string{"PASSHUB_DEBUG_ADDR": "0.0.0.0:6060"}, "PASSHUB_DEBUG_ADDR"}, // profiles stay on loopback
		{map[string]string{"PASSHUB_DEBUG_ADDR": "6060"}, "PASSHUB_DEBUG_ADDR"},
		{map[string]string{"PASSHUB_DEBUG_ADDR": "127.0.0.1:6060"}, ""},
		{map[string]string{"PASSHUB_DEBUG_ADDR": "[::1]:0"}, ""},
		{map[string]string{"PASSHUB_DATA_DIR": ""}, ""}, // empty env falls back to the default
	} {
		_, _, err := loadConfig("serve", nil, envOf(tc.env), &bytes.Buffer{})
		if tc.want == "" {
			if err != nil {
				t.Errorf("%v: unexpected error %v", tc.env, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to name %s", tc.env, err, tc.want)
		}
	}
}

func TestConfigNeverLogsSecrets(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	env := envOf(map[string]string{
		"PASSHUB_MASTER_KEY":    key,
		"PASSHUB_BOOTSTRAP_KEY": "phk_supersecretbootstrapkey",
		"PASSHUB_DATABASE_URL":  "postgres://u:dbpassword@db/passhub",
		"PASSHUB_REDIS_URL":     "redis://:redispassword@r:6379/0",
	})
	cfg, _, err := loadConfig("serve", nil, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "config", cfg)
	out := buf.String() + " " + strings.Join([]string{string(cfg.DatabaseURL.String()), cfg.MasterKey.String()}, " ")
	for _, s := range []string{key, "supersecret", "dbpassword", "redispassword"} {
		if strings.Contains(out, s) {
			t.Errorf("secret %q appears in %s", s, out)
		}
	}
}

func TestMasterKeyGeneratedOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	cfg, _, err := loadConfig("serve", []string{"--data-dir", dir}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	k1, err := cfg.loadMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("master.key mode = %v, want 0600", fi.Mode().Perm())
	}
	cfg2, _, _ := loadConfig("serve", []string{"--data-dir", dir}, envOf(nil), &bytes.Buffer{})
	k2, err := cfg2.loadMasterKey()
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second start read another key (%v)", err)
	}
	pg, _, _ := loadConfig("serve", []string{"--data-dir", dir, "--database-url", "postgres://x/y"}, envOf(nil), &bytes.Buffer{})
	if _, err := pg.loadMasterKey(); err == nil || !strings.Contains(err.Error(), "PASSHUB_MASTER_KEY") {
		t.Errorf("PostgreSQL without a master key: err = %v, want one naming PASSHUB_MASTER_KEY", err)
	}
}

// The task poll's default follows the Redis: a real one is polled often
// (latency), the in-process one less (each poll is passhub's own CPU).
func TestConfigTaskPollDefault(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want time.Duration
	}{
		{map[string]string{}, 100 * time.Millisecond},
		{map[string]string{"PASSHUB_REDIS_URL": "redis://127.0.0.1:6379/0"}, 25 * time.Millisecond},
		{map[string]string{"PASSHUB_REDIS_URL": "redis://127.0.0.1:6379/0", "PASSHUB_TASK_POLL": "300ms"}, 300 * time.Millisecond},
		{map[string]string{"PASSHUB_TASK_POLL": "10ms"}, 10 * time.Millisecond},
	} {
		cfg, _, err := loadConfig("serve", nil, envOf(tc.env), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if cfg.TaskPoll != tc.want {
			t.Errorf("%v: TaskPoll = %s, want %s", tc.env, cfg.TaskPoll, tc.want)
		}
	}
}
