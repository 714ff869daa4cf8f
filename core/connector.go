package core

import (
	"context"
	"encoding/json"
	"time"
)

// ConnectorKind is the source system a connector listens to.
type ConnectorKind string

const (
	ConnectorShopify ConnectorKind = "shopify"
	ConnectorHubSpot ConnectorKind = "hubspot"
	ConnectorSquare  ConnectorKind = "square"
	ConnectorGeneric ConnectorKind = "generic"
)

// Valid reports whether k is a known kind.
func (k ConnectorKind) Valid() bool {
	switch k {
	case ConnectorShopify, ConnectorHubSpot, ConnectorSquare, ConnectorGeneric:
		return true
	}
	return false
}

// Connector is one inbound endpoint (/hooks/{id}): how to verify what
// arrives and which mapping turns it into pass commands.
type Connector struct {
	ID          string        `json:"id"`
	WorkspaceID string        `json:"workspaceId"`
	Name        string        `json:"name"`
	Kind        ConnectorKind `json:"kind"`
	// Config is the kind's non-secret settings (header names, encodings,
	// allowed signature versions), as JSON.
	Config json.RawMessage `json:"config,omitempty"`
	// SecretsSealed is the kind's secrets as JSON, sealed with the master
	// key; never shown.
	SecretsSealed []byte `json:"-"`
	// Mapping names the mapping file applied to its triggers.
	Mapping   string    `json:"mapping"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// TriggerStatus is where a trigger is in its life.
type TriggerStatus string

const (
	TriggerReceived TriggerStatus = "received" // durable, not yet mapped
	TriggerApplied  TriggerStatus = "applied"  // commands ran
	TriggerSkipped  TriggerStatus = "skipped"  // no rule, or when was false
	TriggerFailed   TriggerStatus = "failed"   // a rule or command failed
)

// Trigger is one verified delivery (or one event of a batch) from a
// source system, kept raw so it can be mapped again (replay).
type Trigger struct {
	ID          string            `json:"id"`
	WorkspaceID string            `json:"workspaceId"`
	ConnectorID string            `json:"connectorId"`
	Topic       string            `json:"topic"`
	DedupeKey   string            `json:"dedupeKey"`
	Source      string            `json:"source,omitempty"`
	Payload     json.RawMessage   `json:"payload"`
	Headers     map[string]string `json:"headers,omitempty"`
	// OccurredAt is when the source says it happened (Shopify's
	// X-Shopify-Triggered-At, Square's created_at, HubSpot's occurredAt).
	OccurredAt *time.Time    `json:"occurredAt"`
	ReceivedAt time.Time     `json:"receivedAt"`
	Status     TriggerStatus `json:"status"`
	// Outcome is what mapping it did: applied commands with pass IDs and
	// versions, the skip reason, or the failing rule and error.
	Outcome   json.RawMessage `json:"outcome,omitempty"`
	UpdatedAt time.Time       `json:"updatedAt"`
	// Claim asks the store to write the trigger's job claimed (enqueued,
	// started) for the process that accepts it to run right away (see
	// Local), instead of pending for the relay. Not stored.
	Claim bool `json:"-"`
}

// JobKindTriggerApply maps one trigger and runs its commands.
const JobKindTriggerApply = "trigger.apply"

// TriggerQuery filters and pages triggers, newest first.
type TriggerQuery struct {
	Page
	ConnectorID string
	Status      TriggerStatus
	Topic       string
	Since       time.Time
}

// ConnectorStore keeps connectors, the triggers they accept and the
// mapping files.
type ConnectorStore interface {
	CreateConnector(ctx context.Context, c Connector) error
	Connector(ctx context.Context, workspaceID, id string) (Connector, error)
	// ConnectorByID finds a connector across workspaces (the public hook
	// URL carries only its ID).
	ConnectorByID(ctx context.Context, id string) (Connector, error)
	ListConnectors(ctx context.Context, workspaceID string, page Page) ([]Connector, string, error)
	UpdateConnector(ctx context.Context, workspaceID, id string, fn func(*Connector) error) (Connector, error)
	DeleteConnector(ctx context.Context, workspaceID, id string) error

	// AcceptTriggers stores triggers and one trigger.apply job for each
	// new one, in one transaction, and says what became of each. A
	// trigger whose (connector, dedupe key) exists is a duplicate: not
	// stored again. Once this returns nil, every trigger is durable.
	AcceptTriggers(ctx context.Context, triggers []Trigger) ([]Accepted, error)
	Trigger(ctx context.Context, workspaceID, id string) (Trigger, error)
	// TriggerToApply is Trigger with what mapping it needs besides, in
	// one read.
	TriggerToApply(ctx context.Context, workspaceID, id string) (Trigger, TriggerSource, error)
	ListTriggers(ctx context.Context, workspaceID string, q TriggerQuery) ([]Trigger, string, error)
	// RecordTriggerOutcome sets status and outcome.
	RecordTriggerOutcome(ctx context.Context, workspaceID, id string, status TriggerStatus, outcome json.RawMessage, at time.Time) error
	// FinishTrigger is RecordTriggerOutcome and the completion of the
	// trigger's job jobID, together: both or neither. A job already done
	// or failed is ErrJobDone and changes nothing.
	FinishTrigger(ctx context.Context, workspaceID, id string, status TriggerStatus, outcome json.RawMessage, at time.Time, jobID int64) error
	// ReplayTrigger sets the trigger back to received and writes a new
	// trigger.apply job for it (keyed by replay), in one transaction.
	ReplayTrigger(ctx context.Context, workspaceID, id, replay string, at time.Time) (Trigger, error)
}

// MappingFile is one stored version of a mapping file.
type MappingFile struct {
	WorkspaceID string    `json:"workspaceId"`
	Name        string    `json:"name"`
	Version     int64     `json:"version"`
	Source      string    `json:"source"`
	CreatedAt   time.Time `json:"createdAt"`
}

// MappingStore keeps every version of each workspace's mapping files.
type MappingStore interface {
	// PutMapping stores source as the next version of name and returns it.
	PutMapping(ctx context.Context, workspaceID, name, source string, at time.Time) (MappingFile, error)
	// Mapping returns the latest version (ErrNotFound).
	Mapping(ctx context.Context, workspaceID, name string) (MappingFile, error)
	// MappingVersions lists a mapping's versions, newest first.
	MappingVersions(ctx context.Context, workspaceID, name string) ([]MappingFile, error)
	// ListMappings returns the latest version of every mapping, by name.
	ListMappings(ctx context.Context, workspaceID string) ([]MappingFile, error)
}

// Accepted is what AcceptTriggers made of one trigger.
type Accepted struct {
	// Duplicate: a trigger of the same connector and dedupe key exists,
	// and nothing was written for this one.
	Duplicate bool
	// Job is a new claimed trigger's trigger.apply job as written:
	// enqueued, its first attempt counted, with its ID, for the process
	// that claimed it to run (see Local). Zero for the others.
	Job Job
	// Loaded, when the store read the source of a new claimed trigger in
	// the same transaction, is the trigger as stored with it: the job's
	// run need not read them back.
	Loaded *LoadedTrigger
}

// LoadedTrigger is a trigger with what mapping it needs besides.
type LoadedTrigger struct {
	Trigger Trigger
	Source  TriggerSource
}

// TriggerSource is what mapping a trigger needs besides the trigger: its
// connector's kind and mapping file, and that file's newest version.
type TriggerSource struct {
	// ConnectorKind is empty when the connector was deleted.
	ConnectorKind ConnectorKind
	Mapping       string
	// MappingVersion is 0 when the workspace has no mapping of that name.
	MappingVersion int64
}
