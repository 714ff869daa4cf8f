package storetest

import (
	"encoding/json"
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

// The Apple cases: credentials, PassKit registrations and their update
// tags, the push log, share links and job creation.

const (
	passTypeA = "pass.com.example.loyalty"
	passTypeB = "pass.com.example.other"
)

func newCredentials(workspaceID, passType string) core.AppleCredentials {
	at := now()
	return core.AppleCredentials{
		WorkspaceID: workspaceID, PassTypeIdentifier: passType, TeamIdentifier: "TEAM123456",
		CertificatePEM: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		WWDRPEM:        "-----BEGIN CERTIFICATE-----\nWWDR\n-----END CERTIFICATE-----\n",
		KeySealed:      []byte{0, 1, 2, 0xff, 'k'},
		NotAfter:       at.Add(365 * 24 * time.Hour), CreatedAt: at, UpdatedAt: at,
	}
}

func storedCredentials(c core.AppleCredentials) core.AppleCredentials {
	c.NotAfter, c.CreatedAt, c.UpdatedAt = us(c.NotAfter), us(c.CreatedAt), us(c.UpdatedAt)
	return c
}

func sameCredentials(t *testing.T, what string, got, want core.AppleCredentials) {
	t.Helper()
	want = storedCredentials(want)
	sameJSON(t, what, got, want) // KeySealed is []byte: base64 in JSON
	for name, tm := range map[string]time.Time{"NotAfter": got.NotAfter, "CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("%s: %s in %s, want UTC", what, name, tm.Location())
		}
	}
}

// device returns a fresh device library identifier; IDs made later sort
// later.
func device() string { return "dev-" + core.NewID("") }

// register registers passID on dev without a first-registration hook.
func register(t *testing.T, s Store, workspaceID, dev, passType, passID, token string) bool {
	t.Helper()
	created, err := s.RegisterDevice(t.Context(), core.Registration{
		DeviceLibraryID: dev, PassTypeIdentifier: passType, PassID: passID, WorkspaceID: workspaceID, PushToken: token,
		CreatedAt: now(), UpdatedAt: now(),
	}, nil)
	must(t, "RegisterDevice", err)
	return created
}

// installHook is what the Apple use case does on a first registration:
// mark the pass installed and emit pass.installed. It records its calls.
type installHook struct {
	at     time.Time
	calls  atomic.Int64
	mu     sync.Mutex
	events []core.Event
}

func (h *installHook) fn(p *core.Pass) ([]core.Event, error) {
	h.calls.Add(1)
	at := h.at
	p.AppleWalletInstalledAt = &at
	p.WalletStatus = p.DeriveWalletStatus()
	p.WalletLastChangedAt = &at
	p.WalletLastEvent = core.EventInstalled
	ev := core.NewEvent(core.EventInstalled, p, at)
	ev.Data.Platform = core.PlatformApple
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
	return []core.Event{ev}, nil
}

// uninstallHook is the last-unregistration counterpart of installHook.
func uninstallHook(at time.Time, calls *atomic.Int64, got *core.Event) func(*core.Pass) ([]core.Event, error) {
	return func(p *core.Pass) ([]core.Event, error) {
		calls.Add(1)
		p.AppleWalletInstalledAt = nil
		p.WalletStatus = p.DeriveWalletStatus()
		p.WalletLastChangedAt = &at
		p.WalletLastEvent = core.EventUninstalled
		ev := core.NewEvent(core.EventUninstalled, p, at)
		ev.Data.Platform = core.PlatformApple
		*got = ev
		return []core.Event{ev}, nil
	}
}

func serials(t *testing.T, s Store, dev, passType string, since int64) ([]string, int64) {
	t.Helper()
	ids, last, err := s.UpdatedSerials(t.Context(), dev, passType, since)
	must(t, "UpdatedSerials", err)
	return ids, last
}

func wantSerials(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: serials %v, want %v", what, got, want)
	}
}

func sortedIDs(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func allTemplateDevices(t *testing.T, s Store, workspaceID, templateID string, limit int) []string {
	t.Helper()
	var out []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("TemplateDevices: walk does not end")
		}
		page, err := s.TemplateDevices(t.Context(), workspaceID, templateID, after, limit)
		must(t, "TemplateDevices", err)
		if len(page) > limit {
			t.Fatalf("TemplateDevices: page of %d, limit %d", len(page), limit)
		}
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		after = page[len(page)-1]
	}
}

func targetsJSON(t *testing.T, targets []core.PushTarget) string {
	t.Helper()
	b, err := json.Marshal(targets)
	must(t, "encoding targets", err)
	return string(b)
}

var appleCases = []testCase{
	{"Apple/Credentials", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)

		_, err := s.AppleCredentials(ctx, ws.ID)
		wantErr(t, "AppleCredentials before any", err, core.ErrNotFound)
		_, err = s.AppleCredentialsByPassType(ctx, passTypeA)
		wantErr(t, "AppleCredentialsByPassType before any", err, core.ErrNotFound)
		wantErr(t, "DeleteAppleCredentials before any", s.DeleteAppleCredentials(ctx, ws.ID), core.ErrNotFound)

		c := newCredentials(ws.ID, passTypeA)
		must(t, "PutAppleCredentials", s.PutAppleCredentials(ctx, c))
		got, err := s.AppleCredentials(ctx, ws.ID)
		must(t, "AppleCredentials", err)
		sameCredentials(t, "credentials", got, c)
		got, err = s.AppleCredentialsByPassType(ctx, passTypeA)
		must(t, "AppleCredentialsByPassType", err)
		sameCredentials(t, "credentials by pass type", got, c)

		// Replacing keeps the first CreatedAt and takes everything else.
		r := newCredentials(ws.ID, passTypeB)
		r.TeamIdentifier, r.KeySealed = "TEAM999999", []byte("resealed")
		r.CreatedAt = c.CreatedAt.Add(time.Hour)
		r.UpdatedAt = c.UpdatedAt.Add(time.Hour)
		must(t, "PutAppleCredentials replace", s.PutAppleCredentials(ctx, r))
		want := r
		want.CreatedAt = c.CreatedAt
		got, err = s.AppleCredentials(ctx, ws.ID)
		must(t, "AppleCredentials", err)
		sameCredentials(t, "replaced credentials", got, want)
		_, err = s.AppleCredentialsByPassType(ctx, passTypeA)
		wantErr(t, "AppleCredentialsByPassType of the replaced type", err, core.ErrNotFound)

		// Another workspace cannot take the pass type; its own is free.
		wantConflict(t, "PutAppleCredentials with another workspace's pass type",
			s.PutAppleCredentials(ctx, newCredentials(other.ID, passTypeB)), "passTypeIdentifier")
		_, err = s.AppleCredentials(ctx, other.ID)
		wantErr(t, "AppleCredentials of the refused workspace", err, core.ErrNotFound)
		must(t, "PutAppleCredentials other", s.PutAppleCredentials(ctx, newCredentials(other.ID, passTypeA)))
		// Nor can a replacement take it.
		wantConflict(t, "PutAppleCredentials replace with a taken pass type",
			s.PutAppleCredentials(ctx, newCredentials(ws.ID, passTypeA)), "passTypeIdentifier")
		got, err = s.AppleCredentials(ctx, ws.ID)
		must(t, "AppleCredentials", err)
		sameCredentials(t, "credentials after a refused replacement", got, want)

		must(t, "DeleteAppleCredentials", s.DeleteAppleCredentials(ctx, ws.ID))
		_, err = s.AppleCredentials(ctx, ws.ID)
		wantErr(t, "AppleCredentials deleted", err, core.ErrNotFound)
		wantErr(t, "DeleteAppleCredentials twice", s.DeleteAppleCredentials(ctx, ws.ID), core.ErrNotFound)
		got, err = s.AppleCredentialsByPassType(ctx, passTypeA)
		must(t, "AppleCredentialsByPassType other", err)
		if got.WorkspaceID != other.ID {
			t.Errorf("pass type %s belongs to %s, want %s", passTypeA, got.WorkspaceID, other.ID)
		}
		// A deleted workspace's pass type is free again.
		must(t, "PutAppleCredentials freed type", s.PutAppleCredentials(ctx, newCredentials(other.ID, passTypeB)))
	}},
	{"Apple/RegisterCreatedThenRefreshed", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "r1")
		dev := device()
		t0 := now().Add(-time.Minute)
		r := core.Registration{DeviceLibraryID: dev, PassTypeIdentifier: passTypeA, PassID: p.ID, WorkspaceID: ws.ID, PushToken: "tok-1", CreatedAt: t0, UpdatedAt: t0}
		created, err := s.RegisterDevice(ctx, r, nil)
		must(t, "RegisterDevice", err)
		if !created {
			t.Error("first RegisterDevice: created false, want true (201)")
		}
		t1 := now()
		r2 := r
		r2.PushToken, r2.CreatedAt, r2.UpdatedAt = "tok-2", t1, t1
		created, err = s.RegisterDevice(ctx, r2, nil)
		must(t, "RegisterDevice again", err)
		if created {
			t.Error("second RegisterDevice: created true, want false (200)")
		}
		regs, err := s.PassRegistrations(ctx, ws.ID, p.ID)
		must(t, "PassRegistrations", err)
		if len(regs) != 1 {
			t.Fatalf("%d registrations, want 1: %+v", len(regs), regs)
		}
		g := regs[0]
		if g.DeviceLibraryID != dev || g.PassTypeIdentifier != passTypeA || g.PassID != p.ID || g.WorkspaceID != ws.ID ||
			g.PushToken != "tok-2" || g.Tag <= 0 || !g.CreatedAt.Equal(us(t0)) || !g.UpdatedAt.Equal(us(t1)) {
			t.Errorf("registration %+v; want the new push token, created %v, updated %v, a positive tag", g, us(t0), us(t1))
		}
		if g.CreatedAt.Location() != time.UTC || g.UpdatedAt.Location() != time.UTC {
			t.Errorf("registration times not in UTC: %+v", g)
		}
		// Another pass type on the same device and pass is another
		// registration.
		if !register(t, s, ws.ID, dev, passTypeB, p.ID, "tok-2") {
			t.Error("RegisterDevice with another pass type: created false, want true")
		}
		regs, err = s.PassRegistrations(ctx, ws.ID, p.ID)
		must(t, "PassRegistrations", err)
		if got := fmtIDs(regs, func(r core.Registration) string { return r.PassTypeIdentifier }); !slices.Equal(got, []string{passTypeA, passTypeB}) {
			t.Errorf("registrations by pass type %v", got)
		}

		// A pass that does not exist (or is another workspace's) is not
		// registered, and nothing is written.
		called := false
		hook := func(*core.Pass) ([]core.Event, error) { called = true; return nil, nil }
		missing := r
		missing.PassID, missing.DeviceLibraryID = core.NewID(core.PrefixPass), device()
		_, err = s.RegisterDevice(ctx, missing, hook)
		wantErr(t, "RegisterDevice of a missing pass", err, core.ErrNotFound)
		if called {
			t.Error("RegisterDevice of a missing pass ran onFirst")
		}
		if ids, last := serials(t, s, missing.DeviceLibraryID, passTypeA, 0); ids != nil || last != 0 {
			t.Errorf("device of a refused registration: serials %v, tag %d; want none", ids, last)
		}
	}},
	{"Apple/RegisterFirstCommitsEventsAndPass", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "f1")
		h := &installHook{at: now().Add(time.Minute)}
		r := core.Registration{DeviceLibraryID: device(), PassTypeIdentifier: passTypeA, PassID: p.ID, WorkspaceID: ws.ID, PushToken: "t1"}
		created, err := s.RegisterDevice(ctx, r, h.fn)
		must(t, "RegisterDevice", err)
		if !created || h.calls.Load() != 1 {
			t.Fatalf("first registration: created %v, onFirst ran %d times; want true, 1", created, h.calls.Load())
		}
		// The hook's wallet columns are saved; version and updatedAt stay
		// as the hook left them.
		want := p
		want.AppleWalletInstalledAt, want.WalletLastChangedAt = &h.at, &h.at
		want.WalletStatus, want.WalletLastEvent = core.WalletApple, core.EventInstalled
		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, want)
		ev := h.events[0]
		gotEv, err := s.Event(ctx, ws.ID, ev.ID)
		must(t, "Event", err)
		sameEvent(t, gotEv, ev)
		wantEvents(t, s, ws, p.ID, core.EventInstalled, core.EventRecordAdded)
		if _, ok := jobByKey(allPendingJobs(t, s), core.JobKindDispatch, ev.ID); !ok {
			t.Error("no dispatch job for pass.installed")
		}

		// Refreshing it, or a second device, is not a first registration.
		_, err = s.RegisterDevice(ctx, r, h.fn)
		must(t, "RegisterDevice refresh", err)
		r2 := r
		r2.DeviceLibraryID = device()
		created, err = s.RegisterDevice(ctx, r2, h.fn)
		must(t, "RegisterDevice second device", err)
		if !created || h.calls.Load() != 1 {
			t.Errorf("second device: created %v, onFirst ran %d times; want true, 1", created, h.calls.Load())
		}
		wantEvents(t, s, ws, p.ID, core.EventInstalled, core.EventRecordAdded)

		// onFirst failing undoes the registration and returns its error.
		q, _ := mustPass(t, s, ws.ID, tpl.ID, "f2")
		jobsBefore := len(allPendingJobs(t, s))
		boom := errors.New("boom")
		dev := device()
		_, err = s.RegisterDevice(ctx, core.Registration{DeviceLibraryID: dev, PassTypeIdentifier: passTypeA, PassID: q.ID, WorkspaceID: ws.ID, PushToken: "t"},
			func(p *core.Pass) ([]core.Event, error) {
				p.WalletStatus = core.WalletApple
				return []core.Event{core.NewEvent(core.EventInstalled, p, now())}, fmt.Errorf("hook: %w", boom)
			})
		wantErr(t, "RegisterDevice with a failing onFirst", err, boom)
		regs, err := s.PassRegistrations(ctx, ws.ID, q.ID)
		must(t, "PassRegistrations", err)
		if len(regs) != 0 {
			t.Errorf("registrations after a failed onFirst: %+v", regs)
		}
		got, err = s.Pass(ctx, ws.ID, q.ID)
		must(t, "Pass", err)
		samePass(t, got, q)
		if n := len(allPendingJobs(t, s)); n != jobsBefore {
			t.Errorf("%d pending jobs after a failed onFirst, want %d", n, jobsBefore)
		}
		if ids, last := serials(t, s, dev, passTypeA, 0); ids != nil || last != 0 {
			t.Errorf("device of a failed registration: serials %v, tag %d; want none", ids, last)
		}
	}},
	{"Apple/RegisterConcurrentFirstOnce", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "c1")
		h := &installHook{at: now()}
		const devices = 8
		var wg sync.WaitGroup
		errs := make([]error, devices)
		created := make([]bool, devices)
		for i := range devices {
			wg.Go(func() {
				created[i], errs[i] = s.RegisterDevice(ctx, core.Registration{
					DeviceLibraryID: fmt.Sprintf("dev-%d-%s", i, core.NewID("")), PassTypeIdentifier: passTypeA, PassID: p.ID,
					WorkspaceID: ws.ID, PushToken: fmt.Sprintf("tok-%d", i),
				}, h.fn)
			})
		}
		wg.Wait()
		for i := range devices {
			must(t, "RegisterDevice", errs[i])
			if !created[i] {
				t.Errorf("device %d: created false", i)
			}
		}
		if n := h.calls.Load(); n != 1 {
			t.Fatalf("onFirst ran %d times for %d concurrent first registrations, want 1", n, devices)
		}
		regs, err := s.PassRegistrations(ctx, ws.ID, p.ID)
		must(t, "PassRegistrations", err)
		if len(regs) != devices {
			t.Errorf("%d registrations, want %d", len(regs), devices)
		}
		if !slices.IsSortedFunc(regs, func(a, b core.Registration) int { return strings.Compare(a.DeviceLibraryID, b.DeviceLibraryID) }) {
			t.Errorf("registrations not in device order: %v", fmtIDs(regs, func(r core.Registration) string { return r.DeviceLibraryID }))
		}
		wantEvents(t, s, ws, p.ID, core.EventInstalled, core.EventRecordAdded)
	}},
	{"Apple/UnregisterLastRunsOnLast", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "u1")
		h := &installHook{at: now()}
		d1, d2 := device(), device()
		for _, d := range []string{d1, d2} {
			_, err := s.RegisterDevice(ctx, core.Registration{DeviceLibraryID: d, PassTypeIdentifier: passTypeA, PassID: p.ID, WorkspaceID: ws.ID, PushToken: "t" + d}, h.fn)
			must(t, "RegisterDevice", err)
		}
		installed, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)

		var calls atomic.Int64
		var ev core.Event
		at := now().Add(time.Hour)
		wantErr(t, "UnregisterDevice from another workspace",
			s.UnregisterDevice(ctx, other.ID, d1, passTypeA, p.ID, uninstallHook(at, &calls, &ev)), core.ErrNotFound)
		wantErr(t, "UnregisterDevice of another pass type",
			s.UnregisterDevice(ctx, ws.ID, d1, passTypeB, p.ID, uninstallHook(at, &calls, &ev)), core.ErrNotFound)
		wantErr(t, "UnregisterDevice of an unknown device",
			s.UnregisterDevice(ctx, ws.ID, device(), passTypeA, p.ID, uninstallHook(at, &calls, &ev)), core.ErrNotFound)
		wantErr(t, "UnregisterDevice of a missing pass",
			s.UnregisterDevice(ctx, ws.ID, d1, passTypeA, core.NewID(core.PrefixPass), uninstallHook(at, &calls, &ev)), core.ErrNotFound)

		must(t, "UnregisterDevice first", s.UnregisterDevice(ctx, ws.ID, d1, passTypeA, p.ID, uninstallHook(at, &calls, &ev)))
		if calls.Load() != 0 {
			t.Fatal("onLast ran while another device still holds the pass")
		}
		got, err := s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, installed)
		wantErr(t, "UnregisterDevice twice", s.UnregisterDevice(ctx, ws.ID, d1, passTypeA, p.ID, uninstallHook(at, &calls, &ev)), core.ErrNotFound)

		must(t, "UnregisterDevice last", s.UnregisterDevice(ctx, ws.ID, d2, passTypeA, p.ID, uninstallHook(at, &calls, &ev)))
		if calls.Load() != 1 {
			t.Fatalf("onLast ran %d times for the last unregistration, want 1", calls.Load())
		}
		want := installed
		want.AppleWalletInstalledAt, want.WalletLastChangedAt = nil, &at
		want.WalletStatus, want.WalletLastEvent = core.WalletNone, core.EventUninstalled
		got, err = s.Pass(ctx, ws.ID, p.ID)
		must(t, "Pass", err)
		samePass(t, got, want)
		if got.Version != p.Version || !got.UpdatedAt.Equal(us(p.UpdatedAt)) {
			t.Errorf("onLast left version and updatedAt alone, yet they are %d, %v", got.Version, got.UpdatedAt)
		}
		gotEv, err := s.Event(ctx, ws.ID, ev.ID)
		must(t, "Event", err)
		sameEvent(t, gotEv, ev)
		wantEvents(t, s, ws, p.ID, core.EventUninstalled, core.EventInstalled, core.EventRecordAdded)
		if _, ok := jobByKey(allPendingJobs(t, s), core.JobKindDispatch, ev.ID); !ok {
			t.Error("no dispatch job for pass.uninstalled")
		}
		regs, err := s.PassRegistrations(ctx, ws.ID, p.ID)
		must(t, "PassRegistrations", err)
		if len(regs) != 0 {
			t.Errorf("registrations left: %+v", regs)
		}

		// A nil hook is allowed, and a later first registration is a
		// first registration again.
		register(t, s, ws.ID, d1, passTypeA, p.ID, "t")
		must(t, "UnregisterDevice with nil onLast", s.UnregisterDevice(ctx, ws.ID, d1, passTypeA, p.ID, nil))
		_, err = s.RegisterDevice(ctx, core.Registration{DeviceLibraryID: d2, PassTypeIdentifier: passTypeA, PassID: p.ID, WorkspaceID: ws.ID, PushToken: "t"}, h.fn)
		must(t, "RegisterDevice after the last went", err)
		if h.calls.Load() != 2 {
			t.Errorf("onFirst ran %d times in all, want 2", h.calls.Load())
		}
	}},
	{"Apple/Tags", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		a, _ := mustPass(t, s, ws.ID, tpl.ID, "a")
		b, _ := mustPass(t, s, ws.ID, tpl.ID, "b")
		c, _ := mustPass(t, s, ws.ID, tpl.ID, "c")
		d, e := device(), device()
		register(t, s, ws.ID, d, passTypeA, a.ID, "tok-d")
		register(t, s, ws.ID, d, passTypeA, b.ID, "tok-d")
		register(t, s, ws.ID, d, passTypeB, c.ID, "tok-d")
		register(t, s, ws.ID, e, passTypeA, a.ID, "tok-e")

		// Freshly registered passes count as updated.
		ids, l1 := serials(t, s, d, passTypeA, 0)
		wantSerials(t, "device d since 0", ids, sortedIDs(a.ID, b.ID))
		if l1 <= 0 {
			t.Fatalf("device tag %d after registering, want > 0", l1)
		}
		ids, _ = serials(t, s, d, passTypeB, 0)
		wantSerials(t, "device d, other pass type, since 0", ids, []string{c.ID})
		// Nothing new since the tag just read.
		ids, last := serials(t, s, d, passTypeA, l1)
		wantSerials(t, "device d since its tag", ids, nil)
		if last != l1 {
			t.Errorf("tag moved from %d to %d without a change", l1, last)
		}
		_, le1 := serials(t, s, e, passTypeA, 0)
		_, lc1 := serials(t, s, d, passTypeB, 0)

		targets, err := s.TouchPasses(ctx, ws.ID, []string{a.ID})
		must(t, "TouchPasses", err)
		if len(targets) != 2 {
			t.Errorf("TouchPasses of a pass on two devices: %s", targetsJSON(t, targets))
		}
		ids, l2 := serials(t, s, d, passTypeA, l1)
		wantSerials(t, "device d after touching a", ids, []string{a.ID})
		if l2 <= l1 {
			t.Errorf("tag %d after a touch, want > %d", l2, l1)
		}
		ids, le2 := serials(t, s, e, passTypeA, le1)
		wantSerials(t, "device e after touching a", ids, []string{a.ID})
		if le2 <= le1 {
			t.Errorf("device e tag %d after a touch, want > %d", le2, le1)
		}
		// Other passes and pass types are not re-announced.
		ids, _ = serials(t, s, d, passTypeB, lc1)
		wantSerials(t, "device d, other pass type, after touching a", ids, nil)
		ids, _ = serials(t, s, d, passTypeA, l2)
		wantSerials(t, "device d since its new tag", ids, nil)

		// Touching b stamps only b; tags keep growing.
		_, err = s.TouchPasses(ctx, ws.ID, []string{b.ID})
		must(t, "TouchPasses", err)
		ids, l3 := serials(t, s, d, passTypeA, l2)
		wantSerials(t, "device d after touching b", ids, []string{b.ID})
		ids, _ = serials(t, s, d, passTypeA, l1)
		wantSerials(t, "device d since its first tag", ids, sortedIDs(a.ID, b.ID))
		if l3 <= l2 {
			t.Errorf("tag %d after a second touch, want > %d", l3, l2)
		}
		ids, _ = serials(t, s, e, passTypeA, le2)
		wantSerials(t, "device e after touching b", ids, nil)

		// A pass registered under two pass types is touched under both.
		register(t, s, ws.ID, d, passTypeB, a.ID, "tok-d")
		_, lb := serials(t, s, d, passTypeB, 0)
		_, err = s.TouchPasses(ctx, ws.ID, []string{a.ID})
		must(t, "TouchPasses", err)
		ids, _ = serials(t, s, d, passTypeB, lb)
		wantSerials(t, "device d, other pass type, after touching a", ids, []string{a.ID})

		// A registration made after a read is reported, with a new tag.
		_, l4 := serials(t, s, d, passTypeA, 0)
		n, _ := mustPass(t, s, ws.ID, tpl.ID, "n")
		register(t, s, ws.ID, d, passTypeA, n.ID, "tok-d")
		ids, l5 := serials(t, s, d, passTypeA, l4)
		wantSerials(t, "device d after a new registration", ids, []string{n.ID})
		if l5 <= l4 {
			t.Errorf("tag %d after a registration, want > %d", l5, l4)
		}

		// Unknown devices have nothing; a device keeps its tag after its
		// last registration goes, so tags never go back.
		ids, last, err = s.UpdatedSerials(ctx, device(), passTypeA, 0)
		must(t, "UpdatedSerials unknown", err)
		if ids != nil || last != 0 {
			t.Errorf("unknown device: %v, %d; want nil, 0", ids, last)
		}
		for _, id := range []string{a.ID, b.ID, n.ID} {
			must(t, "UnregisterDevice", s.UnregisterDevice(ctx, ws.ID, d, passTypeA, id, nil))
		}
		must(t, "UnregisterDevice", s.UnregisterDevice(ctx, ws.ID, d, passTypeB, a.ID, nil))
		must(t, "UnregisterDevice", s.UnregisterDevice(ctx, ws.ID, d, passTypeB, c.ID, nil))
		ids, last = serials(t, s, d, passTypeA, 0)
		wantSerials(t, "device d with no registrations", ids, nil)
		if last < l5 {
			t.Errorf("tag went back from %d to %d", l5, last)
		}
		register(t, s, ws.ID, d, passTypeA, a.ID, "tok-d")
		ids, l6 := serials(t, s, d, passTypeA, l5)
		wantSerials(t, "device d re-registered", ids, []string{a.ID})
		if l6 <= l5 {
			t.Errorf("tag %d after re-registering, want > %d", l6, l5)
		}
	}},
	{"Apple/ConcurrentTouchesKeepTagsUnique", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		var passes []string
		for i := range 4 {
			p, _ := mustPass(t, s, ws.ID, tpl.ID, fmt.Sprintf("p%d", i))
			passes = append(passes, p.ID)
		}
		var devs []string
		for range 6 {
			d := device()
			devs = append(devs, d)
			for _, p := range passes {
				register(t, s, ws.ID, d, passTypeA, p, "tok-"+d)
			}
		}
		_, start := serials(t, s, devs[0], passTypeA, 0)
		// Overlapping touches in different pass orders must neither
		// deadlock nor lose a bump.
		const touches = 12
		var wg sync.WaitGroup
		errs := make([]error, touches)
		for i := range touches {
			wg.Go(func() {
				ids := slices.Clone(passes)
				if i%2 == 1 {
					slices.Reverse(ids)
				}
				_, errs[i] = s.TouchPasses(ctx, ws.ID, ids[:2+i%3])
			})
		}
		wg.Wait()
		for _, err := range errs {
			must(t, "TouchPasses", err)
		}
		for _, d := range devs {
			ids, last := serials(t, s, d, passTypeA, 0)
			wantSerials(t, "device "+d, ids, sortedIDs(passes...))
			if d == devs[0] && last != start+touches {
				t.Errorf("device tag %d after %d touches from %d, want %d", last, touches, start, start+touches)
			}
		}
	}},
	{"Apple/TouchTargets", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		otherTpl := mustTemplate(t, s, other.ID)
		a, _ := mustPass(t, s, ws.ID, tpl.ID, "ext-a")
		b, _ := mustPass(t, s, ws.ID, tpl.ID, "ext-b")
		lonely, _ := mustPass(t, s, ws.ID, tpl.ID, "ext-lonely")
		o, _ := mustPass(t, s, other.ID, otherTpl.ID, "ext-o")
		d1, d2, d3 := device(), device(), device()
		register(t, s, ws.ID, d1, passTypeA, a.ID, "shared")
		register(t, s, ws.ID, d1, passTypeA, b.ID, "shared")
		register(t, s, ws.ID, d2, passTypeA, a.ID, "own")
		// d3 has d1's token (a restored backup): one push wakes both.
		register(t, s, ws.ID, d3, passTypeA, b.ID, "shared")
		register(t, s, other.ID, d2, passTypeA, o.ID, "own")

		targets, err := s.TouchPasses(ctx, ws.ID, []string{b.ID, a.ID, lonely.ID, o.ID, core.NewID(core.PrefixPass)})
		must(t, "TouchPasses", err)
		refs := func(ps ...core.Pass) []core.PassRef {
			slices.SortFunc(ps, func(x, y core.Pass) int { return strings.Compare(x.ID, y.ID) })
			var out []core.PassRef
			for _, p := range ps {
				out = append(out, core.PassRef{PassID: p.ID, ExternalID: p.ExternalID})
			}
			return out
		}
		want := []core.PushTarget{
			{DeviceLibraryID: d1, PushToken: "shared", Passes: refs(a, b)},
			{DeviceLibraryID: d2, PushToken: "own", Passes: refs(a)},
		}
		if g, w := targetsJSON(t, targets), targetsJSON(t, want); g != w {
			t.Errorf("targets\n got: %s\nwant: %s", g, w)
		}
		// d3 was stamped too, though its push goes with d1's.
		_, l3 := serials(t, s, d3, passTypeA, 0)
		ids, _ := serials(t, s, d3, passTypeA, l3-1)
		wantSerials(t, "device d3 after the touch", ids, []string{b.ID})
		// The other workspace's registration of d2 was not.
		_, l2 := serials(t, s, d2, passTypeA, 0)
		ids, _ = serials(t, s, d2, passTypeA, l2-1)
		wantSerials(t, "device d2 after the touch", ids, []string{a.ID})

		for name, ids := range map[string][]string{"no passes": nil, "unregistered pass": {lonely.ID}, "another workspace's pass": {o.ID}} {
			targets, err := s.TouchPasses(ctx, ws.ID, ids)
			must(t, "TouchPasses "+name, err)
			if len(targets) != 0 {
				t.Errorf("TouchPasses of %s: %s", name, targetsJSON(t, targets))
			}
		}
	}},
	{"Apple/TemplateDevices", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		otherTpl := mustTemplate(t, s, ws.ID)
		var live []core.Pass
		for i := range 5 {
			p, _ := mustPass(t, s, ws.ID, tpl.ID, fmt.Sprintf("live-%d", i))
			live = append(live, p)
		}
		gone, _ := mustPass(t, s, ws.ID, tpl.ID, "gone")
		_, err := s.UpdatePass(ctx, ws.ID, gone.ID, func(p *core.Pass) ([]core.Event, error) {
			p.Lifecycle = core.LifecycleDeleted
			p.Version++
			return nil, nil
		})
		must(t, "UpdatePass delete", err)
		elsewhere, _ := mustPass(t, s, ws.ID, otherTpl.ID, "elsewhere")

		var want, onElsewhere, goneOnly []string
		for i := range 23 {
			d := device()
			want = append(want, d)
			// Some devices hold several of the template's passes: each
			// must still come once.
			register(t, s, ws.ID, d, passTypeA, live[i%5].ID, "tok-"+d)
			if i%3 == 0 {
				register(t, s, ws.ID, d, passTypeA, live[(i+1)%5].ID, "tok-"+d)
			}
			if i%4 == 0 {
				register(t, s, ws.ID, d, passTypeA, elsewhere.ID, "tok-"+d)
				onElsewhere = append(onElsewhere, d)
			}
			if i == 0 {
				register(t, s, ws.ID, d, passTypeA, gone.ID, "tok-"+d)
			}
		}
		var elsewhereOnly []string
		for range 3 {
			d := device()
			goneOnly = append(goneOnly, d)
			register(t, s, ws.ID, d, passTypeA, gone.ID, "tok-"+d)
			d = device()
			elsewhereOnly = append(elsewhereOnly, d)
			onElsewhere = append(onElsewhere, d)
			register(t, s, ws.ID, d, passTypeA, elsewhere.ID, "tok-"+d)
		}
		slices.Sort(want)
		slices.Sort(onElsewhere)
		for _, limit := range []int{1, 4, 23, 500} {
			got := allTemplateDevices(t, s, ws.ID, tpl.ID, limit)
			if !slices.Equal(got, want) {
				t.Errorf("limit %d: devices %v, want %v", limit, got, want)
			}
		}
		if got := allTemplateDevices(t, s, ws.ID, otherTpl.ID, 100); !slices.Equal(got, onElsewhere) {
			t.Errorf("devices of the other template: %v, want %v", got, onElsewhere)
		}
		other := mustWorkspace(t, s)
		if got := allTemplateDevices(t, s, other.ID, tpl.ID, 10); len(got) != 0 {
			t.Errorf("TemplateDevices from another workspace: %v", got)
		}

		// Touch the first page: each device's not-deleted passes of the
		// template, and nothing else.
		page := want[:4]
		before := map[string]int64{}
		for _, d := range page {
			_, before[d] = serials(t, s, d, passTypeA, 0)
		}
		targets, err := s.TouchTemplateDevices(ctx, ws.ID, tpl.ID, append(slices.Clone(page), goneOnly[0], elsewhereOnly[0]))
		must(t, "TouchTemplateDevices", err)
		if got := fmtIDs(targets, func(x core.PushTarget) string { return x.DeviceLibraryID }); !slices.Equal(got, page) {
			t.Errorf("targets for devices %v, want %v", got, page)
		}
		for _, target := range targets {
			d := target.DeviceLibraryID
			if target.PushToken != "tok-"+d {
				t.Errorf("device %s: token %q", d, target.PushToken)
			}
			ids, last := serials(t, s, d, passTypeA, before[d])
			if last <= before[d] {
				t.Errorf("device %s: tag %d after a touch, want > %d", d, last, before[d])
			}
			var refs []string
			for _, r := range target.Passes {
				refs = append(refs, r.PassID)
				if p := passByID(live, r.PassID); p == nil || r.ExternalID != p.ExternalID {
					t.Errorf("device %s: pass %+v is not a live pass of the template", d, r)
				}
			}
			wantSerials(t, "device "+d+" after the template touch", ids, refs)
		}
		// A device off the template gained no tag from the touch.
		for _, d := range []string{goneOnly[0], elsewhereOnly[0]} {
			_, last := serials(t, s, d, passTypeA, 0)
			if last != 1 {
				t.Errorf("device %s off the template: tag %d after the touch, want 1 (its registration)", d, last)
			}
		}
		targets, err = s.TouchTemplateDevices(ctx, ws.ID, tpl.ID, nil)
		must(t, "TouchTemplateDevices none", err)
		if len(targets) != 0 {
			t.Errorf("TouchTemplateDevices of no devices: %s", targetsJSON(t, targets))
		}
	}},
	{"Apple/DropPushToken", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		otherTpl := mustTemplate(t, s, other.ID)
		h := &installHook{at: now()}
		a, _ := mustPass(t, s, ws.ID, tpl.ID, "a")
		b, _ := mustPass(t, s, ws.ID, tpl.ID, "b")
		o, _ := mustPass(t, s, other.ID, otherTpl.ID, "o")
		d1, d2, d3 := device(), device(), device()
		for _, r := range []core.Registration{
			{DeviceLibraryID: d1, PassID: a.ID, WorkspaceID: ws.ID, PushToken: "dead"},
			{DeviceLibraryID: d1, PassID: b.ID, WorkspaceID: ws.ID, PushToken: "dead"},
			{DeviceLibraryID: d2, PassID: a.ID, WorkspaceID: ws.ID, PushToken: "dead"},
			{DeviceLibraryID: d3, PassID: a.ID, WorkspaceID: ws.ID, PushToken: "alive"},
			{DeviceLibraryID: d1, PassID: o.ID, WorkspaceID: other.ID, PushToken: "dead"},
		} {
			r.PassTypeIdentifier = passTypeA
			_, err := s.RegisterDevice(ctx, r, h.fn)
			must(t, "RegisterDevice", err)
		}
		passA, err := s.Pass(ctx, ws.ID, a.ID)
		must(t, "Pass", err)
		passB, err := s.Pass(ctx, ws.ID, b.ID)
		must(t, "Pass", err)
		eventsBefore := len(allEvents(t, s, ws.ID, core.EventQuery{}))
		jobsBefore := len(allPendingJobs(t, s))

		n, err := s.DropPushToken(ctx, ws.ID, "dead", time.Time{})
		must(t, "DropPushToken", err)
		if n != 3 {
			t.Errorf("DropPushToken removed %d registrations, want 3", n)
		}
		regs, err := s.PassRegistrations(ctx, ws.ID, a.ID)
		must(t, "PassRegistrations", err)
		if got := fmtIDs(regs, func(r core.Registration) string { return r.DeviceLibraryID }); !slices.Equal(got, []string{d3}) {
			t.Errorf("registrations of a after the drop: %v, want [%s]", got, d3)
		}
		regs, err = s.PassRegistrations(ctx, ws.ID, b.ID)
		must(t, "PassRegistrations", err)
		if len(regs) != 0 {
			t.Errorf("registrations of b after the drop: %+v", regs)
		}
		// Other workspaces keep theirs; passes, events and jobs are
		// untouched.
		regs, err = s.PassRegistrations(ctx, other.ID, o.ID)
		must(t, "PassRegistrations", err)
		if len(regs) != 1 {
			t.Errorf("the other workspace's registrations: %+v, want d1's", regs)
		}
		for _, want := range []core.Pass{passA, passB} {
			got, err := s.Pass(ctx, ws.ID, want.ID)
			must(t, "Pass", err)
			samePass(t, got, want)
		}
		if n := len(allEvents(t, s, ws.ID, core.EventQuery{})); n != eventsBefore {
			t.Errorf("%d events after the drop, want %d", n, eventsBefore)
		}
		if n := len(allPendingJobs(t, s)); n != jobsBefore {
			t.Errorf("%d pending jobs after the drop, want %d", n, jobsBefore)
		}
		n, err = s.DropPushToken(ctx, ws.ID, "dead", time.Time{})
		must(t, "DropPushToken again", err)
		if n != 0 {
			t.Errorf("second DropPushToken removed %d", n)
		}
		n, err = s.DropPushToken(ctx, ws.ID, "never-seen", time.Time{})
		must(t, "DropPushToken unknown", err)
		if n != 0 {
			t.Errorf("DropPushToken of an unknown token removed %d", n)
		}
	}},
	{"Apple/DropPushTokenInvalidSince", func(t *testing.T, s Store) {
		// APNs dates a token's end: devices registered or refreshed since
		// keep their registrations; the others lose them.
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		a, _ := mustPass(t, s, ws.ID, tpl.ID, "a")
		b, _ := mustPass(t, s, ws.ID, tpl.ID, "b")
		invalidSince := us(now().Add(-time.Hour))
		at := func(r core.Registration, when time.Time) {
			t.Helper()
			r.PassTypeIdentifier, r.WorkspaceID, r.CreatedAt, r.UpdatedAt = passTypeA, ws.ID, when, when
			_, err := s.RegisterDevice(ctx, r, nil)
			must(t, "RegisterDevice", err)
		}
		stale, refreshed, otherPass, edge, newer := device(), device(), device(), device(), device()
		// stale registered two passes before the token's end, nothing since.
		at(core.Registration{DeviceLibraryID: stale, PassID: a.ID, PushToken: "gone"}, invalidSince.Add(-2*time.Hour))
		at(core.Registration{DeviceLibraryID: stale, PassID: b.ID, PushToken: "gone"}, invalidSince.Add(-time.Minute))
		// refreshed registered before and refreshed the same registration after.
		at(core.Registration{DeviceLibraryID: refreshed, PassID: a.ID, PushToken: "gone"}, invalidSince.Add(-2*time.Hour))
		at(core.Registration{DeviceLibraryID: refreshed, PassID: a.ID, PushToken: "gone"}, invalidSince.Add(time.Minute))
		// otherPass registered a before, and another pass after: the
		// device row was refreshed, so a stays too.
		at(core.Registration{DeviceLibraryID: otherPass, PassID: a.ID, PushToken: "gone"}, invalidSince.Add(-2*time.Hour))
		at(core.Registration{DeviceLibraryID: otherPass, PassID: b.ID, PushToken: "gone"}, invalidSince.Add(time.Millisecond))
		// edge refreshed at the very instant: not before it, so kept.
		at(core.Registration{DeviceLibraryID: edge, PassID: a.ID, PushToken: "gone"}, invalidSince)
		// newer registered only after.
		at(core.Registration{DeviceLibraryID: newer, PassID: b.ID, PushToken: "gone"}, invalidSince.Add(time.Microsecond))

		devicesOf := func(passID string) []string {
			t.Helper()
			regs, err := s.PassRegistrations(ctx, ws.ID, passID)
			must(t, "PassRegistrations", err)
			return fmtIDs(regs, func(r core.Registration) string { return r.DeviceLibraryID })
		}
		sorted := func(ids ...string) []string { slices.Sort(ids); return ids }

		n, err := s.DropPushToken(ctx, ws.ID, "gone", invalidSince)
		must(t, "DropPushToken", err)
		if n != 2 {
			t.Errorf("DropPushToken removed %d registrations, want stale's 2", n)
		}
		if got, want := devicesOf(a.ID), sorted(refreshed, otherPass, edge); !slices.Equal(got, want) {
			t.Errorf("devices of a after the drop: %v, want %v", got, want)
		}
		if got, want := devicesOf(b.ID), sorted(otherPass, newer); !slices.Equal(got, want) {
			t.Errorf("devices of b after the drop: %v, want %v", got, want)
		}
		// A microsecond later takes edge, not newer (stamped exactly then).
		n, err = s.DropPushToken(ctx, ws.ID, "gone", invalidSince.Add(time.Microsecond))
		must(t, "DropPushToken a microsecond later", err)
		if n != 1 {
			t.Errorf("DropPushToken a microsecond later removed %d registrations, want edge's 1", n)
		}
		if got, want := devicesOf(a.ID), sorted(refreshed, otherPass); !slices.Equal(got, want) {
			t.Errorf("devices of a after the second drop: %v, want %v", got, want)
		}
		// No date takes the rest, every registration of each device.
		n, err = s.DropPushToken(ctx, ws.ID, "gone", time.Time{})
		must(t, "DropPushToken undated", err)
		if n != 4 {
			t.Errorf("undated DropPushToken removed %d registrations, want the last 4", n)
		}
		if got := devicesOf(a.ID); len(got) != 0 {
			t.Errorf("devices of a after the undated drop: %v", got)
		}
		if got := devicesOf(b.ID); len(got) != 0 {
			t.Errorf("devices of b after the undated drop: %v", got)
		}
	}},
	{"Apple/WorkspaceIsolation", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "iso")
		d := device()
		register(t, s, ws.ID, d, passTypeA, p.ID, "tok")

		called := false
		hook := func(*core.Pass) ([]core.Event, error) { called = true; return nil, nil }
		_, err := s.RegisterDevice(ctx, core.Registration{DeviceLibraryID: device(), PassTypeIdentifier: passTypeA, PassID: p.ID, WorkspaceID: other.ID, PushToken: "x"}, hook)
		wantErr(t, "RegisterDevice of another workspace's pass", err, core.ErrNotFound)
		wantErr(t, "UnregisterDevice of another workspace's pass", s.UnregisterDevice(ctx, other.ID, d, passTypeA, p.ID, hook), core.ErrNotFound)
		if called {
			t.Error("a hook ran for another workspace's pass")
		}
		regs, err := s.PassRegistrations(ctx, other.ID, p.ID)
		must(t, "PassRegistrations", err)
		if len(regs) != 0 {
			t.Errorf("PassRegistrations from another workspace: %+v", regs)
		}
		targets, err := s.TouchPasses(ctx, other.ID, []string{p.ID})
		must(t, "TouchPasses", err)
		if len(targets) != 0 {
			t.Errorf("TouchPasses from another workspace: %s", targetsJSON(t, targets))
		}
		targets, err = s.TouchTemplateDevices(ctx, other.ID, tpl.ID, []string{d})
		must(t, "TouchTemplateDevices", err)
		if len(targets) != 0 {
			t.Errorf("TouchTemplateDevices from another workspace: %s", targetsJSON(t, targets))
		}
		n, err := s.DropPushToken(ctx, other.ID, "tok", time.Time{})
		must(t, "DropPushToken", err)
		if n != 0 {
			t.Errorf("DropPushToken from another workspace removed %d", n)
		}
		regs, err = s.PassRegistrations(ctx, ws.ID, p.ID)
		must(t, "PassRegistrations", err)
		if len(regs) != 1 {
			t.Errorf("registrations after another workspace's attempts: %+v", regs)
		}
		ids, _ := serials(t, s, d, passTypeA, 0)
		wantSerials(t, "serials", ids, []string{p.ID})
	}},
	{"Apple/PushLogs", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		base := now().Add(-time.Hour)
		statuses := []core.PushStatus{core.PushOK, core.PushRetry, core.PushFailed, core.PushDropped, core.PushCancelled}
		var written []core.PushLog // oldest first, this workspace's
		var batch []core.PushLog
		for i := range 40 {
			l := core.PushLog{
				WorkspaceID: ws.ID, At: base.Add(time.Duration(i) * time.Minute), Platform: core.PlatformApple,
				PassID: fmt.Sprintf("pass-%d", i%4), ExternalID: fmt.Sprintf("ext-%d", i%4), TokenHash: fmt.Sprintf("hash-%d", i%6),
				Status: statuses[i%5], HTTPStatus: 200 + i, Reason: fmt.Sprintf("reason %d", i), LatencyMS: int64(i * 3), JobID: int64(1 + i%3),
			}
			if i%7 == 0 {
				l.Platform, l.TokenHash, l.Reason = core.PlatformGoogle, "", ""
			}
			written = append(written, l)
			batch = append(batch, l)
			if i%9 == 0 {
				batch = append(batch, core.PushLog{WorkspaceID: other.ID, At: l.At, Platform: core.PlatformApple, PassID: l.PassID,
					Status: core.PushOK, TokenHash: "other-hash", JobID: 1})
			}
			if len(batch) >= 13 {
				must(t, "AppendPushLogs", s.AppendPushLogs(ctx, batch))
				batch = nil
			}
		}
		must(t, "AppendPushLogs", s.AppendPushLogs(ctx, batch))
		must(t, "AppendPushLogs none", s.AppendPushLogs(ctx, nil))
		// A push-all batch is large (stores may write it another way).
		big := mustWorkspace(t, s)
		var large []core.PushLog
		for i := range 150 {
			large = append(large, core.PushLog{WorkspaceID: big.ID, At: base, Platform: core.PlatformApple, PassID: fmt.Sprintf("p%d", i),
				ExternalID: "e", TokenHash: "h", Status: core.PushOK, HTTPStatus: 200, Reason: "r", LatencyMS: int64(i), JobID: 9})
		}
		must(t, "AppendPushLogs large", s.AppendPushLogs(ctx, large))
		largeGot, _, err := s.ListPushLogs(ctx, big.ID, core.PushLogQuery{Page: core.Page{Limit: 1000}})
		must(t, "ListPushLogs", err)
		if len(largeGot) != 150 || largeGot[0].LatencyMS != 149 || largeGot[0].JobID != 9 {
			t.Errorf("large batch: %d logs, want 150, the newest with latency 149: %+v", len(largeGot), largeGot)
		}
		newestFirst := slices.Clone(written)
		slices.Reverse(newestFirst)
		key := func(l core.PushLog) string { return l.Reason + "|" + l.PassID + "|" + fmt.Sprint(l.HTTPStatus) }

		cutoff := base.Add(25*time.Minute + 500*time.Microsecond)
		filters := []struct {
			name string
			q    core.PushLogQuery
			keep func(core.PushLog) bool
		}{
			{"all", core.PushLogQuery{}, func(core.PushLog) bool { return true }},
			{"pass", core.PushLogQuery{PassID: "pass-1"}, func(l core.PushLog) bool { return l.PassID == "pass-1" }},
			{"platform", core.PushLogQuery{Platform: core.PlatformGoogle}, func(l core.PushLog) bool { return l.Platform == core.PlatformGoogle }},
			{"status", core.PushLogQuery{Status: core.PushFailed}, func(l core.PushLog) bool { return l.Status == core.PushFailed }},
			{"since", core.PushLogQuery{Since: cutoff}, func(l core.PushLog) bool { return !us(l.At).Before(us(cutoff)) }},
			{"combined", core.PushLogQuery{PassID: "pass-0", Platform: core.PlatformApple, Status: core.PushOK},
				func(l core.PushLog) bool {
					return l.PassID == "pass-0" && l.Platform == core.PlatformApple && l.Status == core.PushOK
				}},
			{"none", core.PushLogQuery{PassID: "pass-9"}, func(core.PushLog) bool { return false }},
		}
		var firstAll []core.PushLog
		for _, f := range filters {
			var want []string
			for _, l := range newestFirst {
				if f.keep(l) {
					want = append(want, key(l))
				}
			}
			for _, limit := range []int{1, 6, 1000} {
				q := f.q
				q.Limit = limit
				var got []string
				var lastID int64
				for pages := 0; ; pages++ {
					if pages > 100 {
						t.Fatalf("%s: cursor walk does not end", f.name)
					}
					list, next, err := s.ListPushLogs(ctx, ws.ID, q)
					must(t, "ListPushLogs "+f.name, err)
					if len(list) > limit || (next != "" && len(list) != limit) {
						t.Fatalf("%s: page of %d, limit %d, next %q", f.name, len(list), limit, next)
					}
					for _, l := range list {
						if l.ID <= 0 || (lastID != 0 && l.ID >= lastID) {
							t.Fatalf("%s: id %d after %d, want positive and descending", f.name, l.ID, lastID)
						}
						lastID = l.ID
						got = append(got, key(l))
						if f.name == "all" && limit == 1000 {
							firstAll = append(firstAll, l)
						}
					}
					if next == "" {
						break
					}
					q.Cursor = next
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s/limit %d: got %v, want %v", f.name, limit, got, want)
				}
			}
		}
		for i, got := range firstAll {
			want := newestFirst[i]
			want.ID, want.At = got.ID, us(want.At)
			sameJSON(t, "push log", got, want)
			if got.At.Location() != time.UTC {
				t.Errorf("push log time in %s, want UTC", got.At.Location())
			}
		}
		_, _, err = s.ListPushLogs(ctx, ws.ID, core.PushLogQuery{Page: core.Page{Cursor: "??"}})
		wantErr(t, "ListPushLogs with a bad cursor", err, core.ErrInvalid)
		list, _, err := s.ListPushLogs(ctx, other.ID, core.PushLogQuery{Page: core.Page{Limit: 1000}})
		must(t, "ListPushLogs other", err)
		if len(list) != 5 {
			t.Errorf("the other workspace has %d push logs, want 5", len(list))
		}

		for job := int64(1); job <= 4; job++ {
			want := map[string]bool{}
			for _, l := range written {
				switch l.Status {
				case core.PushOK, core.PushFailed, core.PushDropped:
					if l.JobID == job {
						want[l.TokenHash] = true
					}
				}
			}
			if job == 1 {
				want["other-hash"] = true
			}
			got, err := s.SettledTokens(ctx, job)
			must(t, "SettledTokens", err)
			if len(got) != len(want) {
				t.Errorf("job %d settled %v, want %v", job, got, want)
			}
			for h := range want {
				if !got[h] {
					t.Errorf("job %d settled %v, want %v", job, got, want)
					break
				}
			}
		}
	}},
	{"Apple/FinishPushJobLogsAndCompletesTogether", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws, jobs := mustJobs(t, s, 3)
		at := now()
		logsOf := func(job int64, n int) []core.PushLog {
			var out []core.PushLog
			for i := range n {
				out = append(out, core.PushLog{WorkspaceID: ws.ID, At: at, Platform: core.PlatformApple, PassID: fmt.Sprintf("p%d-%d", job, i),
					ExternalID: "e", TokenHash: fmt.Sprintf("h%d", i), Status: core.PushOK, HTTPStatus: 200, LatencyMS: 1, JobID: job})
			}
			return out
		}
		count := func(job int64) int {
			list, _, err := s.ListPushLogs(ctx, ws.ID, core.PushLogQuery{Page: core.Page{Limit: 1000}})
			must(t, "ListPushLogs", err)
			n := 0
			for _, l := range list {
				if l.JobID == job {
					n++
				}
			}
			return n
		}
		// One push's log (a row or two), and a push-all batch's (many
		// rows: stores may write those another way).
		for i, n := range []int{2, 150} {
			id := jobs[i].ID
			must(t, "FinishPushJob", s.FinishPushJob(ctx, logsOf(id, n), id, at))
			if j, err := s.Job(ctx, id); err != nil || j.State != core.JobDone {
				t.Errorf("job after FinishPushJob = %+v, %v; want done", j, err)
			}
			if got := count(id); got != n {
				t.Errorf("%d logs of job %d, want %d", got, id, n)
			}
			// A duplicate run's finish changes nothing.
			for _, m := range []int{1, 100} {
				wantErr(t, "FinishPushJob of a done job", s.FinishPushJob(ctx, logsOf(id, m), id, at), core.ErrJobDone)
			}
			if got := count(id); got != n {
				t.Errorf("%d logs of job %d after a duplicate's finish, want %d", got, id, n)
			}
		}
		failed := jobs[2].ID
		must(t, "FailJob", s.FailJob(ctx, failed, "gave up", true, at))
		wantErr(t, "FinishPushJob of a failed job", s.FinishPushJob(ctx, logsOf(failed, 1), failed, at), core.ErrJobDone)
		if got := count(failed); got != 0 {
			t.Errorf("%d logs of a failed job's finish, want none", got)
		}
		wantErr(t, "FinishPushJob of a missing job", s.FinishPushJob(ctx, logsOf(1<<40, 1), 1<<40, at), core.ErrNotFound)
	}},
	{"Apple/ShareLinks", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		other := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "share")
		q, _ := mustPass(t, s, ws.ID, tpl.ID, "other")
		base := now().Add(-time.Hour)
		var links []core.ShareLink
		for i := range 3 {
			l := core.ShareLink{ID: core.NewID(core.PrefixShareLink), WorkspaceID: ws.ID, PassID: p.ID, Token: core.RandomToken(20),
				CreatedAt: base.Add(time.Duration(i) * time.Minute)}
			must(t, "CreateShareLink", s.CreateShareLink(ctx, l))
			l.CreatedAt = us(l.CreatedAt)
			links = append(links, l)
		}
		must(t, "CreateShareLink of another pass", s.CreateShareLink(ctx, core.ShareLink{ID: core.NewID(core.PrefixShareLink),
			WorkspaceID: ws.ID, PassID: q.ID, Token: core.RandomToken(20), CreatedAt: now()}))

		dup := core.ShareLink{ID: core.NewID(core.PrefixShareLink), WorkspaceID: other.ID, PassID: p.ID, Token: links[0].Token, CreatedAt: now()}
		wantConflict(t, "CreateShareLink with a taken token", s.CreateShareLink(ctx, dup), "token")
		_, err := s.ShareLink(ctx, other.ID, dup.ID)
		wantErr(t, "ShareLink refused", err, core.ErrNotFound)

		got, err := s.ShareLinkByToken(ctx, links[1].Token)
		must(t, "ShareLinkByToken", err)
		sameJSON(t, "share link by token", got, links[1])
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("share link time in %s, want UTC", got.CreatedAt.Location())
		}
		got, err = s.ShareLink(ctx, ws.ID, links[0].ID)
		must(t, "ShareLink", err)
		sameJSON(t, "share link", got, links[0])
		_, err = s.ShareLinkByToken(ctx, "no-such-token")
		wantErr(t, "ShareLinkByToken missing", err, core.ErrNotFound)
		_, err = s.ShareLink(ctx, other.ID, links[0].ID)
		wantErr(t, "ShareLink of another workspace", err, core.ErrNotFound)

		list, err := s.ListShareLinks(ctx, ws.ID, p.ID)
		must(t, "ListShareLinks", err)
		newestFirst := slices.Clone(links)
		slices.Reverse(newestFirst)
		sameJSON(t, "share links newest first", list, newestFirst)
		list, err = s.ListShareLinks(ctx, other.ID, p.ID)
		must(t, "ListShareLinks other", err)
		if len(list) != 0 {
			t.Errorf("ListShareLinks from another workspace: %+v", list)
		}

		at := now()
		revoked, err := s.RevokeShareLink(ctx, ws.ID, links[0].ID, at)
		must(t, "RevokeShareLink", err)
		want := links[0]
		want.RevokedAt = ptr(us(at))
		sameJSON(t, "revoked link", revoked, want)
		again, err := s.RevokeShareLink(ctx, ws.ID, links[0].ID, at.Add(time.Hour))
		must(t, "RevokeShareLink again", err)
		sameJSON(t, "link revoked twice", again, want)
		got, err = s.ShareLinkByToken(ctx, links[0].Token)
		must(t, "ShareLinkByToken revoked", err)
		sameJSON(t, "revoked link by token", got, want)
		_, err = s.RevokeShareLink(ctx, other.ID, links[1].ID, at)
		wantErr(t, "RevokeShareLink from another workspace", err, core.ErrNotFound)
		_, err = s.RevokeShareLink(ctx, ws.ID, core.NewID(core.PrefixShareLink), at)
		wantErr(t, "RevokeShareLink missing", err, core.ErrNotFound)
		got, err = s.ShareLink(ctx, ws.ID, links[1].ID)
		must(t, "ShareLink", err)
		if got.RevokedAt != nil {
			t.Errorf("link revoked by another workspace's attempt: %+v", got)
		}
	}},
	{"Apple/CreateJobs", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws, existing := mustJobs(t, s, 1)
		at := now()
		payload := json.RawMessage(`{"template":"tpl_1","message":"hi"}`)
		jobs := []core.Job{
			{WorkspaceID: ws.ID, Kind: "apple.push", Key: "manual-1", Payload: payload, CreatedAt: at},
			{WorkspaceID: ws.ID, Kind: "apple.push", Key: "manual-2"},
			// The same kind and key twice in one batch is one job.
			{WorkspaceID: ws.ID, Kind: "apple.push", Key: "manual-1", CreatedAt: at},
			// An existing job is skipped.
			{WorkspaceID: ws.ID, Kind: core.JobKindDispatch, Key: existing[0].Key, CreatedAt: at},
		}
		n, err := s.CreateJobs(ctx, jobs)
		must(t, "CreateJobs", err)
		if n != 2 {
			t.Errorf("CreateJobs made %d jobs, want 2", n)
		}
		pending := allPendingJobs(t, s)
		if len(pending) != 3 {
			t.Fatalf("%d pending jobs, want 3: %+v", len(pending), pending)
		}
		j, ok := jobByKey(pending, "apple.push", "manual-1")
		if !ok || string(j.Payload) != string(payload) || j.WorkspaceID != ws.ID || j.State != core.JobPending || !j.CreatedAt.Equal(us(at)) || j.ID <= 0 {
			t.Errorf("manual-1 job %+v (payload %s)", j, j.Payload)
		}
		j, ok = jobByKey(pending, "apple.push", "manual-2")
		if !ok || j.Payload != nil || j.CreatedAt.IsZero() {
			t.Errorf("manual-2 job %+v, want no payload and a creation time", j)
		}
		j, _ = jobByKey(pending, core.JobKindDispatch, existing[0].Key)
		sameJSON(t, "existing job", j, existing[0])

		n, err = s.CreateJobs(ctx, jobs)
		must(t, "CreateJobs again", err)
		if n != 0 {
			t.Errorf("CreateJobs of existing jobs made %d", n)
		}
		n, err = s.CreateJobs(ctx, nil)
		must(t, "CreateJobs none", err)
		if n != 0 {
			t.Errorf("CreateJobs of nothing made %d", n)
		}
	}},
}

func passByID(ps []core.Pass, id string) *core.Pass {
	for i := range ps {
		if ps[i].ID == id {
			return &ps[i]
		}
	}
	return nil
}
