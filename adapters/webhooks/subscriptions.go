package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// Subscriptions: the management side of outbound webhooks. A Manager
// validates and stores subscriptions, keeps their signing secrets sealed
// with the master key (current and, during a rotation, previous), and
// replays deliveries by writing new webhook.deliver jobs.

// Sealer encrypts signing secrets at rest (the master-key box).
type Sealer interface {
	Seal(plaintext []byte, context string) []byte
	Open(sealed []byte, context string) ([]byte, error)
}

// URLChecker refuses endpoint URLs passhub must not call (loopback,
// private, link-local, metadata addresses) unless configured to allow
// them. The delivery side checks again at connect time.
type URLChecker interface {
	CheckURL(ctx context.Context, rawURL string) error
}

// Store is what the Manager needs of the store.
type Store interface {
	core.WebhookStore
	core.JobCreator
	Template(ctx context.Context, workspaceID, id string) (core.Template, error)
}

// Limits on subscription input.
const (
	MaxURLLen    = 2048
	MaxEvents    = 32
	MaxFields    = 100
	MaxFieldName = 255
	// SecretBytes is the length of a signing key (Standard Webhooks asks
	// for 24 to 64 bytes).
	SecretBytes = 32
	// SecretPrefix starts every signing secret, as Standard Webhooks does.
	SecretPrefix = "whsec_"
	// DefaultRotationOverlap is how long the previous secret keeps signing
	// after a rotation when the request names no overlap.
	DefaultRotationOverlap = 24 * time.Hour
	// MaxRotationOverlap bounds a requested overlap.
	MaxRotationOverlap = 30 * 24 * time.Hour
	// replayPage is how many failed deliveries one replay step reads.
	replayPage = 500
)

// Config is what a Manager needs. Store, Box and URLs are required.
type Config struct {
	Store Store
	Box   Sealer
	URLs  URLChecker
	// RotationOverlap is the overlap of a rotation that names none.
	// Default DefaultRotationOverlap.
	RotationOverlap time.Duration
	// Now is the clock. Default time.Now, UTC, microseconds (what stores
	// keep).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.RotationOverlap == 0 {
		c.RotationOverlap = DefaultRotationOverlap
	}
	if c.Now == nil {
		c.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	return c
}

// Validate reports what is wrong with c (after defaults).
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil || c.Box == nil || c.URLs == nil {
		errs = append(errs, errors.New("webhooks: Store, Box and URLs are required"))
	}
	if c.RotationOverlap < 0 || c.RotationOverlap > MaxRotationOverlap {
		errs = append(errs, fmt.Errorf("webhooks: RotationOverlap must be between 0 and %s", MaxRotationOverlap))
	}
	return errors.Join(errs...)
}

// Manager creates, changes, rotates and replays subscriptions.
type Manager struct {
	cfg Config
}

// NewManager returns a Manager for cfg (defaults applied, then validated).
func NewManager(cfg Config) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Manager{cfg: cfg}, nil
}

// Input is a new subscription: either passhub's body (url, events,
// templateId, fields) or Zapier's REST Hooks subscribe body (target_url,
// event).
type Input struct {
	URL        string             `json:"url"`
	Events     []string           `json:"events"`
	TemplateID string             `json:"templateId"`
	Fields     map[string]*string `json:"fields"`
	TargetURL  string             `json:"target_url"`
	Event      string             `json:"event"`
}

// Patch changes a subscription; absent members keep their value.
type Patch struct {
	URL    *string  `json:"url"`
	Events []string `json:"events"`
	// TemplateID "" removes the template filter.
	TemplateID *string `json:"templateId"`
	// Fields replaces the whole field map when present; null clears it.
	Fields OptionalFields `json:"fields"`
	// Disabled false re-enables a subscription (the only way to, after
	// delivery disabled it); true pauses it.
	Disabled *bool `json:"disabled"`
}

// OptionalFields is a field map that knows whether it was sent.
type OptionalFields struct {
	Set   bool
	Value map[string]*string
}

// UnmarshalJSON records that the member was present (null included).
func (o *OptionalFields) UnmarshalJSON(b []byte) error {
	o.Set = true
	o.Value = nil
	return json.Unmarshal(b, &o.Value)
}

// Created is a stored subscription and its secret, shown this once.
type Created struct {
	Subscription core.WebhookSubscription
	Secret       string
}

// Rotated is a subscription after a rotation: its new secret, shown this
// once, and until when the previous one still signs.
type Rotated struct {
	Subscription core.WebhookSubscription
	Secret       string
	// PreviousExpiresAt is when the previous secret stops signing.
	PreviousExpiresAt time.Time
}

// sealedSecrets is what SecretsSealed holds.
type sealedSecrets struct {
	Current       string     `json:"current"`
	Previous      string     `json:"previous,omitempty"`
	PreviousUntil *time.Time `json:"previousUntil,omitempty"`
}

func secretsContext(workspaceID, id string) string { return "webhook:" + workspaceID + ":" + id }

// NewSecret returns a fresh signing secret, "whsec_" + base64 of
// SecretBytes random bytes.
func NewSecret() string {
	b := make([]byte, SecretBytes)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// SecretKey is the HMAC key a secret stands for: the bytes its base64
// part encodes.
func SecretKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New("webhook secret does not start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("decoding webhook secret: %w", err)
	}
	return key, nil
}

func (m *Manager) seal(s *core.WebhookSubscription, sec sealedSecrets) error {
	raw, err := json.Marshal(sec)
	if err != nil {
		return fmt.Errorf("encoding webhook secrets: %w", err)
	}
	s.SecretsSealed = m.cfg.Box.Seal(raw, secretsContext(s.WorkspaceID, s.ID))
	return nil
}

func (m *Manager) secrets(s core.WebhookSubscription) (sealedSecrets, error) {
	var sec sealedSecrets
	raw, err := m.cfg.Box.Open(s.SecretsSealed, secretsContext(s.WorkspaceID, s.ID))
	if err != nil {
		return sec, fmt.Errorf("unsealing the secrets of webhook %s: %w", s.ID, err)
	}
	if err := json.Unmarshal(raw, &sec); err != nil {
		return sec, fmt.Errorf("decoding the secrets of webhook %s: %w", s.ID, err)
	}
	return sec, nil
}

// SigningSecrets returns the HMAC keys that sign a message to s at now:
// the current secret's first, then the previous one's while its overlap
// lasts. Each key gives one "v1,<signature>" of the webhook-signature
// header.
func (m *Manager) SigningSecrets(s core.WebhookSubscription, now time.Time) ([][]byte, error) {
	sec, err := m.secrets(s)
	if err != nil {
		return nil, err
	}
	cur, err := SecretKey(sec.Current)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", s.ID, err)
	}
	keys := [][]byte{cur}
	if sec.Previous != "" && sec.PreviousUntil != nil && now.Before(*sec.PreviousUntil) {
		prev, err := SecretKey(sec.Previous)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: %w", s.ID, err)
		}
		keys = append(keys, prev)
	}
	return keys, nil
}

// Create validates in and stores a new subscription with a new secret.
func (m *Manager) Create(ctx context.Context, workspaceID string, in Input) (Created, error) {
	s := core.WebhookSubscription{Origin: core.WebhookOriginAPI}
	urlField := "url"
	if in.TargetURL != "" || in.Event != "" {
		// Zapier's REST Hooks subscribe body.
		if in.URL != "" || in.Events != nil || in.TemplateID != "" || in.Fields != nil {
			return Created{}, core.Invalid("target_url", "is Zapier's subscribe body (target_url, event) and cannot be combined with url, events, templateId or fields")
		}
		if in.Event == "" {
			return Created{}, core.Invalid("event", "is required with target_url")
		}
		if !core.ValidWebhookEvent(in.Event) {
			return Created{}, core.Invalid("event", "%s", eventReason(in.Event))
		}
		s.Origin, urlField = core.WebhookOriginZapier, "target_url"
		in.URL, in.Events = in.TargetURL, []string{in.Event}
	}
	if err := m.checkURL(ctx, urlField, in.URL); err != nil {
		return Created{}, err
	}
	events, err := checkEvents(in.Events)
	if err != nil {
		return Created{}, err
	}
	if err := m.checkTemplate(ctx, workspaceID, in.TemplateID); err != nil {
		return Created{}, err
	}
	if err := CheckFields(in.Fields); err != nil {
		return Created{}, err
	}
	now := m.cfg.Now()
	s.ID, s.WorkspaceID, s.CreatedAt, s.UpdatedAt = core.NewID(core.PrefixWebhook), workspaceID, now, now
	s.URL, s.Events, s.TemplateID, s.Fields = in.URL, events, in.TemplateID, in.Fields
	if len(s.Fields) == 0 {
		s.Fields = nil
	}
	secret := NewSecret()
	if err := m.seal(&s, sealedSecrets{Current: secret}); err != nil {
		return Created{}, err
	}
	if err := m.cfg.Store.CreateWebhook(ctx, s); err != nil {
		return Created{}, fmt.Errorf("creating webhook: %w", err)
	}
	return Created{Subscription: s, Secret: secret}, nil
}

// Get returns one subscription.
func (m *Manager) Get(ctx context.Context, workspaceID, id string) (core.WebhookSubscription, error) {
	return m.cfg.Store.Webhook(ctx, workspaceID, id)
}

// List pages the workspace's subscriptions in creation order.
func (m *Manager) List(ctx context.Context, workspaceID string, page core.Page) ([]core.WebhookSubscription, string, error) {
	return m.cfg.Store.ListWebhooks(ctx, workspaceID, page)
}

// Update applies p. Everything is validated before the row is locked
// (the URL check may resolve DNS) and nothing is stored when any of it
// fails.
func (m *Manager) Update(ctx context.Context, workspaceID, id string, p Patch) (core.WebhookSubscription, error) {
	if p.URL != nil {
		if err := m.checkURL(ctx, "url", *p.URL); err != nil {
			return core.WebhookSubscription{}, err
		}
	}
	var events []string
	if p.Events != nil {
		var err error
		if events, err = checkEvents(p.Events); err != nil {
			return core.WebhookSubscription{}, err
		}
	}
	if p.TemplateID != nil {
		if err := m.checkTemplate(ctx, workspaceID, *p.TemplateID); err != nil {
			return core.WebhookSubscription{}, err
		}
	}
	if p.Fields.Set {
		if err := CheckFields(p.Fields.Value); err != nil {
			return core.WebhookSubscription{}, err
		}
	}
	now := m.cfg.Now()
	return m.cfg.Store.UpdateWebhook(ctx, workspaceID, id, func(s *core.WebhookSubscription) error {
		if p.URL != nil {
			s.URL = *p.URL
		}
		if events != nil {
			s.Events = events
		}
		if p.TemplateID != nil {
			s.TemplateID = *p.TemplateID
		}
		if p.Fields.Set {
			s.Fields = p.Fields.Value
		}
		if p.Disabled != nil && *p.Disabled != s.Disabled {
			s.Disabled = *p.Disabled
			if s.Disabled {
				s.DisabledAt, s.DisabledReason = &now, "disabled through the API"
			} else {
				// A fresh start: the failure clock of the old endpoint
				// state must not disable it again at once.
				s.DisabledAt, s.DisabledReason, s.FailingSince = nil, "", nil
			}
		}
		s.UpdatedAt = now
		return nil
	})
}

// Delete removes a subscription and its delivery log.
func (m *Manager) Delete(ctx context.Context, workspaceID, id string) error {
	return m.cfg.Store.DeleteWebhook(ctx, workspaceID, id)
}

// RotateSecret makes a new current secret; the old current one keeps
// signing (beside the new one) for overlap, or the configured default
// when overlap is nil. A previous secret still in its overlap is dropped.
func (m *Manager) RotateSecret(ctx context.Context, workspaceID, id string, overlap *time.Duration) (Rotated, error) {
	d := m.cfg.RotationOverlap
	if overlap != nil {
		d = *overlap
	}
	if d < 0 || d > MaxRotationOverlap {
		return Rotated{}, core.Invalid("overlap", "must be between 0s and %s", MaxRotationOverlap)
	}
	now := m.cfg.Now()
	until := now.Add(d)
	secret := NewSecret()
	s, err := m.cfg.Store.UpdateWebhook(ctx, workspaceID, id, func(s *core.WebhookSubscription) error {
		old, err := m.secrets(*s)
		if err != nil {
			return err
		}
		s.UpdatedAt = now
		return m.seal(s, sealedSecrets{Current: secret, Previous: old.Current, PreviousUntil: &until})
	})
	if err != nil {
		return Rotated{}, err
	}
	return Rotated{Subscription: s, Secret: secret, PreviousExpiresAt: until}, nil
}

// Delivery returns one delivery with its attempts.
func (m *Manager) Delivery(ctx context.Context, workspaceID, id string) (core.WebhookDelivery, error) {
	return m.cfg.Store.WebhookDelivery(ctx, workspaceID, id)
}

// Deliveries pages a subscription's deliveries newest first; an unknown
// subscription is ErrNotFound.
func (m *Manager) Deliveries(ctx context.Context, workspaceID, id string, q core.WebhookDeliveryQuery) ([]core.WebhookDelivery, string, error) {
	if _, err := m.cfg.Store.Webhook(ctx, workspaceID, id); err != nil {
		return nil, "", err
	}
	return m.cfg.Store.ListWebhookDeliveries(ctx, workspaceID, id, q)
}

// errDisabled is a replay to a disabled subscription.
func errDisabled(id string) error {
	return &core.ConflictError{Field: "disabled", Reason: fmt.Sprintf("webhook %s is disabled; enable it with PATCH {\"disabled\": false} first", id)}
}

// Replay sends a delivery's message again (same webhook-id, current
// payload rules and secrets) through a new webhook.deliver job.
func (m *Manager) Replay(ctx context.Context, workspaceID, deliveryID string) (core.WebhookDelivery, error) {
	d, err := m.cfg.Store.WebhookDelivery(ctx, workspaceID, deliveryID)
	if err != nil {
		return core.WebhookDelivery{}, err
	}
	s, err := m.cfg.Store.Webhook(ctx, workspaceID, d.SubscriptionID)
	if err != nil {
		return core.WebhookDelivery{}, err
	}
	if s.Disabled {
		return core.WebhookDelivery{}, errDisabled(s.ID)
	}
	now := m.cfg.Now()
	j := core.WebhookDeliverJob(workspaceID, s.ID, d.EventID, core.WebhookReplaySuffix(now), now)
	if _, err := m.cfg.Store.CreateJobs(ctx, []core.Job{j}); err != nil {
		return core.WebhookDelivery{}, fmt.Errorf("creating replay job: %w", err)
	}
	return d, nil
}

// ReplayFailed replays every delivery of subscription id that failed for
// good and was created at or after since; it returns their IDs.
func (m *Manager) ReplayFailed(ctx context.Context, workspaceID, id string, since time.Time) ([]string, error) {
	s, err := m.cfg.Store.Webhook(ctx, workspaceID, id)
	if err != nil {
		return nil, err
	}
	if s.Disabled {
		return nil, errDisabled(s.ID)
	}
	now := m.cfg.Now()
	// One suffix for the whole request: each delivery gets one job, and a
	// repeated request (a new time) makes new ones.
	suffix := core.WebhookReplaySuffix(now)
	ids := []string{}
	q := core.WebhookDeliveryQuery{Page: core.Page{Limit: replayPage}, Status: core.WebhookFailed, Since: since}
	for {
		page, next, err := m.cfg.Store.ListWebhookDeliveries(ctx, workspaceID, id, q)
		if err != nil {
			return nil, fmt.Errorf("listing failed deliveries: %w", err)
		}
		jobs := make([]core.Job, 0, len(page))
		for _, d := range page {
			jobs = append(jobs, core.WebhookDeliverJob(workspaceID, id, d.EventID, suffix, now))
			ids = append(ids, d.ID)
		}
		if len(jobs) > 0 {
			if _, err := m.cfg.Store.CreateJobs(ctx, jobs); err != nil {
				return nil, fmt.Errorf("creating replay jobs: %w", err)
			}
		}
		if next == "" {
			return ids, nil
		}
		q.Cursor = next
	}
}

func (m *Manager) checkURL(ctx context.Context, field, raw string) error {
	if err := CheckURLSyntax(field, raw); err != nil {
		return err
	}
	if err := m.cfg.URLs.CheckURL(ctx, raw); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("checking %s: %w", field, err)
		}
		return core.Invalid(field, "is refused: %v", err)
	}
	return nil
}

// CheckURLSyntax checks what any endpoint URL must be: absolute http or
// https with a host, at most MaxURLLen bytes.
func CheckURLSyntax(field, raw string) error {
	if raw == "" {
		return core.Invalid(field, "is required")
	}
	if len(raw) > MaxURLLen {
		return core.Invalid(field, "is longer than %d bytes", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return core.Invalid(field, "is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return core.Invalid(field, "must be an absolute http or https URL")
	}
	if u.Hostname() == "" {
		return core.Invalid(field, "has no host")
	}
	return nil
}

func eventReason(e string) string {
	var names []string
	for _, t := range core.WebhookEventTypes() {
		names = append(names, string(t))
	}
	return fmt.Sprintf("%q is not an event type or wildcard; use one of %s, pass.*, webhook.* or *", e, strings.Join(names, ", "))
}

// checkEvents validates event patterns and drops repeats, keeping order.
func checkEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, core.Invalid("events", "must name at least one event type or wildcard")
	}
	if len(events) > MaxEvents {
		return nil, core.Invalid("events", "has more than %d entries", MaxEvents)
	}
	out := make([]string, 0, len(events))
	for i, e := range events {
		if !core.ValidWebhookEvent(e) {
			return nil, core.Invalid(fmt.Sprintf("events[%d]", i), "%s", eventReason(e))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *Manager) checkTemplate(ctx context.Context, workspaceID, id string) error {
	if id == "" {
		return nil
	}
	_, err := m.cfg.Store.Template(ctx, workspaceID, id)
	if errors.Is(err, core.ErrNotFound) {
		return core.Invalid("templateId", "names no template of this workspace")
	}
	if err != nil {
		return fmt.Errorf("loading template %s: %w", id, err)
	}
	return nil
}

// CheckFields validates a field map. Keys are payload paths relative to
// data: one of core.WebhookDataKeys or "fields.<name>"; a value renames
// the last segment within its object, null removes it. passId cannot be
// removed; the new names within one object must be unique and may not
// take the name of a data key that stays.
func CheckFields(fields map[string]*string) error {
	if len(fields) > MaxFields {
		return core.Invalid("fields", "has more than %d entries", MaxFields)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)              // report the same error for the same input
	targets := map[string]string{} // parent + "\x00" + new name → key
	for _, k := range keys {
		field := "fields." + k
		if !validPath(k) {
			return core.Invalid(field, "is not a payload field; use one of %s, or fields.<name> for a pass field", strings.Join(core.WebhookDataKeys, ", "))
		}
		to := fields[k]
		if to == nil {
			if k == "passId" {
				return core.Invalid(field, "cannot be removed: every payload names its pass (rename it instead)")
			}
			continue
		}
		name := *to
		if strings.TrimSpace(name) == "" || len(name) > MaxFieldName || strings.Contains(name, ".") {
			return core.Invalid(field, "must be a new name of 1 to %d characters without '.', or null to remove the field", MaxFieldName)
		}
		parent := ""
		if i := strings.LastIndexByte(k, '.'); i >= 0 {
			parent = k[:i]
		}
		if other, ok := targets[parent+"\x00"+name]; ok {
			return core.Invalid(field, "renames to %q, as %s does", name, "fields."+other)
		}
		targets[parent+"\x00"+name] = k
		if parent == "" && slices.Contains(core.WebhookDataKeys, name) && name != k {
			if _, moved := fields[name]; !moved {
				return core.Invalid(field, "renames to %q, a payload field that stays; rename or remove %s too", name, name)
			}
		}
	}
	return nil
}

func validPath(k string) bool {
	if slices.Contains(core.WebhookDataKeys, k) {
		return true
	}
	rest, ok := strings.CutPrefix(k, "fields.")
	if !ok || rest == "" || len(k) > MaxFieldName {
		return false
	}
	return !slices.Contains(strings.Split(rest, "."), "")
}
