package core

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Recent remembers what a store read answered, per key, for a short
// time: a burst of jobs of one workspace reads its settings once instead
// of once per job. A change made through this process calls Forget and is
// seen at once; one made by another process is seen within the TTL.
// ErrNotFound answers are remembered too (no credentials is an answer).
type Recent[K comparable, V any] struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[K]recentEntry[V]
}

type recentEntry[V any] struct {
	v   V
	err error
	at  time.Time
}

// recentMax bounds the entries before the expired ones are swept.
const recentMax = 4096

// NewRecent returns a Recent keeping answers for ttl (0 or less: never);
// now is its clock (nil: time.Now).
func NewRecent[K comparable, V any](ttl time.Duration, now func() time.Time) *Recent[K, V] {
	if now == nil {
		now = time.Now
	}
	return &Recent[K, V]{ttl: ttl, now: now, m: map[K]recentEntry[V]{}}
}

// Get answers what load answered for k less than the TTL ago, or calls
// load.
func (r *Recent[K, V]) Get(ctx context.Context, k K, load func(context.Context) (V, error)) (V, error) {
	if r.ttl <= 0 {
		return load(ctx)
	}
	now := r.now()
	r.mu.Lock()
	e, ok := r.m[k]
	r.mu.Unlock()
	if ok && now.Sub(e.at) < r.ttl {
		return e.v, e.err
	}
	v, err := load(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return v, err // a failure is not an answer to keep
	}
	r.mu.Lock()
	if len(r.m) >= recentMax {
		for key, old := range r.m {
			if now.Sub(old.at) >= r.ttl {
				delete(r.m, key)
			}
		}
	}
	r.m[k] = recentEntry[V]{v: v, err: err, at: now}
	r.mu.Unlock()
	return v, err
}

// Forget drops k's answer: the next Get reads again.
func (r *Recent[K, V]) Forget(k K) {
	r.mu.Lock()
	delete(r.m, k)
	r.mu.Unlock()
}
