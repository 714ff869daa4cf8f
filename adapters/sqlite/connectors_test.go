package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/adapters/storetest"
)

// Every AcceptTriggers call in its own transaction.
func TestUnmergedAccepts(t *testing.T) {
	storetest.RunConnectors(t, func(t *testing.T) storetest.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "passhub.db"))
		if err != nil {
			t.Fatalf("opening store: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		sqlite.UnmergedAccepts(s)
		return s
	})
}

// BenchmarkAcceptTrigger stores signed Shopify webhooks as they arrive:
// one trigger (a ~2 KB order payload) and its job per call, committed
// before the call returns, from many goroutines. "merged" is the store as
// it runs; "unmerged" gives every call its own transaction, for
// comparison.
func BenchmarkAcceptTrigger(b *testing.B) {
	for _, merged := range []bool{true, false} {
		name := "merged"
		if !merged {
			name = "unmerged"
		}
		b.Run(name, func(b *testing.B) {
			s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "passhub.db"))
			if err != nil {
				b.Fatalf("opening store: %v", err)
			}
			b.Cleanup(func() { _ = s.Close() })
			if !merged {
				sqlite.UnmergedAccepts(s)
			}
			storetest.BenchmarkAcceptTrigger(b, s)
		})
	}
}
