package sqlite

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Migration 0010 rebuilds the Apple device and registration tables in
// device order; a database with registrations must come through it with
// every row, the foreign key and the indexes the store's queries use.
func TestMigrationKeepsAppleRegistrationsInDeviceOrder(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "passhub.db")

	// The schema as it was before 0010, with registrations in it.
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version >= 10 {
			break
		}
		if _, err := db.ExecContext(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?)`, m.Version, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	type reg struct {
		device, passType, pass, ws string
		tag                        int64
	}
	devices := [][3]any{{"dev-b", "tok-b", 7}, {"dev-a", "tok-a", 3}, {"dev-c", "tok-c", 0}}
	regs := []reg{
		{"dev-b", "pass.x", "pass-2", "ws-1", 7},
		{"dev-a", "pass.x", "pass-1", "ws-1", 3},
		{"dev-b", "pass.x", "pass-1", "ws-1", 5},
		{"dev-a", "pass.y", "pass-9", "ws-2", 1},
	}
	for _, d := range devices {
		if _, err := db.ExecContext(ctx, `INSERT INTO apple_devices (device_library_id, push_token, last_tag, updated_at) VALUES (?, ?, ?, 1)`, d[0], d[1], d[2]); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range regs {
		if _, err := db.ExecContext(ctx, `INSERT INTO apple_registrations (device_library_id, pass_type_identifier, pass_id, workspace_id, tag, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 1, 2)`, r.device, r.passType, r.pass, r.ws, r.tag); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("migrating: %v", err)
	}
	defer s.Close()

	got, err := queryAll(ctx, s.reader, func(sc scanner) (reg, error) {
		var r reg
		err := sc.Scan(&r.device, &r.passType, &r.pass, &r.ws, &r.tag)
		return r, err
	}, `SELECT device_library_id, pass_type_identifier, pass_id, workspace_id, tag FROM apple_registrations`)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(regs)
	slices.SortFunc(want, func(a, b reg) int {
		if a.device != b.device {
			return strings.Compare(a.device, b.device)
		}
		if a.passType != b.passType {
			return strings.Compare(a.passType, b.passType)
		}
		return strings.Compare(a.pass, b.pass)
	})
	if !slices.Equal(got, want) {
		t.Errorf("registrations after the migration (in table order)\n%v, want\n%v", got, want)
	}
	serials, lastTag, err := s.UpdatedSerials(ctx, "dev-b", "pass.x", 5)
	if err != nil || lastTag != 7 || !slices.Equal(serials, []string{"pass-2"}) {
		t.Errorf("UpdatedSerials(dev-b, since 5) = %v, %d, %v; want [pass-2], 7", serials, lastTag, err)
	}

	var noRowid, fkViolations int
	for _, table := range []string{"apple_devices", "apple_registrations"} {
		if _, err := s.reader.ExecContext(ctx, `SELECT rowid FROM `+table); err != nil {
			noRowid++
		}
	}
	if noRowid != 2 {
		t.Errorf("%d of the 2 tables are WITHOUT ROWID", noRowid)
	}
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&fkViolations); err != nil || fkViolations != 0 {
		t.Errorf("foreign key check: %d violations, %v", fkViolations, err)
	}
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO apple_registrations (device_library_id, pass_type_identifier, pass_id, workspace_id, created_at, updated_at)
		VALUES ('dev-unknown', 'pass.x', 'pass-1', 'ws-1', 1, 1)`); !foreignKeyViolation(err) {
		t.Errorf("registration of an unknown device: %v, want a foreign key violation", err)
	}
	indexes, err := queryAll(ctx, s.reader, func(sc scanner) (string, error) {
		var n string
		err := sc.Scan(&n)
		return n, err
	}, `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('apple_devices', 'apple_registrations') AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"apple_devices_push_token", "apple_registrations_pass", "apple_registrations_workspace_device"}; !slices.Equal(indexes, want) {
		t.Errorf("indexes %v, want %v", indexes, want)
	}
}
