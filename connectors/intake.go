// Package connectors is passhub's inbound side: a connector is one URL
// (/hooks/{id}) a source system posts to. Intake verifies each delivery
// with the connector's kind and secrets, and stores what it carries as
// triggers — durably, once per dedupe key — before the sender gets its
// 2xx. Mapping runs later, on a worker.
package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/passhub/passhub/connectors/verify"
	"github.com/passhub/passhub/core"
)

// Sealer encrypts connector secrets at rest (the master-key box).
type Sealer interface {
	Seal(plaintext []byte, context string) []byte
	Open(sealed []byte, context string) ([]byte, error)
}

// Store is what intake needs of the store.
type Store interface {
	CreateConnector(ctx context.Context, c core.Connector) error
	Connector(ctx context.Context, workspaceID, id string) (core.Connector, error)
	ConnectorByID(ctx context.Context, id string) (core.Connector, error)
	ListConnectors(ctx context.Context, workspaceID string, page core.Page) ([]core.Connector, string, error)
	UpdateConnector(ctx context.Context, workspaceID, id string, fn func(*core.Connector) error) (core.Connector, error)
	DeleteConnector(ctx context.Context, workspaceID, id string) error
	AcceptTriggers(ctx context.Context, triggers []core.Trigger) ([]core.Accepted, error)
}

// Secrets are a connector's secrets, by kind: shopify secrets (two while
// rotating), hubspot clientSecret, square signatureKey, generic secrets
// (HMAC or Standard Webhooks "whsec_…") or keys (API key).
type Secrets struct {
	Secrets      []string `json:"secrets,omitempty"`
	ClientSecret string   `json:"clientSecret,omitempty"`
	SignatureKey string   `json:"signatureKey,omitempty"`
	Keys         []string `json:"keys,omitempty"`
}

// Config is a connector's non-secret settings. HubSpot: allowV1V2.
// Generic: scheme (hmac, standardWebhooks or apiKey) and the header,
// encoding, prefix and algorithm of an HMAC or API key, plus where the
// topic and dedupe key come from: a header when present, else an
// expression over the payload (TopicExpr, DedupeExpr; see keys.go), else
// the fixed Topic, and for the dedupe key the hash of the body.
type Config struct {
	AllowV1V2    bool   `json:"allowV1V2,omitempty"`
	Scheme       string `json:"scheme,omitempty"`
	Header       string `json:"header,omitempty"`
	Encoding     string `json:"encoding,omitempty"`
	Prefix       string `json:"prefix,omitempty"`
	Algorithm    string `json:"algorithm,omitempty"`
	TopicHeader  string `json:"topicHeader,omitempty"`
	Topic        string `json:"topic,omitempty"`
	DedupeHeader string `json:"dedupeHeader,omitempty"`
	TopicExpr    string `json:"topicExpr,omitempty"`
	DedupeExpr   string `json:"dedupeExpr,omitempty"`
}

// Generic schemes.
const (
	SchemeHMAC             = "hmac"
	SchemeStandardWebhooks = "standardWebhooks"
	SchemeAPIKey           = "apiKey"
)

// Input creates or replaces a connector's settings.
type Input struct {
	Name    string             `json:"name"`
	Kind    core.ConnectorKind `json:"kind"`
	Secrets Secrets            `json:"secrets"`
	Config  Config             `json:"config"`
	Mapping string             `json:"mapping"`
}

// Intake creates connectors and receives their deliveries.
type Intake struct {
	store     Store
	box       Sealer
	publicURL string
	now       func() time.Time
	keys      keyCache

	mu    sync.Mutex
	ready map[string]readyConnector

	local LocalRunner
}

// LocalRunner runs, in this process, jobs written claimed (core.Local):
// Reserve a slot before the write, then Run the job or Release the slot.
type LocalRunner interface {
	Reserve() bool
	Release()
	Run(j core.Job, t *core.LoadedTrigger)
}

// RunLocally makes the intake claim the jobs of the triggers it accepts
// while l has room, so they run here at once instead of through the
// queue. Call before serving.
func (in *Intake) RunLocally(l LocalRunner) { in.local = l }

// readyConnector is a connector with its secrets opened and verifier
// built, kept for readyTTL: loading, unsealing and building per delivery
// was a fifth of intake's CPU and a database round trip per webhook.
type readyConnector struct {
	c   core.Connector
	cfg Config
	v   kindVerifier
	at  time.Time
}

// readyTTL bounds how long another instance's change to a connector (a
// rotated secret, a delete) can go unseen here; this instance's own
// changes are seen at once.
const readyTTL = time.Second

// New returns an intake; publicURL makes the hook URLs.
func New(store Store, box Sealer, publicURL string) *Intake {
	return &Intake{store: store, box: box, publicURL: strings.TrimRight(publicURL, "/"), now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }, ready: map[string]readyConnector{}}
}

// URL is where the source system posts: PASSHUB_PUBLIC_URL/hooks/{id}.
func (in *Intake) URL(c core.Connector) string { return in.publicURL + "/hooks/" + c.ID }

func secretsContext(workspaceID, id string) string { return "connector:" + workspaceID + ":" + id }

// Create validates and stores a new connector.
func (in *Intake) Create(ctx context.Context, workspaceID string, input Input) (core.Connector, error) {
	now := in.now()
	c := core.Connector{ID: core.NewID(core.PrefixConnector), WorkspaceID: workspaceID, CreatedAt: now, UpdatedAt: now}
	if err := in.apply(&c, input); err != nil {
		return core.Connector{}, err
	}
	if err := in.store.CreateConnector(ctx, c); err != nil {
		return core.Connector{}, fmt.Errorf("creating connector: %w", err)
	}
	return c, nil
}

// Update replaces a connector's settings; empty secrets keep the stored
// ones (a client cannot read them back to resend them).
func (in *Intake) Update(ctx context.Context, workspaceID, id string, input Input) (core.Connector, error) {
	defer in.forgetReady(id)
	return in.store.UpdateConnector(ctx, workspaceID, id, func(c *core.Connector) error {
		if input.Secrets.empty() {
			old, err := in.secrets(*c)
			if err != nil {
				return err
			}
			input.Secrets = old
		}
		if input.Kind == "" {
			input.Kind = c.Kind
		}
		if err := in.apply(c, input); err != nil {
			return err
		}
		c.UpdatedAt = in.now()
		return nil
	})
}

// validateKeyExprs compiles a generic connector's topicExpr and
// dedupeExpr, so a broken one is refused here rather than at delivery.
func validateKeyExprs(kind core.ConnectorKind, cfg Config) error {
	if cfg.TopicExpr == "" && cfg.DedupeExpr == "" {
		return nil
	}
	if kind != core.ConnectorGeneric {
		field := "config.topicExpr"
		if cfg.TopicExpr == "" {
			field = "config.dedupeExpr"
		}
		return core.Invalid(field, "is for generic connectors only; a %s delivery names its own topic and dedupe key", kind)
	}
	if cfg.Topic != "" && cfg.TopicExpr != "" {
		return core.Invalid("config.topicExpr", "cannot be set with config.topic; choose a fixed topic or an expression")
	}
	_, err := compileKeys(cfg)
	return err
}

func (s Secrets) empty() bool {
	return len(s.Secrets) == 0 && s.ClientSecret == "" && s.SignatureKey == "" && len(s.Keys) == 0
}

// apply validates input and writes it into c, secrets sealed.
func (in *Intake) apply(c *core.Connector, input Input) error {
	input.Name = strings.TrimSpace(input.Name)
	if input.Name == "" || len(input.Name) > core.MaxNameLen {
		return core.Invalid("name", "must be 1 to %d characters", core.MaxNameLen)
	}
	if !input.Kind.Valid() {
		return core.Invalid("kind", "must be shopify, hubspot, square or generic")
	}
	if strings.TrimSpace(input.Mapping) == "" {
		return core.Invalid("mapping", "is required: the name of the mapping file to apply")
	}
	c.Name, c.Kind, c.Mapping = input.Name, input.Kind, input.Mapping
	v, err := in.verifier(*c, input.Secrets, input.Config)
	if err != nil {
		return err
	}
	if err := v.validate(); err != nil {
		return prefixField(err)
	}
	if err := validateKeyExprs(input.Kind, input.Config); err != nil {
		return err
	}
	cfg, err := json.Marshal(input.Config)
	if err != nil {
		return fmt.Errorf("encoding connector config: %w", err)
	}
	sec, err := json.Marshal(input.Secrets)
	if err != nil {
		return fmt.Errorf("encoding connector secrets: %w", err)
	}
	c.Config = cfg
	c.SecretsSealed = in.box.Seal(sec, secretsContext(c.WorkspaceID, c.ID))
	return nil
}

// prefixField names config and secret fields as the API body does.
func prefixField(err error) error {
	fe, ok := err.(*core.FieldError)
	if !ok {
		return err
	}
	switch fe.Field {
	case "secrets", "clientSecret", "signatureKey", "keys":
		return core.Invalid("secrets."+fe.Field, "%s", fe.Reason)
	}
	if strings.HasPrefix(fe.Field, "secrets[") || strings.HasPrefix(fe.Field, "keys[") {
		return core.Invalid("secrets."+fe.Field, "%s", fe.Reason)
	}
	return core.Invalid("config."+fe.Field, "%s", fe.Reason)
}

func (in *Intake) secrets(c core.Connector) (Secrets, error) {
	var s Secrets
	raw, err := in.box.Open(c.SecretsSealed, secretsContext(c.WorkspaceID, c.ID))
	if err != nil {
		return s, fmt.Errorf("unsealing the secrets of connector %s: %w", c.ID, err)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("decoding the secrets of connector %s: %w", c.ID, err)
	}
	return s, nil
}

// checked is a verifier that can also check its own configuration.
type checked interface {
	verify.Verifier
	Validate() error
}

type kindVerifier struct{ checked }

func (k kindVerifier) validate() error { return k.Validate() }

// verifier builds the verifier of connector c's kind.
func (in *Intake) verifier(c core.Connector, s Secrets, cfg Config) (kindVerifier, error) {
	url := in.URL(c)
	fields := verify.Fields{TopicHeader: cfg.TopicHeader, Topic: cfg.Topic, DedupeHeader: cfg.DedupeHeader}
	switch c.Kind {
	case core.ConnectorShopify:
		return kindVerifier{verify.Shopify{Secrets: s.Secrets}}, nil
	case core.ConnectorHubSpot:
		return kindVerifier{verify.HubSpot{ClientSecret: s.ClientSecret, AllowV1V2: cfg.AllowV1V2, TargetURL: url}}, nil
	case core.ConnectorSquare:
		return kindVerifier{verify.Square{SignatureKey: s.SignatureKey, NotificationURL: url}}, nil
	case core.ConnectorGeneric:
		switch cfg.Scheme {
		case SchemeHMAC, "":
			return kindVerifier{verify.HMAC{Secrets: s.Secrets, Header: cfg.Header, Encoding: cfg.Encoding, Prefix: cfg.Prefix, Algorithm: cfg.Algorithm, Fields: fields}}, nil
		case SchemeStandardWebhooks:
			return kindVerifier{verify.StandardWebhooks{Secrets: s.Secrets, Fields: fields}}, nil
		case SchemeAPIKey:
			return kindVerifier{verify.APIKey{Header: cfg.Header, Prefix: cfg.Prefix, Keys: s.Keys, Fields: fields}}, nil
		}
		return kindVerifier{}, core.Invalid("config.scheme", "must be hmac, standardWebhooks or apiKey")
	}
	return kindVerifier{}, core.Invalid("kind", "must be shopify, hubspot, square or generic")
}

// connector returns connector id ready to verify, from the cache while
// fresh.
func (in *Intake) connector(ctx context.Context, id string) (readyConnector, error) {
	now := in.now()
	in.mu.Lock()
	r, ok := in.ready[id]
	in.mu.Unlock()
	if ok && now.Sub(r.at) < readyTTL {
		return r, nil
	}
	c, err := in.store.ConnectorByID(ctx, id)
	if err != nil {
		return readyConnector{}, err
	}
	s, err := in.secrets(c)
	if err != nil {
		return readyConnector{}, err
	}
	var cfg Config
	if len(c.Config) > 0 {
		if err := json.Unmarshal(c.Config, &cfg); err != nil {
			return readyConnector{}, fmt.Errorf("decoding the config of connector %s: %w", c.ID, err)
		}
	}
	v, err := in.verifier(c, s, cfg)
	if err != nil {
		return readyConnector{}, err
	}
	r = readyConnector{c: c, cfg: cfg, v: v, at: now}
	in.mu.Lock()
	if len(in.ready) >= maxReady {
		clear(in.ready) // rare: more live connectors than this; start over
	}
	in.ready[id] = r
	in.mu.Unlock()
	return r, nil
}

// maxReady bounds the cache of ready connectors.
const maxReady = 10000

func (in *Intake) forgetReady(id string) {
	in.mu.Lock()
	delete(in.ready, id)
	in.mu.Unlock()
}

// Receipt says what a delivery became.
type Receipt struct {
	Accepted   int      `json:"accepted"`
	Duplicates int      `json:"duplicates"`
	TriggerIDs []string `json:"triggerIds"`
	// Queued counts the accepted triggers whose jobs wait for the relay
	// (the others run in this process).
	Queued int `json:"-"`
}

// keptHeaders are the request headers a trigger keeps for mapping rules.
var keptHeaders = []string{
	"X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id", "X-Shopify-Triggered-At", "X-Shopify-Event-Id", "X-Shopify-Api-Version",
	"X-HubSpot-Request-Timestamp", "Webhook-Id", "Webhook-Timestamp", "Content-Type", "User-Agent",
}

// Receive verifies a delivery to connector id and stores its triggers.
// An unknown connector is ErrNotFound; a bad signature wraps
// verify.ErrSignature or verify.ErrStale; a topicExpr or dedupeExpr that
// fails on this payload is a *KeyError; nothing is stored unless the
// whole delivery verified and every key was made. When it returns nil, the triggers are durable.
func (in *Intake) Receive(ctx context.Context, id, method string, header http.Header, body []byte) (Receipt, error) {
	ready, err := in.connector(ctx, id)
	if err != nil {
		return Receipt{}, err
	}
	c, cfg, v := ready.c, ready.cfg, ready.v
	now := in.now()
	res, err := v.Verify(verify.Request{Method: method, URL: in.URL(c), Header: header, Body: body, Now: now})
	if err != nil {
		return Receipt{}, err
	}
	if c.Kind == core.ConnectorGeneric && (cfg.TopicExpr != "" || cfg.DedupeExpr != "") {
		k, err := in.keys.get(c, cfg)
		if err != nil {
			return Receipt{}, err
		}
		for i := range res.Events {
			ev := &res.Events[i]
			if err := k.keys(ev.Payload, header, &ev.Topic, &ev.DedupeKey); err != nil {
				return Receipt{}, err
			}
		}
	}
	headers := map[string]string{}
	for _, h := range keptHeaders {
		if val := header.Get(h); val != "" {
			headers[strings.ToLower(h)] = val
		}
	}
	triggers := make([]core.Trigger, 0, len(res.Events))
	for _, ev := range res.Events {
		t := core.Trigger{
			ID: core.NewID(core.PrefixTrigger), WorkspaceID: c.WorkspaceID, ConnectorID: c.ID,
			Topic: ev.Topic, DedupeKey: ev.DedupeKey, Source: ev.Source, Payload: bytes.Clone(ev.Payload),
			Headers: headers, ReceivedAt: now, Status: core.TriggerReceived, UpdatedAt: now,
		}
		if t.DedupeKey == "" {
			// Nothing names the delivery: the payload itself does, so an
			// identical redelivery is still recognised.
			t.DedupeKey = "body:" + core.SHA256Hex(string(ev.Payload))
		}
		if !ev.OccurredAt.IsZero() {
			at := ev.OccurredAt.UTC().Truncate(time.Microsecond)
			t.OccurredAt = &at
		}
		triggers = append(triggers, t)
	}
	claimed := 0
	for i := range triggers {
		if in.local == nil || !in.local.Reserve() {
			break
		}
		triggers[i].Claim = true
		claimed++
	}
	accepted, err := in.store.AcceptTriggers(ctx, triggers)
	if err != nil {
		for range claimed {
			in.local.Release()
		}
		return Receipt{}, fmt.Errorf("storing triggers: %w", err)
	}
	r := Receipt{TriggerIDs: []string{}}
	for i, a := range accepted {
		d := a.Duplicate
		switch {
		case triggers[i].Claim && (d || a.Job.ID == 0):
			in.local.Release() // nothing of its own to run
		case triggers[i].Claim:
			in.local.Run(a.Job, a.Loaded)
		case !d:
			r.Queued++
		}
		if d {
			r.Duplicates++
			continue
		}
		r.Accepted++
		r.TriggerIDs = append(r.TriggerIDs, triggers[i].ID)
	}
	return r, nil
}

// Get, List and Delete pass through to the store.
func (in *Intake) Get(ctx context.Context, workspaceID, id string) (core.Connector, error) {
	return in.store.Connector(ctx, workspaceID, id)
}

// List pages a workspace's connectors.
func (in *Intake) List(ctx context.Context, workspaceID string, page core.Page) ([]core.Connector, string, error) {
	return in.store.ListConnectors(ctx, workspaceID, page)
}

// Delete removes a connector; its triggers stay readable.
func (in *Intake) Delete(ctx context.Context, workspaceID, id string) error {
	if err := in.store.DeleteConnector(ctx, workspaceID, id); err != nil {
		return err
	}
	in.keys.forget(id)
	in.forgetReady(id)
	return nil
}
