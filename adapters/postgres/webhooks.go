package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/passhub/passhub/adapters/sqlstore"
	"github.com/passhub/passhub/core"
)

var _ core.WebhookStore = (*Store)(nil)

const webhookColumns = `id, workspace_id, url, events, template_id, fields, secrets_sealed, origin, disabled, disabled_at, disabled_reason, failing_since, created_at, updated_at`

func scanWebhook(row pgx.Row) (core.WebhookSubscription, error) {
	var w core.WebhookSubscription
	var events, fields []byte
	var origin string
	if err := row.Scan(&w.ID, &w.WorkspaceID, &w.URL, &events, &w.TemplateID, &fields, &w.SecretsSealed, &origin, &w.Disabled,
		&w.DisabledAt, &w.DisabledReason, &w.FailingSince, &w.CreatedAt, &w.UpdatedAt); err != nil {
		return core.WebhookSubscription{}, err
	}
	if err := sqlstore.DecodeWebhookColumns(&w, events, fields); err != nil {
		return core.WebhookSubscription{}, err
	}
	w.Origin = core.WebhookOrigin(origin)
	if w.SecretsSealed == nil {
		w.SecretsSealed = []byte{}
	}
	w.DisabledAt = utc(w.DisabledAt)
	w.FailingSince = utc(w.FailingSince)
	w.CreatedAt = w.CreatedAt.UTC()
	w.UpdatedAt = w.UpdatedAt.UTC()
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
	var f any
	if fields != nil {
		f = json.RawMessage(fields)
	}
	return []any{w.ID, w.WorkspaceID, w.URL, json.RawMessage(events), w.TemplateID, f, w.SecretsSealed, string(w.Origin), w.Disabled,
		w.DisabledAt, w.DisabledReason, w.FailingSince, w.CreatedAt, w.UpdatedAt}, nil
}

func webhookWriteError(err error, w core.WebhookSubscription, what string) error {
	if _, ok := constraintViolation(err, codeUniqueViolation); ok {
		return &core.ConflictError{Field: "id", Reason: "a webhook with this ID already exists"}
	}
	if badText(err) {
		return core.Invalid("webhook", "contains characters that cannot be stored")
	}
	return fmt.Errorf("%s webhook %s: %w", what, w.ID, err)
}

// CreateWebhook stores a new subscription.
func (s *Store) CreateWebhook(ctx context.Context, w core.WebhookSubscription) error {
	w = sqlstore.NormWebhook(w)
	args, err := webhookArgs(w)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, args...)
	if err != nil {
		return webhookWriteError(err, w, "inserting")
	}
	return nil
}

// Webhook loads one subscription of the workspace.
func (s *Store) Webhook(ctx context.Context, workspaceID, id string) (core.WebhookSubscription, error) {
	return webhookIn(ctx, s.pool, workspaceID, id, "")
}

func webhookIn(ctx context.Context, q querier, workspaceID, id, lock string) (core.WebhookSubscription, error) {
	w, err := scanWebhook(q.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE workspace_id = $1 AND id = $2 `+lock, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
		return core.WebhookSubscription{}, fmt.Errorf("webhook %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.WebhookSubscription{}, fmt.Errorf("loading webhook %s: %w", id, err)
	}
	return w, nil
}

// ListWebhooks pages the workspace's subscriptions by ID (creation order).
func (s *Store) ListWebhooks(ctx context.Context, workspaceID string, page core.Page) ([]core.WebhookSubscription, string, error) {
	return pageByID(ctx, s.pool, "webhooks", `SELECT `+webhookColumns+` FROM webhooks`, scanWebhook, func(x core.WebhookSubscription) string { return x.ID }, workspaceID, page)
}

// ListActiveWebhooks returns the workspace's enabled subscriptions.
func (s *Store) ListActiveWebhooks(ctx context.Context, workspaceID string) ([]core.WebhookSubscription, error) {
	out, err := queryAll(ctx, s.pool, scanWebhook, `SELECT `+webhookColumns+` FROM webhooks WHERE workspace_id = $1 AND NOT disabled ORDER BY id`, workspaceID)
	if err != nil && !badText(err) {
		return nil, fmt.Errorf("listing active webhooks: %w", err)
	}
	if out == nil {
		out = []core.WebhookSubscription{}
	}
	return out, nil
}

// UpdateWebhook changes a subscription with its row locked.
func (s *Store) UpdateWebhook(ctx context.Context, workspaceID, id string, fn func(*core.WebhookSubscription) error) (core.WebhookSubscription, error) {
	var out core.WebhookSubscription
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		before, err := webhookIn(ctx, tx, workspaceID, id, "FOR UPDATE")
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

func saveWebhook(ctx context.Context, tx pgx.Tx, w core.WebhookSubscription) error {
	args, err := webhookArgs(w)
	if err != nil {
		return err
	}
	// $1 and $2 are id and workspace_id, as in webhookColumns.
	_, err = tx.Exec(ctx, `UPDATE webhooks SET url = $3, events = $4, template_id = $5, fields = $6, secrets_sealed = $7, origin = $8,
		disabled = $9, disabled_at = $10, disabled_reason = $11, failing_since = $12, created_at = $13, updated_at = $14
		WHERE id = $1 AND workspace_id = $2`, args...)
	if err != nil {
		return webhookWriteError(err, w, "updating")
	}
	return nil
}

// DeleteWebhook removes a subscription; its deliveries and attempts go
// with it (ON DELETE CASCADE).
func (s *Store) DeleteWebhook(ctx context.Context, workspaceID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE workspace_id = $1 AND id = $2`, workspaceID, id)
	if err != nil && !badText(err) {
		return fmt.Errorf("deleting webhook %s: %w", id, err)
	}
	if err != nil || tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook %s: %w", id, core.ErrNotFound)
	}
	return nil
}

// DisableWebhook disables an enabled subscription and appends its
// webhook.disabled event, in one transaction with the row locked.
func (s *Store) DisableWebhook(ctx context.Context, workspaceID, id, reason string, at time.Time) (core.WebhookSubscription, error) {
	var out core.WebhookSubscription
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		w, err := webhookIn(ctx, tx, workspaceID, id, "FOR UPDATE")
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

func scanDelivery(row pgx.Row) (core.WebhookDelivery, error) {
	var d core.WebhookDelivery
	var typ, status string
	if err := row.Scan(&d.ID, &d.WorkspaceID, &d.SubscriptionID, &d.EventID, &typ, &status, &d.Attempts, &d.LastResponseStatus,
		&d.LastAttemptAt, &d.NextAttemptAt, &d.CreatedAt); err != nil {
		return core.WebhookDelivery{}, err
	}
	d.EventType = core.EventType(typ)
	d.Status = core.WebhookDeliveryStatus(status)
	d.LastAttemptAt = utc(d.LastAttemptAt)
	d.NextAttemptAt = utc(d.NextAttemptAt)
	d.CreatedAt = d.CreatedAt.UTC()
	return d, nil
}

const attemptColumns = `delivery_id, attempt, at, request_headers, response_status, response_body, latency_us, error`

func scanAttempt(row pgx.Row) (core.WebhookAttempt, error) {
	var a core.WebhookAttempt
	var headers []byte
	var latency int64
	if err := row.Scan(&a.DeliveryID, &a.Attempt, &a.At, &headers, &a.ResponseStatus, &a.ResponseBody, &latency, &a.Error); err != nil {
		return core.WebhookAttempt{}, err
	}
	if err := json.Unmarshal(headers, &a.RequestHeaders); err != nil {
		return core.WebhookAttempt{}, fmt.Errorf("decoding headers of attempt %d of %s: %w", a.Attempt, a.DeliveryID, err)
	}
	a.At = a.At.UTC()
	a.Latency = time.Duration(latency) * time.Microsecond
	return a, nil
}

// recordAttemptSQL records an attempt in one statement, so in one round
// trip and one commit: it sets the subscription's failing_since (locking
// its row first, the order every writer of both takes), upserts the
// delivery, appends the attempt numbered by the delivery's count and,
// when $16 names a job, completes it as CompleteJob does. No subscription
// row means no delivery row, so nothing else is written either.
const recordAttemptSQL = `WITH sub AS (
	UPDATE webhooks SET failing_since = CASE WHEN $1::boolean THEN NULL ELSE coalesce(failing_since, $2::timestamptz) END
	WHERE workspace_id = $3::text AND id = $4::text
	RETURNING failing_since
), del AS (
	INSERT INTO webhook_deliveries (` + deliveryColumns + `)
	SELECT $5::text, $3::text, $4::text, $6::text, $7::text, $8::text, 1, $9::integer, $2::timestamptz, $10::timestamptz, $11::timestamptz FROM sub
	ON CONFLICT (id) DO UPDATE SET status = excluded.status, attempts = webhook_deliveries.attempts + 1,
		last_response_status = excluded.last_response_status, last_attempt_at = excluded.last_attempt_at,
		next_attempt_at = excluded.next_attempt_at
	RETURNING ` + deliveryColumns + `
), att AS (
	INSERT INTO webhook_attempts (` + attemptColumns + `)
	SELECT id, attempts, $2::timestamptz, $12::jsonb, $9::integer, $13::text, $14::bigint, $15::text FROM del
), job AS (
	UPDATE jobs SET state = $17::text, done_at = $18::timestamptz
	WHERE id = $16::bigint AND state NOT IN ($17::text, $19::text) AND EXISTS (SELECT FROM del)
	RETURNING id
)
SELECT ` + deliveryColumns + `, failing_since, EXISTS (SELECT FROM job) FROM del, sub`

// RecordWebhookAttempt upserts the delivery, appends the attempt and
// keeps the subscription's FailingSince, in one statement.
func (s *Store) RecordWebhookAttempt(ctx context.Context, d core.WebhookDelivery, a core.WebhookAttempt) (core.RecordedWebhookAttempt, error) {
	out, err := s.RecordWebhookAttempts(ctx, []core.WebhookAttemptRecord{{Delivery: d, Attempt: a}})
	if err != nil {
		return core.RecordedWebhookAttempt{}, err
	}
	return out[0], nil
}

// RecordWebhookAttempts records the attempts and completes their jobs in
// one transaction: one statement for one attempt; for several, the
// statements and the transaction's begin in one batch (one round trip),
// then the commit.
func (s *Store) RecordWebhookAttempts(ctx context.Context, recs []core.WebhookAttemptRecord) ([]core.RecordedWebhookAttempt, error) {
	if len(recs) == 0 {
		return []core.RecordedWebhookAttempt{}, nil
	}
	args := make([][]any, len(recs))
	for i, r := range recs {
		d, a := r.Delivery, r.Attempt
		if !storableText(d.WorkspaceID) || !storableText(d.SubscriptionID) {
			// No stored subscription has such an ID.
			return nil, fmt.Errorf("webhook %s: %w", d.SubscriptionID, core.ErrNotFound)
		}
		d = sqlstore.NormWebhookDelivery(d, a.At)
		a = sqlstore.NormWebhookAttempt(a)
		headers, err := json.Marshal(a.RequestHeaders)
		if err != nil {
			return nil, fmt.Errorf("encoding attempt headers: %w", err)
		}
		args[i] = []any{
			d.Status == core.WebhookSucceeded, a.At, d.WorkspaceID, d.SubscriptionID,
			d.ID, d.EventID, string(d.EventType), string(d.Status), a.ResponseStatus, d.NextAttemptAt, d.CreatedAt,
			json.RawMessage(headers), a.ResponseBody, a.Latency.Microseconds(), a.Error,
			r.JobID, string(core.JobDone), sqlstore.TruncTime(r.DoneAt), string(core.JobFailed),
		}
	}
	out := make([]core.RecordedWebhookAttempt, len(recs))
	if len(recs) == 1 {
		rec, err := scanRecordedAttempt(s.pool.QueryRow(ctx, recordAttemptSQL, args[0]...), recs[0].Delivery)
		if err != nil {
			return nil, err
		}
		out[0] = rec
		return out, nil
	}
	// Rows are locked in one order, subscription then delivery, so two
	// batches (of two worker processes) cannot deadlock.
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int {
		dx, dy := recs[x].Delivery, recs[y].Delivery
		return cmp.Or(cmp.Compare(dx.SubscriptionID, dy.SubscriptionID), cmp.Compare(dx.ID, dy.ID))
	})
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	for _, i := range order {
		b.Queue(recordAttemptSQL, args[i]...)
	}
	br := s.pool.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // after Commit: a no-op
	err := func() error {
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("beginning transaction: %w", err)
		}
		for _, i := range order {
			rec, err := scanRecordedAttempt(br.QueryRow(), recs[i].Delivery)
			if err != nil {
				return err
			}
			out[i] = rec
		}
		return br.Close()
	}()
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("committing transaction: %w", err)
	}
	return out, nil
}

// scanRecordedAttempt reads the row recordAttemptSQL returns for d.
func scanRecordedAttempt(row pgx.Row, d core.WebhookDelivery) (core.RecordedWebhookAttempt, error) {
	var out core.RecordedWebhookAttempt
	var failing *time.Time
	dl := &out.Delivery
	var typ, status string
	err := row.Scan(&dl.ID, &dl.WorkspaceID, &dl.SubscriptionID, &dl.EventID, &typ, &status, &dl.Attempts, &dl.LastResponseStatus,
		&dl.LastAttemptAt, &dl.NextAttemptAt, &dl.CreatedAt, &failing, &out.JobDone)
	if errors.Is(err, pgx.ErrNoRows) {
		return core.RecordedWebhookAttempt{}, fmt.Errorf("webhook %s: %w", d.SubscriptionID, core.ErrNotFound)
	}
	if badText(err) {
		return core.RecordedWebhookAttempt{}, core.Invalid("delivery", "contains characters that cannot be stored")
	}
	if err != nil {
		return core.RecordedWebhookAttempt{}, fmt.Errorf("recording attempt at delivery %s: %w", d.ID, err)
	}
	dl.EventType = core.EventType(typ)
	dl.Status = core.WebhookDeliveryStatus(status)
	dl.LastAttemptAt = utc(dl.LastAttemptAt)
	dl.NextAttemptAt = utc(dl.NextAttemptAt)
	dl.CreatedAt = dl.CreatedAt.UTC()
	out.FailingSince = utc(failing)
	return out, nil
}

// storableText reports whether s can be a text parameter: PostgreSQL
// refuses invalid UTF-8 and NUL.
func storableText(s string) bool {
	return utf8.ValidString(s) && !strings.Contains(s, "\x00")
}

// WebhookDelivery loads one delivery of the workspace with its attempts.
func (s *Store) WebhookDelivery(ctx context.Context, workspaceID, id string) (core.WebhookDelivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) || badText(err) {
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
	var args queryArgs
	query := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE workspace_id = ` + args.add(workspaceID) +
		` AND subscription_id = ` + args.add(subscriptionID)
	if q.Cursor != "" {
		at, id, err := sqlstore.DecodeWebhookDeliveryCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND (created_at, id) < (` + args.add(time.UnixMicro(at).UTC()) + `, ` + args.add(id) + `)`
	}
	if q.Status != "" {
		query += ` AND status = ` + args.add(string(q.Status))
	}
	if !q.Since.IsZero() {
		query += ` AND created_at >= ` + args.add(sqlstore.TruncTime(q.Since))
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ` + args.add(limit+1)
	out, err := queryAll(ctx, s.pool, scanDelivery, query, args...)
	if badText(err) {
		return nil, "", nil
	}
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
	ids := make([]string, len(ds))
	for i, d := range ds {
		idx[d.ID] = i
		ids[i] = d.ID
	}
	attempts, err := queryAll(ctx, s.pool, scanAttempt, `SELECT `+attemptColumns+` FROM webhook_attempts
		WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt`, ids)
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
