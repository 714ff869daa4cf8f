// Package inproc runs outbox jobs in-process, without Redis: the relay
// hands job IDs over a channel to a pool of workers. Benchmarks use it to
// measure passhub's own fan-out path (relay, runner, handlers, store)
// without the queue's network hop; nothing retries, so any job failure
// is reported.
package inproc

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/core"
)

// Pool is a running relay and its workers.
type Pool struct {
	store    core.JobStore
	relayer  *queue.Relayer
	tasks    chan int64
	idle     chan struct{}
	enqueued atomic.Int64
	finished atomic.Int64
	failed   atomic.Int64
	firstErr atomic.Value
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// Start starts a relay over store and workers running jobs with runner;
// buffer bounds the jobs handed over but not yet taken.
func Start(ctx context.Context, store core.JobStore, runner *core.JobRunner, workers, buffer int, log *slog.Logger) (*Pool, error) {
	p := &Pool{store: store, tasks: make(chan int64, buffer), idle: make(chan struct{}, 1)}
	relayer, err := queue.NewRelayer(&core.Relay{Store: store, Queue: p}, queue.RelayConfig{Logger: log})
	if err != nil {
		return nil, err
	}
	p.relayer = relayer
	runner.OnChildren = relayer.Notify
	ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Go(func() { _ = relayer.Run(ctx) })
	for range workers {
		p.wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-p.tasks:
					if err := runner.Run(ctx, id); err != nil && ctx.Err() == nil {
						p.failed.Add(1)
						p.firstErr.CompareAndSwap(nil, err)
						_ = runner.Fail(context.WithoutCancel(ctx), id, err, true)
					}
					p.done()
				}
			}
		})
	}
	return p, nil
}

// Enqueue implements the relay's queue: it hands the job to a worker.
func (p *Pool) Enqueue(ctx context.Context, j core.Job) error {
	p.enqueued.Add(1)
	select {
	case p.tasks <- j.ID:
		return nil
	case <-ctx.Done():
		p.enqueued.Add(-1)
		return ctx.Err()
	}
}

func (p *Pool) done() {
	if p.finished.Add(1) == p.enqueued.Load() {
		select {
		case p.idle <- struct{}{}:
		default:
		}
	}
}

// Notify wakes the relay (new pending jobs).
func (p *Pool) Notify() { p.relayer.Notify() }

// WaitIdle returns once no job is pending or running. A finished job's
// children are committed before it counts as finished, so: every job
// handed over finished, then no pending job, then still nothing new
// handed over means the work is complete.
func (p *Pool) WaitIdle(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.idle:
		case <-tick.C:
		}
		handed := p.enqueued.Load()
		if handed == 0 || p.finished.Load() != handed {
			continue
		}
		pending, err := p.store.PendingJobs(ctx, 1)
		if err != nil {
			return err
		}
		if len(pending) == 0 && p.enqueued.Load() == handed {
			return nil
		}
	}
}

// Failed returns how many jobs failed and the first error.
func (p *Pool) Failed() (int64, error) {
	err, _ := p.firstErr.Load().(error)
	return p.failed.Load(), err
}

// Stop stops the relay and the workers and waits for them.
func (p *Pool) Stop() {
	p.cancel()
	p.wg.Wait()
}
