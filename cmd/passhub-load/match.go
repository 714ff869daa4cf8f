package main

import (
	"slices"
	"sync"
	"time"
)

// sentTrigger is one accepted trigger: the push token of the one device
// holding its pass, and when the request left.
type sentTrigger struct {
	Token string
	At    time.Time
}

// matchResult pairs triggers with the pushes they caused.
type matchResult struct {
	// Latency[i] is push arrival − send time of sent[i], or -1 when no
	// push arrived for it.
	Latency []time.Duration
	Matched int
	Missing int
	// Extra counts pushes no trigger claimed: a second push for one
	// trigger, or one that arrived before any trigger of its token was
	// sent (left over from an earlier phase).
	Extra int
}

// matchPushes gives each trigger the first push to its token that
// arrived at or after the trigger was sent and that no earlier trigger of
// the token took. Per token, triggers and pushes are both taken in time
// order, so several triggers of one pass each get their own push. When a
// push is lost and a later trigger's push arrives, the earlier trigger
// takes it (its latency is overstated) and the later one counts as
// missing: the count of failures is right either way, and the latency
// errs long. The load gives each trigger its own pass where it can, so
// that case needs a lost push and a pass reused within one run.
func matchPushes(sent []sentTrigger, arrivals map[string][]time.Time) matchResult {
	r := matchResult{Latency: make([]time.Duration, len(sent))}
	byToken := map[string][]int{}
	for i, s := range sent {
		byToken[s.Token] = append(byToken[s.Token], i)
	}
	for tok, idx := range byToken {
		slices.SortStableFunc(idx, func(a, b int) int { return sent[a].At.Compare(sent[b].At) })
		at := slices.Clone(arrivals[tok])
		slices.SortFunc(at, time.Time.Compare)
		j := 0
		for _, i := range idx {
			for j < len(at) && at[j].Before(sent[i].At) {
				r.Extra++ // arrived before this trigger left: not its push
				j++
			}
			if j == len(at) {
				r.Latency[i] = -1
				r.Missing++
				continue
			}
			r.Latency[i] = at[j].Sub(sent[i].At)
			r.Matched++
			j++
		}
		r.Extra += len(at) - j
	}
	for tok, at := range arrivals {
		if _, ok := byToken[tok]; !ok {
			r.Extra += len(at)
		}
	}
	return r
}

// pushRecorder notes when each push reached the APNs mock, by token. Its
// decide method is the mock's Decide hook: called once per push that
// passed the mock's checks, it records and lets the default 200 answer.
type pushRecorder struct {
	mu sync.Mutex
	at map[string][]time.Time
	n  int
}

func newPushRecorder() *pushRecorder { return &pushRecorder{at: map[string][]time.Time{}} }

func (r *pushRecorder) decide(token string) (int, string) {
	now := time.Now()
	r.mu.Lock()
	r.at[token] = append(r.at[token], now)
	r.n++
	r.mu.Unlock()
	return 0, ""
}

// snapshot copies what arrived so far.
func (r *pushRecorder) snapshot() (map[string][]time.Time, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]time.Time, len(r.at))
	for k, v := range r.at {
		out[k] = slices.Clone(v)
	}
	return out, r.n
}

// reset forgets every arrival, between phases.
func (r *pushRecorder) reset() {
	r.mu.Lock()
	r.at = map[string][]time.Time{}
	r.n = 0
	r.mu.Unlock()
}
