package queue

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
)

// embeddedTick is how often the embedded Redis advances its clock.
const embeddedTick = 100 * time.Millisecond

// Embedded is an in-process Redis (miniredis) for running passhub as one
// binary without a Redis server. It keeps nothing across restarts, which
// is safe: a restart is a FLUSHALL, and the sweeper re-drives every job
// the store still wants done.
type Embedded struct {
	mr   *miniredis.Miniredis
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// StartEmbedded starts an embedded Redis on 127.0.0.1 at a random port.
// It stops when ctx ends or Close is called.
func StartEmbedded(ctx context.Context) (*Embedded, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("starting embedded redis: %w", err)
	}
	e := &Embedded{mr: mr, stop: make(chan struct{}), done: make(chan struct{})}
	go e.tick(ctx)
	return e, nil
}

// tick advances miniredis' clock with the wall clock: miniredis expires
// keys only when told time has passed, and asynq relies on TTLs (server
// heartbeats, worker leases).
func (e *Embedded) tick(ctx context.Context) {
	defer close(e.done)
	ticker := time.NewTicker(embeddedTick)
	defer ticker.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			e.mr.Close()
			return
		case <-e.stop:
			return
		case now := <-ticker.C:
			e.mr.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Addr is the host:port the embedded Redis listens on.
func (e *Embedded) Addr() string { return e.mr.Addr() }

// RedisOpt is how asynq connects to it.
func (e *Embedded) RedisOpt() asynq.RedisClientOpt { return asynq.RedisClientOpt{Addr: e.Addr()} }

// Close stops the server; it is safe to call more than once.
func (e *Embedded) Close() {
	e.once.Do(func() {
		close(e.stop)
		<-e.done
		e.mr.Close()
	})
}
