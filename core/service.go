package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Service holds the pass use cases. The REST API, the mapping engine and
// the wallet callbacks all change passes through it, so every change gets
// the same validation and the same events.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a service over store.
func NewService(store Store) *Service {
	// Microseconds: what both stores keep, so what a write returns equals
	// what a later read gives.
	return &Service{store: store, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Limits on pass input.
const (
	MaxExternalIDLen = 255
	MaxDataBytes     = 64 << 10
	MaxDataDepth     = 8
	MaxMessageLen    = 512
)

// CreateWorkspace makes a workspace and its first admin key. If secret is
// empty a new one is made. It returns the workspace and the secret.
func (s *Service) CreateWorkspace(ctx context.Context, name, secret string) (Workspace, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Workspace{}, "", Invalid("name", "is required")
	}
	if len(name) > MaxNameLen {
		return Workspace{}, "", Invalid("name", "is longer than %d characters", MaxNameLen)
	}
	if secret == "" {
		secret = NewAPIKeySecret()
	}
	now := s.now()
	ws := Workspace{ID: NewID(PrefixWorkspace), Name: name, CreatedAt: now}
	key := APIKey{ID: NewID(PrefixAPIKey), WorkspaceID: ws.ID, Name: "admin", Role: RoleAdmin, Hash: HashAPIKey(secret), CreatedAt: now}
	if err := s.store.CreateWorkspace(ctx, ws, key); err != nil {
		return Workspace{}, "", fmt.Errorf("creating workspace %q: %w", name, err)
	}
	return ws, secret, nil
}

// EnsureWorkspaceKey makes sure workspace name exists and that secret is
// one of its API keys with role; it is how a bootstrap key is honoured on
// every start.
func (s *Service) EnsureWorkspaceKey(ctx context.Context, name, secret string, role Role) (Workspace, error) {
	if key, err := s.store.APIKeyByHash(ctx, HashAPIKey(secret)); err == nil {
		ws, err := s.store.WorkspaceByName(ctx, name)
		if err == nil && ws.ID == key.WorkspaceID {
			return ws, nil
		}
		return Workspace{}, fmt.Errorf("bootstrap key belongs to another workspace than %q: %w", name, ErrConflict)
	} else if !errors.Is(err, ErrNotFound) {
		return Workspace{}, fmt.Errorf("looking up bootstrap key: %w", err)
	}
	ws, err := s.store.WorkspaceByName(ctx, name)
	if errors.Is(err, ErrNotFound) {
		ws, _, err = s.CreateWorkspace(ctx, name, secret)
		return ws, err
	}
	if err != nil {
		return Workspace{}, fmt.Errorf("looking up workspace %q: %w", name, err)
	}
	_, err = s.CreateAPIKey(ctx, ws.ID, "bootstrap", role, secret)
	return ws, err
}

// Workspace returns one workspace.
func (s *Service) Workspace(ctx context.Context, id string) (Workspace, error) {
	return s.store.Workspace(ctx, id)
}

// CreateAPIKey adds a key to a workspace; empty secret makes a new one.
func (s *Service) CreateAPIKey(ctx context.Context, workspaceID, name string, role Role, secret string) (string, error) {
	if !role.Valid() {
		return "", Invalid("role", "must be admin, editor or viewer")
	}
	if secret == "" {
		secret = NewAPIKeySecret()
	}
	key := APIKey{ID: NewID(PrefixAPIKey), WorkspaceID: workspaceID, Name: name, Role: role, Hash: HashAPIKey(secret), CreatedAt: s.now()}
	if err := s.store.CreateAPIKey(ctx, key); err != nil {
		return "", fmt.Errorf("creating API key: %w", err)
	}
	return secret, nil
}

// Authenticate resolves an API key secret to its key.
func (s *Service) Authenticate(ctx context.Context, secret string) (APIKey, error) {
	if secret == "" {
		return APIKey{}, ErrUnauthorized
	}
	key, err := s.store.APIKeyByHash(ctx, HashAPIKey(secret))
	if errors.Is(err, ErrNotFound) {
		return APIKey{}, ErrUnauthorized
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("looking up API key: %w", err)
	}
	return key, nil
}

// CreateTemplate validates and stores a new template.
func (s *Service) CreateTemplate(ctx context.Context, workspaceID string, t Template) (Template, error) {
	now := s.now()
	t.ID = NewID(PrefixTemplate)
	t.WorkspaceID = workspaceID
	t.Version = 1
	t.CreatedAt, t.UpdatedAt = now, now
	if err := t.Validate(); err != nil {
		return Template{}, err
	}
	if err := s.store.CreateTemplate(ctx, t); err != nil {
		return Template{}, fmt.Errorf("creating template: %w", err)
	}
	return t, nil
}

// Template returns one template.
func (s *Service) Template(ctx context.Context, workspaceID, id string) (Template, error) {
	return s.store.Template(ctx, workspaceID, id)
}

// ListTemplates pages templates in creation order.
func (s *Service) ListTemplates(ctx context.Context, workspaceID string, page Page) ([]Template, string, error) {
	return s.store.ListTemplates(ctx, workspaceID, page)
}

// UpdateTemplate applies fn to the template, validates the result and
// bumps its version. Identity fields cannot be changed by fn.
func (s *Service) UpdateTemplate(ctx context.Context, workspaceID, id string, fn func(*Template) error) (Template, error) {
	return s.store.UpdateTemplate(ctx, workspaceID, id, func(t *Template) error {
		before := *t
		if err := fn(t); err != nil {
			return err
		}
		t.ID, t.WorkspaceID, t.CreatedAt, t.Version = before.ID, before.WorkspaceID, before.CreatedAt, before.Version
		if err := t.Validate(); err != nil {
			return err
		}
		if !reflect.DeepEqual(before, *t) {
			t.Version = before.Version + 1
			t.UpdatedAt = s.now()
		}
		return nil
	})
}

// DeleteTemplate removes a template that has no live passes.
func (s *Service) DeleteTemplate(ctx context.Context, workspaceID, id string) error {
	return s.store.DeleteTemplate(ctx, workspaceID, id)
}

// PassInput creates or replaces a pass.
type PassInput struct {
	TemplateID string
	ExternalID string
	Data       map[string]any
	// Lifecycle defaults to active; deleted is not allowed here.
	Lifecycle Lifecycle
	// Source, when set, records where the data came from (CreatePass,
	// PutPass).
	Source *SourceChange
	// IfVersion, when set, makes PutPass refuse (ErrVersionMismatch) to
	// replace a pass that is not at this version.
	IfVersion int64
}

// PassPatch changes a pass. Data is merged: a key set to nil is removed.
type PassPatch struct {
	Data      map[string]any
	Lifecycle Lifecycle
	// Message is shown on the devices with this change.
	Message string
	// IfVersion, when set, refuses the change (ErrVersionMismatch) unless
	// the pass is at this version.
	IfVersion int64
	// Source, when set, applies the change once and in source order (see
	// SourceChange).
	Source *SourceChange
}

func validateData(field string, data map[string]any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return Invalid(field, "is not representable as JSON")
	}
	if len(b) > MaxDataBytes {
		return Invalid(field, "is larger than %d bytes", MaxDataBytes)
	}
	for k, v := range data {
		if k == "" || len(k) > 64 {
			return Invalid(field, "keys must be 1 to 64 characters")
		}
		if depth(v) > MaxDataDepth {
			return Invalid(field+"."+k, "nests deeper than %d levels", MaxDataDepth)
		}
	}
	return nil
}

func depth(v any) int {
	switch t := v.(type) {
	case map[string]any:
		d := 0
		for _, e := range t {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		d := 0
		for _, e := range t {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

func validateExternalID(id string) error {
	if id == "" {
		return Invalid("externalId", "is required")
	}
	if len(id) > MaxExternalIDLen {
		return Invalid("externalId", "is longer than %d bytes", MaxExternalIDLen)
	}
	if !utf8.ValidString(id) {
		return Invalid("externalId", "must be valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return Invalid("externalId", "must not contain control characters")
		}
	}
	return nil
}

func validateInputLifecycle(l Lifecycle) error {
	if l == "" || l == LifecycleActive || l == LifecycleExpired || l == LifecycleVoided {
		return nil
	}
	if l == LifecycleDeleted {
		return Invalid("lifecycle", "cannot be set to deleted; use DELETE")
	}
	return Invalid("lifecycle", "must be active, expired or voided")
}

func (s *Service) liveTemplate(ctx context.Context, workspaceID, templateID string) error {
	if templateID == "" {
		return Invalid("templateId", "is required")
	}
	if _, err := s.store.Template(ctx, workspaceID, templateID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Invalid("templateId", "no such template")
		}
		return fmt.Errorf("loading template %s: %w", templateID, err)
	}
	return nil
}

// CreatePass issues a new pass (event pass.record_added). An empty
// external ID is set to the pass ID.
func (s *Service) CreatePass(ctx context.Context, workspaceID string, in PassInput) (Pass, error) {
	id := NewID(PrefixPass)
	if in.ExternalID == "" {
		in.ExternalID = id
	}
	if err := s.validateInput(ctx, workspaceID, in); err != nil {
		return Pass{}, err
	}
	p := s.newPass(workspaceID, id, in)
	events := []Event{NewEvent(EventRecordAdded, &p, p.CreatedAt)}
	events = append(events, lifecycleEvents(LifecycleActive, &p, p.CreatedAt)...)
	if err := s.store.CreatePass(ctx, p, events); err != nil {
		return Pass{}, fmt.Errorf("creating pass: %w", err)
	}
	return p, nil
}

func (s *Service) validateInput(ctx context.Context, workspaceID string, in PassInput) error {
	if err := s.liveTemplate(ctx, workspaceID, in.TemplateID); err != nil {
		return err
	}
	if err := validateExternalID(in.ExternalID); err != nil {
		return err
	}
	if err := validateData("data", in.Data); err != nil {
		return err
	}
	return validateInputLifecycle(in.Lifecycle)
}

func (s *Service) newPass(workspaceID, id string, in PassInput) Pass {
	now := s.now()
	lc := in.Lifecycle
	if lc == "" {
		lc = LifecycleActive
	}
	data := cloneData(in.Data)
	var src SourceState
	src.admit(in.Source, in.Data)
	return Pass{
		Source: src,
		ID:     id, WorkspaceID: workspaceID, TemplateID: in.TemplateID, ExternalID: in.ExternalID,
		Data: data, Lifecycle: lc, Version: 1, AuthToken: RandomToken(20),
		WalletStatus: WalletNone, CreatedAt: now, UpdatedAt: now,
	}
}

// lifecycleEvents is the event a move from `from` to p.Lifecycle emits.
func lifecycleEvents(from Lifecycle, p *Pass, at time.Time) []Event {
	if from == p.Lifecycle {
		return nil
	}
	switch p.Lifecycle {
	case LifecycleExpired:
		return []Event{NewEvent(EventExpired, p, at)}
	case LifecycleVoided:
		return []Event{NewEvent(EventVoided, p, at)}
	case LifecycleDeleted:
		return []Event{NewEvent(EventDeleted, p, at)}
	}
	// Back to active (un-expire, un-void, revive): the pass changed.
	return []Event{NewEvent(EventUpdated, p, at)}
}

// Pass returns one pass.
func (s *Service) Pass(ctx context.Context, workspaceID, id string) (Pass, error) {
	return s.store.Pass(ctx, workspaceID, id)
}

// PassByExternalID returns the pass of a template with a source's ID.
func (s *Service) PassByExternalID(ctx context.Context, workspaceID, templateID, externalID string) (Pass, error) {
	return s.store.PassByExternalID(ctx, workspaceID, templateID, externalID)
}

// ListPasses pages passes in a stable order.
func (s *Service) ListPasses(ctx context.Context, workspaceID string, q PassQuery) ([]Pass, string, error) {
	if q.WalletStatus != "" && !q.WalletStatus.Valid() {
		return nil, "", Invalid("walletStatus", "must be none, apple, google or both")
	}
	if q.Lifecycle != "" && !q.Lifecycle.Valid() {
		return nil, "", Invalid("lifecycle", "must be active, expired, voided or deleted")
	}
	return s.store.ListPasses(ctx, workspaceID, q)
}

// ListEvents pages events newest first.
func (s *Service) ListEvents(ctx context.Context, workspaceID string, q EventQuery) ([]Event, string, error) {
	if q.Type != "" && !q.Type.Valid() {
		return nil, "", Invalid("type", "is not an event type")
	}
	return s.store.ListEvents(ctx, workspaceID, q)
}

// UpdatePass applies a patch: data merged, lifecycle moved, version bumped
// and events emitted only when something changed.
func (s *Service) UpdatePass(ctx context.Context, workspaceID, id string, patch PassPatch) (Pass, error) {
	p, _, err := s.UpdatePassFrom(ctx, workspaceID, id, patch)
	return p, err
}

// UpdatePassFrom is UpdatePass that also returns the data keys left
// alone because the pass holds newer values (see SourceChange.Latest).
func (s *Service) UpdatePassFrom(ctx context.Context, workspaceID, id string, patch PassPatch) (p Pass, stale []string, err error) {
	if err := validateInputLifecycle(patch.Lifecycle); err != nil {
		return Pass{}, nil, err
	}
	if len(patch.Message) > MaxMessageLen {
		return Pass{}, nil, Invalid("message", "is longer than %d characters", MaxMessageLen)
	}
	p, err = s.store.UpdatePass(ctx, workspaceID, id, func(p *Pass) ([]Event, error) {
		if patch.Source != nil && p.Source.applied(patch.Source.Key) {
			return nil, ErrAlreadyApplied
		}
		if patch.IfVersion != 0 && p.Version != patch.IfVersion {
			return nil, ErrVersionMismatch
		}
		if p.Lifecycle == LifecycleDeleted {
			return nil, &ConflictError{Field: "lifecycle", Reason: "the pass is deleted and cannot be changed"}
		}
		var patchData map[string]any
		patchData, stale = p.Source.admit(patch.Source, patch.Data)
		data := cloneData(p.Data)
		for k, v := range patchData {
			if v == nil {
				delete(data, k)
			} else {
				data[k] = cloneValue(v)
			}
		}
		if err := validateData("data", data); err != nil {
			return nil, err
		}
		return s.change(p, data, patch.Lifecycle, patch.Message), nil
	})
	return p, stale, err
}

// change moves p to data and lifecycle (empty keeps it) and returns the
// events; none when nothing changed.
func (s *Service) change(p *Pass, data map[string]any, lc Lifecycle, message string) []Event {
	changed := changedKeys(p.Data, data)
	from := p.Lifecycle
	if lc == "" {
		lc = from
	}
	if len(changed) == 0 && lc == from {
		return nil
	}
	now := s.now()
	p.Data = data
	p.Lifecycle = lc
	p.Version++
	p.UpdatedAt = now
	p.Message = message
	p.Changed = changed
	var events []Event
	if len(changed) > 0 {
		ev := NewEvent(EventUpdated, p, now)
		ev.Data.Changed = changed
		ev.Data.Message = message
		events = append(events, ev)
	}
	for _, ev := range lifecycleEvents(from, p, now) {
		if ev.Type == EventUpdated && len(changed) > 0 {
			continue // one pass.updated is enough
		}
		if ev.Type == EventUpdated {
			ev.Data.Message = message
		}
		events = append(events, ev)
	}
	return events
}

func changedKeys(before, after map[string]any) []string {
	var out []string
	for k, v := range after {
		if old, ok := before[k]; !ok || !reflect.DeepEqual(old, v) {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// PutPass creates the pass of (template, external ID) or replaces its data
// and lifecycle. created tells which happened. A deleted pass is revived.
func (s *Service) PutPass(ctx context.Context, workspaceID string, in PassInput) (p Pass, created bool, err error) {
	if err := s.validateInput(ctx, workspaceID, in); err != nil {
		return Pass{}, false, err
	}
	existing, err := s.store.PassByExternalID(ctx, workspaceID, in.TemplateID, in.ExternalID)
	if errors.Is(err, ErrNotFound) {
		p, err = s.CreatePass(ctx, workspaceID, in)
		if err == nil {
			return p, true, nil
		}
		if !errors.Is(err, ErrConflict) {
			return Pass{}, false, err
		}
		// Lost a race with another create of the same external ID:
		// replace what it made.
		existing, err = s.store.PassByExternalID(ctx, workspaceID, in.TemplateID, in.ExternalID)
	}
	if err != nil {
		return Pass{}, false, fmt.Errorf("loading pass by external ID: %w", err)
	}
	lc := in.Lifecycle
	if lc == "" {
		lc = LifecycleActive
	}
	p, err = s.store.UpdatePass(ctx, workspaceID, existing.ID, func(p *Pass) ([]Event, error) {
		if in.Source != nil && p.Source.applied(in.Source.Key) {
			return nil, ErrAlreadyApplied
		}
		if in.IfVersion != 0 && p.Version != in.IfVersion {
			return nil, ErrVersionMismatch
		}
		// A replacement writes every key: none is stale against the old
		// values, but their times are recorded.
		p.Source.admit(sourceWithoutLatest(in.Source), in.Data)
		return s.change(p, cloneData(in.Data), lc, ""), nil
	})
	return p, false, err
}

// DeletePass marks a pass deleted (event pass.deleted). The pass stays
// readable so wallets and CRMs can still learn what became of it; deleting
// it again changes nothing.
func (s *Service) DeletePass(ctx context.Context, workspaceID, id string) (Pass, error) {
	return s.store.UpdatePass(ctx, workspaceID, id, func(p *Pass) ([]Event, error) {
		if p.Lifecycle == LifecycleDeleted {
			return nil, nil
		}
		return s.change(p, p.Data, LifecycleDeleted, ""), nil
	})
}
