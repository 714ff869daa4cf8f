package core

import (
	"testing"
	"time"
)

func TestWalletStatusFollowsInstallsWithoutTouchingTheVersion(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	type step struct {
		install  bool
		platform Platform
		want     WalletStatus
		event    EventType // "" when no event is due
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"apple in and out", []step{
			{true, PlatformApple, WalletApple, EventInstalled},
			{false, PlatformApple, WalletNone, EventUninstalled},
		}},
		{"both wallets", []step{
			{true, PlatformGoogle, WalletGoogle, EventInstalled},
			{true, PlatformApple, WalletBoth, EventInstalled},
			{false, PlatformGoogle, WalletApple, EventUninstalled},
		}},
		{"repeats change nothing", []step{
			{true, PlatformApple, WalletApple, EventInstalled},
			{true, PlatformApple, WalletApple, ""},
			{false, PlatformGoogle, WalletApple, ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pass{ID: "pass_1", Version: 3, UpdatedAt: t0, WalletStatus: WalletNone}
			for i, s := range tc.steps {
				at := t0.Add(time.Duration(i+1) * time.Minute)
				var evs []Event
				if s.install {
					evs = MarkInstalled(p, s.platform, at)
				} else {
					evs = MarkUninstalled(p, s.platform, at)
				}
				if p.WalletStatus != s.want {
					t.Fatalf("step %d: status %s, want %s", i, p.WalletStatus, s.want)
				}
				if s.event == "" {
					if len(evs) != 0 {
						t.Fatalf("step %d: unexpected events %v", i, evs)
					}
					continue
				}
				if len(evs) != 1 || evs[0].Type != s.event || evs[0].Data.Platform != s.platform || evs[0].Data.WalletStatus != s.want {
					t.Fatalf("step %d: events %+v, want one %s on %s", i, evs, s.event, s.platform)
				}
				if !p.WalletLastChangedAt.Equal(at) || p.WalletLastEvent != s.event {
					t.Fatalf("step %d: last change %v %s", i, p.WalletLastChangedAt, p.WalletLastEvent)
				}
			}
			if p.Version != 3 || !p.UpdatedAt.Equal(t0) {
				t.Fatalf("wallet changes moved version/updatedAt: %d %s", p.Version, p.UpdatedAt)
			}
		})
	}
}

func TestPassKitInputValidation(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		field string
	}{
		{"hex push token", validatePushToken("0a1B2c"), ""},
		{"empty push token", validatePushToken(""), "pushToken"},
		{"non-hex push token", validatePushToken("xyz"), "pushToken"},
		{"long push token", validatePushToken(string(make([]byte, MaxPushTokenLen+1))), "pushToken"},
		{"device id", validateDeviceLibraryID("a1b2c3"), ""},
		{"device id with space", validateDeviceLibraryID("a b"), "deviceLibraryIdentifier"},
		{"empty device id", validateDeviceLibraryID(""), "deviceLibraryIdentifier"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.field == "" {
				if tc.err != nil {
					t.Fatalf("unexpected error %v", tc.err)
				}
				return
			}
			fe, ok := tc.err.(*FieldError)
			if !ok || fe.Field != tc.field {
				t.Fatalf("error %v, want a FieldError on %s", tc.err, tc.field)
			}
		})
	}
}

func TestLastModifiedIsTheLaterOfPassAndTemplate(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	p, tpl := Pass{UpdatedAt: t0}, Template{UpdatedAt: t0.Add(time.Hour)}
	if got := LastModified(p, tpl); !got.Equal(tpl.UpdatedAt) {
		t.Fatalf("template edited later: %s", got)
	}
	p.UpdatedAt = t0.Add(2 * time.Hour)
	if got := LastModified(p, tpl); !got.Equal(p.UpdatedAt) {
		t.Fatalf("pass changed later: %s", got)
	}
}

func TestChangeDetectionSeesNumbersAsJSONDoes(t *testing.T) {
	stored := map[string]any{"points": float64(129)}
	patch := cloneData(map[string]any{"points": 129, "small": int8(3)})
	if got := changedKeys(stored, map[string]any{"points": patch["points"]}); len(got) != 0 {
		t.Fatalf("int 129 vs stored 129.0 counted as a change: %v", got)
	}
	if patch["small"] != float64(3) {
		t.Fatalf("int8 kept as %T", patch["small"])
	}
}
