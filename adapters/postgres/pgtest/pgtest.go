// Package pgtest gives tests a real, private PostgreSQL database.
//
// The schema is migrated once into a template database named after a hash
// of the migrations, and each test gets a clone of it (CREATE DATABASE ...
// TEMPLATE ...), which takes milliseconds; the clone is dropped when the
// test ends. The server is the one PASSHUB_TEST_DATABASE_URL points at
// (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable).
// A test that cannot reach it fails: CI must not skip the database tests
// silently.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/passhub/passhub/adapters/postgres"
)

// EnvDatabaseURL names the variable holding the server DSN for tests.
const EnvDatabaseURL = "PASSHUB_TEST_DATABASE_URL"

// DefaultDatabaseURL is used when EnvDatabaseURL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// templateLockKey serialises template creation across test processes
// (go test runs packages in parallel); "pgtmpl" in ASCII.
const templateLockKey = 0x70677470_6c

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// BaseURL is the DSN of the test server.
func BaseURL() string {
	if v := os.Getenv(EnvDatabaseURL); v != "" {
		return v
	}
	return DefaultDatabaseURL
}

// NewDatabase creates a fresh, migrated database for t and returns its
// DSN. The database is dropped when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, BaseURL()) })
	if templateErr != nil {
		t.Fatalf("pgtest: preparing template database on %s (set %s to a reachable server): %v", redact(BaseURL()), EnvDatabaseURL, templateErr)
	}
	return newDatabase(ctx, t, templateName)
}

// NewEmptyDatabase creates a fresh database without the schema (for
// testing migrations) and returns its DSN. It is dropped when t ends.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return newDatabase(ctx, t, "")
}

func newDatabase(ctx context.Context, t testing.TB, template string) string {
	t.Helper()
	base := BaseURL()
	name := "passhub_test_" + randomHex(8)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connecting to %s (set %s to a reachable server): %v", redact(base), EnvDatabaseURL, err)
	}
	defer admin.Close(context.Background())
	if err := createDatabase(ctx, admin, name, template); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: connecting to drop %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: dropping %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// createDatabase creates name, cloning template unless it is empty.
// PostgreSQL refuses to clone while another session is connected to the
// template (a migration connection still closing), so it retries briefly
// on that error.
func createDatabase(ctx context.Context, admin *pgx.Conn, name, template string) error {
	stmt := `CREATE DATABASE ` + pgx.Identifier{name}.Sanitize()
	if template != "" {
		stmt += ` TEMPLATE ` + pgx.Identifier{template}.Sanitize()
	}
	for attempt := 0; ; attempt++ {
		_, err := admin.Exec(ctx, stmt)
		var pe *pgconn.PgError
		if err == nil || attempt >= 20 || !errors.As(err, &pe) || pe.Code != "55006" { // object_in_use
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureTemplate makes sure the template database for the current
// migrations exists and returns its name. It builds under another name and
// renames when done, so a crashed build never passes for a template.
func ensureTemplate(ctx context.Context, base string) (string, error) {
	name := "passhub_template_" + postgres.MigrationsHash()[:16]
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(templateLockKey)); err != nil {
		return "", fmt.Errorf("taking template lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(templateLockKey))
	}()

	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("looking for template %s: %w", name, err)
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{building}.Sanitize()+` WITH (FORCE)`); err != nil {
		return "", fmt.Errorf("dropping a leftover %s: %w", building, err)
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{building}.Sanitize()); err != nil {
		return "", fmt.Errorf("creating %s: %w", building, err)
	}
	dsn, err := withDatabase(base, building)
	if err != nil {
		return "", err
	}
	if err := postgres.Migrate(ctx, dsn); err != nil {
		return "", fmt.Errorf("migrating %s: %w", building, err)
	}
	// The migration session may still be ending; rename needs it gone.
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{building}.Sanitize()+` RENAME TO `+pgx.Identifier{name}.Sanitize())
		var pe *pgconn.PgError
		if err == nil || attempt >= 50 || !errors.As(err, &pe) || pe.Code != "55006" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return "", fmt.Errorf("renaming %s to %s: %w", building, name, err)
	}
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{name}.Sanitize()+` WITH IS_TEMPLATE true`); err != nil {
		return "", fmt.Errorf("marking %s a template: %w", name, err)
	}
	return name, nil
}

// withDatabase returns dsn pointing at database name instead.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parsing %s: %w", EnvDatabaseURL, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// Keyword/value form: a later keyword wins.
	return dsn + " dbname=" + name, nil
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
