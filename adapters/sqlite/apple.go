package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

var _ core.AppleStore = (*Store)(nil)

// jsonList encodes a list for json_each(?): one bound parameter however
// long the list, so no statement nears SQLite's parameter limit.
func jsonList(items []string) (string, error) {
	if items == nil {
		items = []string{}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return "", fmt.Errorf("encoding list: %w", err)
	}
	return string(b), nil
}

const appleCredentialColumns = `workspace_id, pass_type_identifier, team_identifier, certificate_pem, wwdr_pem, key_sealed, not_after, created_at, updated_at`

func scanAppleCredentials(row scanner) (core.AppleCredentials, error) {
	var c core.AppleCredentials
	var notAfter, created, updated int64
	if err := row.Scan(&c.WorkspaceID, &c.PassTypeIdentifier, &c.TeamIdentifier, &c.CertificatePEM, &c.WWDRPEM, &c.KeySealed,
		&notAfter, &created, &updated); err != nil {
		return core.AppleCredentials{}, err
	}
	c.NotAfter = fromMicros(notAfter)
	c.CreatedAt = fromMicros(created)
	c.UpdatedAt = fromMicros(updated)
	return c, nil
}

// PutAppleCredentials inserts or replaces the workspace's credentials;
// a replacement keeps the first CreatedAt.
func (s *Store) PutAppleCredentials(ctx context.Context, c core.AppleCredentials) error {
	c = sqlstore.NormAppleCredentials(c)
	key := c.KeySealed
	if key == nil {
		key = []byte{}
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO apple_credentials (`+appleCredentialColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (workspace_id) DO UPDATE SET pass_type_identifier = excluded.pass_type_identifier,
				team_identifier = excluded.team_identifier, certificate_pem = excluded.certificate_pem, wwdr_pem = excluded.wwdr_pem,
				key_sealed = excluded.key_sealed, not_after = excluded.not_after, updated_at = excluded.updated_at`,
			c.WorkspaceID, c.PassTypeIdentifier, c.TeamIdentifier, c.CertificatePEM, c.WWDRPEM, key,
			micros(c.NotAfter), micros(c.CreatedAt), micros(c.UpdatedAt))
		if cols, ok := uniqueViolation(err); ok && strings.Contains(cols, "pass_type_identifier") {
			return &core.ConflictError{Field: "passTypeIdentifier", Reason: fmt.Sprintf("pass type identifier %q belongs to another workspace", c.PassTypeIdentifier)}
		}
		if err != nil {
			return fmt.Errorf("storing Apple credentials: %w", err)
		}
		return nil
	})
}

// AppleCredentials loads the workspace's credentials.
func (s *Store) AppleCredentials(ctx context.Context, workspaceID string) (core.AppleCredentials, error) {
	return s.appleCredentialsWhere(ctx, "workspace_id", workspaceID)
}

// AppleCredentialsByPassType finds credentials by pass type identifier.
func (s *Store) AppleCredentialsByPassType(ctx context.Context, passTypeIdentifier string) (core.AppleCredentials, error) {
	return s.appleCredentialsWhere(ctx, "pass_type_identifier", passTypeIdentifier)
}

// appleCredentialsWhere loads the credentials whose column col (both
// candidates are unique) is val.
func (s *Store) appleCredentialsWhere(ctx context.Context, col, val string) (core.AppleCredentials, error) {
	c, err := scanAppleCredentials(s.reader.QueryRowContext(ctx, `SELECT `+appleCredentialColumns+` FROM apple_credentials WHERE `+col+` = ?`, val))
	if errors.Is(err, sql.ErrNoRows) {
		return core.AppleCredentials{}, fmt.Errorf("Apple credentials %q: %w", val, core.ErrNotFound)
	}
	if err != nil {
		return core.AppleCredentials{}, fmt.Errorf("loading Apple credentials %q: %w", val, err)
	}
	return c, nil
}

// DeleteAppleCredentials removes the workspace's credentials.
func (s *Store) DeleteAppleCredentials(ctx context.Context, workspaceID string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM apple_credentials WHERE workspace_id = ?`, workspaceID)
		if err != nil {
			return fmt.Errorf("deleting Apple credentials: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting Apple credentials: %w", err)
		} else if n == 0 {
			return fmt.Errorf("Apple credentials of workspace %s: %w", workspaceID, core.ErrNotFound)
		}
		return nil
	})
}

// Registrations. SQLite runs one write transaction at a time, so the
// "lock the pass, then the device" discipline of the PostgreSQL store is
// implicit here: every write below sees a stable database.

// RegisterDevice records or refreshes a registration, bumps the device's
// tag and stamps the registration with it; the pass's first registration
// runs onFirst and commits what it did.
func (s *Store) RegisterDevice(ctx context.Context, r core.Registration, onFirst func(*core.Pass) ([]core.Event, error)) (bool, error) {
	created, updated := sqlstore.RegistrationTimes(r)
	var isNew bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		pass, err := passIn(ctx, tx, r.WorkspaceID, r.PassID)
		if err != nil {
			return err
		}
		var all, mine int
		if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(device_library_id = ? AND pass_type_identifier = ?), 0)
			FROM apple_registrations WHERE workspace_id = ? AND pass_id = ?`,
			r.DeviceLibraryID, r.PassTypeIdentifier, r.WorkspaceID, r.PassID).Scan(&all, &mine); err != nil {
			return fmt.Errorf("counting registrations of pass %s: %w", r.PassID, err)
		}
		var tag int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO apple_devices (device_library_id, push_token, last_tag, updated_at) VALUES (?, ?, 1, ?)
			ON CONFLICT (device_library_id) DO UPDATE SET push_token = excluded.push_token, last_tag = last_tag + 1, updated_at = excluded.updated_at
			RETURNING last_tag`, r.DeviceLibraryID, r.PushToken, micros(updated)).Scan(&tag); err != nil {
			return fmt.Errorf("storing device %s: %w", r.DeviceLibraryID, err)
		}
		isNew = mine == 0
		if isNew {
			_, err = tx.ExecContext(ctx, `INSERT INTO apple_registrations (device_library_id, pass_type_identifier, pass_id, workspace_id, tag, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, r.DeviceLibraryID, r.PassTypeIdentifier, r.PassID, r.WorkspaceID, tag, micros(created), micros(updated))
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE apple_registrations SET tag = ?, updated_at = ?
				WHERE device_library_id = ? AND pass_type_identifier = ? AND pass_id = ?`,
				tag, micros(updated), r.DeviceLibraryID, r.PassTypeIdentifier, r.PassID)
		}
		if err != nil {
			return fmt.Errorf("storing registration of pass %s on device %s: %w", r.PassID, r.DeviceLibraryID, err)
		}
		if all == 0 && onFirst != nil {
			if _, err := changePass(ctx, tx, pass, onFirst); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return isNew, nil
}

// UnregisterDevice removes one registration; the pass's last runs onLast
// and commits what it did.
func (s *Store) UnregisterDevice(ctx context.Context, workspaceID, deviceLibraryID, passTypeIdentifier, passID string, onLast func(*core.Pass) ([]core.Event, error)) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		pass, err := passIn(ctx, tx, workspaceID, passID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM apple_registrations
			WHERE device_library_id = ? AND pass_type_identifier = ? AND pass_id = ? AND workspace_id = ?`,
			deviceLibraryID, passTypeIdentifier, passID, workspaceID)
		if err != nil {
			return fmt.Errorf("deleting registration of pass %s on device %s: %w", passID, deviceLibraryID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting registration of pass %s on device %s: %w", passID, deviceLibraryID, err)
		} else if n == 0 {
			return fmt.Errorf("registration of pass %s on device %s: %w", passID, deviceLibraryID, core.ErrNotFound)
		}
		var left bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM apple_registrations WHERE workspace_id = ? AND pass_id = ?)`,
			workspaceID, passID).Scan(&left); err != nil {
			return fmt.Errorf("checking registrations of pass %s: %w", passID, err)
		}
		if !left && onLast != nil {
			if _, err := changePass(ctx, tx, pass, onLast); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdatedSerials reads the device's tag and its passes of the type
// stamped after since in one statement (one snapshot).
func (s *Store) UpdatedSerials(ctx context.Context, deviceLibraryID, passTypeIdentifier string, since int64) ([]string, int64, error) {
	type row struct {
		lastTag int64
		passID  sql.NullString
	}
	rows, err := queryAll(ctx, s.reader, func(sc scanner) (row, error) {
		var r row
		err := sc.Scan(&r.lastTag, &r.passID)
		return r, err
	}, `SELECT d.last_tag, r.pass_id FROM apple_devices d
		LEFT JOIN apple_registrations r ON r.device_library_id = d.device_library_id AND r.pass_type_identifier = ? AND r.tag > ?
		WHERE d.device_library_id = ? ORDER BY r.pass_id`, passTypeIdentifier, since, deviceLibraryID)
	if err != nil {
		return nil, 0, fmt.Errorf("reading updated serials of device %s: %w", deviceLibraryID, err)
	}
	if len(rows) == 0 {
		return nil, 0, nil
	}
	var serials []string
	for _, r := range rows {
		if r.passID.Valid {
			serials = append(serials, r.passID.String)
		}
	}
	return serials, rows[0].lastTag, nil
}

// TouchPasses stamps every registration of the passes with a freshly
// bumped tag of its device.
func (s *Store) TouchPasses(ctx context.Context, workspaceID string, passIDs []string) ([]core.PushTarget, error) {
	if len(passIDs) == 0 {
		return nil, nil
	}
	ids, err := jsonList(distinct(passIDs))
	if err != nil {
		return nil, err
	}
	var out []core.PushTarget
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		out, err = touch(ctx, tx, `r.workspace_id = ? AND r.pass_id = j.value AND p.workspace_id = ?`, ids, workspaceID, workspaceID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("touching passes: %w", err)
	}
	return out, nil
}

// notDeletedOfTemplate restricts a touch or a device listing to the
// template's passes that are not deleted (p is the pass).
const notDeletedOfTemplate = `p.workspace_id = ? AND p.template_id = ? AND p.lifecycle <> '` + string(core.LifecycleDeleted) + `'`

// TemplateDevices pages the devices holding not-deleted passes of the
// template, in ID order: a range scan of the workspace's registrations
// by device from after, stopping at limit devices.
func (s *Store) TemplateDevices(ctx context.Context, workspaceID, templateID, after string, limit int) ([]string, error) {
	if limit <= 0 {
		limit = sqlstore.DefaultLimit
	}
	ids, err := queryAll(ctx, s.reader, func(sc scanner) (string, error) {
		var id string
		err := sc.Scan(&id)
		return id, err
	}, `SELECT DISTINCT r.device_library_id FROM apple_registrations r JOIN passes p ON p.id = r.pass_id
		WHERE r.workspace_id = ? AND r.device_library_id > ? AND `+notDeletedOfTemplate+`
		ORDER BY r.device_library_id LIMIT ?`, workspaceID, after, workspaceID, templateID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing devices of template %s: %w", templateID, err)
	}
	return ids, nil
}

// TouchTemplateDevices stamps the devices' registrations on the
// template's not-deleted passes with freshly bumped tags.
func (s *Store) TouchTemplateDevices(ctx context.Context, workspaceID, templateID string, deviceIDs []string) ([]core.PushTarget, error) {
	if len(deviceIDs) == 0 {
		return nil, nil
	}
	ids, err := jsonList(distinct(deviceIDs))
	if err != nil {
		return nil, err
	}
	var out []core.PushTarget
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		out, err = touch(ctx, tx, `r.workspace_id = ? AND r.device_library_id = j.value AND `+notDeletedOfTemplate,
			ids, workspaceID, workspaceID, templateID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("touching devices of template %s: %w", templateID, err)
	}
	return out, nil
}

// touch bumps the tag of every device with a registration matching cond
// and stamps those registrations with it. cond joins the registration r
// to j, a row of the JSON list that is the first argument, and to its
// pass p. The list drives the search (CROSS JOIN fixes the join order,
// so each item is an index lookup whatever the planner guesses of the
// list's size); the updates then go by primary key, each device's new
// tag carried in the list of registrations to stamp. Both tables are
// kept in device order (migration 0010), so a batch of devices in ID
// order, as a template push has them, writes a few adjacent pages.
func touch(ctx context.Context, tx *sql.Tx, cond string, args ...any) ([]core.PushTarget, error) {
	type found struct {
		passType string
		sqlstore.Touched
	}
	rows, err := queryAll(ctx, tx, func(sc scanner) (found, error) {
		var f found
		err := sc.Scan(&f.DeviceLibraryID, &f.passType, &f.PassID, &f.ExternalID)
		return f, err
	}, `SELECT r.device_library_id, r.pass_type_identifier, r.pass_id, p.external_id
		FROM json_each(?) AS j CROSS JOIN apple_registrations AS r CROSS JOIN passes AS p
		WHERE p.id = r.pass_id AND `+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("finding registrations: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	var devices []string
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.DeviceLibraryID] {
			seen[r.DeviceLibraryID] = true
			devices = append(devices, r.DeviceLibraryID)
		}
	}
	deviceList, err := jsonList(devices)
	if err != nil {
		return nil, err
	}
	type device struct {
		id, token string
		tag       int64
	}
	bumped, err := queryAll(ctx, tx, func(sc scanner) (device, error) {
		var d device
		err := sc.Scan(&d.id, &d.token, &d.tag)
		return d, err
	}, `UPDATE apple_devices SET last_tag = last_tag + 1 WHERE device_library_id IN (SELECT value FROM json_each(?))
		RETURNING device_library_id, push_token, last_tag`, deviceList)
	if err != nil {
		return nil, fmt.Errorf("bumping device tags: %w", err)
	}
	byID := make(map[string]device, len(bumped))
	for _, d := range bumped {
		byID[d.id] = d
	}
	keys := make([][4]any, len(rows))
	for i, r := range rows {
		keys[i] = [4]any{r.DeviceLibraryID, r.passType, r.PassID, byID[r.DeviceLibraryID].tag}
	}
	keyList, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("encoding list: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE apple_registrations AS r SET tag = j.value ->> 3
		FROM json_each(?) AS j
		WHERE r.device_library_id = j.value ->> 0 AND r.pass_type_identifier = j.value ->> 1 AND r.pass_id = j.value ->> 2`,
		string(keyList)); err != nil {
		return nil, fmt.Errorf("stamping registrations: %w", err)
	}
	touched := make([]sqlstore.Touched, len(rows))
	for i, r := range rows {
		touched[i] = r.Touched
		touched[i].PushToken = byID[r.DeviceLibraryID].token
	}
	return sqlstore.PushTargets(touched), nil
}

// distinct is items without repeats, in first-seen order.
func distinct(items []string) []string {
	seen := make(map[string]bool, len(items))
	out := make([]string, 0, len(items))
	for _, it := range items {
		if !seen[it] {
			seen[it] = true
			out = append(out, it)
		}
	}
	return out
}

// DropPushToken removes the workspace's registrations of the devices
// using token that were last updated before invalidSince (any, when it is
// zero); pass rows are left alone.
func (s *Store) DropPushToken(ctx context.Context, workspaceID, token string, invalidSince time.Time) (int64, error) {
	devices := `SELECT device_library_id FROM apple_devices WHERE push_token = ?`
	args := []any{workspaceID, token}
	if !invalidSince.IsZero() {
		devices += ` AND updated_at < ?`
		args = append(args, micros(invalidSince))
	}
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM apple_registrations WHERE workspace_id = ?
			AND device_library_id IN (`+devices+`)`, args...)
		if err != nil {
			return fmt.Errorf("dropping push token: %w", err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return fmt.Errorf("dropping push token: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// PassRegistrations lists a pass's registrations by device ID.
func (s *Store) PassRegistrations(ctx context.Context, workspaceID, passID string) ([]core.Registration, error) {
	regs, err := queryAll(ctx, s.reader, func(sc scanner) (core.Registration, error) {
		var r core.Registration
		var created, updated int64
		if err := sc.Scan(&r.DeviceLibraryID, &r.PassTypeIdentifier, &r.PassID, &r.WorkspaceID, &r.PushToken, &r.Tag, &created, &updated); err != nil {
			return core.Registration{}, err
		}
		r.CreatedAt = fromMicros(created)
		r.UpdatedAt = fromMicros(updated)
		return r, nil
	}, `SELECT r.device_library_id, r.pass_type_identifier, r.pass_id, r.workspace_id, d.push_token, r.tag, r.created_at, r.updated_at
		FROM apple_registrations r JOIN apple_devices d ON d.device_library_id = r.device_library_id
		WHERE r.workspace_id = ? AND r.pass_id = ? ORDER BY r.device_library_id, r.pass_type_identifier`, workspaceID, passID)
	if err != nil {
		return nil, fmt.Errorf("listing registrations of pass %s: %w", passID, err)
	}
	return regs, nil
}
