package core

import (
	"context"
	"time"
)

// The store ports. Each is small and declared here, by the use cases that
// need them; adapters (SQLite, PostgreSQL) satisfy all of them. Writes that
// change a pass take the events it produced, and the store commits the pass,
// its events and one dispatch job per event in a single transaction, so no
// change is ever recorded without its event or the event without its work.

// WorkspaceStore keeps workspaces and their API keys.
type WorkspaceStore interface {
	// CreateWorkspace stores a workspace with its first key.
	// A taken name is a *ConflictError on "name".
	CreateWorkspace(ctx context.Context, ws Workspace, key APIKey) error
	Workspace(ctx context.Context, id string) (Workspace, error)
	WorkspaceByName(ctx context.Context, name string) (Workspace, error)
	CreateAPIKey(ctx context.Context, key APIKey) error
	// APIKeyByHash finds a key by the hash of its secret (ErrNotFound).
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
}

// TemplateStore keeps templates.
type TemplateStore interface {
	CreateTemplate(ctx context.Context, t Template) error
	Template(ctx context.Context, workspaceID, id string) (Template, error)
	ListTemplates(ctx context.Context, workspaceID string, page Page) ([]Template, string, error)
	// UpdateTemplate loads the template for update, lets fn change it and
	// saves the result; fn's error aborts without saving.
	UpdateTemplate(ctx context.Context, workspaceID, id string, fn func(*Template) error) (Template, error)
	// DeleteTemplate removes a template; one that still has passes that are
	// not deleted is a *ConflictError.
	DeleteTemplate(ctx context.Context, workspaceID, id string) error
}

// PassStore keeps passes and appends their events.
type PassStore interface {
	// CreatePass stores a new pass and its events. A taken (template,
	// external ID) pair is a *ConflictError on "externalId".
	CreatePass(ctx context.Context, p Pass, events []Event) error
	Pass(ctx context.Context, workspaceID, id string) (Pass, error)
	PassByExternalID(ctx context.Context, workspaceID, templateID, externalID string) (Pass, error)
	ListPasses(ctx context.Context, workspaceID string, q PassQuery) ([]Pass, string, error)
	// UpdatePass locks the pass, lets fn change it and returns the events
	// to append; the pass and the events commit together. fn returning no
	// events and leaving the pass as it was is a no-op.
	UpdatePass(ctx context.Context, workspaceID, id string, fn func(*Pass) ([]Event, error)) (Pass, error)
}

// EventStore reads events.
type EventStore interface {
	Event(ctx context.Context, workspaceID, id string) (Event, error)
	// ListEvents returns events newest first.
	ListEvents(ctx context.Context, workspaceID string, q EventQuery) ([]Event, string, error)
}

// Page is cursor pagination: Cursor is the opaque value a previous page
// returned, Limit the page size (already bounded by the caller).
type Page struct {
	Cursor string
	Limit  int
}

// PassQuery filters and pages passes. Passes come in a stable order
// (creation order, by ID), so a cursor walk sees every pass once.
type PassQuery struct {
	Page
	TemplateID   string
	WalletStatus WalletStatus
	Lifecycle    Lifecycle
	// UpdatedSince keeps passes whose UpdatedAt is at or after it.
	UpdatedSince time.Time
}

// EventQuery filters and pages events, newest first.
type EventQuery struct {
	Page
	Type  EventType
	Since time.Time
}

// Store is every store port; what the service needs.
type Store interface {
	WorkspaceStore
	TemplateStore
	PassStore
	EventStore
	PassChangeStore
	InsightStore
}

// IdempotencyStore remembers the first answer to a request carrying an
// Idempotency-Key, so a retry replays it instead of acting twice.
type IdempotencyStore interface {
	// ReserveIdempotencyKey claims (workspace, key) for a request whose
	// fingerprint is fingerprint. It returns the stored record when the key
	// was claimed before (Done false while the first request is still
	// running), or ok=true when this caller now holds the claim. Records
	// older than expiresBefore count as absent and are replaced; so are
	// claims never completed that were made before staleBefore.
	ReserveIdempotencyKey(ctx context.Context, rec IdempotencyRecord, expiresBefore, staleBefore time.Time) (existing IdempotencyRecord, ok bool, err error)
	// CompleteIdempotencyKey stores the answer of a claimed key.
	CompleteIdempotencyKey(ctx context.Context, rec IdempotencyRecord) error
	// ReleaseIdempotencyKey drops an uncompleted claim (the request failed
	// in a way a retry may fix).
	ReleaseIdempotencyKey(ctx context.Context, workspaceID, key string) error
	// PurgeIdempotencyKeys deletes records created before t.
	PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)
}

// IdempotencyRecord is one remembered request and its answer.
type IdempotencyRecord struct {
	WorkspaceID string
	Key         string
	// Fingerprint identifies the request (method, path, body hash): the
	// same key with another request is refused.
	Fingerprint string
	Done        bool
	Status      int
	ContentType string
	Body        []byte
	CreatedAt   time.Time
}

// Pinger reports whether a backing service answers (for readiness).
type Pinger interface {
	Ping(ctx context.Context) error
}
