package core

import (
	"context"
	"errors"
	"time"
)

// ErrReplayed is a callback whose nonce was seen before: it is refused
// and changes nothing.
var ErrReplayed = errors.New("replayed")

// GoogleCredentials is a workspace's Google Wallet issuer identity: the
// issuer ID and a service account key, the key kept only sealed.
type GoogleCredentials struct {
	WorkspaceID string
	// IssuerID is unique across workspaces: callbacks find their
	// workspace by it.
	IssuerID    string
	ClientEmail string
	KeySealed   []byte
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// GoogleCredentialStore keeps one set of Google credentials per workspace.
type GoogleCredentialStore interface {
	// PutGoogleCredentials inserts or replaces the workspace's credentials.
	// An issuer ID held by another workspace is a *ConflictError on
	// "issuerId".
	PutGoogleCredentials(ctx context.Context, c GoogleCredentials) error
	// GoogleCredentials returns the workspace's credentials (ErrNotFound).
	GoogleCredentials(ctx context.Context, workspaceID string) (GoogleCredentials, error)
	// GoogleCredentialsByIssuer finds credentials by issuer ID (ErrNotFound).
	GoogleCredentialsByIssuer(ctx context.Context, issuerID string) (GoogleCredentials, error)
	// DeleteGoogleCredentials removes them (ErrNotFound when absent).
	DeleteGoogleCredentials(ctx context.Context, workspaceID string) error
}

// GoogleCallback is a verified save or delete callback for one pass.
type GoogleCallback struct {
	WorkspaceID string
	PassID      string
	// Saved is true for "save", false for "del".
	Saved bool
	// At orders callbacks of one pass: Google sends no event time, but
	// its message expiry is the event time plus a fixed validity, so a
	// later expiry is a later event.
	At    time.Time
	Nonce string
}

// GoogleCallbackStore applies verified callbacks exactly once.
type GoogleCallbackStore interface {
	// ApplyGoogleCallback records cb.Nonce and, in the same transaction,
	// locks the pass and lets fn change it and return events, unless the
	// nonce was seen before (ErrReplayed, nothing changes) or a
	// callback with a later At was already applied to the pass (stale:
	// the nonce is recorded, the pass is left alone and fn is not
	// called). An unknown pass is ErrNotFound.
	ApplyGoogleCallback(ctx context.Context, cb GoogleCallback, fn func(*Pass) ([]Event, error)) (applied bool, err error)
	// PurgeGoogleNonces forgets nonces recorded before t.
	PurgeGoogleNonces(ctx context.Context, before time.Time) (int64, error)
}
