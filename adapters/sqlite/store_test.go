package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/adapters/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "passhub.db"))
		if err != nil {
			t.Fatalf("opening store: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("closing store: %v", err)
			}
		})
		return s
	})
}
