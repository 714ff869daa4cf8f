package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// sourceCases: what mapped triggers leave on a pass (core.SourceState) is
// kept by the store, and the checks built on it hold on every store.
var sourceCases = []testCase{
	{"Service/SourceOrderVersionAndOnce", func(t *testing.T, s Store) {
		ctx := t.Context()
		svc, ws, tpl := serviceFixture(t, s)
		t1 := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
		t0, t2 := t1.Add(-time.Minute), t1.Add(time.Minute)
		p, err := svc.CreatePass(ctx, ws.ID, core.PassInput{TemplateID: tpl.ID, ExternalID: "c1",
			Data: map[string]any{"name": "Ada", "points": 1.0}, Source: &core.SourceChange{Key: "trg_1/r/c1", At: t1}})
		must(t, "CreatePass", err)
		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		want := core.SourceState{Times: map[string]time.Time{"name": us(t1), "points": us(t1)}, Recent: []string{"trg_1/r/c1"}}
		if !reflect.DeepEqual(got.Source, want) {
			t.Fatalf("source state after create: %+v, want %+v", got.Source, want)
		}

		// An older event: its own value (name) is stale, the derived one
		// (points) is written.
		up, stale, err := svc.UpdatePassFrom(ctx, ws.ID, p.ID, core.PassPatch{
			Data: map[string]any{"name": "Old", "points": 2.0}, IfVersion: 1,
			Source: &core.SourceChange{Key: "trg_0/r/c1", At: t0, Latest: map[string]bool{"name": true}},
		})
		must(t, "UpdatePassFrom stale", err)
		if !reflect.DeepEqual(stale, []string{"name"}) || up.Data["name"] != "Ada" || up.Data["points"] != 2.0 || up.Version != 2 {
			t.Fatalf("stale update: stale %v pass %v v%d", stale, up.Data, up.Version)
		}
		// The same change again: refused, nothing changes.
		_, _, err = svc.UpdatePassFrom(ctx, ws.ID, p.ID, core.PassPatch{Data: map[string]any{"points": 3.0}, Source: &core.SourceChange{Key: "trg_0/r/c1", At: t0}})
		wantErr(t, "the same key again", err, core.ErrAlreadyApplied)
		// A change computed from version 1: refused, nothing changes.
		_, _, err = svc.UpdatePassFrom(ctx, ws.ID, p.ID, core.PassPatch{Data: map[string]any{"points": 9.0}, IfVersion: 1})
		wantErr(t, "IfVersion 1 at version 2", err, core.ErrVersionMismatch)
		if !errors.Is(err, core.ErrConflict) {
			t.Errorf("a version mismatch is not a conflict: %v", err)
		}
		_, _, err = svc.PutPass(ctx, ws.ID, core.PassInput{TemplateID: tpl.ID, ExternalID: "c1", Data: map[string]any{}, IfVersion: 1})
		wantErr(t, "PutPass IfVersion 1 at version 2", err, core.ErrVersionMismatch)

		// A newer event writes its own values; a change that writes
		// nothing new still records its key.
		_, stale, err = svc.UpdatePassFrom(ctx, ws.ID, p.ID, core.PassPatch{
			Data: map[string]any{"name": "Augusta"}, IfVersion: 2,
			Source: &core.SourceChange{Key: "trg_2/r/c1", At: t2, Latest: map[string]bool{"name": true}},
		})
		must(t, "UpdatePassFrom newer", err)
		_, _, err = svc.UpdatePassFrom(ctx, ws.ID, p.ID, core.PassPatch{Data: map[string]any{"name": "Augusta"}, Source: &core.SourceChange{Key: "trg_3/r/c1"}})
		must(t, "UpdatePassFrom no-op", err)
		got, err = s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		want = core.SourceState{
			Times:  map[string]time.Time{"name": us(t2), "points": us(t1)},
			Recent: []string{"trg_1/r/c1", "trg_0/r/c1", "trg_2/r/c1", "trg_3/r/c1"},
		}
		if len(stale) != 0 || got.Data["name"] != "Augusta" || got.Version != 3 || !reflect.DeepEqual(got.Source, want) {
			t.Fatalf("after newer: stale %v data %v v%d source %+v, want %+v", stale, got.Data, got.Version, got.Source, want)
		}
		wantEvents(t, s, ws, p.ID, core.EventUpdated, core.EventUpdated, core.EventRecordAdded)
	}},
}
