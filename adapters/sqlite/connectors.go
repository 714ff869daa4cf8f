package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

var (
	_ core.ConnectorStore = (*Store)(nil)
	_ core.MappingStore   = (*Store)(nil)
)

const connectorColumns = `id, workspace_id, name, kind, config, secrets_sealed, mapping, created_at, updated_at`

func scanConnector(row scanner) (core.Connector, error) {
	var c core.Connector
	var kind string
	var config sql.NullString
	var created, updated int64
	if err := row.Scan(&c.ID, &c.WorkspaceID, &c.Name, &kind, &config, &c.SecretsSealed, &c.Mapping, &created, &updated); err != nil {
		return core.Connector{}, err
	}
	c.Kind = core.ConnectorKind(kind)
	if config.Valid {
		c.Config = json.RawMessage(config.String)
	}
	if c.SecretsSealed == nil {
		c.SecretsSealed = []byte{}
	}
	c.CreatedAt = fromMicros(created)
	c.UpdatedAt = fromMicros(updated)
	return c, nil
}

// nullText is b for a nullable TEXT column: NULL when empty.
func nullText(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// connectorArgs are c's column values in connectorColumns order.
func connectorArgs(c core.Connector) []any {
	return []any{c.ID, c.WorkspaceID, c.Name, string(c.Kind), nullText(c.Config), c.SecretsSealed, c.Mapping, micros(c.CreatedAt), micros(c.UpdatedAt)}
}

// sqliteConstraintCheck is the extended result code of a failed CHECK:
// here, JSON columns given what is not JSON.
const sqliteConstraintCheck = 275

func checkViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqliteConstraintCheck
}

// connectorWriteError translates what inserting or updating c failed with.
func connectorWriteError(err error, c core.Connector, what string) error {
	if checkViolation(err) {
		return core.Invalid("config", "is not JSON")
	}
	if cols, ok := uniqueViolation(err); ok {
		if strings.Contains(cols, "connectors.name") {
			return &core.ConflictError{Field: "name", Reason: fmt.Sprintf("a connector named %q already exists", c.Name)}
		}
		return &core.ConflictError{Field: "id", Reason: "a connector with this ID already exists"}
	}
	return fmt.Errorf("%s connector %s: %w", what, c.ID, err)
}

// CreateConnector stores a new connector.
func (s *Store) CreateConnector(ctx context.Context, c core.Connector) error {
	c = sqlstore.NormConnector(c)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO connectors (`+connectorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, connectorArgs(c)...)
		if err != nil {
			return connectorWriteError(err, c, "inserting")
		}
		return nil
	})
}

// Connector loads one connector of the workspace.
func (s *Store) Connector(ctx context.Context, workspaceID, id string) (core.Connector, error) {
	return connectorIn(ctx, s.reader, `workspace_id = ? AND id = ?`, workspaceID, id)
}

// ConnectorByID finds a connector whatever its workspace.
func (s *Store) ConnectorByID(ctx context.Context, id string) (core.Connector, error) {
	return connectorIn(ctx, s.reader, `id = ?`, id)
}

func connectorIn(ctx context.Context, q querier, where string, args ...any) (core.Connector, error) {
	id := args[len(args)-1]
	c, err := scanConnector(q.QueryRowContext(ctx, `SELECT `+connectorColumns+` FROM connectors WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Connector{}, fmt.Errorf("connector %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Connector{}, fmt.Errorf("loading connector %s: %w", id, err)
	}
	return c, nil
}

// ListConnectors pages the workspace's connectors by ID (creation order).
func (s *Store) ListConnectors(ctx context.Context, workspaceID string, page core.Page) ([]core.Connector, string, error) {
	return pageByID(ctx, s.reader, "connectors", `SELECT `+connectorColumns+` FROM connectors`, scanConnector, func(x core.Connector) string { return x.ID }, workspaceID, page)
}

// UpdateConnector changes a connector under the write lock. ID,
// workspace and creation time stay; UpdatedAt is what fn leaves.
func (s *Store) UpdateConnector(ctx context.Context, workspaceID, id string, fn func(*core.Connector) error) (core.Connector, error) {
	var out core.Connector
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		before, err := connectorIn(ctx, tx, `workspace_id = ? AND id = ?`, workspaceID, id)
		if err != nil {
			return err
		}
		c := before
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.WorkspaceID, c.CreatedAt = before.ID, before.WorkspaceID, before.CreatedAt
		c = sqlstore.NormConnector(c)
		_, err = tx.ExecContext(ctx, `UPDATE connectors SET name = ?, kind = ?, config = ?, secrets_sealed = ?, mapping = ?, updated_at = ?
			WHERE workspace_id = ? AND id = ?`, c.Name, string(c.Kind), nullText(c.Config), c.SecretsSealed, c.Mapping, micros(c.UpdatedAt),
			c.WorkspaceID, c.ID)
		if err != nil {
			return connectorWriteError(err, c, "updating")
		}
		out = c
		return nil
	})
	if err != nil {
		return core.Connector{}, err
	}
	return out, nil
}

// DeleteConnector removes a connector; its triggers stay.
func (s *Store) DeleteConnector(ctx context.Context, workspaceID, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM connectors WHERE workspace_id = ? AND id = ?`, workspaceID, id)
		if err != nil {
			return fmt.Errorf("deleting connector %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting connector %s: %w", id, err)
		} else if n == 0 {
			return fmt.Errorf("connector %s: %w", id, core.ErrNotFound)
		}
		return nil
	})
}

// Triggers.

const triggerColumns = `id, workspace_id, connector_id, topic, dedupe_key, source, payload, headers, occurred_at, received_at, status, outcome, updated_at`

func scanTrigger(row scanner) (core.Trigger, error) {
	var t core.Trigger
	var payload string
	var headers, outcome sql.NullString
	var occurred sql.NullInt64
	var received, updated int64
	var status string
	if err := row.Scan(&t.ID, &t.WorkspaceID, &t.ConnectorID, &t.Topic, &t.DedupeKey, &t.Source, &payload, &headers,
		&occurred, &received, &status, &outcome, &updated); err != nil {
		return core.Trigger{}, err
	}
	if headers.Valid {
		h, err := sqlstore.DecodeHeaders([]byte(headers.String))
		if err != nil {
			return core.Trigger{}, fmt.Errorf("trigger %s: %w", t.ID, err)
		}
		t.Headers = h
	}
	t.Payload = json.RawMessage(payload)
	if outcome.Valid {
		t.Outcome = json.RawMessage(outcome.String)
	}
	t.Status = core.TriggerStatus(status)
	t.OccurredAt = fromNullMicros(occurred)
	t.ReceivedAt = fromMicros(received)
	t.UpdatedAt = fromMicros(updated)
	return t, nil
}

const insertTriggerSQL = `INSERT INTO triggers (` + triggerColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (connector_id, dedupe_key) DO NOTHING`

// AcceptTriggers stores the triggers that are new and one trigger.apply
// job for each, all or nothing. Concurrent calls, which would queue for
// the single writer anyway, share its transactions (sqlstore.Batcher); a
// call whose triggers fail is retried alone, so it fails alone, and a
// call returns once the transaction holding its triggers has committed.
func (s *Store) AcceptTriggers(ctx context.Context, triggers []core.Trigger) ([]core.Accepted, error) {
	if len(triggers) == 0 {
		return []core.Accepted{}, nil
	}
	if s.accept == nil {
		return s.acceptTriggers(ctx, triggers)
	}
	return s.accept.Do(ctx, triggers)
}

// acceptTriggers stores a batch in one write transaction. Only the
// (connector, dedupe key) constraint is skipped on conflict: any other
// failure rolls the whole batch back. The source of a claimed trigger is
// not read here, in the single writer: its run reads it.
func (s *Store) acceptTriggers(ctx context.Context, triggers []core.Trigger) ([]core.Accepted, error) {
	out := make([]core.Accepted, len(triggers))
	now := time.Now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// A batch prepares its two statements once; a single trigger
		// (most webhooks) runs them directly.
		var insTrigger, insJob execer = tx, tx
		if len(triggers) > 1 {
			st, err := tx.PrepareContext(ctx, insertTriggerSQL)
			if err != nil {
				return fmt.Errorf("preparing trigger insert: %w", err)
			}
			defer st.Close()
			sj, err := tx.PrepareContext(ctx, insertJobSQL)
			if err != nil {
				return fmt.Errorf("preparing job insert: %w", err)
			}
			defer sj.Close()
			insTrigger, insJob = preparedExec{st}, preparedExec{sj}
		}
		for i, t := range triggers {
			t = sqlstore.NormTrigger(t, now)
			h, err := sqlstore.EncodeHeaders(t.Headers)
			if err != nil {
				return err
			}
			res, err := insTrigger.ExecContext(ctx, insertTriggerSQL, t.ID, t.WorkspaceID, t.ConnectorID, t.Topic, t.DedupeKey, t.Source,
				string(t.Payload), nullText(h), nullMicros(t.OccurredAt), micros(t.ReceivedAt), string(t.Status), nullText(t.Outcome), micros(t.UpdatedAt))
			if _, ok := uniqueViolation(err); ok {
				return &core.ConflictError{Field: "id", Reason: fmt.Sprintf("a trigger with ID %s already exists", t.ID)}
			}
			if checkViolation(err) {
				return core.Invalid("payload", "of trigger %s is not JSON", t.ID)
			}
			if err != nil {
				return fmt.Errorf("inserting trigger %s: %w", t.ID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("inserting trigger %s: %w", t.ID, err)
			}
			out[i] = core.Accepted{Duplicate: n == 0}
			if n == 0 {
				continue
			}
			j := sqlstore.TriggerJob(t)
			id, err := insertJobID(ctx, insJob, j, now)
			if err != nil {
				return err
			}
			if t.Claim && id != 0 {
				j.ID = id
				out[i].Job = j
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Trigger loads one trigger of the workspace.
func (s *Store) Trigger(ctx context.Context, workspaceID, id string) (core.Trigger, error) {
	return triggerIn(ctx, s.reader, workspaceID, id)
}

// TriggerToApply reads a trigger with its connector's kind and mapping
// and the mapping's newest version, in one query.
func (s *Store) TriggerToApply(ctx context.Context, workspaceID, id string) (core.Trigger, core.TriggerSource, error) {
	var src core.TriggerSource
	var kind string
	t, err := scanTrigger(sqlstore.ScanWith{Row: s.reader.QueryRowContext(ctx, `SELECT `+sqlstore.Qualified("t", triggerColumns)+`,
			coalesce(c.kind, ''), coalesce(c.mapping, ''),
			coalesce((SELECT max(m.version) FROM mappings m WHERE m.workspace_id = t.workspace_id AND m.name = c.mapping), 0)
		FROM triggers t LEFT JOIN connectors c ON c.workspace_id = t.workspace_id AND c.id = t.connector_id
		WHERE t.workspace_id = ? AND t.id = ?`, workspaceID, id), Extra: []any{&kind, &src.Mapping, &src.MappingVersion}})
	if errors.Is(err, sql.ErrNoRows) {
		return core.Trigger{}, src, fmt.Errorf("trigger %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Trigger{}, src, fmt.Errorf("loading trigger %s: %w", id, err)
	}
	src.ConnectorKind = core.ConnectorKind(kind)
	return t, src, nil
}

func triggerIn(ctx context.Context, q querier, workspaceID, id string) (core.Trigger, error) {
	t, err := scanTrigger(q.QueryRowContext(ctx, `SELECT `+triggerColumns+` FROM triggers WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Trigger{}, fmt.Errorf("trigger %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Trigger{}, fmt.Errorf("loading trigger %s: %w", id, err)
	}
	return t, nil
}

// ListTriggers pages the workspace's triggers newest first.
func (s *Store) ListTriggers(ctx context.Context, workspaceID string, q core.TriggerQuery) ([]core.Trigger, string, error) {
	limit := sqlstore.PageLimit(q.Limit)
	query := `SELECT ` + triggerColumns + ` FROM triggers WHERE workspace_id = ?`
	args := []any{workspaceID}
	if q.Cursor != "" {
		before, err := sqlstore.DecodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND id < ?`
		args = append(args, before)
	}
	if q.ConnectorID != "" {
		query += ` AND connector_id = ?`
		args = append(args, q.ConnectorID)
	}
	if q.Status != "" {
		query += ` AND status = ?`
		args = append(args, string(q.Status))
	}
	if q.Topic != "" {
		query += ` AND topic = ?`
		args = append(args, q.Topic)
	}
	if !q.Since.IsZero() {
		query += ` AND received_at >= ?`
		args = append(args, micros(q.Since))
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)
	out, err := queryAll(ctx, s.reader, scanTrigger, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing triggers: %w", err)
	}
	out, next := sqlstore.CutPage(out, limit, func(x core.Trigger) string { return x.ID })
	return out, next, nil
}

// RecordTriggerOutcome sets a trigger's status and outcome.
func (s *Store) RecordTriggerOutcome(ctx context.Context, workspaceID, id string, status core.TriggerStatus, outcome json.RawMessage, at time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE triggers SET status = ?, outcome = ?, updated_at = ? WHERE workspace_id = ? AND id = ?`,
			string(status), nullText(outcome), micros(at), workspaceID, id)
		if checkViolation(err) {
			return core.Invalid("outcome", "is not JSON")
		}
		if err != nil {
			return fmt.Errorf("recording outcome of trigger %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("recording outcome of trigger %s: %w", id, err)
		} else if n == 0 {
			return fmt.Errorf("trigger %s: %w", id, core.ErrNotFound)
		}
		return nil
	})
}

// FinishTrigger records a trigger's outcome and completes its
// trigger.apply job in one write transaction. A job already done or
// failed (a duplicate run) is ErrJobDone, and the outcome its first run
// recorded stays.
func (s *Store) FinishTrigger(ctx context.Context, workspaceID, id string, status core.TriggerStatus, outcome json.RawMessage, at time.Time, jobID int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := completeJobIn(ctx, tx, jobID, at); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE triggers SET status = ?, outcome = ?, updated_at = ? WHERE workspace_id = ? AND id = ?`,
			string(status), nullText(outcome), micros(at), workspaceID, id)
		if checkViolation(err) {
			return core.Invalid("outcome", "is not JSON")
		}
		if err != nil {
			return fmt.Errorf("recording outcome of trigger %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("recording outcome of trigger %s: %w", id, err)
		} else if n == 0 {
			return fmt.Errorf("trigger %s: %w", id, core.ErrNotFound)
		}
		return nil
	})
}

// ReplayTrigger sets a trigger back to received and writes its replay's
// trigger.apply job, in one write transaction.
func (s *Store) ReplayTrigger(ctx context.Context, workspaceID, id, replay string, at time.Time) (core.Trigger, error) {
	var out core.Trigger
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		t, err := scanTrigger(tx.QueryRowContext(ctx, `UPDATE triggers SET status = ?, outcome = NULL, updated_at = ? WHERE workspace_id = ? AND id = ?
			RETURNING `+triggerColumns, string(core.TriggerReceived), micros(at), workspaceID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("trigger %s: %w", id, core.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("replaying trigger %s: %w", id, err)
		}
		if err := insertJob(ctx, tx, sqlstore.ReplayJob(workspaceID, id, replay, at), at); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return core.Trigger{}, err
	}
	return out, nil
}

// Mapping files.

const mappingColumns = `workspace_id, name, version, source, created_at`

func scanMapping(row scanner) (core.MappingFile, error) {
	var m core.MappingFile
	var created int64
	if err := row.Scan(&m.WorkspaceID, &m.Name, &m.Version, &m.Source, &created); err != nil {
		return core.MappingFile{}, err
	}
	m.CreatedAt = fromMicros(created)
	return m, nil
}

// PutMapping stores source as the next version of the mapping; the
// single writer makes reading the max and inserting one step.
func (s *Store) PutMapping(ctx context.Context, workspaceID, name, source string, at time.Time) (core.MappingFile, error) {
	var out core.MappingFile
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		m, err := scanMapping(tx.QueryRowContext(ctx, `INSERT INTO mappings (`+mappingColumns+`)
			SELECT ?1, ?2, coalesce(max(version), 0) + 1, ?3, ?4 FROM mappings WHERE workspace_id = ?1 AND name = ?2
			RETURNING `+mappingColumns, workspaceID, name, source, micros(at)))
		if err != nil {
			return fmt.Errorf("storing mapping %s: %w", name, err)
		}
		out = m
		return nil
	})
	if err != nil {
		return core.MappingFile{}, err
	}
	return out, nil
}

// Mapping loads the latest version of a mapping.
func (s *Store) Mapping(ctx context.Context, workspaceID, name string) (core.MappingFile, error) {
	m, err := scanMapping(s.reader.QueryRowContext(ctx, `SELECT `+mappingColumns+` FROM mappings WHERE workspace_id = ? AND name = ?
		ORDER BY version DESC LIMIT 1`, workspaceID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return core.MappingFile{}, fmt.Errorf("mapping %s: %w", name, core.ErrNotFound)
	}
	if err != nil {
		return core.MappingFile{}, fmt.Errorf("loading mapping %s: %w", name, err)
	}
	return m, nil
}

// MappingVersions lists a mapping's versions newest first; a mapping
// with none is not found.
func (s *Store) MappingVersions(ctx context.Context, workspaceID, name string) ([]core.MappingFile, error) {
	out, err := queryAll(ctx, s.reader, scanMapping, `SELECT `+mappingColumns+` FROM mappings WHERE workspace_id = ? AND name = ?
		ORDER BY version DESC`, workspaceID, name)
	if err != nil {
		return nil, fmt.Errorf("listing versions of mapping %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("mapping %s: %w", name, core.ErrNotFound)
	}
	return out, nil
}

// ListMappings returns the latest version of each mapping, by name.
func (s *Store) ListMappings(ctx context.Context, workspaceID string) ([]core.MappingFile, error) {
	out, err := queryAll(ctx, s.reader, scanMapping, `SELECT m.workspace_id, m.name, m.version, m.source, m.created_at
		FROM mappings m JOIN (SELECT name, max(version) AS version FROM mappings WHERE workspace_id = ?1 GROUP BY name) l
			ON m.workspace_id = ?1 AND m.name = l.name AND m.version = l.version
		ORDER BY m.name`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("listing mappings: %w", err)
	}
	if out == nil {
		out = []core.MappingFile{}
	}
	return out, nil
}
