package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

var _ core.AppleStore = (*Store)(nil)

const appleCredentialColumns = `workspace_id, pass_type_identifier, team_identifier, certificate_pem, wwdr_pem, key_sealed, not_after, created_at, updated_at`

func scanAppleCredentials(row pgx.Row) (core.AppleCredentials, error) {
	var c core.AppleCredentials
	if err := row.Scan(&c.WorkspaceID, &c.PassTypeIdentifier, &c.TeamIdentifier, &c.CertificatePEM, &c.WWDRPEM, &c.KeySealed,
		&c.NotAfter, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return core.AppleCredentials{}, err
	}
	c.NotAfter = c.NotAfter.UTC()
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = c.UpdatedAt.UTC()
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
	_, err := s.pool.Exec(ctx, `INSERT INTO apple_credentials (`+appleCredentialColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (workspace_id) DO UPDATE SET pass_type_identifier = EXCLUDED.pass_type_identifier,
			team_identifier = EXCLUDED.team_identifier, certificate_pem = EXCLUDED.certificate_pem, wwdr_pem = EXCLUDED.wwdr_pem,
			key_sealed = EXCLUDED.key_sealed, not_after = EXCLUDED.not_after, updated_at = EXCLUDED.updated_at`,
		c.WorkspaceID, c.PassTypeIdentifier, c.TeamIdentifier, c.CertificatePEM, c.WWDRPEM, key, c.NotAfter, c.CreatedAt, c.UpdatedAt)
	if cn, ok := constraintViolation(err, codeUniqueViolation); ok && cn == "apple_credentials_pass_type_identifier_key" {
		return &core.ConflictError{Field: "passTypeIdentifier", Reason: fmt.Sprintf("pass type identifier %q belongs to another workspace", c.PassTypeIdentifier)}
	}
	if badText(err) {
		return core.Invalid("credentials", "contain characters that cannot be stored")
	}
	if err != nil {
		return fmt.Errorf("storing Apple credentials: %w", err)
	}
	return nil
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
	c, err := scanAppleCredentials(s.pool.QueryRow(ctx, `SELECT `+appleCredentialColumns+` FROM apple_credentials WHERE `+col+` = $1`, val))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
		return core.AppleCredentials{}, fmt.Errorf("Apple credentials %q: %w", val, core.ErrNotFound)
	}
	if err != nil {
		return core.AppleCredentials{}, fmt.Errorf("loading Apple credentials %q: %w", val, err)
	}
	return c, nil
}

// DeleteAppleCredentials removes the workspace's credentials.
func (s *Store) DeleteAppleCredentials(ctx context.Context, workspaceID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM apple_credentials WHERE workspace_id = $1`, workspaceID)
	if err != nil {
		return fmt.Errorf("deleting Apple credentials: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("Apple credentials of workspace %s: %w", workspaceID, core.ErrNotFound)
	}
	return nil
}

// Registrations. Locks are taken in one order everywhere, so writers
// queue instead of deadlocking: the pass row (registering, unregistering),
// then device rows (several in ID order), then the registrations of those
// devices. Only UnregisterDevice writes a registration without its
// device's lock, and it waits on nothing after that write.

// RegisterDevice records or refreshes a registration, bumps the device's
// tag and stamps the registration with it; the pass's first registration
// runs onFirst and commits what it did.
func (s *Store) RegisterDevice(ctx context.Context, r core.Registration, onFirst func(*core.Pass) ([]core.Event, error)) (bool, error) {
	created, updated := sqlstore.RegistrationTimes(r)
	var isNew bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The pass lock serialises registrations of one pass, so exactly
		// one of two first registrations sees no other.
		pass, err := passIn(ctx, tx, r.WorkspaceID, r.PassID, "FOR UPDATE")
		if err != nil {
			return err
		}
		var all, mine int64
		if err := tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE device_library_id = $3 AND pass_type_identifier = $4)
			FROM apple_registrations WHERE workspace_id = $1 AND pass_id = $2`,
			r.WorkspaceID, r.PassID, r.DeviceLibraryID, r.PassTypeIdentifier).Scan(&all, &mine); err != nil {
			if badText(err) {
				return core.Invalid("registration", "contains characters that cannot be stored")
			}
			return fmt.Errorf("counting registrations of pass %s: %w", r.PassID, err)
		}
		var tag int64
		if err := tx.QueryRow(ctx, `INSERT INTO apple_devices (device_library_id, push_token, last_tag, updated_at) VALUES ($1, $2, 1, $3)
			ON CONFLICT (device_library_id) DO UPDATE SET push_token = EXCLUDED.push_token, last_tag = apple_devices.last_tag + 1,
				updated_at = EXCLUDED.updated_at
			RETURNING last_tag`, r.DeviceLibraryID, r.PushToken, updated).Scan(&tag); err != nil {
			if badText(err) {
				return core.Invalid("pushToken", "contains characters that cannot be stored")
			}
			return fmt.Errorf("storing device %s: %w", r.DeviceLibraryID, err)
		}
		isNew = mine == 0
		if isNew {
			_, err = tx.Exec(ctx, `INSERT INTO apple_registrations (device_library_id, pass_type_identifier, pass_id, workspace_id, tag, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.DeviceLibraryID, r.PassTypeIdentifier, r.PassID, r.WorkspaceID, tag, created, updated)
		} else {
			_, err = tx.Exec(ctx, `UPDATE apple_registrations SET tag = $1, updated_at = $2
				WHERE device_library_id = $3 AND pass_type_identifier = $4 AND pass_id = $5`,
				tag, updated, r.DeviceLibraryID, r.PassTypeIdentifier, r.PassID)
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
	return s.inTx(ctx, func(tx pgx.Tx) error {
		pass, err := passIn(ctx, tx, workspaceID, passID, "FOR UPDATE")
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM apple_registrations
			WHERE device_library_id = $1 AND pass_type_identifier = $2 AND pass_id = $3 AND workspace_id = $4`,
			deviceLibraryID, passTypeIdentifier, passID, workspaceID)
		if err != nil && !badText(err) {
			return fmt.Errorf("deleting registration of pass %s on device %s: %w", passID, deviceLibraryID, err)
		}
		if err != nil || tag.RowsAffected() == 0 {
			return fmt.Errorf("registration of pass %s on device %s: %w", passID, deviceLibraryID, core.ErrNotFound)
		}
		var left bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM apple_registrations WHERE workspace_id = $1 AND pass_id = $2)`,
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
		passID  *string
	}
	rows, err := queryAll(ctx, s.pool, func(r pgx.Row) (row, error) {
		var x row
		err := r.Scan(&x.lastTag, &x.passID)
		return x, err
	}, `SELECT d.last_tag, r.pass_id FROM apple_devices d
		LEFT JOIN apple_registrations r ON r.device_library_id = d.device_library_id AND r.pass_type_identifier = $1 AND r.tag > $2
		WHERE d.device_library_id = $3 ORDER BY r.pass_id`, passTypeIdentifier, since, deviceLibraryID)
	if badText(err) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading updated serials of device %s: %w", deviceLibraryID, err)
	}
	if len(rows) == 0 {
		return nil, 0, nil
	}
	var serials []string
	for _, r := range rows {
		if r.passID != nil {
			serials = append(serials, *r.passID)
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
	// A push job's own record (see Store.jobs).
	rows, err := s.jobs.Query(ctx, touchPassesSQL, workspaceID, passIDs)
	if err != nil {
		return nil, fmt.Errorf("touching passes: %w", err)
	}
	var touched []sqlstore.Touched
	var t sqlstore.Touched
	if _, err := pgx.ForEachRow(rows, []any{&t.DeviceLibraryID, &t.PushToken, &t.PassID, &t.ExternalID}, func() error {
		touched = append(touched, t)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("touching passes: %w", err)
	}
	if len(touched) == 0 {
		return nil, nil
	}
	return sqlstore.PushTargets(touched), nil
}

// touchPassesSQL is touch for passes ($2) of workspace $1 in one
// statement, so one round trip and an implicit transaction instead of
// seven: the devices registered for the passes are locked in ID order
// first (locked is evaluated in order before any update reads it), then
// each one's tag is bumped and its registrations of the passes stamped
// with it, returning device, push token, pass and external ID per
// registration. The registrations are those of the statement's snapshot:
// one created while this waited for a lock is missed, as touch misses a
// deletion, and that device fetches the pass on registering anyway.
const touchPassesSQL = `WITH locked AS (
		SELECT d.device_library_id FROM apple_devices d
		WHERE d.device_library_id IN (SELECT r.device_library_id FROM apple_registrations r WHERE r.workspace_id = $1 AND r.pass_id = ANY($2))
		ORDER BY d.device_library_id FOR UPDATE
	), regs AS (
		SELECT r.device_library_id, r.pass_type_identifier, r.pass_id, p.external_id
		FROM apple_registrations r JOIN passes p ON p.workspace_id = r.workspace_id AND p.id = r.pass_id
		WHERE r.workspace_id = $1 AND r.pass_id = ANY($2) AND r.device_library_id IN (SELECT device_library_id FROM locked)
	), bumped AS (
		UPDATE apple_devices d SET last_tag = d.last_tag + 1
		WHERE d.device_library_id IN (SELECT device_library_id FROM regs)
		RETURNING d.device_library_id, d.push_token, d.last_tag
	), stamped AS (
		UPDATE apple_registrations r SET tag = b.last_tag
		FROM regs g JOIN bumped b ON b.device_library_id = g.device_library_id
		WHERE r.device_library_id = g.device_library_id AND r.pass_type_identifier = g.pass_type_identifier AND r.pass_id = g.pass_id
	)
	SELECT g.device_library_id, b.push_token, g.pass_id, g.external_id FROM regs g JOIN bumped b ON b.device_library_id = g.device_library_id`

func scanString(r pgx.Row) (string, error) {
	var v string
	err := r.Scan(&v)
	return v, err
}

// notDeletedOfTemplate restricts a touch or a device listing to the
// template's passes that are not deleted (p is the pass).
func notDeletedOfTemplate(a *queryArgs, workspaceID, templateID string) string {
	return `p.workspace_id = ` + a.add(workspaceID) + ` AND p.template_id = ` + a.add(templateID) +
		` AND p.lifecycle <> ` + a.add(string(core.LifecycleDeleted))
}

// TemplateDevices pages the devices holding not-deleted passes of the
// template, in ID order.
func (s *Store) TemplateDevices(ctx context.Context, workspaceID, templateID, after string, limit int) ([]string, error) {
	if limit <= 0 {
		limit = sqlstore.DefaultLimit
	}
	var a queryArgs
	query := `SELECT DISTINCT r.device_library_id FROM apple_registrations r JOIN passes p ON p.id = r.pass_id
		WHERE r.workspace_id = ` + a.add(workspaceID) + ` AND r.device_library_id > ` + a.add(after) +
		` AND ` + notDeletedOfTemplate(&a, workspaceID, templateID) + `
		ORDER BY r.device_library_id LIMIT ` + a.add(limit)
	ids, err := queryAll(ctx, s.pool, scanString, query, a...)
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
	var out []core.PushTarget
	err := inTxOn(ctx, s.jobs, func(tx pgx.Tx) error { // a push job's own record (see Store.jobs)
		var err error
		out, err = touch(ctx, tx, touchScope{workspaceID: workspaceID, devices: deviceIDs, templateID: templateID})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("touching devices of template %s: %w", templateID, err)
	}
	return out, nil
}

// touchScope selects the registrations a touch stamps: those of the
// workspace on the devices, restricted to the not-deleted passes of
// templateID when given (TouchPasses has its own statement).
type touchScope struct {
	workspaceID string
	devices     []string
	templateID  string
}

// touch locks the scope's devices in ID order (so concurrent touches of
// overlapping devices queue instead of deadlocking), finds their
// registrations in scope, bumps the tag of each device that has one and
// stamps those registrations with it. Every statement is driven by keys
// (arrays bound to primary key or index lookups), so a batch costs the
// same however many devices and passes the database holds. Holding the
// device locks keeps the registrations found stable: every other writer
// of a device's registrations takes its lock first, except
// UnregisterDevice, whose deletion the stamp then simply misses.
func touch(ctx context.Context, tx pgx.Tx, sc touchScope) ([]core.PushTarget, error) {
	locked, err := queryAll(ctx, tx, scanString, `SELECT device_library_id FROM apple_devices WHERE device_library_id = ANY($1)
		ORDER BY device_library_id FOR UPDATE`, sc.devices)
	if err != nil {
		return nil, fmt.Errorf("locking devices: %w", err)
	}
	if len(locked) == 0 {
		return nil, nil
	}
	type reg struct{ device, passType, passID string }
	var a queryArgs
	query := `SELECT device_library_id, pass_type_identifier, pass_id FROM apple_registrations
		WHERE workspace_id = ` + a.add(sc.workspaceID) + ` AND device_library_id = ANY(` + a.add(locked) + `)`
	regs, err := queryAll(ctx, tx, func(r pgx.Row) (reg, error) {
		var x reg
		err := r.Scan(&x.device, &x.passType, &x.passID)
		return x, err
	}, query, a...)
	if err != nil {
		return nil, fmt.Errorf("finding registrations: %w", err)
	}
	if len(regs) == 0 {
		return nil, nil
	}
	passIDs := make([]string, 0, len(regs))
	for _, r := range regs {
		passIDs = append(passIDs, r.passID)
	}
	a = nil
	query = `SELECT id, external_id FROM passes WHERE workspace_id = ` + a.add(sc.workspaceID) + ` AND id = ANY(` + a.add(passIDs) + `)`
	if sc.templateID != "" {
		query += ` AND template_id = ` + a.add(sc.templateID) + ` AND lifecycle <> ` + a.add(string(core.LifecycleDeleted))
	}
	type passRef struct{ id, externalID string }
	refs, err := queryAll(ctx, tx, func(r pgx.Row) (passRef, error) {
		var x passRef
		err := r.Scan(&x.id, &x.externalID)
		return x, err
	}, query, a...)
	if err != nil {
		return nil, fmt.Errorf("reading passes: %w", err)
	}
	external := make(map[string]string, len(refs))
	for _, r := range refs {
		external[r.id] = r.externalID
	}
	var hitDevices []string
	hit := map[string]bool{}
	kept := regs[:0]
	for _, r := range regs {
		if _, ok := external[r.passID]; !ok {
			continue
		}
		kept = append(kept, r)
		if !hit[r.device] {
			hit[r.device] = true
			hitDevices = append(hitDevices, r.device)
		}
	}
	if len(kept) == 0 {
		return nil, nil
	}
	type device struct {
		token string
		tag   int64
	}
	bumped := map[string]device{}
	rows, err := tx.Query(ctx, `UPDATE apple_devices SET last_tag = last_tag + 1 WHERE device_library_id = ANY($1)
		RETURNING device_library_id, push_token, last_tag`, hitDevices)
	if err != nil {
		return nil, fmt.Errorf("bumping device tags: %w", err)
	}
	var id string
	var d device
	if _, err := pgx.ForEachRow(rows, []any{&id, &d.token, &d.tag}, func() error { bumped[id] = d; return nil }); err != nil {
		return nil, fmt.Errorf("bumping device tags: %w", err)
	}
	n := len(kept)
	devs, types, ids, tags := make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	touched := make([]sqlstore.Touched, n)
	for i, r := range kept {
		devs[i], types[i], ids[i], tags[i] = r.device, r.passType, r.passID, bumped[r.device].tag
		touched[i] = sqlstore.Touched{DeviceLibraryID: r.device, PushToken: bumped[r.device].token, PassID: r.passID, ExternalID: external[r.passID]}
	}
	if _, err := tx.Exec(ctx, `UPDATE apple_registrations r SET tag = v.tag
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v (device_library_id, pass_type_identifier, pass_id, tag)
		WHERE r.device_library_id = v.device_library_id AND r.pass_type_identifier = v.pass_type_identifier AND r.pass_id = v.pass_id`,
		devs, types, ids, tags); err != nil {
		return nil, fmt.Errorf("stamping registrations: %w", err)
	}
	return sqlstore.PushTargets(touched), nil
}

// DropPushToken removes the workspace's registrations of the devices
// using token that were last updated before invalidSince (any, when it is
// zero); pass rows are left alone. The device rows are locked before
// their registrations, as every writer does: a registration racing the
// drop either commits first (its newer updated_at is what the locking
// read re-checks, so the device is kept) or waits for the drop.
func (s *Store) DropPushToken(ctx context.Context, workspaceID, token string, invalidSince time.Time) (int64, error) {
	query := `SELECT device_library_id FROM apple_devices WHERE push_token = $1`
	args := []any{token}
	if !invalidSince.IsZero() {
		query += ` AND updated_at < $2`
		args = append(args, invalidSince)
	}
	query += ` ORDER BY device_library_id FOR UPDATE`
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		devices, err := queryAll(ctx, tx, scanString, query, args...)
		if badText(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("locking devices of a push token: %w", err)
		}
		if len(devices) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, `DELETE FROM apple_registrations WHERE workspace_id = $1 AND device_library_id = ANY($2)`, workspaceID, devices)
		if err != nil {
			return fmt.Errorf("dropping push token: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// PassRegistrations lists a pass's registrations by device ID.
func (s *Store) PassRegistrations(ctx context.Context, workspaceID, passID string) ([]core.Registration, error) {
	regs, err := queryAll(ctx, s.pool, func(row pgx.Row) (core.Registration, error) {
		var r core.Registration
		if err := row.Scan(&r.DeviceLibraryID, &r.PassTypeIdentifier, &r.PassID, &r.WorkspaceID, &r.PushToken, &r.Tag, &r.CreatedAt, &r.UpdatedAt); err != nil {
			return core.Registration{}, err
		}
		r.CreatedAt = r.CreatedAt.UTC()
		r.UpdatedAt = r.UpdatedAt.UTC()
		return r, nil
	}, `SELECT r.device_library_id, r.pass_type_identifier, r.pass_id, r.workspace_id, d.push_token, r.tag, r.created_at, r.updated_at
		FROM apple_registrations r JOIN apple_devices d ON d.device_library_id = r.device_library_id
		WHERE r.workspace_id = $1 AND r.pass_id = $2 ORDER BY r.device_library_id, r.pass_type_identifier`, workspaceID, passID)
	if badText(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing registrations of pass %s: %w", passID, err)
	}
	return regs, nil
}
