package postgres

import "context"

// UnmergedAccepts makes every AcceptTriggers call of s run in its own
// transaction, as without the batcher: the benchmark's baseline.
func UnmergedAccepts(s *Store) { s.accept = nil }

// PoolSize is the pool's connection bounds.
func PoolSize(s *Store) (lo, hi int32) { c := s.pool.Config(); return c.MinConns, c.MaxConns }

// Settings are a server setting's values on the store's main and
// bookkeeping pools.
func Settings(ctx context.Context, s *Store, name string) (main, jobs string, err error) {
	if err = s.pool.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&main); err != nil {
		return
	}
	err = s.jobs.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&jobs)
	return
}
