package core

import (
	"context"
	"time"
)

// AppleCredentials is a workspace's Pass Type ID identity. The private key
// is kept only sealed (encrypted with the master key); CertificatePEM and
// WWDRPEM are public.
type AppleCredentials struct {
	WorkspaceID string
	// PassTypeIdentifier is unique across workspaces: the web service
	// finds a pass's workspace by it.
	PassTypeIdentifier string
	TeamIdentifier     string
	CertificatePEM     string
	WWDRPEM            string
	KeySealed          []byte
	NotAfter           time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// AppleCredentialStore keeps one set of Apple credentials per workspace.
type AppleCredentialStore interface {
	// PutAppleCredentials inserts or replaces the workspace's credentials.
	// A pass type identifier held by another workspace is a
	// *ConflictError on "passTypeIdentifier".
	PutAppleCredentials(ctx context.Context, c AppleCredentials) error
	// AppleCredentials returns the workspace's credentials (ErrNotFound).
	AppleCredentials(ctx context.Context, workspaceID string) (AppleCredentials, error)
	// AppleCredentialsByPassType finds credentials by pass type identifier
	// (ErrNotFound).
	AppleCredentialsByPassType(ctx context.Context, passTypeIdentifier string) (AppleCredentials, error)
	// DeleteAppleCredentials removes them (ErrNotFound when absent).
	DeleteAppleCredentials(ctx context.Context, workspaceID string) error
}

// Registration is one device holding one pass, as the PassKit web service
// records it.
type Registration struct {
	DeviceLibraryID    string
	PassTypeIdentifier string
	PassID             string
	WorkspaceID        string
	PushToken          string
	// Tag is the device's update counter when this pass last changed for
	// it; "passesUpdatedSince" compares against it.
	Tag       int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PushTarget is one push token to wake and the passes it is woken for.
type PushTarget struct {
	DeviceLibraryID string
	PushToken       string
	// Passes are the (pass ID, external ID) pairs this push announces.
	Passes []PassRef
}

// PassRef names a pass in a push.
type PassRef struct {
	PassID     string
	ExternalID string
}

// RegistrationStore keeps PassKit device registrations and the per-device
// update tags.
//
// Tags: every device has a counter. Marking passes updated bumps the
// counter of each device holding them, under that device's row lock, and
// stamps the registrations with the new value; so the tags a device sees
// only grow in commit order, and "changed since tag" never misses a
// change nor repeats one already reported.
type RegistrationStore interface {
	// RegisterDevice records (or refreshes) a registration and sets the
	// device's push token; created reports a new registration. When the
	// pass had no registration before, onFirst runs with the pass locked
	// and the pass it leaves and the events it returns commit with the
	// registration (it is how pass.installed is emitted exactly once).
	RegisterDevice(ctx context.Context, r Registration, onFirst func(*Pass) ([]Event, error)) (created bool, err error)
	// UnregisterDevice removes one registration (ErrNotFound when there is
	// none). When it was the pass's last, onLast runs like onFirst.
	UnregisterDevice(ctx context.Context, workspaceID, deviceLibraryID, passTypeIdentifier, passID string, onLast func(*Pass) ([]Event, error)) error
	// UpdatedSerials returns the pass IDs registered on the device for the
	// pass type whose tag is greater than since, and the device's current
	// tag, read in one snapshot. An unknown device has no serials.
	UpdatedSerials(ctx context.Context, deviceLibraryID, passTypeIdentifier string, since int64) (serials []string, lastTag int64, err error)
	// TouchPasses marks the passes updated for every device holding them
	// (bumping tags) and returns one target per distinct push token.
	TouchPasses(ctx context.Context, workspaceID string, passIDs []string) ([]PushTarget, error)
	// TemplateDevices pages, in ID order after `after`, the devices
	// registered on passes of the template that are not deleted.
	TemplateDevices(ctx context.Context, workspaceID, templateID, after string, limit int) ([]string, error)
	// TouchTemplateDevices marks the template's not-deleted passes on the
	// given devices updated and returns one target per push token.
	TouchTemplateDevices(ctx context.Context, workspaceID, templateID string, deviceIDs []string) ([]PushTarget, error)
	// DropPushToken removes the workspace's registrations of the devices
	// using token (APNs said it is no longer valid); no events, wallet
	// status kept. APNs dates the invalidation: a device whose row was
	// updated (registered, or refreshed its registration or push token) at
	// or after invalidSince is still valid and keeps its registrations.
	// A zero invalidSince drops unconditionally. It returns how many
	// registrations went.
	DropPushToken(ctx context.Context, workspaceID, token string, invalidSince time.Time) (int64, error)
	// PassRegistrations lists the registrations of one pass.
	PassRegistrations(ctx context.Context, workspaceID, passID string) ([]Registration, error)
}

// PushStatus is the outcome class of a push attempt.
//
// A token APNs calls no longer valid (410) is logged "dropped" only when
// its registrations were removed. When none were (the device registered
// or refreshed its token after the time APNs gives, or they were gone
// already) it is logged "failed", with APNs's reason (Unregistered,
// ExpiredToken) kept, so "dropped" always means registrations went.
//
// "ok", "failed" and "dropped" settle a token for the job: a retry of the
// job does not send to it again.
type PushStatus string

const (
	PushOK        PushStatus = "ok"
	PushRetry     PushStatus = "retry"     // failed, will be retried
	PushFailed    PushStatus = "failed"    // failed for good
	PushDropped   PushStatus = "dropped"   // the token is dead; registrations removed
	PushCancelled PushStatus = "cancelled" // not attempted (no credentials)
)

// Valid reports whether s is a known push status.
func (s PushStatus) Valid() bool {
	switch s {
	case PushOK, PushRetry, PushFailed, PushDropped, PushCancelled:
		return true
	}
	return false
}

// PushLog is one push attempt for one pass on one token.
type PushLog struct {
	ID          int64     `json:"id"`
	WorkspaceID string    `json:"workspaceId"`
	At          time.Time `json:"at"`
	Platform    Platform  `json:"platform"`
	PassID      string    `json:"passId"`
	ExternalID  string    `json:"externalId"`
	// TokenHash is the SHA-256 (hex) of the push token: enough to
	// correlate attempts without keeping a usable token in the log.
	TokenHash  string     `json:"tokenHash,omitempty"`
	Status     PushStatus `json:"status"`
	HTTPStatus int        `json:"httpStatus"`
	// Reason is APNs' reason (BadDeviceToken, ...) or Google's message.
	Reason    string `json:"reason,omitempty"`
	LatencyMS int64  `json:"latencyMs"`
	// JobID is the job that made the attempt; a retried job skips tokens
	// it already settled (see PushStatus).
	JobID int64 `json:"jobId"`
}

// PushLogQuery filters and pages push logs, newest first.
type PushLogQuery struct {
	Page
	PassID   string
	Platform Platform
	Status   PushStatus
	Since    time.Time
}

// PushLogStore keeps the push log.
type PushLogStore interface {
	AppendPushLogs(ctx context.Context, logs []PushLog) error
	// FinishPushJob is AppendPushLogs and the completion of job jobID
	// (no children), together: both or neither. A job already done or
	// failed is ErrJobDone and changes nothing.
	FinishPushJob(ctx context.Context, logs []PushLog, jobID int64, at time.Time) error
	ListPushLogs(ctx context.Context, workspaceID string, q PushLogQuery) ([]PushLog, string, error)
	// SettledTokens returns the token hashes job already settled: logged
	// with status ok, failed or dropped (not retry or cancelled). A retry
	// of the job skips them, so a token refused for good is not sent to
	// again.
	SettledTokens(ctx context.Context, jobID int64) (map[string]bool, error)
}

// ShareLink is a public, unguessable, revocable link to one pass.
type ShareLink struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"workspaceId"`
	PassID      string     `json:"passId"`
	Token       string     `json:"token"`
	CreatedAt   time.Time  `json:"createdAt"`
	RevokedAt   *time.Time `json:"revokedAt"`
}

// ShareLinkStore keeps share links.
type ShareLinkStore interface {
	CreateShareLink(ctx context.Context, l ShareLink) error
	// ShareLinkByToken finds a link by token across workspaces (ErrNotFound).
	ShareLinkByToken(ctx context.Context, token string) (ShareLink, error)
	ShareLink(ctx context.Context, workspaceID, id string) (ShareLink, error)
	// ListShareLinks returns a pass's links, newest first.
	ListShareLinks(ctx context.Context, workspaceID, passID string) ([]ShareLink, error)
	// RevokeShareLink stamps RevokedAt (once; a second revoke keeps the
	// first time) and returns the link.
	RevokeShareLink(ctx context.Context, workspaceID, id string, at time.Time) (ShareLink, error)
}

// JobCreator writes jobs that no event produced (a manual push).
type JobCreator interface {
	// CreateJobs inserts pending jobs, skipping any whose kind and key
	// exist; it returns how many were new.
	CreateJobs(ctx context.Context, jobs []Job) (int, error)
}

// AppleStore is what the Apple use cases need of the store.
type AppleStore interface {
	AppleCredentialStore
	RegistrationStore
	PushLogStore
	ShareLinkStore
	JobCreator
}
