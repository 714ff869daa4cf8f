package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

var passCases = []testCase{
	{"Pass/CreateAndGet", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p := newPass(ws.ID, tpl.ID, "crm-42")
		installed := now().Add(-time.Hour)
		p.AppleWalletInstalledAt = &installed
		p.WalletLastChangedAt = &installed
		p.WalletLastEvent = core.EventInstalled
		p.WalletStatus = core.WalletApple
		must(t, "CreatePass", s.CreatePass(ctx, p, nil))

		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, p)
		if _, ok := got.Data["points"].(float64); !ok {
			t.Errorf("data.points reads back as %T, want float64", got.Data["points"])
		}
		got, err = s.PassByExternalID(ctx, ws.ID, tpl.ID, "crm-42")
		must(t, "PassByExternalID", err)
		samePass(t, got, p)

		empty := newPass(ws.ID, tpl.ID, "no-data")
		empty.Data = nil
		must(t, "CreatePass with nil data", s.CreatePass(ctx, empty, nil))
		got, err = s.Pass(ctx, ws.ID, empty.ID)
		must(t, "Pass", err)
		if got.Data == nil || len(got.Data) != 0 {
			t.Errorf("nil data reads back as %#v, want an empty map", got.Data)
		}
	}},
	{"Pass/WorkspaceIsolation", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, ev := mustPass(t, s, ws.ID, tpl.ID, "ext")

		_, err := s.Pass(ctx, other.ID, p.ID)
		wantErr(t, "Pass of another workspace", err, core.ErrNotFound)
		_, err = s.Pass(ctx, ws.ID, core.NewID(core.PrefixPass))
		wantErr(t, "Pass missing", err, core.ErrNotFound)
		_, err = s.PassByExternalID(ctx, other.ID, tpl.ID, "ext")
		wantErr(t, "PassByExternalID of another workspace", err, core.ErrNotFound)
		_, err = s.PassByExternalID(ctx, ws.ID, tpl.ID, "other-ext")
		wantErr(t, "PassByExternalID missing", err, core.ErrNotFound)
		_, err = s.Event(ctx, other.ID, ev.ID)
		wantErr(t, "Event of another workspace", err, core.ErrNotFound)
		called := false
		_, err = s.UpdatePass(ctx, other.ID, p.ID, func(*core.Pass) ([]core.Event, error) { called = true; return nil, nil })
		wantErr(t, "UpdatePass of another workspace", err, core.ErrNotFound)
		if called {
			t.Error("UpdatePass called fn for a pass of another workspace")
		}
		list, _, err := s.ListPasses(ctx, other.ID, core.PassQuery{})
		must(t, "ListPasses", err)
		if len(list) != 0 {
			t.Errorf("ListPasses of another workspace: %d passes, want 0", len(list))
		}
		evs, _, err := s.ListEvents(ctx, other.ID, core.EventQuery{})
		must(t, "ListEvents", err)
		if len(evs) != 0 {
			t.Errorf("ListEvents of another workspace: %d events, want 0", len(evs))
		}
	}},
	{"Pass/DuplicateExternalID", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		tpl2 := mustTemplate(t, s, ws.ID)
		mustPass(t, s, ws.ID, tpl.ID, "dup")

		jobsBefore := len(allPendingJobs(t, s))
		p := newPass(ws.ID, tpl.ID, "dup")
		ev := core.NewEvent(core.EventRecordAdded, &p, p.CreatedAt)
		wantConflict(t, "CreatePass with a taken external ID", s.CreatePass(ctx, p, []core.Event{ev}), "externalId")
		// Nothing of the refused pass was written.
		_, err := s.Pass(ctx, ws.ID, p.ID)
		wantErr(t, "Pass refused", err, core.ErrNotFound)
		_, err = s.Event(ctx, ws.ID, ev.ID)
		wantErr(t, "Event of refused pass", err, core.ErrNotFound)
		if n := len(allPendingJobs(t, s)); n != jobsBefore {
			t.Errorf("%d pending jobs after refused create, want %d", n, jobsBefore)
		}

		// The same external ID is free in another template and workspace.
		mustPass(t, s, ws.ID, tpl2.ID, "dup")
		other := mustWorkspace(t, s)
		otherTpl := mustTemplate(t, s, other.ID)
		mustPass(t, s, other.ID, otherTpl.ID, "dup")
	}},
	{"Pass/CreateWritesEventsAndJobs", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p := newPass(ws.ID, tpl.ID, "e1")
		p.Lifecycle = core.LifecycleExpired
		ev1 := core.NewEvent(core.EventRecordAdded, &p, p.CreatedAt)
		ev2 := core.NewEvent(core.EventExpired, &p, p.CreatedAt)
		must(t, "CreatePass", s.CreatePass(ctx, p, []core.Event{ev1, ev2}))

		for _, want := range []core.Event{ev1, ev2} {
			got, err := s.Event(ctx, ws.ID, want.ID)
			must(t, "Event", err)
			sameEvent(t, got, want)
		}
		evs := eventsOf(t, s, ws.ID, p.ID)
		if got := eventTypes(evs); !slices.Equal(got, []core.EventType{core.EventExpired, core.EventRecordAdded}) {
			t.Errorf("events newest first: %v", got)
		}
		jobs := allPendingJobs(t, s)
		for _, ev := range []core.Event{ev1, ev2} {
			j, ok := jobByKey(jobs, core.JobKindDispatch, ev.ID)
			if !ok {
				t.Fatalf("no dispatch job for event %s", ev.ID)
			}
			want := core.DispatchJobFor(ev)
			if j.ID <= 0 || j.WorkspaceID != want.WorkspaceID || j.State != core.JobPending || j.Attempts != 0 ||
				!j.CreatedAt.Equal(us(want.CreatedAt)) || j.EnqueuedAt != nil || j.DoneAt != nil {
				t.Errorf("dispatch job %+v, want like %+v", j, want)
			}
		}
	}},
	{"Pass/Update", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "u1")

		later := now().Add(time.Minute)
		var ev core.Event
		got, err := s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
			q.Data["points"] = 11.0
			delete(q.Data, "tier")
			q.Version++
			q.UpdatedAt = later
			q.GoogleWalletInstalledAt = &later
			q.WalletStatus = q.DeriveWalletStatus()
			ev = core.NewEvent(core.EventUpdated, q, later)
			ev.Data.Changed = []string{"points", "tier"}
			return []core.Event{ev}, nil
		})
		must(t, "UpdatePass", err)
		want := p
		want.Data = map[string]any{"points": 11.0, "tags": []any{"a", 2.5, true}, "nested": map[string]any{"x": nil, "y": "z"}}
		want.Version = 2
		want.UpdatedAt = later
		want.GoogleWalletInstalledAt = &later
		want.WalletStatus = core.WalletGoogle
		samePass(t, got, want)
		reread, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, reread, want)
		gotEv, err := s.Event(ctx, ws.ID, ev.ID)
		must(t, "Event", err)
		sameEvent(t, gotEv, ev)
		if _, ok := jobByKey(allPendingJobs(t, s), core.JobKindDispatch, ev.ID); !ok {
			t.Errorf("no dispatch job for the update event")
		}

		// No events and no change: nothing is written.
		got, err = s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) { return nil, nil })
		must(t, "UpdatePass no-op", err)
		samePass(t, got, want)

		// Identity cannot be changed through fn.
		got, err = s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
			q.ID, q.WorkspaceID, q.ExternalID, q.AuthToken = "pass_x", "ws_x", "other", "tok"
			return nil, nil
		})
		must(t, "UpdatePass of identity", err)
		samePass(t, got, want)

		_, err = s.UpdatePass(ctx, ws.ID, core.NewID(core.PrefixPass), func(*core.Pass) ([]core.Event, error) { return nil, nil })
		wantErr(t, "UpdatePass missing", err, core.ErrNotFound)
	}},
	{"Pass/UpdateFailureIsAtomic", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, first := mustPass(t, s, ws.ID, tpl.ID, "a1")
		jobsBefore := allPendingJobs(t, s)
		eventsBefore := eventsOf(t, s, ws.ID, p.ID)

		// fn fails after changing the pass: nothing is saved, and its
		// error comes back intact.
		boom := &core.ConflictError{Field: "lifecycle", Reason: "boom"}
		_, err := s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
			q.Data["points"] = 99.0
			q.Version++
			return []core.Event{core.NewEvent(core.EventUpdated, q, now())}, boom
		})
		var ce *core.ConflictError
		if !errors.As(err, &ce) || ce != boom {
			t.Fatalf("UpdatePass: error %v, want fn's error", err)
		}
		sentinel := errors.New("sentinel")
		_, err = s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
			return nil, fmt.Errorf("wrapped: %w", sentinel)
		})
		wantErr(t, "UpdatePass with wrapped error", err, sentinel)

		// A write that fails inside the transaction (an event whose ID is
		// taken) leaves the pass as it was too.
		_, err = s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
			q.Data["points"] = 77.0
			q.Version++
			fresh := core.NewEvent(core.EventUpdated, q, now())
			dup := core.NewEvent(core.EventUpdated, q, now())
			dup.ID = first.ID
			return []core.Event{fresh, dup}, nil
		})
		if err == nil {
			t.Fatal("UpdatePass with a duplicate event ID succeeded")
		}

		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, p)
		sameJSON(t, "events after failed updates", fmtIDs(eventsOf(t, s, ws.ID, p.ID), func(e core.Event) string { return e.ID }),
			fmtIDs(eventsBefore, func(e core.Event) string { return e.ID }))
		sameJSON(t, "jobs after failed updates", fmtIDs(allPendingJobs(t, s), func(j core.Job) string { return j.Key }),
			fmtIDs(jobsBefore, func(j core.Job) string { return j.Key }))
	}},
	{"Pass/ConcurrentUpdates", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "c1")
		// Every read-modify-write must see the previous one: no lost
		// updates.
		const n = 10
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				_, err := s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
					q.Data["points"] = q.Data["points"].(float64) + 1
					q.Version++
					return []core.Event{core.NewEvent(core.EventUpdated, q, now())}, nil
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, "UpdatePass", err)
		}
		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		if got.Data["points"] != 10.0+n || got.Version != 1+n {
			t.Errorf("after %d concurrent increments: points %v, version %d; want %d, %d", n, got.Data["points"], got.Version, 10+n, 1+n)
		}
		if evs := eventsOf(t, s, ws.ID, p.ID); len(evs) != 1+n {
			t.Errorf("%d events, want %d", len(evs), 1+n)
		}
	}},
	{"Pass/ConcurrentCreates", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		// Many writers at once must all succeed (no SQLITE_BUSY, no
		// deadlock), each with its event and job.
		const writers, each = 20, 50
		var wg sync.WaitGroup
		var failed atomic.Int64
		var firstErr error
		var once sync.Once
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					p := newPass(ws.ID, tpl.ID, fmt.Sprintf("w%d-%d", w, i))
					ev := core.NewEvent(core.EventRecordAdded, &p, p.CreatedAt)
					if err := s.CreatePass(ctx, p, []core.Event{ev}); err != nil {
						failed.Add(1)
						once.Do(func() { firstErr = err })
					}
				}
			})
		}
		wg.Wait()
		if n := failed.Load(); n > 0 {
			t.Fatalf("%d of %d concurrent CreatePass failed, first: %v", n, writers*each, firstErr)
		}
		total := 0
		q := core.PassQuery{Page: core.Page{Limit: 1000}}
		for {
			list, next, err := s.ListPasses(ctx, ws.ID, q)
			must(t, "ListPasses", err)
			total += len(list)
			if next == "" {
				break
			}
			q.Cursor = next
		}
		if total != writers*each {
			t.Errorf("%d passes, want %d", total, writers*each)
		}
		if n := len(allPendingJobs(t, s)); n != writers*each {
			t.Errorf("%d pending jobs, want %d", n, writers*each)
		}
	}},
	{"Pass/ListPaginationAndFilters", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		tplA := mustTemplate(t, s, ws.ID)
		tplB := mustTemplate(t, s, ws.ID)
		otherTpl := mustTemplate(t, s, other.ID)
		base := now().Add(-time.Hour)
		lifecycles := []core.Lifecycle{core.LifecycleActive, core.LifecycleExpired, core.LifecycleVoided, core.LifecycleDeleted}
		wallets := []core.WalletStatus{core.WalletNone, core.WalletApple, core.WalletGoogle, core.WalletBoth}
		var all []core.Pass
		for i := range 60 {
			tplID := tplA.ID
			if i%3 == 0 {
				tplID = tplB.ID
			}
			p := newPass(ws.ID, tplID, fmt.Sprintf("p%02d", i))
			p.Lifecycle = lifecycles[i%4]
			p.WalletStatus = wallets[(i/2)%4]
			p.UpdatedAt = base.Add(time.Duration(i) * time.Minute)
			must(t, "CreatePass", s.CreatePass(ctx, p, nil))
			all = append(all, p)
			if i%5 == 0 {
				op := newPass(other.ID, otherTpl.ID, fmt.Sprintf("p%02d", i))
				must(t, "CreatePass", s.CreatePass(ctx, op, nil))
			}
		}
		// IDs sort by creation time.
		slices.SortFunc(all, func(a, b core.Pass) int { return strings.Compare(a.ID, b.ID) })

		cutoff := all[0].UpdatedAt.Add(37 * time.Minute)
		filters := []struct {
			name string
			q    core.PassQuery
			keep func(core.Pass) bool
		}{
			{"all", core.PassQuery{}, func(core.Pass) bool { return true }},
			{"template", core.PassQuery{TemplateID: tplB.ID}, func(p core.Pass) bool { return p.TemplateID == tplB.ID }},
			{"wallet", core.PassQuery{WalletStatus: core.WalletApple}, func(p core.Pass) bool { return p.WalletStatus == core.WalletApple }},
			{"lifecycle", core.PassQuery{Lifecycle: core.LifecycleDeleted}, func(p core.Pass) bool { return p.Lifecycle == core.LifecycleDeleted }},
			{"updatedSince", core.PassQuery{UpdatedSince: cutoff}, func(p core.Pass) bool { return !us(p.UpdatedAt).Before(us(cutoff)) }},
			{"combined", core.PassQuery{TemplateID: tplA.ID, Lifecycle: core.LifecycleActive, UpdatedSince: cutoff},
				func(p core.Pass) bool {
					return p.TemplateID == tplA.ID && p.Lifecycle == core.LifecycleActive && !us(p.UpdatedAt).Before(us(cutoff))
				}},
			{"none", core.PassQuery{TemplateID: otherTpl.ID}, func(core.Pass) bool { return false }},
		}
		for _, f := range filters {
			var want []string
			for _, p := range all {
				if f.keep(p) {
					want = append(want, p.ID)
				}
			}
			for _, limit := range []int{1, 7, 1000} {
				q := f.q
				q.Limit = limit
				var got []string
				for pages := 0; ; pages++ {
					if pages > 100 {
						t.Fatalf("%s/limit %d: cursor walk does not end", f.name, limit)
					}
					list, next, err := s.ListPasses(ctx, ws.ID, q)
					must(t, "ListPasses "+f.name, err)
					if len(list) > limit {
						t.Fatalf("%s: page of %d, limit %d", f.name, len(list), limit)
					}
					if next != "" && len(list) != limit {
						t.Fatalf("%s: short page (%d of %d) with a next cursor", f.name, len(list), limit)
					}
					for _, p := range list {
						got = append(got, p.ID)
					}
					if next == "" {
						break
					}
					q.Cursor = next
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s/limit %d: got %d passes %v, want %d %v", f.name, limit, len(got), got, len(want), want)
				}
			}
		}

		// Limit 0 means the default page of 50.
		list, next, err := s.ListPasses(ctx, ws.ID, core.PassQuery{})
		must(t, "ListPasses", err)
		if len(list) != 50 || next == "" {
			t.Errorf("default page: %d passes, next %q; want 50 and a cursor", len(list), next)
		}
		list, _, err = s.ListPasses(ctx, ws.ID, core.PassQuery{Page: core.Page{Cursor: next}})
		must(t, "ListPasses", err)
		if len(list) != 10 {
			t.Errorf("second default page: %d passes, want 10", len(list))
		}
		samePass(t, list[len(list)-1], all[len(all)-1])
		_, _, err = s.ListPasses(ctx, ws.ID, core.PassQuery{Page: core.Page{Cursor: "!!"}})
		wantErr(t, "ListPasses with a bad cursor", err, core.ErrInvalid)
	}},
	{"Pass/MessageAndChanged", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p := newPass(ws.ID, tpl.ID, "m1")
		p.Message, p.Changed = "Welcome", []string{"points", "tier"}
		must(t, "CreatePass", s.CreatePass(ctx, p, nil))
		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		if got.Message != "Welcome" || !slices.Equal(got.Changed, []string{"points", "tier"}) {
			t.Errorf("created pass: message %q, changed %v", got.Message, got.Changed)
		}

		// Each change replaces both; no keys read back as nil.
		got, err = s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
			q.Version++
			q.Message, q.Changed = "Now gold", []string{"tier"}
			return nil, nil
		})
		must(t, "UpdatePass", err)
		if got.Message != "Now gold" || !slices.Equal(got.Changed, []string{"tier"}) {
			t.Errorf("updated pass: message %q, changed %v", got.Message, got.Changed)
		}
		got, err = s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		if got.Message != "Now gold" || !slices.Equal(got.Changed, []string{"tier"}) {
			t.Errorf("updated pass read back: message %q, changed %v", got.Message, got.Changed)
		}
		for _, keys := range [][]string{nil, {}} {
			got, err = s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
				q.Version++
				q.Message, q.Changed = "", keys
				return nil, nil
			})
			must(t, "UpdatePass", err)
			if got.Changed != nil {
				t.Errorf("changed %#v returned as %#v, want nil", keys, got.Changed)
			}
			got, err = s.Pass(ctx, ws.ID, p.ID)
			must(t, "Pass", err)
			if got.Message != "" || got.Changed != nil {
				t.Errorf("changed %#v read back as %#v (message %q), want nil", keys, got.Changed, got.Message)
			}
		}
		empty := newPass(ws.ID, tpl.ID, "m2")
		empty.Changed = []string{}
		must(t, "CreatePass", s.CreatePass(ctx, empty, nil))
		got, err = s.Pass(ctx, ws.ID, empty.ID)
		must(t, "Pass", err)
		if got.Changed != nil || got.Message != "" {
			t.Errorf("pass without a message: message %q, changed %#v", got.Message, got.Changed)
		}

		// fn changing the keys in place is a change, and fn's copy is its
		// own.
		got, err = s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
			q.Changed = []string{"points"}
			return nil, nil
		})
		must(t, "UpdatePass", err)
		got, err = s.UpdatePass(ctx, ws.ID, p.ID, func(q *core.Pass) ([]core.Event, error) {
			q.Changed[0] = "tier"
			return nil, nil
		})
		must(t, "UpdatePass in place", err)
		reread, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		if !slices.Equal(reread.Changed, []string{"tier"}) || !slices.Equal(got.Changed, []string{"tier"}) {
			t.Errorf("in-place change of the keys: returned %v, stored %v; want [tier]", got.Changed, reread.Changed)
		}
	}},
}
