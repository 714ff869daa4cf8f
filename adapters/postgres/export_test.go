package postgres

import "context"

// UnmergedAccepts makes every AcceptTriggers call of s run in its own
// transaction, as without the batcher: the benchmark's baseline.
func UnmergedAccepts(s *Store) { s.accept = nil }

// PoolSize is the pool's connection bounds.
func PoolSize(s *Store) (lo, hi int32) { c := s.pool.Config(); return c.MinConns, c.MaxConns }

// SyncCommit is synchronous_commit on the store's main and bookkeeping
// pools.
func SyncCommit(ctx context.Context, s *Store) (main, jobs string, err error) {
	if err = s.pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&main); err != nil {
		return
	}
	err = s.jobs.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&jobs)
	return
}
