package postgres_test

import (
	"testing"

	"github.com/passhub/passhub/adapters/postgres"
	"github.com/passhub/passhub/adapters/postgres/pgtest"
	"github.com/passhub/passhub/adapters/storetest"
)

// Every AcceptTriggers call in its own transaction, as concurrent calls
// from separate processes are: the constraint alone settles races.
func TestUnmergedAccepts(t *testing.T) {
	storetest.RunConnectors(t, func(t *testing.T) storetest.Store {
		s := open(t, pgtest.NewDatabase(t), postgres.Options{MaxConns: 8})
		postgres.UnmergedAccepts(s)
		return s
	})
}

// BenchmarkAcceptTrigger stores signed Shopify webhooks as they arrive:
// one trigger (a ~2 KB order payload) and its job per call, durable
// (synchronous commit) before the call returns, from many goroutines,
// on a pool of the default size. "merged" is the store as it runs;
// "unmerged" gives every call its own transaction, for comparison.
func BenchmarkAcceptTrigger(b *testing.B) {
	for _, merged := range []bool{true, false} {
		name := "merged"
		if !merged {
			name = "unmerged"
		}
		b.Run(name, func(b *testing.B) {
			s, err := postgres.Open(b.Context(), pgtest.NewDatabase(b), postgres.Options{})
			if err != nil {
				b.Fatalf("opening store: %v", err)
			}
			b.Cleanup(s.Close)
			if !merged {
				postgres.UnmergedAccepts(s)
			}
			storetest.BenchmarkAcceptTrigger(b, s)
		})
	}
}
