package queue

import (
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff with jitter: attempt n waits about
// Base·2ⁿ, never more than Max. Jitter spreads retries of tasks that
// failed together (an endpoint down) so they do not come back together.
type Backoff struct {
	Base time.Duration // default 1s
	Max  time.Duration // default 10m
}

func (b *Backoff) setDefaults(base, max time.Duration) {
	if b.Base <= 0 {
		b.Base = base
	}
	if b.Max <= 0 {
		b.Max = max
	}
}

// Delay returns the wait before attempt n+1 after n failures (n from 0):
// a random duration in [d/2, d] where d = min(Base·2ⁿ, Max).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Max
	if n < 62 {
		if exp := b.Base << n; exp > 0 && exp < b.Max {
			d = exp
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
