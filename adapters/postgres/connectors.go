package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

var (
	_ core.ConnectorStore = (*Store)(nil)
	_ core.MappingStore   = (*Store)(nil)
)

const connectorColumns = `id, workspace_id, name, kind, config, secrets_sealed, mapping, created_at, updated_at`

func scanConnector(row pgx.Row) (core.Connector, error) {
	var c core.Connector
	var kind string
	var config []byte
	if err := row.Scan(&c.ID, &c.WorkspaceID, &c.Name, &kind, &config, &c.SecretsSealed, &c.Mapping, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return core.Connector{}, err
	}
	c.Kind = core.ConnectorKind(kind)
	if config != nil {
		c.Config = config
	}
	if c.SecretsSealed == nil {
		c.SecretsSealed = []byte{}
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c, nil
}

// connectorArgs are c's column values in connectorColumns order.
func connectorArgs(c core.Connector) []any {
	return []any{c.ID, c.WorkspaceID, c.Name, string(c.Kind), sqlstore.RawOrNil(c.Config), c.SecretsSealed, c.Mapping, c.CreatedAt, c.UpdatedAt}
}

// connectorWriteError translates what inserting or updating c failed with.
func connectorWriteError(err error, c core.Connector, what string) error {
	if cn, ok := constraintViolation(err, codeUniqueViolation); ok {
		if cn == "connectors_name_key" {
			return &core.ConflictError{Field: "name", Reason: fmt.Sprintf("a connector named %q already exists", c.Name)}
		}
		return &core.ConflictError{Field: "id", Reason: "a connector with this ID already exists"}
	}
	if _, ok := constraintViolation(err, codeInvalidTextRepresentation); ok {
		return core.Invalid("config", "is not JSON")
	}
	if badText(err) {
		return core.Invalid("connector", "contains characters that cannot be stored")
	}
	return fmt.Errorf("%s connector %s: %w", what, c.ID, err)
}

// CreateConnector stores a new connector.
func (s *Store) CreateConnector(ctx context.Context, c core.Connector) error {
	c = sqlstore.NormConnector(c)
	_, err := s.pool.Exec(ctx, `INSERT INTO connectors (`+connectorColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, connectorArgs(c)...)
	if err != nil {
		return connectorWriteError(err, c, "inserting")
	}
	return nil
}

// Connector loads one connector of the workspace.
func (s *Store) Connector(ctx context.Context, workspaceID, id string) (core.Connector, error) {
	return connectorIn(ctx, s.pool, `workspace_id = $1 AND id = $2`, "", workspaceID, id)
}

// ConnectorByID finds a connector whatever its workspace.
func (s *Store) ConnectorByID(ctx context.Context, id string) (core.Connector, error) {
	return connectorIn(ctx, s.pool, `id = $1`, "", id)
}

func connectorIn(ctx context.Context, q querier, where, lock string, args ...any) (core.Connector, error) {
	id := args[len(args)-1]
	c, err := scanConnector(q.QueryRow(ctx, `SELECT `+connectorColumns+` FROM connectors WHERE `+where+` `+lock, args...))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
		return core.Connector{}, fmt.Errorf("connector %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Connector{}, fmt.Errorf("loading connector %s: %w", id, err)
	}
	return c, nil
}

// ListConnectors pages the workspace's connectors by ID (creation order).
func (s *Store) ListConnectors(ctx context.Context, workspaceID string, page core.Page) ([]core.Connector, string, error) {
	return pageByID(ctx, s.pool, "connectors", `SELECT `+connectorColumns+` FROM connectors`, scanConnector, func(x core.Connector) string { return x.ID }, workspaceID, page)
}

// UpdateConnector changes a connector with its row locked. ID, workspace
// and creation time stay; UpdatedAt is what fn leaves.
func (s *Store) UpdateConnector(ctx context.Context, workspaceID, id string, fn func(*core.Connector) error) (core.Connector, error) {
	var out core.Connector
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		before, err := connectorIn(ctx, tx, `workspace_id = $1 AND id = $2`, "FOR UPDATE", workspaceID, id)
		if err != nil {
			return err
		}
		c := before
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.WorkspaceID, c.CreatedAt = before.ID, before.WorkspaceID, before.CreatedAt
		c = sqlstore.NormConnector(c)
		_, err = tx.Exec(ctx, `UPDATE connectors SET name = $1, kind = $2, config = $3, secrets_sealed = $4, mapping = $5, updated_at = $6
			WHERE workspace_id = $7 AND id = $8`, c.Name, string(c.Kind), sqlstore.RawOrNil(c.Config), c.SecretsSealed, c.Mapping, c.UpdatedAt,
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM connectors WHERE workspace_id = $1 AND id = $2`, workspaceID, id)
	if err != nil && !badText(err) {
		return fmt.Errorf("deleting connector %s: %w", id, err)
	}
	if err != nil || tag.RowsAffected() == 0 {
		return fmt.Errorf("connector %s: %w", id, core.ErrNotFound)
	}
	return nil
}

// Triggers.

const triggerColumns = `id, workspace_id, connector_id, topic, dedupe_key, source, payload, headers, occurred_at, received_at, status, outcome, updated_at`

func scanTrigger(row pgx.Row) (core.Trigger, error) {
	var t core.Trigger
	var payload, headers, outcome []byte
	var status string
	if err := row.Scan(&t.ID, &t.WorkspaceID, &t.ConnectorID, &t.Topic, &t.DedupeKey, &t.Source, &payload, &headers,
		&t.OccurredAt, &t.ReceivedAt, &status, &outcome, &t.UpdatedAt); err != nil {
		return core.Trigger{}, err
	}
	h, err := sqlstore.DecodeHeaders(headers)
	if err != nil {
		return core.Trigger{}, fmt.Errorf("trigger %s: %w", t.ID, err)
	}
	t.Headers = h
	t.Payload = payload
	if outcome != nil {
		t.Outcome = outcome
	}
	t.Status = core.TriggerStatus(status)
	t.OccurredAt = utc(t.OccurredAt)
	t.ReceivedAt = t.ReceivedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	return t, nil
}

// acceptTriggersSQL stores a batch and the jobs of its new triggers in
// one statement, so one round trip and an implicit transaction: the
// data-modifying CTEs commit or fail together. A trigger whose connector
// and dedupe key exist is skipped (ON CONFLICT on that constraint only:
// any other violation fails the whole batch), and only the inserted rows
// reach the jobs insert and the result. A claimed trigger's job ($14) is
// written enqueued as of now ($15) and started, for the process that
// accepted it, and comes back with its ID and the trigger's source (its
// connector's kind and mapping, and that mapping's newest version), so
// the run reads neither.
var acceptTriggersSQL = `WITH t AS (
		INSERT INTO triggers (` + triggerColumns + `)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::json[], $8::json[],
			$9::timestamptz[], $10::timestamptz[], $11::text[], $12::json[], $13::timestamptz[])
		ON CONFLICT (connector_id, dedupe_key) DO NOTHING
		RETURNING id, workspace_id, connector_id, received_at
	), j AS (
		INSERT INTO jobs (workspace_id, kind, key, state, attempts, created_at, enqueued_at)
		SELECT t.workspace_id, '` + core.JobKindTriggerApply + `', t.id,
			CASE WHEN c.claim THEN '` + string(core.JobEnqueued) + `' ELSE '` + string(core.JobPending) + `' END,
			CASE WHEN c.claim THEN 1 ELSE 0 END,
			t.received_at, CASE WHEN c.claim THEN $15::timestamptz END
		FROM t JOIN unnest($1::text[], $14::bool[]) AS c (id, claim) ON c.id = t.id
		ON CONFLICT (kind, key) DO NOTHING
		RETURNING id, key, state
	)
	SELECT t.id, j.id, coalesce(cn.kind, ''), coalesce(cn.mapping, ''),
		coalesce((SELECT max(m.version) FROM mappings m WHERE m.workspace_id = t.workspace_id AND m.name = cn.mapping), 0)
	FROM t
	LEFT JOIN j ON j.key = t.id AND j.state = '` + string(core.JobEnqueued) + `'
	LEFT JOIN connectors cn ON j.id IS NOT NULL AND cn.workspace_id = t.workspace_id AND cn.id = t.connector_id`

// AcceptTriggers stores the triggers that are new and one trigger.apply
// job for each, all or nothing. Concurrent calls share transactions
// (sqlstore.Batcher): under load one commit, and one wait for the disk,
// serves many webhooks; a call whose triggers fail is retried alone, so it
// fails alone, and a call returns once the transaction holding its
// triggers has committed.
func (s *Store) AcceptTriggers(ctx context.Context, triggers []core.Trigger) ([]core.Accepted, error) {
	if len(triggers) == 0 {
		return []core.Accepted{}, nil
	}
	if s.accept == nil {
		return s.acceptTriggers(ctx, triggers)
	}
	return s.accept.Do(ctx, triggers)
}

// acceptTriggers stores a batch in one statement (acceptTriggersSQL).
// Duplicates within the batch are settled here, the first standing, so
// the statement never meets its own rows.
func (s *Store) acceptTriggers(ctx context.Context, triggers []core.Trigger) ([]core.Accepted, error) {
	out := make([]core.Accepted, len(triggers))
	n := 0
	for i, d := range sqlstore.DedupeTriggers(triggers) {
		out[i].Duplicate = d
		if !d {
			n++
		}
	}
	if n == 0 {
		return out, nil
	}
	now := time.Now()
	ids, workspaces, connectors, topics, dedupes, sources, statuses := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n),
		make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	payloads, headers, outcomes := make([][]byte, 0, n), make([][]byte, 0, n), make([][]byte, 0, n)
	occurred := make([]*time.Time, 0, n)
	claims := make([]bool, 0, n)
	received, updated := make([]time.Time, 0, n), make([]time.Time, 0, n)
	stored := make([]core.Trigger, len(triggers)) // as written
	index := make(map[string]int, n)              // a new trigger's place in triggers
	for i, t := range triggers {
		if out[i].Duplicate {
			continue
		}
		t = sqlstore.NormTrigger(t, now)
		stored[i], index[t.ID] = t, i
		h, err := sqlstore.EncodeHeaders(t.Headers)
		if err != nil {
			return nil, err
		}
		ids, workspaces, connectors = append(ids, t.ID), append(workspaces, t.WorkspaceID), append(connectors, t.ConnectorID)
		topics, dedupes, sources = append(topics, t.Topic), append(dedupes, t.DedupeKey), append(sources, t.Source)
		payloads, headers, outcomes = append(payloads, t.Payload), append(headers, h), append(outcomes, sqlstore.RawOrNil(t.Outcome))
		occurred, received = append(occurred, t.OccurredAt), append(received, t.ReceivedAt)
		statuses, updated = append(statuses, string(t.Status)), append(updated, t.UpdatedAt)
		claims = append(claims, t.Claim)
	}
	rows, err := s.pool.Query(ctx, acceptTriggersSQL, ids, workspaces, connectors, topics, dedupes, sources, payloads, headers,
		occurred, received, statuses, outcomes, updated, claims, sqlstore.TruncTime(now))
	if err != nil {
		return nil, acceptError(err)
	}
	inserted := make([]bool, len(triggers))
	var id, kind string
	var job *int64
	var src core.TriggerSource
	_, err = pgx.ForEachRow(rows, []any{&id, &job, &kind, &src.Mapping, &src.MappingVersion}, func() error {
		i := index[id]
		inserted[i] = true
		if job != nil { // claimed: the run needs neither the job nor the trigger read back
			src.ConnectorKind = core.ConnectorKind(kind)
			out[i].Job = sqlstore.TriggerJob(stored[i])
			out[i].Job.ID = *job
			out[i].Loaded = &core.LoadedTrigger{Trigger: stored[i], Source: src}
		}
		return nil
	})
	if err != nil {
		return nil, acceptError(err)
	}
	for i := range out {
		// Skipped by the statement: a concurrent delivery stored it first.
		out[i].Duplicate = out[i].Duplicate || !inserted[i]
	}
	return out, nil
}

func acceptError(err error) error {
	if _, ok := constraintViolation(err, codeUniqueViolation); ok {
		return &core.ConflictError{Field: "id", Reason: "a trigger with this ID already exists"}
	}
	if _, ok := constraintViolation(err, codeInvalidTextRepresentation); ok {
		return core.Invalid("payload", "is not JSON")
	}
	if badText(err) {
		return core.Invalid("trigger", "contains characters that cannot be stored")
	}
	return fmt.Errorf("storing triggers: %w", err)
}

// Trigger loads one trigger of the workspace.
func (s *Store) Trigger(ctx context.Context, workspaceID, id string) (core.Trigger, error) {
	t, err := scanTrigger(s.pool.QueryRow(ctx, `SELECT `+triggerColumns+` FROM triggers WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
		return core.Trigger{}, fmt.Errorf("trigger %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Trigger{}, fmt.Errorf("loading trigger %s: %w", id, err)
	}
	return t, nil
}

// TriggerToApply reads a trigger with its connector's kind and mapping
// and the mapping's newest version, in one query.
func (s *Store) TriggerToApply(ctx context.Context, workspaceID, id string) (core.Trigger, core.TriggerSource, error) {
	var src core.TriggerSource
	var kind string
	t, err := scanTrigger(sqlstore.ScanWith{Row: s.pool.QueryRow(ctx, `SELECT `+sqlstore.Qualified("t", triggerColumns)+`,
			coalesce(c.kind, ''), coalesce(c.mapping, ''),
			coalesce((SELECT max(m.version) FROM mappings m WHERE m.workspace_id = t.workspace_id AND m.name = c.mapping), 0)
		FROM triggers t LEFT JOIN connectors c ON c.workspace_id = t.workspace_id AND c.id = t.connector_id
		WHERE t.workspace_id = $1 AND t.id = $2`, workspaceID, id), Extra: []any{&kind, &src.Mapping, &src.MappingVersion}})
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
		return core.Trigger{}, src, fmt.Errorf("trigger %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Trigger{}, src, fmt.Errorf("loading trigger %s: %w", id, err)
	}
	src.ConnectorKind = core.ConnectorKind(kind)
	return t, src, nil
}

// ListTriggers pages the workspace's triggers newest first.
func (s *Store) ListTriggers(ctx context.Context, workspaceID string, q core.TriggerQuery) ([]core.Trigger, string, error) {
	limit := sqlstore.PageLimit(q.Limit)
	var args queryArgs
	query := `SELECT ` + triggerColumns + ` FROM triggers WHERE workspace_id = ` + args.add(workspaceID)
	if q.Cursor != "" {
		before, err := sqlstore.DecodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND id < ` + args.add(before)
	}
	if q.ConnectorID != "" {
		query += ` AND connector_id = ` + args.add(q.ConnectorID)
	}
	if q.Status != "" {
		query += ` AND status = ` + args.add(string(q.Status))
	}
	if q.Topic != "" {
		query += ` AND topic = ` + args.add(q.Topic)
	}
	if !q.Since.IsZero() {
		query += ` AND received_at >= ` + args.add(sqlstore.TruncTime(q.Since))
	}
	query += ` ORDER BY id DESC LIMIT ` + args.add(limit+1)
	out, err := queryAll(ctx, s.pool, scanTrigger, query, args...)
	if badText(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("listing triggers: %w", err)
	}
	out, next := sqlstore.CutPage(out, limit, func(x core.Trigger) string { return x.ID })
	return out, next, nil
}

// RecordTriggerOutcome sets a trigger's status and outcome.
func (s *Store) RecordTriggerOutcome(ctx context.Context, workspaceID, id string, status core.TriggerStatus, outcome json.RawMessage, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE triggers SET status = $1, outcome = $2, updated_at = $3 WHERE workspace_id = $4 AND id = $5`,
		string(status), sqlstore.RawOrNil(outcome), sqlstore.TruncTime(at), workspaceID, id)
	if _, ok := constraintViolation(err, codeInvalidTextRepresentation); ok {
		return core.Invalid("outcome", "is not JSON that can be stored")
	}
	if err != nil && !badText(err) {
		return fmt.Errorf("recording outcome of trigger %s: %w", id, err)
	}
	if err != nil || tag.RowsAffected() == 0 {
		return fmt.Errorf("trigger %s: %w", id, core.ErrNotFound)
	}
	return nil
}

// FinishTrigger records a trigger's outcome and completes its
// trigger.apply job in one statement. A job already done or failed (a
// duplicate run) is ErrJobDone, and the outcome its first run recorded
// stays.
func (s *Store) FinishTrigger(ctx context.Context, workspaceID, id string, status core.TriggerStatus, outcome json.RawMessage, at time.Time, jobID int64) error {
	// On the bookkeeping pool: a lost outcome runs the trigger again,
	// which its pass's source keys make a no-op.
	tag, err := s.jobs.Exec(ctx, `WITH t AS (
			SELECT 1 FROM triggers WHERE workspace_id = $4 AND id = $5
		), j AS (
			UPDATE jobs SET state = 'done', done_at = $3 WHERE id = $6 AND state NOT IN ('done', 'failed') AND EXISTS (SELECT 1 FROM t) RETURNING id
		)
		UPDATE triggers t SET status = $1, outcome = $2, updated_at = $3 FROM j WHERE t.workspace_id = $4 AND t.id = $5`,
		string(status), sqlstore.RawOrNil(outcome), sqlstore.TruncTime(at), workspaceID, id, jobID)
	if _, ok := constraintViolation(err, codeInvalidTextRepresentation); ok {
		return core.Invalid("outcome", "is not JSON that can be stored")
	}
	if badText(err) {
		return core.Invalid("outcome", "contains characters that cannot be stored")
	}
	if err != nil {
		return fmt.Errorf("recording outcome of trigger %s: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Nothing changed: the trigger is missing, or the job finished.
	if _, err := s.Trigger(ctx, workspaceID, id); err != nil {
		return err
	}
	j, err := jobIn(ctx, s.pool, jobID)
	if err != nil {
		return err
	}
	return fmt.Errorf("job %d is %s: %w", jobID, j.State, core.ErrJobDone)
}

// ReplayTrigger sets a trigger back to received and writes its replay's
// trigger.apply job, in one statement.
func (s *Store) ReplayTrigger(ctx context.Context, workspaceID, id, replay string, at time.Time) (core.Trigger, error) {
	j := sqlstore.ReplayJob(workspaceID, id, replay, sqlstore.TruncTime(at))
	t, err := scanTrigger(s.pool.QueryRow(ctx, `WITH t AS (
			UPDATE triggers SET status = $1, outcome = NULL, updated_at = $2 WHERE workspace_id = $3 AND id = $4
			RETURNING `+triggerColumns+`
		), j AS (
			INSERT INTO jobs (workspace_id, kind, key, state, created_at)
			SELECT workspace_id, $5, $6, $7, $2 FROM t
			ON CONFLICT (kind, key) DO NOTHING
		)
		SELECT `+triggerColumns+` FROM t`,
		string(core.TriggerReceived), j.CreatedAt, workspaceID, id, j.Kind, j.Key, string(j.State)))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
		return core.Trigger{}, fmt.Errorf("trigger %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Trigger{}, fmt.Errorf("replaying trigger %s: %w", id, err)
	}
	return t, nil
}

// Mapping files.

const mappingColumns = `workspace_id, name, version, source, created_at`

func scanMapping(row pgx.Row) (core.MappingFile, error) {
	var m core.MappingFile
	if err := row.Scan(&m.WorkspaceID, &m.Name, &m.Version, &m.Source, &m.CreatedAt); err != nil {
		return core.MappingFile{}, err
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return m, nil
}

// putMappingAttempts bounds the retries of PutMapping: each retry follows
// a put of the same mapping that committed, so it is progress.
const putMappingAttempts = 100

// PutMapping stores source as the next version of the mapping. The
// version is max+1 read in the insert itself; two concurrent puts read
// the same max, the second waits on the first's key and fails with a
// unique violation once it commits, and then tries again.
func (s *Store) PutMapping(ctx context.Context, workspaceID, name, source string, at time.Time) (core.MappingFile, error) {
	at = sqlstore.TruncTime(at)
	for attempt := 1; ; attempt++ {
		m, err := scanMapping(s.pool.QueryRow(ctx, `INSERT INTO mappings (`+mappingColumns+`)
			SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4 FROM mappings WHERE workspace_id = $1 AND name = $2
			RETURNING `+mappingColumns, workspaceID, name, source, at))
		if _, ok := constraintViolation(err, codeUniqueViolation); ok && attempt < putMappingAttempts {
			continue
		}
		if badText(err) {
			return core.MappingFile{}, core.Invalid("mapping", "contains characters that cannot be stored")
		}
		if err != nil {
			return core.MappingFile{}, fmt.Errorf("storing mapping %s: %w", name, err)
		}
		return m, nil
	}
}

// Mapping loads the latest version of a mapping.
func (s *Store) Mapping(ctx context.Context, workspaceID, name string) (core.MappingFile, error) {
	m, err := scanMapping(s.pool.QueryRow(ctx, `SELECT `+mappingColumns+` FROM mappings WHERE workspace_id = $1 AND name = $2
		ORDER BY version DESC LIMIT 1`, workspaceID, name))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
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
	out, err := queryAll(ctx, s.pool, scanMapping, `SELECT `+mappingColumns+` FROM mappings WHERE workspace_id = $1 AND name = $2
		ORDER BY version DESC`, workspaceID, name)
	if err != nil && !badText(err) {
		return nil, fmt.Errorf("listing versions of mapping %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("mapping %s: %w", name, core.ErrNotFound)
	}
	return out, nil
}

// ListMappings returns the latest version of each mapping, by name.
func (s *Store) ListMappings(ctx context.Context, workspaceID string) ([]core.MappingFile, error) {
	out, err := queryAll(ctx, s.pool, scanMapping, `SELECT DISTINCT ON (name) `+mappingColumns+` FROM mappings WHERE workspace_id = $1
		ORDER BY name, version DESC`, workspaceID)
	if badText(err) {
		return []core.MappingFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing mappings: %w", err)
	}
	if out == nil {
		out = []core.MappingFile{}
	}
	return out, nil
}
