package postgres

// UnmergedAccepts makes every AcceptTriggers call of s run in its own
// transaction, as without the batcher: the benchmark's baseline.
func UnmergedAccepts(s *Store) { s.accept = nil }
