package postgres

// UnmergedAccepts makes every AcceptTriggers call of s run in its own
// transaction, as without the batcher: the benchmark's baseline.
func UnmergedAccepts(s *Store) { s.accept = nil }

// PoolSize is the pool's connection bounds.
func PoolSize(s *Store) (lo, hi int32) { c := s.pool.Config(); return c.MinConns, c.MaxConns }
