package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

var _ core.WebhookStore = (*Store)(nil)

const webhookColumns = `id, workspace_id, url, events, template_id, fields, secrets_sealed, origin, disabled, disabled_at, disabled_reason, failing_since, created_at, updated_at`

func scanWebhook(row scanner) (core.WebhookSubscription, error) {
	var w core.WebhookSubscription
	var events string
	var fields sql.NullString
	var origin string
	var disabledAt, failingSince sql.NullInt64
	var created, updated int64
	if err := row.Scan(&w.ID, &w.WorkspaceID, &w.URL, &events, &w.TemplateID, &fields, &w.SecretsSealed, &origin, &w.Disabled,
		&disabledAt, &w.DisabledReason, &failingSince, &created, &updated); err != nil {
		return core.WebhookSubscription{}, err
	}
	var f []byte
	if fields.Valid {
		f = []byte(fields.String)
	}
	if err := sqlstore.DecodeWebhookColumns(&w, []byte(events), f); err != nil {
		return core.WebhookSubscription{}, err
	}
	w.Origin = core.WebhookOrigin(origin)
	if w.SecretsSealed == nil {
		w.SecretsSealed = []byte{}
	}
	w.DisabledAt = fromNullMicros(disabledAt)
	w.FailingSince = fromNullMicros(failingSince)
	w.CreatedAt = fromMicros(created)
	w.UpdatedAt = fromMicros(updated)
	return w, nil
}

// webhookArgs are w's column values in webhookColumns order.
func webhookArgs(w core.WebhookSubscription) ([]any, error) {
	events, err := sqlstore.EncodeWebhookEvents(w.Events)
	if err != nil {
		return nil, err
	}
	fields, err := sqlstore.EncodeWebhookFields(w.Fields)
	if err != nil {
		return nil, err
	}
	return []any{w.ID, w.WorkspaceID, w.URL, string(events), w.TemplateID, nullText(fields), w.SecretsSealed, string(w.Origin), w.Disabled,
		nullMicros(w.DisabledAt), w.DisabledReason, nullMicros(w.FailingSince), micros(w.CreatedAt), micros(w.UpdatedAt)}, nil
}

// CreateWebhook stores a new subscription.
func (s *Store) CreateWebhook(ctx context.Context, w core.WebhookSubscription) error {
	w = sqlstore.NormWebhook(w)
	args, err := webhookArgs(w)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		if _, ok := uniqueViolation(err); ok {
			return &core.ConflictError{Field: "id", Reason: "a webhook with this ID already exists"}
		}
		if err != nil {
			return fmt.Errorf("inserting webhook %s: %w", w.ID, err)
		}
		return nil
	})
}

// Webhook loads one subscription of the workspace.
func (s *Store) Webhook(ctx context.Context, workspaceID, id string) (core.WebhookSubscription, error) {
	return webhookIn(ctx, s.reader, workspaceID, id)
}

func webhookIn(ctx context.Context, q querier, workspaceID, id string) (core.WebhookSubscription, error) {
	w, err := scanWebhook(q.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.WebhookSubscription{}, fmt.Errorf("webhook %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.WebhookSubscription{}, fmt.Errorf("loading webhook %s: %w", id, err)
	}
	return w, nil
}

// ListWebhooks pages the workspace's subscriptions by ID (creation order).
func (s *Store) ListWebhooks(ctx context.Context, workspaceID string, page core.Page) ([]core.WebhookSubscription, string, error) {
	return pageByID(ctx, s.reader, "webhooks", `SELECT `+webhookColumns+` FROM webhooks`, scanWebhook, func(x core.WebhookSubscription) string { return x.ID }, workspaceID, page)
}

// ListActiveWebhooks returns the workspace's enabled subscriptions.
func (s *Store) ListActiveWebhooks(ctx context.Context, workspaceID string) ([]core.WebhookSubscription, error) {
	out, err := queryAll(ctx, s.reader, scanWebhook, `SELECT `+webhookColumns+` FROM webhooks WHERE workspace_id = ? AND disabled = 0 ORDER BY id`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("listing active webhooks: %w", err)
	}
	if out == nil {
		out = []core.WebhookSubscription{}
	}
	return out, nil
}

// UpdateWebhook changes a subscription under the write lock.
func (s *Store) UpdateWebhook(ctx context.Context, workspaceID, id string, fn func(*core.WebhookSubscription) error) (core.WebhookSubscription, error) {
	var out core.WebhookSubscription
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		before, err := webhookIn(ctx, tx, workspaceID, id)
		if err != nil {
			return err
		}
		w := before
		w.Events = append([]string(nil), before.Events...)
		w.Fields = cloneFields(before.Fields)
		if err := fn(&w); err != nil {
			return err
		}
		w.ID, w.WorkspaceID, w.CreatedAt = before.ID, before.WorkspaceID, before.CreatedAt
		w = sqlstore.NormWebhook(w)
		if err := saveWebhook(ctx, tx, w); err != nil {
			return err
		}
		out = w
		return nil
	})
	if err != nil {
		return core.WebhookSubscription{}, err
	}
	return out, nil
}

func cloneFields(m map[string]*string) map[string]*string {
	if m == nil {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		if v != nil {
			c := *v
			v = &c
		}
		out[k] = v
	}
	return out
}

func saveWebhook(ctx context.Context, tx *sql.Tx, w core.WebhookSubscription) error {
	args, err := webhookArgs(w)
	if err != nil {
		return err
	}
	// args[2:] are the columns after id and workspace_id.
	_, err = tx.ExecContext(ctx, `UPDATE webhooks SET url = ?, events = ?, template_id = ?, fields = ?, secrets_sealed = ?, origin = ?,
		disabled = ?, disabled_at = ?, disabled_reason = ?, failing_since = ?, created_at = ?, updated_at = ?
		WHERE id = ? AND workspace_id = ?`, append(args[2:], w.ID, w.WorkspaceID)...)
	if err != nil {
		return fmt.Errorf("updating webhook %s: %w", w.ID, err)
	}
	return nil
}

// DeleteWebhook removes a subscription; its deliveries and attempts go
// with it (ON DELETE CASCADE).
func (s *Store) DeleteWebhook(ctx context.Context, workspaceID, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE workspace_id = ? AND id = ?`, workspaceID, id)
		if err != nil {
			return fmt.Errorf("deleting webhook %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting webhook %s: %w", id, err)
		} else if n == 0 {
			return fmt.Errorf("webhook %s: %w", id, core.ErrNotFound)
		}
		return nil
	})
}

// DisableWebhook disables an enabled subscription and appends its
// webhook.disabled event, in one write transaction.
func (s *Store) DisableWebhook(ctx context.Context, workspaceID, id, reason string, at time.Time) (core.WebhookSubscription, error) {
	var out core.WebhookSubscription
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		w, err := webhookIn(ctx, tx, workspaceID, id)
		if err != nil {
			return err
		}
		if w.Disabled {
			out = w
			return nil
		}
		w.Disabled, w.DisabledAt, w.DisabledReason, w.UpdatedAt = true, &at, reason, at
		w = sqlstore.NormWebhook(w)
		if err := saveWebhook(ctx, tx, w); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, []core.Event{core.NewWebhookDisabledEvent(w, reason, at)}); err != nil {
			return err
		}
		out = w
		return nil
	})
	if err != nil {
		return core.WebhookSubscription{}, err
	}
	return out, nil
}

// Deliveries.

const deliveryColumns = `id, workspace_id, subscription_id, event_id, event_type, status, attempts, last_response_status, last_attempt_at, next_attempt_at, created_at`

func scanDelivery(row scanner) (core.WebhookDelivery, error) {
	var d core.WebhookDelivery
	var typ, status string
	var last, next sql.NullInt64
	var created int64
	if err := row.Scan(&d.ID, &d.WorkspaceID, &d.SubscriptionID, &d.EventID, &typ, &status, &d.Attempts, &d.LastResponseStatus,
		&last, &next, &created); err != nil {
		return core.WebhookDelivery{}, err
	}
	d.EventType = core.EventType(typ)
	d.Status = core.WebhookDeliveryStatus(status)
	d.LastAttemptAt = fromNullMicros(last)
	d.NextAttemptAt = fromNullMicros(next)
	d.CreatedAt = fromMicros(created)
	return d, nil
}

const attemptColumns = `delivery_id, attempt, at, request_headers, response_status, response_body, latency_us, error`

func scanAttempt(row scanner) (core.WebhookAttempt, error) {
	var a core.WebhookAttempt
	var at, latency int64
	var headers string
	if err := row.Scan(&a.DeliveryID, &a.Attempt, &at, &headers, &a.ResponseStatus, &a.ResponseBody, &latency, &a.Error); err != nil {
		return core.WebhookAttempt{}, err
	}
	if err := json.Unmarshal([]byte(headers), &a.RequestHeaders); err != nil {
		return core.WebhookAttempt{}, fmt.Errorf("decoding headers of attempt %d of %s: %w", a.Attempt, a.DeliveryID, err)
	}
	a.At = fromMicros(at)
	a.Latency = time.Duration(latency) * time.Microsecond
	return a, nil
}

// RecordWebhookAttempt upserts the delivery, appends the attempt and
// keeps the subscription's FailingSince, in one write transaction.
func (s *Store) RecordWebhookAttempt(ctx context.Context, d core.WebhookDelivery, a core.WebhookAttempt) (core.RecordedWebhookAttempt, error) {
	out, err := s.RecordWebhookAttempts(ctx, []core.WebhookAttemptRecord{{Delivery: d, Attempt: a}})
	if err != nil {
		return core.RecordedWebhookAttempt{}, err
	}
	return out[0], nil
}

// The statements of an attempt, prepared once per transaction: parsing
// costs SQLite more than running them.
const (
	failingSinceSQL = `UPDATE webhooks SET failing_since = CASE WHEN ? THEN NULL ELSE coalesce(failing_since, ?) END
		WHERE workspace_id = ? AND id = ? RETURNING failing_since`
	upsertDeliverySQL = `INSERT INTO webhook_deliveries (` + deliveryColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, attempts = webhook_deliveries.attempts + 1,
			last_response_status = excluded.last_response_status, last_attempt_at = excluded.last_attempt_at,
			next_attempt_at = excluded.next_attempt_at
		RETURNING ` + deliveryColumns
	insertAttemptSQL = `INSERT INTO webhook_attempts (` + attemptColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	// As CompleteJob: only a job not yet finished is completed.
	completeJobSQL = `UPDATE jobs SET state = ?, done_at = ? WHERE id = ? AND state NOT IN (?, ?)`
)

// RecordWebhookAttempts records the attempts and completes their jobs in
// one write transaction.
func (s *Store) RecordWebhookAttempts(ctx context.Context, recs []core.WebhookAttemptRecord) ([]core.RecordedWebhookAttempt, error) {
	type row struct {
		d       core.WebhookDelivery
		a       core.WebhookAttempt
		headers string
	}
	if len(recs) == 0 {
		return []core.RecordedWebhookAttempt{}, nil
	}
	rows := make([]row, len(recs))
	for i, r := range recs {
		headers, err := json.Marshal(sqlstore.NormWebhookAttempt(r.Attempt).RequestHeaders)
		if err != nil {
			return nil, fmt.Errorf("encoding attempt headers: %w", err)
		}
		rows[i] = row{sqlstore.NormWebhookDelivery(r.Delivery, r.Attempt.At), sqlstore.NormWebhookAttempt(r.Attempt), string(headers)}
	}
	out := make([]core.RecordedWebhookAttempt, len(recs))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		queries := []string{failingSinceSQL, upsertDeliverySQL, insertAttemptSQL}
		if slices.ContainsFunc(recs, func(r core.WebhookAttemptRecord) bool { return r.JobID != 0 }) {
			queries = append(queries, completeJobSQL)
		}
		stmts := make([]*sql.Stmt, 4)
		for i, q := range queries {
			st, err := tx.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("preparing attempt statements: %w", err)
			}
			defer st.Close()
			stmts[i] = st
		}
		failingSince, upsertDelivery, insertAttempt, completeJob := stmts[0], stmts[1], stmts[2], stmts[3]
		for i, r := range rows {
			d, a := r.d, r.a
			var failing sql.NullInt64
			err := failingSince.QueryRowContext(ctx, d.Status == core.WebhookSucceeded, micros(a.At), d.WorkspaceID, d.SubscriptionID).Scan(&failing)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("webhook %s: %w", d.SubscriptionID, core.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("updating webhook %s: %w", d.SubscriptionID, err)
			}
			stored, err := scanDelivery(upsertDelivery.QueryRowContext(ctx,
				d.ID, d.WorkspaceID, d.SubscriptionID, d.EventID, string(d.EventType), string(d.Status), a.ResponseStatus,
				micros(a.At), nullMicros(d.NextAttemptAt), micros(d.CreatedAt)))
			if err != nil {
				return fmt.Errorf("recording delivery %s: %w", d.ID, err)
			}
			a.DeliveryID, a.Attempt = stored.ID, stored.Attempts
			if _, err := insertAttempt.ExecContext(ctx,
				a.DeliveryID, a.Attempt, micros(a.At), r.headers, a.ResponseStatus, a.ResponseBody, a.Latency.Microseconds(), a.Error); err != nil {
				return fmt.Errorf("recording attempt %d of delivery %s: %w", a.Attempt, d.ID, err)
			}
			out[i] = core.RecordedWebhookAttempt{Delivery: stored, FailingSince: fromNullMicros(failing)}
			if id := recs[i].JobID; id != 0 {
				res, err := completeJob.ExecContext(ctx, string(core.JobDone), micros(recs[i].DoneAt), id, string(core.JobDone), string(core.JobFailed))
				if err != nil {
					return fmt.Errorf("completing job %d: %w", id, err)
				}
				n, err := res.RowsAffected()
				if err != nil {
					return fmt.Errorf("completing job %d: %w", id, err)
				}
				out[i].JobDone = n > 0
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WebhookDelivery loads one delivery of the workspace with its attempts.
func (s *Store) WebhookDelivery(ctx context.Context, workspaceID, id string) (core.WebhookDelivery, error) {
	d, err := scanDelivery(s.reader.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.WebhookDelivery{}, fmt.Errorf("delivery %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.WebhookDelivery{}, fmt.Errorf("loading delivery %s: %w", id, err)
	}
	ds := []core.WebhookDelivery{d}
	if err := s.loadHistory(ctx, ds); err != nil {
		return core.WebhookDelivery{}, err
	}
	return ds[0], nil
}

// ListWebhookDeliveries pages a subscription's deliveries newest first.
func (s *Store) ListWebhookDeliveries(ctx context.Context, workspaceID, subscriptionID string, q core.WebhookDeliveryQuery) ([]core.WebhookDelivery, string, error) {
	limit := sqlstore.PageLimit(q.Limit)
	query := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE workspace_id = ? AND subscription_id = ?`
	args := []any{workspaceID, subscriptionID}
	if q.Cursor != "" {
		at, id, err := sqlstore.DecodeWebhookDeliveryCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND (created_at < ? OR created_at = ? AND id < ?)`
		args = append(args, at, at, id)
	}
	if q.Status != "" {
		query += ` AND status = ?`
		args = append(args, string(q.Status))
	}
	if !q.Since.IsZero() {
		query += ` AND created_at >= ?`
		args = append(args, micros(q.Since))
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	out, err := queryAll(ctx, s.reader, scanDelivery, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing deliveries: %w", err)
	}
	out, next := sqlstore.CutPage(out, limit, sqlstore.WebhookDeliveryCursor)
	if q.WithHistory {
		if err := s.loadHistory(ctx, out); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// loadHistory fills in the attempts of ds.
func (s *Store) loadHistory(ctx context.Context, ds []core.WebhookDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	idx := make(map[string]int, len(ds))
	args := make([]any, len(ds))
	for i, d := range ds {
		idx[d.ID] = i
		args[i] = d.ID
	}
	attempts, err := queryAll(ctx, s.reader, scanAttempt, `SELECT `+attemptColumns+` FROM webhook_attempts
		WHERE delivery_id IN (?`+strings.Repeat(", ?", len(ds)-1)+`) ORDER BY delivery_id, attempt`, args...)
	if err != nil {
		return fmt.Errorf("loading delivery attempts: %w", err)
	}
	for i := range ds {
		ds[i].History = []core.WebhookAttempt{}
	}
	for _, a := range attempts {
		i := idx[a.DeliveryID]
		ds[i].History = append(ds[i].History, a)
	}
	return nil
}
