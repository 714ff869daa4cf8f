package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

var workspaceCases = []testCase{
	{"Ping", func(t *testing.T, s Store) {
		must(t, "Ping", s.Ping(t.Context()))
	}},
	{"Workspace/CreateAndFind", func(t *testing.T, s Store) {
		ctx := t.Context()
		at := now()
		ws := core.Workspace{ID: core.NewID(core.PrefixWorkspace), Name: "Acme", CreatedAt: at}
		secret := core.NewAPIKeySecret()
		key := core.APIKey{ID: core.NewID(core.PrefixAPIKey), WorkspaceID: ws.ID, Name: "admin", Role: core.RoleAdmin, Hash: core.HashAPIKey(secret), CreatedAt: at}
		must(t, "CreateWorkspace", s.CreateWorkspace(ctx, ws, key))

		got, err := s.WorkspaceByName(ctx, "Acme")
		must(t, "WorkspaceByName", err)
		ws.CreatedAt = us(ws.CreatedAt)
		sameJSON(t, "workspace", got, ws)
		byID, err := s.Workspace(ctx, ws.ID)
		must(t, "Workspace", err)
		sameJSON(t, "workspace by ID", byID, ws)

		gotKey, err := s.APIKeyByHash(ctx, core.HashAPIKey(secret))
		must(t, "APIKeyByHash", err)
		key.CreatedAt = us(key.CreatedAt)
		sameJSON(t, "key", gotKey, key)
		if gotKey.Hash != key.Hash {
			t.Errorf("key hash %q, want %q", gotKey.Hash, key.Hash)
		}

		_, err = s.WorkspaceByName(ctx, "acme-missing")
		wantErr(t, "WorkspaceByName missing", err, core.ErrNotFound)
		_, err = s.Workspace(ctx, core.NewID(core.PrefixWorkspace))
		wantErr(t, "Workspace missing", err, core.ErrNotFound)
		_, err = s.APIKeyByHash(ctx, core.HashAPIKey("phk_nope"))
		wantErr(t, "APIKeyByHash missing", err, core.ErrNotFound)
	}},
	{"Workspace/NameTaken", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := core.Workspace{ID: core.NewID(core.PrefixWorkspace), Name: ws.Name, CreatedAt: now()}
		key := core.APIKey{ID: core.NewID(core.PrefixAPIKey), WorkspaceID: other.ID, Name: "admin", Role: core.RoleAdmin, Hash: core.HashAPIKey(core.NewAPIKeySecret()), CreatedAt: now()}
		wantConflict(t, "CreateWorkspace with a taken name", s.CreateWorkspace(ctx, other, key), "name")
		// The key of the refused workspace was not stored either.
		_, err := s.APIKeyByHash(ctx, key.Hash)
		wantErr(t, "APIKeyByHash of refused workspace", err, core.ErrNotFound)
		got, err := s.WorkspaceByName(ctx, ws.Name)
		must(t, "WorkspaceByName", err)
		if got.ID != ws.ID {
			t.Errorf("workspace %q is %s, want %s", ws.Name, got.ID, ws.ID)
		}
	}},
	{"Workspace/APIKeys", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		secret := core.NewAPIKeySecret()
		key := core.APIKey{ID: core.NewID(core.PrefixAPIKey), WorkspaceID: ws.ID, Name: "ci", Role: core.RoleViewer, Hash: core.HashAPIKey(secret), CreatedAt: now()}
		must(t, "CreateAPIKey", s.CreateAPIKey(ctx, key))
		got, err := s.APIKeyByHash(ctx, key.Hash)
		must(t, "APIKeyByHash", err)
		if got.ID != key.ID || got.WorkspaceID != ws.ID || got.Role != core.RoleViewer || got.Name != "ci" {
			t.Errorf("key %+v, want %+v", got, key)
		}
		orphan := core.APIKey{ID: core.NewID(core.PrefixAPIKey), WorkspaceID: core.NewID(core.PrefixWorkspace), Name: "x", Role: core.RoleAdmin, Hash: core.HashAPIKey(core.NewAPIKeySecret()), CreatedAt: now()}
		wantErr(t, "CreateAPIKey of a missing workspace", s.CreateAPIKey(ctx, orphan), core.ErrNotFound)
	}},
}

var templateCases = []testCase{
	{"Template/CreateAndGet", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := newTemplate(ws.ID, "Gold card")
		tpl.Images = map[string]string{"icon": "iVBORw0KGgo="}
		must(t, "CreateTemplate", s.CreateTemplate(ctx, tpl))
		got, err := s.Template(ctx, ws.ID, tpl.ID)
		must(t, "Template", err)
		sameJSON(t, "template", got, storedTemplate(tpl))

		_, err = s.Template(ctx, ws.ID, core.NewID(core.PrefixTemplate))
		wantErr(t, "Template missing", err, core.ErrNotFound)
		other := mustWorkspace(t, s)
		_, err = s.Template(ctx, other.ID, tpl.ID)
		wantErr(t, "Template of another workspace", err, core.ErrNotFound)
	}},
	{"Template/List", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		var want []string
		for i := range 7 {
			want = append(want, mustTemplate(t, s, ws.ID).ID)
			if i%2 == 0 {
				mustTemplate(t, s, other.ID)
			}
		}
		var got []string
		page := core.Page{Limit: 3}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("ListTemplates: cursor walk does not end")
			}
			list, next, err := s.ListTemplates(ctx, ws.ID, page)
			must(t, "ListTemplates", err)
			if len(list) > 3 {
				t.Fatalf("ListTemplates gave %d, limit 3", len(list))
			}
			for _, tpl := range list {
				got = append(got, tpl.ID)
			}
			if next == "" {
				break
			}
			page.Cursor = next
		}
		sameJSON(t, "template IDs", got, want)

		list, next, err := s.ListTemplates(ctx, ws.ID, core.Page{})
		must(t, "ListTemplates without limit", err)
		if len(list) != 7 || next != "" {
			t.Errorf("ListTemplates without limit: %d templates, next %q; want 7 and no cursor", len(list), next)
		}
		_, _, err = s.ListTemplates(ctx, ws.ID, core.Page{Cursor: "%%%not-a-cursor"})
		wantErr(t, "ListTemplates with a bad cursor", err, core.ErrInvalid)
	}},
	{"Template/Update", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		later := now().Add(time.Second)
		got, err := s.UpdateTemplate(ctx, ws.ID, tpl.ID, func(t *core.Template) error {
			t.Name = "Renamed"
			t.Fields.Primary[0].Label = "Stars"
			t.Version++
			t.UpdatedAt = later
			return nil
		})
		must(t, "UpdateTemplate", err)
		want := tpl
		want.Name = "Renamed"
		want.Fields.Primary = []core.Field{{Key: "points", Label: "Stars", ChangeMessage: "You have %@ points"}}
		want.Version = 2
		want.UpdatedAt = later
		sameJSON(t, "updated template", got, storedTemplate(want))
		reread, err := s.Template(ctx, ws.ID, tpl.ID)
		must(t, "Template", err)
		sameJSON(t, "re-read template", reread, storedTemplate(want))

		boom := errors.New("boom")
		_, err = s.UpdateTemplate(ctx, ws.ID, tpl.ID, func(t *core.Template) error {
			t.Name = "Never saved"
			return fmt.Errorf("validating: %w", boom)
		})
		wantErr(t, "UpdateTemplate with failing fn", err, boom)
		reread, err = s.Template(ctx, ws.ID, tpl.ID)
		must(t, "Template", err)
		sameJSON(t, "template after failed update", reread, storedTemplate(want))

		var fe *core.FieldError
		_, err = s.UpdateTemplate(ctx, ws.ID, tpl.ID, func(t *core.Template) error { return core.Invalid("name", "bad") })
		if !errors.As(err, &fe) || fe.Field != "name" {
			t.Errorf("UpdateTemplate: error %v, want the *core.FieldError fn returned", err)
		}

		_, err = s.UpdateTemplate(ctx, ws.ID, core.NewID(core.PrefixTemplate), func(*core.Template) error { return nil })
		wantErr(t, "UpdateTemplate missing", err, core.ErrNotFound)
		other := mustWorkspace(t, s)
		called := false
		_, err = s.UpdateTemplate(ctx, other.ID, tpl.ID, func(*core.Template) error { called = true; return nil })
		wantErr(t, "UpdateTemplate of another workspace", err, core.ErrNotFound)
		if called {
			t.Error("UpdateTemplate called fn for a template of another workspace")
		}
	}},
	{"Template/Delete", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, ev := mustPass(t, s, ws.ID, tpl.ID, "ext-1")
		other := mustWorkspace(t, s)

		wantErr(t, "DeleteTemplate of another workspace", s.DeleteTemplate(ctx, other.ID, tpl.ID), core.ErrNotFound)
		wantConflict(t, "DeleteTemplate with a live pass", s.DeleteTemplate(ctx, ws.ID, tpl.ID), "")

		_, err := s.UpdatePass(ctx, ws.ID, p.ID, func(p *core.Pass) ([]core.Event, error) {
			p.Lifecycle = core.LifecycleDeleted
			p.Version++
			return []core.Event{core.NewEvent(core.EventDeleted, p, now())}, nil
		})
		must(t, "UpdatePass to deleted", err)
		must(t, "DeleteTemplate", s.DeleteTemplate(ctx, ws.ID, tpl.ID))
		_, err = s.Template(ctx, ws.ID, tpl.ID)
		wantErr(t, "Template after delete", err, core.ErrNotFound)
		wantErr(t, "DeleteTemplate again", s.DeleteTemplate(ctx, ws.ID, tpl.ID), core.ErrNotFound)

		// The history stays.
		_, err = s.Event(ctx, ws.ID, ev.ID)
		must(t, "Event after template delete", err)
		if evs := eventsOf(t, s, ws.ID, p.ID); len(evs) != 2 {
			t.Errorf("pass has %d events after template delete, want 2", len(evs))
		}
	}},
}
