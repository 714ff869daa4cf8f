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
	"sync"
	"time"

	"github.com/passhub/passhub/adapters/sqlstore"
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
	// DefaultEventCache is how many events a Deliverer keeps: more than
	// a burst of fan-outs has in flight at once.
	DefaultEventCache = 1024
	// DefaultSubscriptionTTL bounds how long a subscription change takes
	// to reach deliveries: as long as the Consumer takes to see a new
	// subscription, and shorter than an attempt may already be in flight
	// when the change is made (DefaultTimeout).
	DefaultSubscriptionTTL = time.Second
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
	RecordWebhookAttempts(ctx context.Context, recs []core.WebhookAttemptRecord) ([]core.RecordedWebhookAttempt, error)
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
	// EventCache is how many events are kept in memory (default
	// DefaultEventCache; negative: none). Events never change, so a
	// fan-out's messages share one read of their event.
	EventCache int
	// SubscriptionTTL is how long a subscription read is reused for
	// further messages to it (default DefaultSubscriptionTTL; negative:
	// read for every message). A change made elsewhere (disabled,
	// deleted, a new URL, field rules or secret) reaches this
	// Deliverer's messages within it; its own disabling at once.
	SubscriptionTTL time.Duration
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
	if c.EventCache == 0 {
		c.EventCache = DefaultEventCache
	}
	if c.SubscriptionTTL == 0 {
		c.SubscriptionTTL = DefaultSubscriptionTTL
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
	cfg    DelivererConfig
	log    *slog.Logger
	events *eventCache
	subs   *subCache
	// records logs attempts: those that end while a transaction is
	// logging others are logged together in the next, one commit for all.
	records *sqlstore.Batcher[core.WebhookAttemptRecord, core.RecordedWebhookAttempt]
}

var _ core.JobFinisher = (*Deliverer)(nil)

// NewDeliverer returns a Deliverer for cfg (defaults applied, then
// validated).
func NewDeliverer(cfg DelivererConfig) (*Deliverer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Deliverer{
		cfg: cfg, log: cfg.Logger.With("component", "webhooks"),
		events: newEventCache(cfg.EventCache), subs: newSubCache(cfg.SubscriptionTTL),
		records: &sqlstore.Batcher[core.WebhookAttemptRecord, core.RecordedWebhookAttempt]{Flush: cfg.Store.RecordWebhookAttempts},
	}, nil
}

// MaxAttempts is how many attempts a message gets.
func (d *Deliverer) MaxAttempts() int { return len(d.cfg.Schedule) }

// HandleJob makes one attempt at the job's message. It returns nil when
// the message is settled (delivered, or failed for good: the delivery log
// says which), a *core.RetryAfterError when another attempt is due, and
// another error when the attempt could not be made or recorded.
func (d *Deliverer) HandleJob(ctx context.Context, j core.Job) ([]core.Job, error) {
	_, err := d.deliver(ctx, j, false)
	return nil, err
}

// FinishJob is HandleJob that, when the attempt settles the message with
// nothing left to do (delivered, or not sent to a disabled webhook),
// completes the job in the transaction that logs the attempt: the job is
// done exactly when its last attempt is logged, one commit instead of
// two. Other outcomes (a retry, a failure that may disable the endpoint)
// are rare and leave the completion to the runner.
func (d *Deliverer) FinishJob(ctx context.Context, j core.Job) ([]core.Job, bool, error) {
	done, err := d.deliver(ctx, j, true)
	return nil, done, err
}

// deliver makes one attempt; with finish it may complete j in the
// attempt's record, and reports whether it did.
func (d *Deliverer) deliver(ctx context.Context, j core.Job, finish bool) (bool, error) {
	var p core.WebhookDeliverPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.SubscriptionID == "" || p.EventID == "" {
		return false, core.Permanent(fmt.Errorf("webhook.deliver job %d has no subscription and event: %s", j.ID, j.Payload))
	}
	sub, cached, err := d.subscription(ctx, j.WorkspaceID, p.SubscriptionID, true)
	if errors.Is(err, core.ErrNotFound) {
		return false, nil // deleted since: nobody to send to
	}
	if err != nil {
		return false, err
	}
	ev, err := d.event(ctx, j.WorkspaceID, p.EventID)
	if errors.Is(err, core.ErrNotFound) {
		return false, core.Permanent(fmt.Errorf("event %s of webhook.deliver job %d: %w", p.EventID, j.ID, err))
	}
	if err != nil {
		return false, fmt.Errorf("loading event %s: %w", p.EventID, err)
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
		rec, err := d.record(ctx, j, finish, del, core.WebhookAttempt{At: now, Error: why})
		return rec != nil && rec.JobDone, err
	}
	body, err := core.WebhookPayload(ev, sub.Fields)
	if err != nil {
		return false, core.Permanent(err)
	}
	keys, err := d.cfg.Keys.SigningSecrets(sub, now)
	if err != nil {
		return false, fmt.Errorf("signing keys of webhook %s: %w", sub.ID, err)
	}

	att, res := d.attempt(ctx, sub.URL, msg, now, body, keys)
	if res.interrupted {
		// Shutdown or cancel: not the endpoint's doing, so no attempt is
		// logged; the queue runs the job again.
		return false, fmt.Errorf("delivering %s to webhook %s: %w", msg, sub.ID, ctx.Err())
	}

	if !res.ok && cached {
		// What follows a failure (the failure clock, disabling) is
		// decided on the subscription as it is now.
		if sub, _, err = d.subscription(ctx, j.WorkspaceID, sub.ID, false); errors.Is(err, core.ErrNotFound) {
			return false, nil // deleted meanwhile: no log to keep
		} else if err != nil {
			return false, err
		}
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
	// Only a success settles the message for sure now: a failure may
	// still disable the endpoint below, which must happen before the job
	// is done (a failed disable runs the job again).
	rec, err := d.record(ctx, j, finish && res.ok, del, att)
	if err != nil || rec == nil {
		return false, err
	}
	if disable == "" && !res.ok && failingFor(rec.FailingSince) {
		// Another message's attempt started the failure clock earlier
		// than the subscription showed when this run loaded it.
		disable = fmt.Sprintf("every attempt failed since %s", rec.FailingSince.Format(time.RFC3339))
	}
	if disable != "" {
		if err := d.retire(ctx, sub, disable, res.gone, now); err != nil {
			return false, err
		}
	}
	if del.Status == core.WebhookPending {
		return false, &core.RetryAfterError{After: delay, Err: fmt.Errorf("attempt %d of %s to webhook %s: %s", attemptNo, msg, sub.ID, res.reason)}
	}
	return rec.JobDone, nil
}

// record logs an attempt, and with finish completes job j in the same
// transaction. A subscription deleted meanwhile is no error: there is no
// log to keep (nil result).
func (d *Deliverer) record(ctx context.Context, j core.Job, finish bool, del core.WebhookDelivery, att core.WebhookAttempt) (*core.RecordedWebhookAttempt, error) {
	r := core.WebhookAttemptRecord{Delivery: del, Attempt: att}
	if finish {
		r.JobID, r.DoneAt = j.ID, d.cfg.Now()
	}
	recs, err := d.records.Do(ctx, []core.WebhookAttemptRecord{r})
	if errors.Is(err, core.ErrNotFound) {
		d.subs.drop(del.WorkspaceID, del.SubscriptionID)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recording attempt at %s: %w", del.ID, err)
	}
	return &recs[0], nil
}

// subscription loads a subscription; with reuse, from the cache while it
// is fresh there (cached reports that it was). Only an enabled one is
// kept: the messages to a disabled one always see it enabled again.
func (d *Deliverer) subscription(ctx context.Context, workspaceID, id string, reuse bool) (sub core.WebhookSubscription, cached bool, err error) {
	now := d.cfg.Now()
	if reuse {
		if sub, ok := d.subs.get(workspaceID, id, now); ok {
			return sub, true, nil
		}
	}
	gen := d.subs.generation()
	sub, err = d.cfg.Store.Webhook(ctx, workspaceID, id)
	if errors.Is(err, core.ErrNotFound) {
		d.subs.drop(workspaceID, id)
		return sub, false, err
	}
	if err != nil {
		return sub, false, fmt.Errorf("loading webhook %s: %w", id, err)
	}
	if sub.Disabled {
		d.subs.drop(workspaceID, id)
	} else {
		d.subs.put(sub, now, gen)
	}
	return sub, false, nil
}

// event loads an event, from the cache when it is there: events never
// change once stored.
func (d *Deliverer) event(ctx context.Context, workspaceID, id string) (core.Event, error) {
	if ev, ok := d.events.get(workspaceID, id); ok {
		return ev, nil
	}
	ev, err := d.cfg.Store.Event(ctx, workspaceID, id)
	if err != nil {
		return core.Event{}, err
	}
	d.events.put(workspaceID, id, ev)
	return ev, nil
}

// retire stops deliveries to sub: a Zapier subscription answering 410
// is removed (REST Hooks' unsubscribe), any other is disabled, which
// records a webhook.disabled event.
func (d *Deliverer) retire(ctx context.Context, sub core.WebhookSubscription, reason string, gone bool, now time.Time) error {
	d.subs.drop(sub.WorkspaceID, sub.ID)
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

// eventCache keeps the last events loaded, up to a bound, oldest out
// first. A nil cache keeps nothing.
type eventCache struct {
	mu    sync.Mutex
	byKey map[string]core.Event
	order []string // ring of keys, oldest at next
	next  int
}

func newEventCache(size int) *eventCache {
	if size <= 0 {
		return nil
	}
	return &eventCache{byKey: make(map[string]core.Event, size), order: make([]string, 0, size)}
}

// cacheKey names a workspace's event or subscription in a cache.
func cacheKey(workspaceID, id string) string { return workspaceID + "\x00" + id }

func (c *eventCache) get(workspaceID, id string) (core.Event, bool) {
	if c == nil {
		return core.Event{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ev, ok := c.byKey[cacheKey(workspaceID, id)]
	return ev, ok
}

func (c *eventCache) put(workspaceID, id string, ev core.Event) {
	if c == nil {
		return
	}
	k := cacheKey(workspaceID, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[k]; ok {
		return
	}
	if len(c.order) < cap(c.order) {
		c.order = append(c.order, k)
	} else {
		delete(c.byKey, c.order[c.next])
		c.order[c.next] = k
		c.next = (c.next + 1) % len(c.order)
	}
	c.byKey[k] = ev
}

// maxCachedSubscriptions bounds the subscription cache before expired
// entries are swept (and, if that is not enough, all dropped).
const maxCachedSubscriptions = 1 << 16

// subCache keeps subscriptions for a TTL. A nil cache keeps nothing.
type subCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]subEntry
	// gen counts drops: a read that began before one may be older than
	// what was dropped, so it is not kept.
	gen uint64
}

type subEntry struct {
	sub    core.WebhookSubscription
	loaded time.Time
}

func newSubCache(ttl time.Duration) *subCache {
	if ttl <= 0 {
		return nil
	}
	return &subCache{ttl: ttl, m: map[string]subEntry{}}
}

func (c *subCache) get(workspaceID, id string, now time.Time) (core.WebhookSubscription, bool) {
	if c == nil {
		return core.WebhookSubscription{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[cacheKey(workspaceID, id)]
	if !ok || !c.fresh(e, now) {
		return core.WebhookSubscription{}, false
	}
	return e.sub, true
}

// fresh reports whether e was loaded less than the TTL before now (a
// clock that went back counts as stale).
func (c *subCache) fresh(e subEntry, now time.Time) bool {
	age := now.Sub(e.loaded)
	return age >= 0 && age < c.ttl
}

// generation is what put needs of the time a read began.
func (c *subCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put keeps sub, read at now by a read that began at generation gen.
func (c *subCache) put(sub core.WebhookSubscription, now time.Time, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= maxCachedSubscriptions {
		for k, e := range c.m {
			if !c.fresh(e, now) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCachedSubscriptions {
			clear(c.m)
		}
	}
	c.m[cacheKey(sub.WorkspaceID, sub.ID)] = subEntry{sub: sub, loaded: now}
}

func (c *subCache) drop(workspaceID, id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, cacheKey(workspaceID, id))
	c.gen++
}
