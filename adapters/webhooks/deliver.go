package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// Delivery: the webhook.deliver job handler. One run is one attempt: it
// loads the subscription and the event, builds the body with the
// subscription's field rules, signs it (Standard Webhooks), POSTs it
// through the guarded client, logs the attempt and decides what follows.
// The job's attempt count is the attempt number, so the retry schedule is
// the handler's: each failure returns a *core.RetryAfterError carrying
// the delay to the next attempt, which the queue honours.

// DefaultSchedule is the wait before each attempt, the first immediate:
// eight attempts over about 28 hours, after which the message has failed.
var DefaultSchedule = []time.Duration{
	0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Delivery defaults.
const (
	// DefaultTimeout bounds one attempt: a 2xx must arrive within it.
	DefaultTimeout = 15 * time.Second
	// DefaultDisableAfter is how long an endpoint may fail every attempt
	// before it is disabled.
	DefaultDisableAfter = 5 * 24 * time.Hour
	// DefaultMaxRetryAfter caps an endpoint's Retry-After, so no answer
	// parks a message for longer than a day.
	DefaultMaxRetryAfter = 24 * time.Hour
	// DefaultIdlePerHost is the idle connections kept per endpoint host
	// by the default client.
	DefaultIdlePerHost = 64
	// UserAgent is sent with every message.
	UserAgent = "passhub-webhooks/1"
	// drainLimit is how much of a long answer is read past what is kept,
	// so the connection can be reused; longer answers close it.
	drainLimit = 64 << 10
)

// DeliveryStore is what the Deliverer needs of the store.
type DeliveryStore interface {
	Webhook(ctx context.Context, workspaceID, id string) (core.WebhookSubscription, error)
	Event(ctx context.Context, workspaceID, id string) (core.Event, error)
	RecordWebhookAttempt(ctx context.Context, d core.WebhookDelivery, a core.WebhookAttempt) (core.RecordedWebhookAttempt, error)
	DisableWebhook(ctx context.Context, workspaceID, id, reason string, at time.Time) (core.WebhookSubscription, error)
	DeleteWebhook(ctx context.Context, workspaceID, id string) error
}

// SigningKeys gives the HMAC keys a message to s is signed with at now,
// the current one first (*Manager does).
type SigningKeys interface {
	SigningSecrets(s core.WebhookSubscription, now time.Time) ([][]byte, error)
}

// DelivererConfig configures a Deliverer. Store and Keys are required.
type DelivererConfig struct {
	Store DeliveryStore
	Keys  SigningKeys
	// Client sends the messages. Default: NewGuard(false).Client(
	// DefaultIdlePerHost), which refuses private addresses; pass the
	// configured guard's client.
	Client *http.Client
	// Timeout bounds one attempt (default DefaultTimeout).
	Timeout time.Duration
	// Schedule is the wait before each attempt (default DefaultSchedule);
	// its length is the number of attempts of a message.
	Schedule []time.Duration
	// DisableAfter disables an endpoint that failed every attempt for
	// that long (default DefaultDisableAfter).
	DisableAfter time.Duration
	// MaxRetryAfter caps an endpoint's Retry-After (default
	// DefaultMaxRetryAfter).
	MaxRetryAfter time.Duration
	// Jitter spreads a scheduled wait so messages that failed together do
	// not come back together. Default: uniform within ±10%.
	Jitter func(time.Duration) time.Duration
	// Now is the clock of timestamps and schedules (default time.Now,
	// UTC, microseconds).
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c DelivererConfig) withDefaults() DelivererConfig {
	if c.Client == nil {
		c.Client = NewGuard(false).Client(DefaultIdlePerHost)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = DefaultDisableAfter
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.Jitter == nil {
		c.Jitter = Jitter
	}
	if c.Now == nil {
		c.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports what is wrong with c (after defaults).
func (c DelivererConfig) Validate() error {
	var errs []error
	if c.Store == nil || c.Keys == nil {
		errs = append(errs, errors.New("webhook delivery: Store and Keys are required"))
	}
	if c.Timeout < 0 || c.DisableAfter < 0 || c.MaxRetryAfter < 0 {
		errs = append(errs, errors.New("webhook delivery: negative duration"))
	}
	if len(c.Schedule) == 0 {
		errs = append(errs, errors.New("webhook delivery: empty Schedule"))
	}
	for i, d := range c.Schedule {
		if d < 0 {
			errs = append(errs, fmt.Errorf("webhook delivery: Schedule[%d] is negative", i))
		}
	}
	return errors.Join(errs...)
}

// Jitter returns d moved by a random amount within ±10%.
func Jitter(d time.Duration) time.Duration {
	spread := d / 10
	if spread <= 0 {
		return d
	}
	return d - spread + rand.N(2*spread+1)
}

// Deliverer handles webhook.deliver jobs.
type Deliverer struct {
	cfg DelivererConfig
	log *slog.Logger
}

var _ core.JobHandler = (*Deliverer)(nil)

// NewDeliverer returns a Deliverer for cfg (defaults applied, then
// validated).
func NewDeliverer(cfg DelivererConfig) (*Deliverer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Deliverer{cfg: cfg, log: cfg.Logger.With("component", "webhooks")}, nil
}

// MaxAttempts is how many attempts a message gets.
func (d *Deliverer) MaxAttempts() int { return len(d.cfg.Schedule) }

// HandleJob makes one attempt at the job's message. It returns nil when
// the message is settled (delivered, or failed for good: the delivery log
// says which), a *core.RetryAfterError when another attempt is due, and
// another error when the attempt could not be made or recorded.
func (d *Deliverer) HandleJob(ctx context.Context, j core.Job) ([]core.Job, error) {
	var p core.WebhookDeliverPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.SubscriptionID == "" || p.EventID == "" {
		return nil, core.Permanent(fmt.Errorf("webhook.deliver job %d has no subscription and event: %s", j.ID, j.Payload))
	}
	sub, err := d.cfg.Store.Webhook(ctx, j.WorkspaceID, p.SubscriptionID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil // deleted since: nobody to send to
	}
	if err != nil {
		return nil, fmt.Errorf("loading webhook %s: %w", p.SubscriptionID, err)
	}
	ev, err := d.cfg.Store.Event(ctx, j.WorkspaceID, p.EventID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, core.Permanent(fmt.Errorf("event %s of webhook.deliver job %d: %w", p.EventID, j.ID, err))
	}
	if err != nil {
		return nil, fmt.Errorf("loading event %s: %w", p.EventID, err)
	}
	now := d.cfg.Now()
	msg := core.WebhookDeliveryID(ev.ID, sub.ID)
	del := core.WebhookDelivery{
		ID: msg, WorkspaceID: j.WorkspaceID, SubscriptionID: sub.ID,
		EventID: ev.ID, EventType: ev.Type, LastAttemptAt: &now,
	}
	if sub.Disabled {
		// Logged as failed so that a replay of failed deliveries after
		// the endpoint is enabled again sends it.
		del.Status = core.WebhookFailed
		why := "not sent: the webhook is disabled"
		if sub.DisabledReason != "" {
			why += " (" + sub.DisabledReason + ")"
		}
		_, err := d.record(ctx, del, core.WebhookAttempt{At: now, Error: why})
		return nil, err
	}
	body, err := core.WebhookPayload(ev, sub.Fields)
	if err != nil {
		return nil, core.Permanent(err)
	}
	keys, err := d.cfg.Keys.SigningSecrets(sub, now)
	if err != nil {
		return nil, fmt.Errorf("signing keys of webhook %s: %w", sub.ID, err)
	}

	att, res := d.attempt(ctx, sub.URL, msg, now, body, keys)
	if res.interrupted {
		// Shutdown or cancel: not the endpoint's doing, so no attempt is
		// logged; the queue runs the job again.
		return nil, fmt.Errorf("delivering %s to webhook %s: %w", msg, sub.ID, ctx.Err())
	}

	attemptNo := max(j.Attempts, 1)
	var delay time.Duration
	failingFor := func(since *time.Time) bool {
		return since != nil && now.Sub(*since) >= d.cfg.DisableAfter
	}
	disable := ""
	switch {
	case res.ok:
		del.Status = core.WebhookSucceeded
	case res.gone:
		del.Status = core.WebhookFailed
		disable = "the endpoint answered 410 Gone"
	case failingFor(sub.FailingSince):
		del.Status = core.WebhookFailed
		disable = fmt.Sprintf("every attempt failed since %s", sub.FailingSince.Format(time.RFC3339))
	case attemptNo >= len(d.cfg.Schedule):
		del.Status = core.WebhookFailed
	default:
		del.Status = core.WebhookPending
		delay = max(d.cfg.Jitter(d.cfg.Schedule[attemptNo]), min(res.retryAfter, d.cfg.MaxRetryAfter))
		next := now.Add(delay)
		del.NextAttemptAt = &next
	}
	rec, err := d.record(ctx, del, att)
	if err != nil || rec == nil {
		return nil, err
	}
	if disable == "" && !res.ok && failingFor(rec.FailingSince) {
		// Another message's attempt started the failure clock earlier
		// than the subscription showed when this run loaded it.
		disable = fmt.Sprintf("every attempt failed since %s", rec.FailingSince.Format(time.RFC3339))
	}
	if disable != "" {
		if err := d.retire(ctx, sub, disable, res.gone, now); err != nil {
			return nil, err
		}
	}
	if del.Status == core.WebhookPending {
		return nil, &core.RetryAfterError{After: delay, Err: fmt.Errorf("attempt %d of %s to webhook %s: %s", attemptNo, msg, sub.ID, res.reason)}
	}
	return nil, nil
}

// record logs an attempt. A subscription deleted meanwhile is no error:
// there is no log to keep (nil result).
func (d *Deliverer) record(ctx context.Context, del core.WebhookDelivery, att core.WebhookAttempt) (*core.RecordedWebhookAttempt, error) {
	rec, err := d.cfg.Store.RecordWebhookAttempt(ctx, del, att)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recording attempt at %s: %w", del.ID, err)
	}
	return &rec, nil
}

// retire stops deliveries to sub: a Zapier subscription answering 410
// is removed (REST Hooks' unsubscribe), any other is disabled, which
// records a webhook.disabled event.
func (d *Deliverer) retire(ctx context.Context, sub core.WebhookSubscription, reason string, gone bool, now time.Time) error {
	if gone && sub.Origin == core.WebhookOriginZapier {
		err := d.cfg.Store.DeleteWebhook(ctx, sub.WorkspaceID, sub.ID)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("deleting webhook %s: %w", sub.ID, err)
		}
		d.log.Info("webhook deleted", "workspace", sub.WorkspaceID, "webhook", sub.ID, "reason", reason)
		return nil
	}
	_, err := d.cfg.Store.DisableWebhook(ctx, sub.WorkspaceID, sub.ID, reason, now)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("disabling webhook %s: %w", sub.ID, err)
	}
	d.log.Info("webhook disabled", "workspace", sub.WorkspaceID, "webhook", sub.ID, "reason", reason)
	return nil
}

// result is what an attempt's answer means.
type result struct {
	ok          bool // 2xx
	gone        bool // 410
	interrupted bool // our context ended: no attempt to log
	// retryAfter is the endpoint's Retry-After on a throttling answer.
	retryAfter time.Duration
	reason     string
}

// attempt POSTs the signed message once and returns the attempt as it
// is logged and what the answer means.
func (d *Deliverer) attempt(ctx context.Context, url, msg string, at time.Time, body []byte, keys [][]byte) (core.WebhookAttempt, result) {
	ts := strconv.FormatInt(at.Unix(), 10)
	headers := map[string]string{
		"content-type":  "application/json",
		"user-agent":    UserAgent,
		HeaderID:        msg,
		HeaderTimestamp: ts,
		HeaderSignature: Sign(msg, at, body, keys),
	}
	att := core.WebhookAttempt{At: at, RequestHeaders: headers}
	rctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		att.Error = "building request: " + err.Error()
		return att, result{reason: att.Error}
	}
	for k, v := range headers {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	start := time.Now()
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		att.Latency = time.Since(start)
		if ctx.Err() != nil {
			return att, result{interrupted: true}
		}
		att.Error = describeError(err, d.cfg.Timeout)
		return att, result{reason: att.Error}
	}
	kept, _ := io.ReadAll(io.LimitReader(resp.Body, core.MaxWebhookResponseBody))
	_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
	resp.Body.Close()
	att.Latency = time.Since(start)
	att.ResponseStatus = resp.StatusCode
	att.ResponseBody = string(kept)

	res := result{reason: "the endpoint answered " + resp.Status}
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		res.ok = true
	case code == http.StatusGone:
		res.gone = true
	case code == http.StatusTooManyRequests || code == http.StatusBadGateway ||
		code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
		res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), d.cfg.Now())
	}
	return att, res
}

// describeError says briefly why there was no answer.
func describeError(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.Is(err, ErrRefusedAddress):
		return "not sent: " + err.Error()
	}
	return err.Error()
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP
// date (0 when absent, malformed or past).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(365*24*time.Hour/time.Second) {
			secs = int64(365 * 24 * time.Hour / time.Second) // no overflow; capped again by the caller
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
