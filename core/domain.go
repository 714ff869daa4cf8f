package core

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Workspace is a tenant. Every other object belongs to exactly one.
type Workspace struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// Role is what an API key may do.
type Role string

const (
	RoleAdmin  Role = "admin"
	RoleEditor Role = "editor"
	RoleViewer Role = "viewer"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleEditor || r == RoleViewer }

// CanWrite reports whether the role may change data.
func (r Role) CanWrite() bool { return r == RoleAdmin || r == RoleEditor }

// APIKey is a workspace credential. Only the SHA-256 of the secret is kept:
// keys are 160 random bits, so a fast hash is enough and lookups stay O(1).
type APIKey struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspaceId"`
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	Hash        string    `json:"-"`
	CreatedAt   time.Time `json:"createdAt"`
}

// APIKeyPrefix starts every API key secret, so leaked keys are recognisable.
const APIKeyPrefix = "phk_"

// NewAPIKeySecret returns a fresh secret API key.
func NewAPIKeySecret() string { return APIKeyPrefix + RandomToken(20) }

// HashAPIKey is how key secrets are stored and looked up.
func HashAPIKey(secret string) string { return SHA256Hex(secret) }

// SHA256Hex is the hex SHA-256 of s: how secrets and tokens are kept and
// logged without being usable, and how payloads are fingerprinted.
func SHA256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Lifecycle is the state of a pass.
type Lifecycle string

const (
	LifecycleActive  Lifecycle = "active"
	LifecycleExpired Lifecycle = "expired"
	LifecycleVoided  Lifecycle = "voided"
	LifecycleDeleted Lifecycle = "deleted"
)

// Valid reports whether l is a known lifecycle.
func (l Lifecycle) Valid() bool {
	switch l {
	case LifecycleActive, LifecycleExpired, LifecycleVoided, LifecycleDeleted:
		return true
	}
	return false
}

// WalletStatus says which wallets hold a pass.
type WalletStatus string

const (
	WalletNone   WalletStatus = "none"
	WalletApple  WalletStatus = "apple"
	WalletGoogle WalletStatus = "google"
	WalletBoth   WalletStatus = "both"
)

// Valid reports whether s is a known wallet status.
func (s WalletStatus) Valid() bool {
	switch s {
	case WalletNone, WalletApple, WalletGoogle, WalletBoth:
		return true
	}
	return false
}

// Platform is a wallet platform.
type Platform string

const (
	PlatformApple  Platform = "apple"
	PlatformGoogle Platform = "google"
)

// Pass is one customer's instance of a template.
type Pass struct {
	ID          string         `json:"id"`
	WorkspaceID string         `json:"workspaceId"`
	TemplateID  string         `json:"templateId"`
	ExternalID  string         `json:"externalId"`
	Data        map[string]any `json:"data"`
	Lifecycle   Lifecycle      `json:"lifecycle"`
	Version     int64          `json:"version"`
	// AuthToken is the Apple authenticationToken: random, made once, never
	// changed, never shown by the API.
	AuthToken               string       `json:"-"`
	WalletStatus            WalletStatus `json:"walletStatus"`
	AppleWalletInstalledAt  *time.Time   `json:"appleWalletInstalledAt"`
	GoogleWalletInstalledAt *time.Time   `json:"googleWalletInstalledAt"`
	WalletLastChangedAt     *time.Time   `json:"walletLastChangedAt"`
	WalletLastEvent         EventType    `json:"walletLastEvent,omitempty"`
	CreatedAt               time.Time    `json:"createdAt"`
	UpdatedAt               time.Time    `json:"updatedAt"`
	// Message and Changed describe the change that made this version: the
	// text to show on the lock screen and the data keys whose values
	// changed. Rendering uses them (Apple changeMessage); each change
	// replaces them.
	Message string   `json:"-"`
	Changed []string `json:"-"`
	// Source is what mapped triggers left on the pass (see SourceState).
	Source SourceState `json:"-"`
}

// DeriveWalletStatus is the status implied by the install timestamps.
func (p *Pass) DeriveWalletStatus() WalletStatus {
	switch {
	case p.AppleWalletInstalledAt != nil && p.GoogleWalletInstalledAt != nil:
		return WalletBoth
	case p.AppleWalletInstalledAt != nil:
		return WalletApple
	case p.GoogleWalletInstalledAt != nil:
		return WalletGoogle
	}
	return WalletNone
}

// EventType names something that happened to a pass.
type EventType string

const (
	EventRecordAdded EventType = "pass.record_added"
	EventUpdated     EventType = "pass.updated"
	EventDeleted     EventType = "pass.deleted"
	EventExpired     EventType = "pass.expired"
	EventVoided      EventType = "pass.voided"
	EventInstalled   EventType = "pass.installed"
	EventUninstalled EventType = "pass.uninstalled"
	// EventWebhookDisabled names no pass: delivery gave up on a
	// subscription (see NewWebhookDisabledEvent).
	EventWebhookDisabled EventType = "webhook.disabled"
)

// EventTypes lists every pass event type, for validation and
// documentation; EventWebhookDisabled is the one event that is not about
// a pass.
var EventTypes = []EventType{EventRecordAdded, EventUpdated, EventDeleted, EventExpired, EventVoided, EventInstalled, EventUninstalled}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool {
	if t == EventWebhookDisabled {
		return true
	}
	for _, k := range EventTypes {
		if k == t {
			return true
		}
	}
	return false
}

// Event is something that happened to a pass: the unit of outbound
// webhooks and insights. Its Data is the pass as it was right after.
type Event struct {
	// Seq is the store's insertion order; it orders and pages events.
	Seq         int64     `json:"-"`
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspaceId"`
	Type        EventType `json:"type"`
	OccurredAt  time.Time `json:"occurredAt"`
	Data        EventData `json:"data"`
}

// EventData is the snapshot an event carries (the outbound webhook schema).
type EventData struct {
	PassID                  string         `json:"passId"`
	ExternalID              string         `json:"externalId"`
	TemplateID              string         `json:"templateId"`
	Platform                Platform       `json:"platform,omitempty"`
	Lifecycle               Lifecycle      `json:"lifecycle"`
	Version                 int64          `json:"version"`
	WalletStatus            WalletStatus   `json:"walletStatus"`
	AppleWalletInstalledAt  *time.Time     `json:"appleWalletInstalledAt"`
	GoogleWalletInstalledAt *time.Time     `json:"googleWalletInstalledAt"`
	WalletLastChangedAt     *time.Time     `json:"walletLastChangedAt"`
	WalletLastEvent         EventType      `json:"walletLastEvent,omitempty"`
	Fields                  map[string]any `json:"fields"`
	// Message is the text the user asked to show on the lock screen with
	// this change (Apple changeMessage, Google addMessage).
	Message string `json:"message,omitempty"`
	// Changed lists the data fields whose values changed (pass.updated).
	Changed []string `json:"changed,omitempty"`
}

// NewEvent snapshots p into an event of type t.
func NewEvent(t EventType, p *Pass, at time.Time) Event {
	return Event{
		ID:          NewID(PrefixEvent),
		WorkspaceID: p.WorkspaceID,
		Type:        t,
		OccurredAt:  at,
		Data: EventData{
			PassID:                  p.ID,
			ExternalID:              p.ExternalID,
			TemplateID:              p.TemplateID,
			Lifecycle:               p.Lifecycle,
			Version:                 p.Version,
			WalletStatus:            p.WalletStatus,
			AppleWalletInstalledAt:  p.AppleWalletInstalledAt,
			GoogleWalletInstalledAt: p.GoogleWalletInstalledAt,
			WalletLastChangedAt:     p.WalletLastChangedAt,
			WalletLastEvent:         p.WalletLastEvent,
			Fields:                  cloneData(p.Data),
		},
	}
}

func cloneData(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

// cloneValue deep-copies JSON-shaped values (maps, slices, scalars).
// Go numbers become float64, what a stored pass reads back as, so an int
// 129 from a mapping equals the stored 129 and is not taken for a change.
func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return cloneData(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = cloneValue(e)
		}
		return out
	case int:
		return float64(t)
	case int8:
		return float64(t)
	case int16:
		return float64(t)
	case int32:
		return float64(t)
	case int64:
		return float64(t)
	case uint:
		return float64(t)
	case uint8:
		return float64(t)
	case uint16:
		return float64(t)
	case uint32:
		return float64(t)
	case uint64:
		return float64(t)
	case float32:
		return float64(t)
	default:
		return v
	}
}
