package core

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Outbound webhooks: a subscription names an endpoint and the events it
// wants; every matching event becomes one message (a WebhookDelivery) to
// that endpoint, tried by a webhook.deliver job until it succeeds or runs
// out of attempts, each attempt logged.

// JobKindWebhookDeliver sends one message to one subscription. Its Key is
// the delivery ID (the webhook-id), or "<deliveryID>/replay-<unix nanos>"
// for a replay, which sends the same message again under the same
// webhook-id. Its Payload is a WebhookDeliverPayload.
const JobKindWebhookDeliver = "webhook.deliver"

// WebhookDeliverPayload is the payload of a webhook.deliver job.
type WebhookDeliverPayload struct {
	SubscriptionID string `json:"subscriptionId"`
	EventID        string `json:"eventId"`
}

// WebhookDeliverJob is the job that sends event eventID to subscription
// subscriptionID. replay is empty for the first delivery; a replay passes
// a fresh, unique suffix so a new job is created for the same message.
func WebhookDeliverJob(workspaceID, subscriptionID, eventID, replay string, at time.Time) Job {
	key := WebhookDeliveryID(eventID, subscriptionID)
	if replay != "" {
		key += "/" + replay
	}
	payload, _ := json.Marshal(WebhookDeliverPayload{SubscriptionID: subscriptionID, EventID: eventID}) // two strings cannot fail
	return Job{WorkspaceID: workspaceID, Kind: JobKindWebhookDeliver, Key: key, Payload: payload, State: JobPending, CreatedAt: at}
}

// WebhookReplaySuffix names one replay of a message (the part after the
// delivery ID in the job key).
func WebhookReplaySuffix(at time.Time) string { return fmt.Sprintf("replay-%d", at.UnixNano()) }

// WebhookDeliveryID is the message ID of event eventID sent to subscription
// subscriptionID: derived, not random, so a retried fan-out names the same
// message and the receiver can dedupe on webhook-id.
func WebhookDeliveryID(eventID, subscriptionID string) string {
	sum := sha256.Sum256([]byte(eventID + "\x00" + subscriptionID))
	return PrefixWebhookMessage + "_" + strings.ToLower(idEncoding.EncodeToString(sum[:16]))
}

// WebhookOrigin says who made a subscription.
type WebhookOrigin string

const (
	WebhookOriginAPI    WebhookOrigin = "api"
	WebhookOriginZapier WebhookOrigin = "zapier" // REST Hooks subscribe body; a 410 deletes it
)

// WebhookSubscription is an outbound webhook endpoint.
type WebhookSubscription struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspaceId"`
	URL         string `json:"url"`
	// Events are event types or wildcards ("pass.*", "*"); see
	// MatchWebhookEvent.
	Events []string `json:"events"`
	// TemplateID, when set, keeps only events of passes of that template.
	TemplateID string `json:"templateId,omitempty"`
	// Fields renames (path → new name) or removes (path → nil) payload
	// fields. Paths are relative to the payload's data object: "externalId",
	// "walletStatus", "fields.points"; the new name replaces the last
	// segment in the same object. "passId" cannot be removed.
	Fields map[string]*string `json:"fields,omitempty"`
	// SecretsSealed is the signing secrets (the current one and, during a
	// rotation, the previous one with its expiry), sealed with the master
	// key; never shown.
	SecretsSealed  []byte        `json:"-"`
	Origin         WebhookOrigin `json:"origin"`
	Disabled       bool          `json:"disabled"`
	DisabledAt     *time.Time    `json:"disabledAt"`
	DisabledReason string        `json:"disabledReason,omitempty"`
	// FailingSince is the time of the first failed attempt since the last
	// success (nil while the endpoint succeeds).
	FailingSince *time.Time `json:"failingSince"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
}

// Matches reports whether ev is to be sent to s: s is enabled, one of its
// event patterns matches the event's type, and its template filter (if
// any) is the event's template.
func (s WebhookSubscription) Matches(ev Event) bool {
	if s.Disabled {
		return false
	}
	if s.TemplateID != "" && s.TemplateID != ev.Data.TemplateID {
		return false
	}
	for _, p := range s.Events {
		if MatchWebhookEvent(p, ev.Type) {
			return true
		}
	}
	return false
}

// MatchWebhookEvent reports whether pattern matches t: "*" matches every
// type, "ns.*" every type starting "ns.", anything else only itself.
func MatchWebhookEvent(pattern string, t EventType) bool {
	if pattern == "*" {
		return true
	}
	if ns, ok := strings.CutSuffix(pattern, ".*"); ok {
		return strings.HasPrefix(string(t), ns+".")
	}
	return pattern == string(t)
}

// ValidWebhookEvent reports whether pattern is an event type, "*", or
// "ns.*" for a namespace some event type has.
func ValidWebhookEvent(pattern string) bool {
	if pattern == "*" {
		return true
	}
	wild := strings.HasSuffix(pattern, ".*")
	for _, t := range WebhookEventTypes() {
		if wild && MatchWebhookEvent(pattern, t) || string(t) == pattern {
			return true
		}
	}
	return false
}

// WebhookEventTypes lists every event type a subscription can receive:
// the pass events and webhook.disabled.
func WebhookEventTypes() []EventType {
	return append(slices.Clone(EventTypes), EventWebhookDisabled)
}

// WebhookDataKeys are the keys of a payload's data object (EventData),
// the paths a subscription's Fields may name besides "fields.<name>".
var WebhookDataKeys = []string{
	"passId", "externalId", "templateId", "platform", "lifecycle", "version",
	"walletStatus", "appleWalletInstalledAt", "googleWalletInstalledAt",
	"walletLastChangedAt", "walletLastEvent", "fields", "message", "changed",
}

// WebhookPayload is the body sent for ev: the event as JSON (id, type,
// occurredAt, workspaceId, data) with the subscription's field renames and
// removals applied to data.
func WebhookPayload(ev Event, fields map[string]*string) ([]byte, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding event %s: %w", ev.ID, err)
	}
	if len(fields) == 0 {
		return raw, nil
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep numbers exactly as the event has them
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding event %s: %w", ev.ID, err)
	}
	data, _ := doc["data"].(map[string]any)
	// Deeper paths first, so "fields.points" still finds data.fields when
	// "fields" itself is renamed.
	paths := make([]string, 0, len(fields))
	for p := range fields {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, func(a, b string) int {
		if d := strings.Count(b, ".") - strings.Count(a, "."); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, p := range paths {
		renameAt(data, strings.Split(p, "."), fields[p])
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding payload of event %s: %w", ev.ID, err)
	}
	return out, nil
}

// renameAt renames (to != nil) or removes the key at path in m; a path
// that is absent is left alone.
func renameAt(m map[string]any, path []string, to *string) {
	for len(path) > 1 {
		next, ok := m[path[0]].(map[string]any)
		if !ok {
			return
		}
		m, path = next, path[1:]
	}
	v, ok := m[path[0]]
	if !ok {
		return
	}
	delete(m, path[0])
	if to != nil {
		m[*to] = v
	}
}

// WebhookDeliveryStatus is where a message is in its life.
type WebhookDeliveryStatus string

const (
	WebhookPending   WebhookDeliveryStatus = "pending"   // failed so far, will be retried
	WebhookSucceeded WebhookDeliveryStatus = "succeeded" // an attempt got a 2xx
	WebhookFailed    WebhookDeliveryStatus = "failed"    // out of attempts, refused for good, or disabled
)

// Valid reports whether s is a known status.
func (s WebhookDeliveryStatus) Valid() bool {
	return s == WebhookPending || s == WebhookSucceeded || s == WebhookFailed
}

// WebhookDelivery is one message (one event to one subscription) and what
// became of it. Its ID is the webhook-id header, the same on every attempt
// and replay.
type WebhookDelivery struct {
	ID             string                `json:"id"`
	WorkspaceID    string                `json:"workspaceId"`
	SubscriptionID string                `json:"subscriptionId"`
	EventID        string                `json:"eventId"`
	EventType      EventType             `json:"eventType"`
	Status         WebhookDeliveryStatus `json:"status"`
	// Attempts counts the attempts made (the store counts them).
	Attempts int `json:"attempts"`
	// LastResponseStatus is the HTTP status of the last attempt (0: none).
	LastResponseStatus int        `json:"lastResponseStatus"`
	LastAttemptAt      *time.Time `json:"lastAttemptAt"`
	// NextAttemptAt is when the next retry is due (nil: none planned).
	NextAttemptAt *time.Time `json:"nextAttemptAt"`
	CreatedAt     time.Time  `json:"createdAt"`
	// History is the attempts, oldest first, when the store was asked for
	// them.
	History []WebhookAttempt `json:"history,omitempty"`
}

// MaxWebhookResponseBody bounds the response body kept per attempt.
const MaxWebhookResponseBody = 4 << 10

// WebhookAttempt is one HTTP request of a delivery and its answer.
type WebhookAttempt struct {
	DeliveryID string `json:"deliveryId"`
	// Attempt numbers the delivery's attempts from 1 (the store numbers
	// them; replays continue the count).
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// RequestHeaders are the headers sent (never a secret: the signature
	// is not one).
	RequestHeaders map[string]string `json:"requestHeaders"`
	// ResponseStatus is the HTTP status (0: no response).
	ResponseStatus int `json:"responseStatus"`
	// ResponseBody is the start of the answer, at most
	// MaxWebhookResponseBody bytes.
	ResponseBody string        `json:"responseBody"`
	Latency      time.Duration `json:"-"`
	// Error is why there was no usable answer (timeout, refused address).
	Error string `json:"error,omitempty"`
}

// RecordedWebhookAttempt is what the store made of an attempt.
type RecordedWebhookAttempt struct {
	// Delivery is the delivery as stored after the attempt.
	Delivery WebhookDelivery
	// FailingSince is the subscription's, after the attempt: nil when the
	// attempt succeeded, else the first failure since the last success.
	FailingSince *time.Time
	// JobDone reports that RecordWebhookAttempts completed the record's
	// job.
	JobDone bool
}

// WebhookAttemptRecord is an attempt to record with its delivery, and the
// job it completes, if any.
type WebhookAttemptRecord struct {
	Delivery WebhookDelivery
	Attempt  WebhookAttempt
	// JobID, when not 0, is the job to complete at DoneAt: the message's
	// last attempt is logged.
	JobID  int64
	DoneAt time.Time
}

// WebhookDeliveryQuery filters and pages deliveries, newest first.
type WebhookDeliveryQuery struct {
	Page
	Status WebhookDeliveryStatus
	// Since keeps deliveries created at or after it.
	Since time.Time
	// WithHistory loads each delivery's attempts.
	WithHistory bool
}

// WebhookStore keeps subscriptions, their deliveries and the delivery log.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, s WebhookSubscription) error
	Webhook(ctx context.Context, workspaceID, id string) (WebhookSubscription, error)
	// ListWebhooks pages subscriptions in creation order.
	ListWebhooks(ctx context.Context, workspaceID string, page Page) ([]WebhookSubscription, string, error)
	// ListActiveWebhooks returns every subscription that is not disabled.
	ListActiveWebhooks(ctx context.Context, workspaceID string) ([]WebhookSubscription, error)
	// UpdateWebhook locks the subscription, lets fn change it and saves
	// it; fn's error aborts without saving. ID, workspace and CreatedAt
	// cannot change.
	UpdateWebhook(ctx context.Context, workspaceID, id string, fn func(*WebhookSubscription) error) (WebhookSubscription, error)
	// DeleteWebhook removes a subscription with its deliveries and their
	// attempts (ErrNotFound when absent).
	DeleteWebhook(ctx context.Context, workspaceID, id string) error
	// DisableWebhook disables an enabled subscription and appends a
	// webhook.disabled event (with its dispatch job) in one transaction.
	// On a subscription already disabled it changes nothing, appends no
	// event and returns it as it is.
	DisableWebhook(ctx context.Context, workspaceID, id, reason string, at time.Time) (WebhookSubscription, error)

	// RecordWebhookAttempt, in one transaction: creates the delivery d (or
	// updates its status, last response status and attempt times), counts
	// and appends attempt a (its Attempt is set by the store), and sets the
	// subscription's FailingSince (cleared when d.Status is succeeded,
	// else set to a.At if unset). A subscription that no longer exists is
	// ErrNotFound and nothing is stored.
	RecordWebhookAttempt(ctx context.Context, d WebhookDelivery, a WebhookAttempt) (RecordedWebhookAttempt, error)
	// RecordWebhookAttempts records several attempts, each as
	// RecordWebhookAttempt does, and completes the job each one names (as
	// CompleteJob with no children), all in one transaction: a job is
	// done exactly when its last attempt is logged, and a burst of
	// attempts costs one commit. It is all or nothing: a subscription
	// that no longer exists is ErrNotFound and nothing is stored. The
	// results are in the order of recs. A job already done or failed is
	// left as it is (JobDone false) and its attempt recorded all the same:
	// every attempt made is logged.
	RecordWebhookAttempts(ctx context.Context, recs []WebhookAttemptRecord) ([]RecordedWebhookAttempt, error)
	// WebhookDelivery returns a delivery with its History.
	WebhookDelivery(ctx context.Context, workspaceID, id string) (WebhookDelivery, error)
	// ListWebhookDeliveries pages a subscription's deliveries, newest first.
	ListWebhookDeliveries(ctx context.Context, workspaceID, subscriptionID string, q WebhookDeliveryQuery) ([]WebhookDelivery, string, error)
}

// NewWebhookDisabledEvent is the event recorded when delivery disables s.
// It names no pass; data.fields carries the subscription (webhookId, url,
// reason).
func NewWebhookDisabledEvent(s WebhookSubscription, reason string, at time.Time) Event {
	return Event{
		ID:          NewID(PrefixEvent),
		WorkspaceID: s.WorkspaceID,
		Type:        EventWebhookDisabled,
		OccurredAt:  at,
		Data: EventData{
			Fields: map[string]any{"webhookId": s.ID, "url": s.URL, "reason": reason},
		},
	}
}
