// Package losstest holds what the queue's loss tests and their worker
// binary (internal/lossworker) share: an event consumer that fans every
// event out to one effect job, and a runner that reports effect runs and
// job completions so a test can tell "done at least once" from "done
// twice in effect".
package losstest

import (
	"context"
	"time"

	"github.com/passhub/passhub/core"
)

// EffectKind is the job kind of the observable effect of an event.
const EffectKind = "test.effect"

// Consumer fans every event out to one effect job keyed by the event.
type Consumer struct{}

// JobsFor returns the event's effect job.
func (Consumer) JobsFor(_ context.Context, ev core.Event) ([]core.Job, error) {
	return []core.Job{{Kind: EffectKind, Key: ev.ID}}, nil
}

// Recorder is told of every effect run and every successful completion.
type Recorder interface {
	// Ran is called when an effect handler runs job id (possibly again).
	Ran(jobID int64)
	// Completed is called when the store accepted job id as done; the
	// store lets only one caller complete a job, so more than one call
	// per job is an effect done twice.
	Completed(jobID int64)
}

// NewRunner returns a runner over store with the dispatch handler (events
// read from events) and an effect handler that reports runs to rec, then
// calls effect (which may block or sleep; nil means none).
func NewRunner(store core.JobStore, events core.EventStore, rec Recorder, effect func(ctx context.Context, j core.Job) error) *core.JobRunner {
	r := core.NewJobRunner(countingStore{JobStore: store, rec: rec})
	r.Handle(core.JobKindDispatch, core.NewDispatcher(events, Consumer{}))
	r.Handle(EffectKind, core.JobHandlerFunc(func(ctx context.Context, j core.Job) ([]core.Job, error) {
		rec.Ran(j.ID)
		if effect != nil {
			if err := effect(ctx, j); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}))
	return r
}

// countingStore reports successful completions.
type countingStore struct {
	core.JobStore
	rec Recorder
}

func (s countingStore) CompleteJob(ctx context.Context, id int64, children []core.Job, at time.Time) error {
	err := s.JobStore.CompleteJob(ctx, id, children, at)
	if err == nil {
		s.rec.Completed(id)
	}
	return err
}
