package sqlstore

import (
	"context"
	"sync"
	"time"
)

// Batcher merges concurrent calls into one flush, the way a database
// merges concurrent commits into one log write: a call that finds fewer
// than MaxFlushes flushes running flushes at once, with every call queued
// by then; calls that arrive while MaxFlushes are running queue, and the
// first flush to finish starts the next with all of them. An idle store
// flushes a call alone and at once: batching adds no wait, it only lets
// calls that would have queued for a connection share a transaction.
//
// Each call's items stay all or nothing: when a merged flush fails, each
// of its calls is flushed again alone, so one call's bad item fails that
// call only.
type Batcher[T, R any] struct {
	// Flush writes items in one transaction and returns one result per
	// item.
	Flush func(ctx context.Context, items []T) ([]R, error)
	// MaxFlushes bounds the flushes running at once (default 1).
	MaxFlushes int
	// MaxItems bounds the items of a merged flush; a call with more is
	// flushed alone (default 500).
	MaxItems int
	// Timeout bounds a flush, which runs on behalf of several callers and
	// so ignores their cancellation (default 30s).
	Timeout time.Duration

	mu       sync.Mutex
	queue    []*batchCall[T, R]
	flushing int
}

type batchCall[T, R any] struct {
	ctx   context.Context
	items []T
	res   []R
	err   error
	done  chan struct{}
}

// Do flushes items, merged with other calls', and returns their results.
// Once it returns nil, the flush that held items has committed. When ctx
// ends first, Do returns ctx's error and the items may or may not be
// written.
func (b *Batcher[T, R]) Do(ctx context.Context, items []T) ([]R, error) {
	c := &batchCall[T, R]{ctx: ctx, items: items, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := b.flushing < max(b.MaxFlushes, 1)
	if lead {
		b.flushing++
	}
	b.mu.Unlock()
	if lead {
		b.run(context.WithoutCancel(ctx))
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run does one flush of the calls queued now, then hands over to a new
// goroutine if more have queued, so no caller waits on others' flushes
// after its own.
func (b *Batcher[T, R]) run(ctx context.Context) {
	calls := b.take()
	if len(calls) > 0 {
		b.flush(ctx, calls)
	}
	b.mu.Lock()
	more := len(b.queue) > 0
	if !more {
		b.flushing--
	}
	b.mu.Unlock()
	if more {
		go b.run(ctx)
	}
}

// take dequeues the calls of the next flush: the oldest, and those after
// it while MaxItems allows. Calls whose context ended are answered and
// dropped.
func (b *Batcher[T, R]) take() []*batchCall[T, R] {
	limit := b.MaxItems
	if limit <= 0 {
		limit = 500
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*batchCall[T, R]
	n, i := 0, 0
	for ; i < len(b.queue); i++ {
		c := b.queue[i]
		if err := c.ctx.Err(); err != nil {
			c.err = err
			close(c.done)
			continue
		}
		if len(out) > 0 && n+len(c.items) > limit {
			break
		}
		out = append(out, c)
		n += len(c.items)
	}
	rest := copy(b.queue, b.queue[i:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return out
}

func (b *Batcher[T, R]) flush(ctx context.Context, calls []*batchCall[T, R]) {
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if len(calls) == 1 {
		c := calls[0]
		c.res, c.err = b.Flush(ctx, c.items)
		close(c.done)
		return
	}
	var items []T
	for _, c := range calls {
		items = append(items, c.items...)
	}
	res, err := b.Flush(ctx, items)
	if err != nil {
		// Nothing was written: each call again on its own, so the
		// failure stays with the call that caused it.
		for _, c := range calls {
			c.res, c.err = b.Flush(ctx, c.items)
			close(c.done)
		}
		return
	}
	for _, c := range calls {
		c.res, res = res[:len(c.items):len(c.items)], res[len(c.items):]
		close(c.done)
	}
}
