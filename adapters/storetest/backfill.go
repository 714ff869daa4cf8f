package storetest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// The backfill cases: ListPassChanges walks passes in change order, so a
// source system that was down can ask for everything changed since T and
// rebuild its state, even while passes keep changing during the walk.

// changeEpoch asks for every pass in change order.
var changeEpoch = time.Unix(0, 0).UTC()

// walkChanges reads every page of a change walk.
func walkChanges(t *testing.T, s Store, workspaceID string, q core.PassChangeQuery) []core.Pass {
	t.Helper()
	var out []core.Pass
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("ListPassChanges: cursor walk does not end")
		}
		page, next, err := s.ListPassChanges(t.Context(), workspaceID, q)
		must(t, "ListPassChanges", err)
		if q.Limit > 0 && len(page) > q.Limit {
			t.Fatalf("ListPassChanges: page of %d, limit %d", len(page), q.Limit)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

func idOfPass(p core.Pass) string { return p.ID }

// wantWalk checks the IDs a walk of every page size returns.
func wantWalk(t *testing.T, s Store, what, workspaceID string, q core.PassChangeQuery, want ...string) {
	t.Helper()
	for _, limit := range []int{1, 2, 1000} {
		q.Limit = limit
		got := fmtIDs(walkChanges(t, s, workspaceID, q), idOfPass)
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s (limit %d): walk %v, want %v", what, limit, got, want)
		}
	}
}

// walletDriver installs and uninstalls passes the way the wallet endpoints do:
// Apple through device registrations, Google through callbacks, both with
// core.MarkInstalled and core.MarkUninstalled at the given instant.
type walletDriver struct {
	t       *testing.T
	s       Store
	mu      sync.Mutex
	devices map[string]string // pass ID → its Apple device
}

func newWalletDriver(t *testing.T, s Store) *walletDriver {
	return &walletDriver{t: t, s: s, devices: map[string]string{}}
}

func (w *walletDriver) set(workspaceID, passID string, platform core.Platform, installed bool, at time.Time) {
	w.t.Helper()
	mark := func(p *core.Pass) ([]core.Event, error) {
		if installed {
			return core.MarkInstalled(p, platform, at), nil
		}
		return core.MarkUninstalled(p, platform, at), nil
	}
	switch platform {
	case core.PlatformApple:
		w.mu.Lock()
		dev, ok := w.devices[passID]
		w.mu.Unlock()
		if installed {
			dev = device()
			_, err := w.s.RegisterDevice(w.t.Context(), core.Registration{
				DeviceLibraryID: dev, PassTypeIdentifier: passTypeA, PassID: passID, WorkspaceID: workspaceID,
				PushToken: "token-" + dev, CreatedAt: at, UpdatedAt: at,
			}, mark)
			must(w.t, "RegisterDevice", err)
			w.mu.Lock()
			w.devices[passID] = dev
			w.mu.Unlock()
			return
		}
		if !ok {
			w.t.Fatalf("fixture: uninstalling pass %s from Apple Wallet, where it never was", passID)
		}
		must(w.t, "UnregisterDevice", w.s.UnregisterDevice(w.t.Context(), workspaceID, dev, passTypeA, passID, mark))
	case core.PlatformGoogle:
		applied, err := w.s.ApplyGoogleCallback(w.t.Context(), googleCallback(workspaceID, passID, installed, at), mark)
		must(w.t, "ApplyGoogleCallback", err)
		if !applied {
			w.t.Fatalf("fixture: Google callback for %s at %s not applied", passID, at)
		}
	}
}

// createPasses makes n passes of the template through the service.
func createPasses(t *testing.T, svc *core.Service, workspaceID, templateID, prefix string, n int) []core.Pass {
	t.Helper()
	out := make([]core.Pass, n)
	for i := range out {
		p, err := svc.CreatePass(t.Context(), workspaceID, core.PassInput{
			TemplateID: templateID, ExternalID: fmt.Sprintf("%s-%d", prefix, i), Data: map[string]any{"points": float64(i)},
		})
		must(t, "CreatePass", err)
		out[i] = p
	}
	return out
}

func bumpPoints(t *testing.T, svc *core.Service, p core.Pass) core.Pass {
	t.Helper()
	got, err := svc.Pass(t.Context(), p.WorkspaceID, p.ID)
	must(t, "Pass", err)
	pts, _ := got.Data["points"].(float64)
	got, err = svc.UpdatePass(t.Context(), p.WorkspaceID, p.ID, core.PassPatch{Data: map[string]any{"points": pts + 1}})
	must(t, "UpdatePass", err)
	return got
}

// passState is what a rebuild takes from a pass: enough to tell two
// states apart.
func passState(p core.Pass) string {
	installed := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return us(*t).Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("v%d %s %s apple=%s google=%s", p.Version, p.Lifecycle, p.WalletStatus,
		installed(p.AppleWalletInstalledAt), installed(p.GoogleWalletInstalledAt))
}

var backfillCases = []testCase{
	{"Backfill/ChangeOrder", func(t *testing.T, s Store) {
		ctx := t.Context()
		svc, ws, tpl := serviceFixture(t, s)
		otherSvc, other, otherTpl := serviceFixture(t, s)
		ps := createPasses(t, svc, ws.ID, tpl.ID, "o", 3)
		a, b, c := ps[0].ID, ps[1].ID, ps[2].ID
		createPasses(t, otherSvc, other.ID, otherTpl.ID, "x", 2)
		all := core.PassChangeQuery{ChangedSince: changeEpoch}
		wantWalk(t, s, "created", ws.ID, all, a, b, c)

		// A data change moves the pass to the end; so does a wallet
		// change, which leaves UpdatedAt alone.
		bumpPoints(t, svc, ps[0])
		wantWalk(t, s, "after a data change", ws.ID, all, b, c, a)
		newWalletDriver(t, s).set(ws.ID, b, core.PlatformApple, true, now())
		wantWalk(t, s, "after an install", ws.ID, all, c, a, b)
		_, err := svc.UpdatePass(ctx, ws.ID, c, core.PassPatch{Lifecycle: core.LifecycleExpired})
		must(t, "expire", err)
		wantWalk(t, s, "after a lifecycle change", ws.ID, all, a, b, c)

		// Writes that change nothing the pass shows do not move it: a
		// second device of an installed pass, a patch with the same data.
		register(t, s, ws.ID, device(), passTypeA, b, "another-token")
		_, err = svc.UpdatePass(ctx, ws.ID, a, core.PassPatch{Data: map[string]any{"points": 1.0}})
		must(t, "same data", err)
		wantWalk(t, s, "after writes that change nothing", ws.ID, all, a, b, c)

		// Filters apply; other workspaces never show.
		wantWalk(t, s, "walletStatus apple", ws.ID, core.PassChangeQuery{ChangedSince: changeEpoch, PassQuery: core.PassQuery{WalletStatus: core.WalletApple}}, b)
		wantWalk(t, s, "walletStatus none", ws.ID, core.PassChangeQuery{ChangedSince: changeEpoch, PassQuery: core.PassQuery{WalletStatus: core.WalletNone}}, a, c)
		wantWalk(t, s, "lifecycle expired", ws.ID, core.PassChangeQuery{ChangedSince: changeEpoch, PassQuery: core.PassQuery{Lifecycle: core.LifecycleExpired}}, c)
		wantWalk(t, s, "another template", ws.ID, core.PassChangeQuery{ChangedSince: changeEpoch, PassQuery: core.PassQuery{TemplateID: otherTpl.ID}})
		wantWalk(t, s, "an empty workspace", mustWorkspace(t, s).ID, all)

		// The cursor of one order is refused by the other.
		_, next, err := s.ListPasses(ctx, ws.ID, core.PassQuery{Page: core.Page{Limit: 1}})
		must(t, "ListPasses", err)
		_, _, err = s.ListPassChanges(ctx, ws.ID, core.PassChangeQuery{ChangedSince: changeEpoch, PassQuery: core.PassQuery{Page: core.Page{Cursor: next, Limit: 1}}})
		wantErr(t, "ListPassChanges with an ID-order cursor", err, core.ErrInvalid)
		_, _, err = s.ListPassChanges(ctx, ws.ID, core.PassChangeQuery{ChangedSince: changeEpoch, PassQuery: core.PassQuery{Page: core.Page{Cursor: "%%%"}}})
		wantErr(t, "ListPassChanges with garbage for a cursor", err, core.ErrInvalid)
	}},
	{"Backfill/ChangedSince", func(t *testing.T, s Store) {
		svc, ws, tpl := serviceFixture(t, s)
		w := newWalletDriver(t, s)
		old := createPasses(t, svc, ws.ID, tpl.ID, "old", 4)
		since := now()
		fresh := createPasses(t, svc, ws.ID, tpl.ID, "new", 1)[0]
		bumpPoints(t, svc, old[1])
		w.set(ws.ID, old[2].ID, core.PlatformGoogle, true, now())
		q := core.PassChangeQuery{ChangedSince: since}
		wantWalk(t, s, "changed since", ws.ID, q, fresh.ID, old[1].ID, old[2].ID)

		// The promise, checked pass by pass: every pass whose updatedAt or
		// walletLastChangedAt is at or after T is in the walk from T.
		for _, p := range walkChanges(t, s, ws.ID, core.PassChangeQuery{ChangedSince: changeEpoch}) {
			for _, at := range []*time.Time{&p.UpdatedAt, p.WalletLastChangedAt} {
				if at == nil {
					continue
				}
				got := fmtIDs(walkChanges(t, s, ws.ID, core.PassChangeQuery{ChangedSince: *at}), idOfPass)
				if !slices.Contains(got, p.ID) {
					t.Errorf("walk since %s: %v lacks pass %s changed then", at.Format(time.RFC3339Nano), got, p.ID)
				}
			}
		}
		wantWalk(t, s, "changed since now", ws.ID, core.PassChangeQuery{ChangedSince: now().Add(time.Minute)})
	}},
	{"Backfill/WalkWhileChanging", func(t *testing.T, s Store) {
		svc, ws, tpl := serviceFixture(t, s)
		w := newWalletDriver(t, s)
		ps := createPasses(t, svc, ws.ID, tpl.ID, "p", 12)
		index := map[string]int{}
		for i, p := range ps {
			index[p.ID] = i
		}
		// Between pages, change a pass the walk has shown and one it has
		// not reached yet, alternating data changes and installs.
		var seen []core.Pass
		changedDuring := map[string]bool{}
		q := core.PassChangeQuery{ChangedSince: changeEpoch, PassQuery: core.PassQuery{Page: core.Page{Limit: 3}}}
		for round := 0; ; round++ {
			if round > 100 {
				t.Fatal("walk does not end")
			}
			page, next, err := s.ListPassChanges(t.Context(), ws.ID, q)
			must(t, "ListPassChanges", err)
			seen = append(seen, page...)
			if next == "" {
				break
			}
			q.Cursor = next
			if round < 4 {
				done := seen[len(seen)-1-round%len(page)]
				ahead := ps[len(ps)-1-round]
				if round%2 == 0 {
					bumpPoints(t, svc, done)
					bumpPoints(t, svc, ahead)
				} else {
					w.set(ws.ID, done.ID, core.PlatformApple, true, now())
					w.set(ws.ID, ahead.ID, core.PlatformGoogle, true, now())
				}
				changedDuring[done.ID], changedDuring[ahead.ID] = true, true
			}
		}
		last := map[string]core.Pass{}
		times := map[string]int{}
		for _, p := range seen {
			last[p.ID] = p
			times[p.ID]++
		}
		for _, p := range ps {
			cur, err := s.Pass(t.Context(), ws.ID, p.ID)
			must(t, "Pass", err)
			got, ok := last[p.ID]
			switch {
			case !ok:
				t.Errorf("pass %d never seen by the walk", index[p.ID])
			case passState(got) != passState(cur):
				t.Errorf("pass %d last seen as %s, but it is %s", index[p.ID], passState(got), passState(cur))
			case times[p.ID] > 1 && !changedDuring[p.ID]:
				t.Errorf("pass %d seen %d times, though it did not change during the walk", index[p.ID], times[p.ID])
			}
		}
		if len(changedDuring) == 0 {
			t.Fatal("fixture: no pass changed during the walk")
		}
	}},
	{"Backfill/ConcurrentWritersNeverSkipped", func(t *testing.T, s Store) {
		// Writers commit in another order than they stamp. The walk keeps
		// reading, going back to its last cursor whenever it catches up,
		// until a walk to the end began after the last write committed.
		// Then the last state it saw of every pass must be the pass's
		// state: a change the walk read past before it committed would
		// leave an older one.
		svc, ws, tpl := serviceFixture(t, s)
		// Each pass is written once during the walk, so a write the walk
		// misses is not made good by a later one.
		const writers, writes = 4, 25
		ps := createPasses(t, svc, ws.ID, tpl.ID, "c", writers*writes)
		var finished atomic.Bool
		finishedCh := make(chan struct{})
		// progress wakes a walk that caught up: a write committed.
		progress := make(chan struct{}, 1)
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for g := range writers {
			wg.Go(func() {
				for i := range writes {
					p := ps[i*writers+g]
					if _, err := svc.UpdatePass(t.Context(), ws.ID, p.ID, core.PassPatch{Data: map[string]any{fmt.Sprintf("w%d", g): float64(i)}}); err != nil {
						errs <- err
						return
					}
					select {
					case progress <- struct{}{}:
					default:
					}
				}
			})
		}
		go func() { wg.Wait(); finished.Store(true); close(finishedCh) }()

		last := map[string]core.Pass{}
		q := core.PassChangeQuery{ChangedSince: changeEpoch, PassQuery: core.PassQuery{Page: core.Page{Limit: 4}}}
		for pages := 0; ; pages++ {
			if pages > 100000 {
				t.Fatal("walk does not end")
			}
			done := finished.Load()
			page, next, err := s.ListPassChanges(t.Context(), ws.ID, q)
			must(t, "ListPassChanges", err)
			for _, p := range page {
				last[p.ID] = p
			}
			if next != "" {
				q.Cursor = next
				continue
			}
			if done {
				break
			}
			select {
			case <-progress:
			case <-finishedCh:
			}
		}
		close(errs)
		for err := range errs {
			t.Fatalf("writer: %v", err)
		}
		for i, p := range ps {
			cur, err := s.Pass(t.Context(), ws.ID, p.ID)
			must(t, "Pass", err)
			if got := last[p.ID]; passState(got) != passState(cur) {
				t.Errorf("pass %d last seen as %s, but it is %s", i, passState(got), passState(cur))
			}
		}
	}},
}
