package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// flappingCases: a customer installs, uninstalls and reinstalls within a
// second, and the three facts reach the wallet-status logic in any order
// (Google's callbacks are not ordered). The final status must be the last
// fact's: installed, since the reinstall.
var flappingCases = []testCase{
	{"Wallet/FlappingInAnyOrder", func(t *testing.T, s Store) {
		t0 := time.Now().UTC().Truncate(time.Microsecond)
		facts := []struct {
			saved bool
			at    time.Time
		}{
			{true, t0},                              // install
			{false, t0.Add(300 * time.Millisecond)}, // uninstall
			{true, t0.Add(600 * time.Millisecond)},  // reinstall
		}
		orders := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		for _, order := range orders {
			t.Run(fmt.Sprint(order), func(t *testing.T) {
				p, _ := mustPass(t, s, ws.ID, tpl.ID, fmt.Sprintf("flap-%v", order))
				h := &googleHook{}
				for _, i := range order {
					f := facts[i]
					applyGoogle(t, s, "ApplyGoogleCallback", googleCallback(ws.ID, p.ID, f.saved, f.at), h.fn(googleCallback(ws.ID, p.ID, f.saved, f.at)))
				}
				got, err := s.Pass(t.Context(), ws.ID, p.ID)
				must(t, "Pass", err)
				if got.WalletStatus != core.WalletGoogle || got.GoogleWalletInstalledAt == nil {
					t.Fatalf("order %v: status %s installedAt %v, want google (installed)", order, got.WalletStatus, got.GoogleWalletInstalledAt)
				}
				// Every event emitted tells the status it left, and the
				// last one tells the final status.
				evs := eventsOf(t, s, ws.ID, p.ID)
				if len(evs) == 0 || evs[0].Data.WalletStatus != core.WalletGoogle {
					t.Fatalf("order %v: newest event %+v, want one leaving status google", order, evs)
				}
			})
		}
	}},
}
