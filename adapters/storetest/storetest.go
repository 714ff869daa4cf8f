// Package storetest is the contract every passhub store must pass. Each
// store's tests call Run with a constructor of fresh, empty stores; the
// suite checks every port method and the semantics the core relies on
// (workspace isolation, atomic outbox writes, exactly-once job completion,
// stable pagination, idempotency races) and runs the core service on top.
package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// Store is everything a passhub store implements.
type Store interface {
	core.Store
	core.JobStore
	core.ChainStore
	core.IdempotencyStore
	core.Pinger
	core.AppleStore
	core.GoogleCredentialStore
	core.GoogleCallbackStore
	core.ConnectorStore
	core.MappingStore
	core.HistoryStore
	core.WebhookStore
}

type testCase struct {
	name string
	fn   func(t *testing.T, s Store)
}

// Run runs the contract suite. newStore returns a fresh, empty store for
// one subtest and arranges its cleanup; subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	var cases []testCase
	cases = append(cases, workspaceCases...)
	cases = append(cases, templateCases...)
	cases = append(cases, passCases...)
	cases = append(cases, eventCases...)
	cases = append(cases, jobCases...)
	cases = append(cases, chainCases...)
	cases = append(cases, idempotencyCases...)
	cases = append(cases, serviceCases...)
	cases = append(cases, sourceCases...)
	cases = append(cases, flappingCases...)
	cases = append(cases, retentionCases...)
	cases = append(cases, appleCases...)
	cases = append(cases, googleCases...)
	cases = append(cases, connectorCases...)
	cases = append(cases, webhookCases...)
	cases = append(cases, backfillCases...)
	cases = append(cases, insightCases...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// RunConnectors runs the connector, trigger and mapping cases only: for a
// store set up differently from the one Run checks (a store that merges
// concurrent AcceptTriggers calls, without merging).
func RunConnectors(t *testing.T, newStore func(t *testing.T) Store) {
	for _, tc := range connectorCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// now is a time with nanoseconds, like core's clock gives: stores keep
// microseconds, and the suite checks that they truncate consistently.
func now() time.Time { return time.Now().UTC() }

func us(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

func ptr[T any](v T) *T { return &v }

// mustWorkspace creates a workspace with an admin key.
func mustWorkspace(t *testing.T, s Store) core.Workspace {
	t.Helper()
	at := now()
	ws := core.Workspace{ID: core.NewID(core.PrefixWorkspace), Name: "ws " + core.NewID(""), CreatedAt: at}
	key := core.APIKey{ID: core.NewID(core.PrefixAPIKey), WorkspaceID: ws.ID, Name: "admin", Role: core.RoleAdmin,
		Hash: core.HashAPIKey(core.NewAPIKeySecret()), CreatedAt: at}
	if err := s.CreateWorkspace(t.Context(), ws, key); err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	return ws
}

func newTemplate(workspaceID, name string) core.Template {
	at := now()
	return core.Template{
		ID: core.NewID(core.PrefixTemplate), WorkspaceID: workspaceID, Name: name, Style: core.StyleStoreCard,
		Description: "Loyalty card", OrganizationName: "Acme",
		Colors: core.Colors{Background: "#112233", Foreground: "rgb(255, 255, 255)"},
		Fields: core.FieldLayout{
			Primary:   []core.Field{{Key: "points", Label: "Points", ChangeMessage: "You have %@ points"}},
			Secondary: []core.Field{{Key: "tier", Label: "Tier", Value: "basic"}},
		},
		Barcode:   &core.Barcode{Format: core.BarcodeQR, Message: "{{externalId}}"},
		Locations: []core.Location{{Latitude: 52.52, Longitude: 13.405, Altitude: ptr(34.5), RelevantText: "Nearby"}},
		Version:   1, CreatedAt: at, UpdatedAt: at,
	}
}

func mustTemplate(t *testing.T, s Store, workspaceID string) core.Template {
	t.Helper()
	tpl := newTemplate(workspaceID, "Card "+core.NewID(""))
	if err := s.CreateTemplate(t.Context(), tpl); err != nil {
		t.Fatalf("CreateTemplate: %v", err)
	}
	return tpl
}

func newPass(workspaceID, templateID, externalID string) core.Pass {
	at := now()
	return core.Pass{
		ID: core.NewID(core.PrefixPass), WorkspaceID: workspaceID, TemplateID: templateID, ExternalID: externalID,
		Data:      map[string]any{"points": 10.0, "tier": "gold", "tags": []any{"a", 2.5, true}, "nested": map[string]any{"x": nil, "y": "z"}},
		Lifecycle: core.LifecycleActive, Version: 1, AuthToken: core.RandomToken(20), WalletStatus: core.WalletNone,
		CreatedAt: at, UpdatedAt: at,
	}
}

// mustPass creates a pass with its pass.record_added event.
func mustPass(t *testing.T, s Store, workspaceID, templateID, externalID string) (core.Pass, core.Event) {
	t.Helper()
	p := newPass(workspaceID, templateID, externalID)
	ev := core.NewEvent(core.EventRecordAdded, &p, p.CreatedAt)
	if err := s.CreatePass(t.Context(), p, []core.Event{ev}); err != nil {
		t.Fatalf("CreatePass: %v", err)
	}
	return p, ev
}

// sameJSON compares values by their JSON form: time zones and monotonic
// readings do not matter, values and instants do. Times in want are
// compared after truncation to microseconds by the callers' fixtures.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("encoding %s: %v", what, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("encoding %s: %v", what, err)
	}
	if string(g) != string(w) {
		t.Errorf("%s differs\n got: %s\nwant: %s", what, g, w)
	}
}

// stored is p as a store reads it back: times in microseconds, data
// through JSON (numbers float64).
func stored(p core.Pass) core.Pass {
	p.CreatedAt, p.UpdatedAt = us(p.CreatedAt), us(p.UpdatedAt)
	for _, tp := range []**time.Time{&p.AppleWalletInstalledAt, &p.GoogleWalletInstalledAt, &p.WalletLastChangedAt} {
		if *tp != nil {
			*tp = ptr(us(**tp))
		}
	}
	b, _ := json.Marshal(p.Data)
	p.Data = map[string]any{}
	_ = json.Unmarshal(b, &p.Data)
	return p
}

func storedTemplate(tpl core.Template) core.Template {
	tpl.CreatedAt, tpl.UpdatedAt = us(tpl.CreatedAt), us(tpl.UpdatedAt)
	return tpl
}

func samePass(t *testing.T, got, want core.Pass) {
	t.Helper()
	want = stored(want)
	sameJSON(t, "pass "+want.ID, got, want)
	if got.AuthToken != want.AuthToken {
		t.Errorf("pass %s: auth token %q, want %q", want.ID, got.AuthToken, want.AuthToken)
	}
	for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("pass %s: %s in %s, want UTC", want.ID, name, tm.Location())
		}
	}
}

func sameEvent(t *testing.T, got, want core.Event) {
	t.Helper()
	want.OccurredAt = us(want.OccurredAt)
	for _, tp := range []**time.Time{&want.Data.AppleWalletInstalledAt, &want.Data.GoogleWalletInstalledAt, &want.Data.WalletLastChangedAt} {
		if *tp != nil {
			*tp = ptr(us(**tp))
		}
	}
	sameJSON(t, "event "+want.ID, got, want)
	if got.Seq <= 0 {
		t.Errorf("event %s: seq %d, want > 0", want.ID, got.Seq)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

func wantConflict(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ce *core.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error %v, want *core.ConflictError", what, err)
	}
	if ce.Field != field {
		t.Fatalf("%s: conflict on field %q, want %q (%v)", what, ce.Field, field, err)
	}
	if !errors.Is(err, core.ErrConflict) {
		t.Fatalf("%s: error %v is not core.ErrConflict", what, err)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// allEvents reads every event of a workspace, newest first.
func allEvents(t *testing.T, s Store, workspaceID string, q core.EventQuery) []core.Event {
	t.Helper()
	var out []core.Event
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatalf("ListEvents: cursor walk does not end")
		}
		page, next, err := s.ListEvents(t.Context(), workspaceID, q)
		must(t, "ListEvents", err)
		out = append(out, page...)
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

// eventsOf lists the events of one pass, newest first.
func eventsOf(t *testing.T, s Store, workspaceID, passID string) []core.Event {
	t.Helper()
	var out []core.Event
	for _, ev := range allEvents(t, s, workspaceID, core.EventQuery{}) {
		if ev.Data.PassID == passID {
			out = append(out, ev)
		}
	}
	return out
}

func eventTypes(evs []core.Event) []core.EventType {
	out := make([]core.EventType, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// allPendingJobs reads every pending job (the stores of the suite are
// private to one subtest, so this is bounded).
func allPendingJobs(t *testing.T, s Store) []core.Job {
	t.Helper()
	jobs, err := s.PendingJobs(t.Context(), 100000)
	must(t, "PendingJobs", err)
	return jobs
}

func jobByKey(jobs []core.Job, kind, key string) (core.Job, bool) {
	for _, j := range jobs {
		if j.Kind == kind && j.Key == key {
			return j, true
		}
	}
	return core.Job{}, false
}

func fmtIDs[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}
