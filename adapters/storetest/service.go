package storetest

import (
	"slices"
	"testing"

	"github.com/passhub/passhub/core"
)

// The service cases run the core use cases on the store: what the API
// and the mapping engine will see.

func serviceFixture(t *testing.T, s Store) (*core.Service, core.Workspace, core.Template) {
	t.Helper()
	svc := core.NewService(s)
	ws, _, err := svc.CreateWorkspace(t.Context(), "svc "+core.NewID(""), "")
	must(t, "CreateWorkspace", err)
	tpl, err := svc.CreateTemplate(t.Context(), ws.ID, newTemplate("", "Loyalty"))
	must(t, "CreateTemplate", err)
	return svc, ws, tpl
}

func wantEvents(t *testing.T, s Store, ws core.Workspace, passID string, want ...core.EventType) []core.Event {
	t.Helper()
	evs := eventsOf(t, s, ws.ID, passID)
	if got := eventTypes(evs); !slices.Equal(got, want) {
		t.Fatalf("events of %s (newest first): %v, want %v", passID, got, want)
	}
	return evs
}

var serviceCases = []testCase{
	{"Service/CreatePass", func(t *testing.T, s Store) {
		ctx := t.Context()
		svc, ws, tpl := serviceFixture(t, s)
		p, err := svc.CreatePass(ctx, ws.ID, core.PassInput{TemplateID: tpl.ID, ExternalID: "crm-1", Data: map[string]any{"points": 5.0}})
		must(t, "CreatePass", err)
		if p.Version != 1 || p.Lifecycle != core.LifecycleActive {
			t.Errorf("new pass %+v", p)
		}
		got, err := svc.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, p)
		evs := wantEvents(t, s, ws, p.ID, core.EventRecordAdded)
		if evs[0].Data.Fields["points"] != 5.0 || evs[0].Data.ExternalID != "crm-1" || evs[0].Data.Version != 1 {
			t.Errorf("record_added event data %+v", evs[0].Data)
		}
		j, ok := jobByKey(allPendingJobs(t, s), core.JobKindDispatch, evs[0].ID)
		if !ok || j.WorkspaceID != ws.ID {
			t.Errorf("dispatch job for the record_added event: %+v, found %v", j, ok)
		}

		// Created expired: two events.
		p2, err := svc.CreatePass(ctx, ws.ID, core.PassInput{TemplateID: tpl.ID, Data: map[string]any{}, Lifecycle: core.LifecycleExpired})
		must(t, "CreatePass expired", err)
		if p2.ExternalID != p2.ID {
			t.Errorf("empty external ID became %q, want the pass ID", p2.ExternalID)
		}
		wantEvents(t, s, ws, p2.ID, core.EventExpired, core.EventRecordAdded)

		_, err = svc.CreatePass(ctx, ws.ID, core.PassInput{TemplateID: tpl.ID, ExternalID: "crm-1", Data: map[string]any{}})
		wantConflict(t, "CreatePass with a taken external ID", err, "externalId")
		wantConflict(t, "DeleteTemplate with passes", svc.DeleteTemplate(ctx, ws.ID, tpl.ID), "")
	}},
	{"Service/UpdatePass", func(t *testing.T, s Store) {
		ctx := t.Context()
		svc, ws, tpl := serviceFixture(t, s)
		p, err := svc.CreatePass(ctx, ws.ID, core.PassInput{TemplateID: tpl.ID, ExternalID: "u", Data: map[string]any{"points": 5.0, "tier": "silver"}})
		must(t, "CreatePass", err)

		p2, err := svc.UpdatePass(ctx, ws.ID, p.ID, core.PassPatch{Data: map[string]any{"points": 20.0, "tier": nil}, Message: "More points"})
		must(t, "UpdatePass", err)
		if p2.Version != 2 || p2.Data["points"] != 20.0 || p2.Data["tier"] != nil {
			t.Errorf("patched pass %+v", p2)
		}
		evs := wantEvents(t, s, ws, p.ID, core.EventUpdated, core.EventRecordAdded)
		if !slices.Equal(evs[0].Data.Changed, []string{"points", "tier"}) || evs[0].Data.Message != "More points" || evs[0].Data.Version != 2 {
			t.Errorf("pass.updated data %+v", evs[0].Data)
		}
		reread, err := svc.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, reread, p2)

		// The same values again: no event, same version.
		p3, err := svc.UpdatePass(ctx, ws.ID, p.ID, core.PassPatch{Data: map[string]any{"points": 20.0}})
		must(t, "UpdatePass no-op", err)
		if p3.Version != 2 {
			t.Errorf("no-op patch moved version to %d", p3.Version)
		}
		wantEvents(t, s, ws, p.ID, core.EventUpdated, core.EventRecordAdded)

		p4, err := svc.UpdatePass(ctx, ws.ID, p.ID, core.PassPatch{Lifecycle: core.LifecycleExpired})
		must(t, "UpdatePass expire", err)
		if p4.Lifecycle != core.LifecycleExpired || p4.Version != 3 {
			t.Errorf("expired pass %+v", p4)
		}
		wantEvents(t, s, ws, p.ID, core.EventExpired, core.EventUpdated, core.EventRecordAdded)
		_, err = svc.UpdatePass(ctx, ws.ID, p.ID, core.PassPatch{Lifecycle: core.LifecycleVoided})
		must(t, "UpdatePass void", err)
		wantEvents(t, s, ws, p.ID, core.EventVoided, core.EventExpired, core.EventUpdated, core.EventRecordAdded)

		_, err = svc.UpdatePass(ctx, ws.ID, core.NewID(core.PrefixPass), core.PassPatch{Lifecycle: core.LifecycleVoided})
		wantErr(t, "UpdatePass missing", err, core.ErrNotFound)
		other, _, err := svc.CreateWorkspace(ctx, "other "+core.NewID(""), "")
		must(t, "CreateWorkspace", err)
		_, err = svc.UpdatePass(ctx, other.ID, p.ID, core.PassPatch{Lifecycle: core.LifecycleActive})
		wantErr(t, "UpdatePass of another workspace", err, core.ErrNotFound)
	}},
	{"Service/DeletePass", func(t *testing.T, s Store) {
		ctx := t.Context()
		svc, ws, tpl := serviceFixture(t, s)
		p, err := svc.CreatePass(ctx, ws.ID, core.PassInput{TemplateID: tpl.ID, ExternalID: "d", Data: map[string]any{"points": 1.0}})
		must(t, "CreatePass", err)
		d, err := svc.DeletePass(ctx, ws.ID, p.ID)
		must(t, "DeletePass", err)
		if d.Lifecycle != core.LifecycleDeleted || d.Version != 2 {
			t.Errorf("deleted pass %+v", d)
		}
		wantEvents(t, s, ws, p.ID, core.EventDeleted, core.EventRecordAdded)
		d2, err := svc.DeletePass(ctx, ws.ID, p.ID)
		must(t, "DeletePass again", err)
		if d2.Version != 2 {
			t.Errorf("second delete moved version to %d", d2.Version)
		}
		wantEvents(t, s, ws, p.ID, core.EventDeleted, core.EventRecordAdded)

		_, err = svc.UpdatePass(ctx, ws.ID, p.ID, core.PassPatch{Data: map[string]any{"points": 2.0}})
		wantConflict(t, "UpdatePass of a deleted pass", err, "lifecycle")
		// Still readable, and its template can go now.
		got, err := svc.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, d)
		must(t, "DeleteTemplate", svc.DeleteTemplate(ctx, ws.ID, tpl.ID))
		wantEvents(t, s, ws, p.ID, core.EventDeleted, core.EventRecordAdded)
	}},
	{"Service/PutPass", func(t *testing.T, s Store) {
		ctx := t.Context()
		svc, ws, tpl := serviceFixture(t, s)
		in := core.PassInput{TemplateID: tpl.ID, ExternalID: "put-1", Data: map[string]any{"points": 1.0, "tier": "gold"}}
		p, created, err := svc.PutPass(ctx, ws.ID, in)
		must(t, "PutPass create", err)
		if !created || p.Version != 1 {
			t.Errorf("PutPass create: created %v, %+v", created, p)
		}
		in.Data = map[string]any{"points": 2.0}
		p2, created, err := svc.PutPass(ctx, ws.ID, in)
		must(t, "PutPass replace", err)
		if created || p2.ID != p.ID || p2.Version != 2 || len(p2.Data) != 1 || p2.Data["points"] != 2.0 {
			t.Errorf("PutPass replace: created %v, %+v", created, p2)
		}
		evs := wantEvents(t, s, ws, p.ID, core.EventUpdated, core.EventRecordAdded)
		if !slices.Equal(evs[0].Data.Changed, []string{"points", "tier"}) {
			t.Errorf("replace changed %v", evs[0].Data.Changed)
		}
		p3, created, err := svc.PutPass(ctx, ws.ID, in)
		must(t, "PutPass same", err)
		if created || p3.Version != 2 {
			t.Errorf("PutPass with the same input: created %v, version %d", created, p3.Version)
		}
		wantEvents(t, s, ws, p.ID, core.EventUpdated, core.EventRecordAdded)

		_, err = svc.DeletePass(ctx, ws.ID, p.ID)
		must(t, "DeletePass", err)
		p4, created, err := svc.PutPass(ctx, ws.ID, in)
		must(t, "PutPass revive", err)
		if created || p4.ID != p.ID || p4.Lifecycle != core.LifecycleActive || p4.Version != 4 {
			t.Errorf("PutPass revive: created %v, %+v", created, p4)
		}
		wantEvents(t, s, ws, p.ID, core.EventUpdated, core.EventDeleted, core.EventUpdated, core.EventRecordAdded)
		got, err := svc.PassByExternalID(ctx, ws.ID, tpl.ID, "put-1")
		must(t, "PassByExternalID", err)
		samePass(t, got, p4)
	}},
	{"Service/EnsureWorkspaceKey", func(t *testing.T, s Store) {
		ctx := t.Context()
		svc := core.NewService(s)
		secret := core.NewAPIKeySecret()
		ws, err := svc.EnsureWorkspaceKey(ctx, "bootstrap", secret, core.RoleAdmin)
		must(t, "EnsureWorkspaceKey", err)
		again, err := svc.EnsureWorkspaceKey(ctx, "bootstrap", secret, core.RoleAdmin)
		must(t, "EnsureWorkspaceKey again", err)
		if again.ID != ws.ID {
			t.Errorf("second EnsureWorkspaceKey made workspace %s, want %s", again.ID, ws.ID)
		}
		key, err := svc.Authenticate(ctx, secret)
		must(t, "Authenticate", err)
		if key.WorkspaceID != ws.ID || key.Role != core.RoleAdmin {
			t.Errorf("bootstrap key %+v", key)
		}
		// A second secret for the same workspace is added as a key.
		second := core.NewAPIKeySecret()
		ws2, err := svc.EnsureWorkspaceKey(ctx, "bootstrap", second, core.RoleEditor)
		must(t, "EnsureWorkspaceKey with a new secret", err)
		if ws2.ID != ws.ID {
			t.Errorf("new secret went to workspace %s, want %s", ws2.ID, ws.ID)
		}
		key, err = svc.Authenticate(ctx, second)
		must(t, "Authenticate", err)
		if key.WorkspaceID != ws.ID || key.Role != core.RoleEditor {
			t.Errorf("second key %+v", key)
		}
		_, err = svc.EnsureWorkspaceKey(ctx, "elsewhere", secret, core.RoleAdmin)
		wantErr(t, "EnsureWorkspaceKey with another workspace's key", err, core.ErrConflict)
		_, err = svc.Authenticate(ctx, "phk_unknown")
		wantErr(t, "Authenticate unknown", err, core.ErrUnauthorized)
		_, _, err = svc.CreateWorkspace(ctx, "bootstrap", "")
		wantConflict(t, "CreateWorkspace with a taken name", err, "name")
	}},
}
