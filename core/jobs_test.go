package core_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// calls is a JobStore that counts the runner's calls; StartJob answers
// with job 1, any other job ID does not exist.
type calls struct {
	starts, completes int
	children          []core.Job
}

func (c *calls) PendingJobs(context.Context, int) ([]core.Job, error) { return nil, nil }
func (c *calls) StaleJobs(context.Context, time.Time, int) ([]core.Job, error) {
	return nil, nil
}
func (c *calls) MarkJobsEnqueued(context.Context, []int64, time.Time) error { return nil }
func (c *calls) Job(context.Context, int64) (core.Job, error)               { return core.Job{}, core.ErrNotFound }
func (c *calls) StartJob(_ context.Context, id int64) (core.Job, error) {
	c.starts++
	return core.Job{ID: id, Kind: "k", State: core.JobEnqueued, Attempts: c.starts}, nil
}
func (c *calls) CompleteJob(_ context.Context, _ int64, children []core.Job, _ time.Time) error {
	c.completes++
	c.children = children
	return nil
}
func (c *calls) FailJob(context.Context, int64, string, bool, time.Time) error { return nil }

// finisher is a JobFinisher answering with fixed values.
type finisher struct {
	children []core.Job
	done     bool
	err      error
}

func (f finisher) HandleJob(context.Context, core.Job) ([]core.Job, error) {
	panic("the runner must call FinishJob")
}

func (f finisher) FinishJob(context.Context, core.Job) ([]core.Job, bool, error) {
	return f.children, f.done, f.err
}

// A handler that completes its job in its own last write is not
// completed again; one that did not (or could not: a duplicate run had
// finished it) is completed by the runner as any other.
func TestJobRunnerLetsAFinisherCompleteItsJob(t *testing.T) {
	child := core.Job{Kind: "child", Key: "c1"}
	failure := errors.New("endpoint down")
	cases := []struct {
		name          string
		h             core.JobHandler
		wantErr       error
		wantCompletes int
		wantChildren  int
		wantWake      int
	}{
		{"finished by the handler", finisher{done: true}, nil, 0, 0, 0},
		{"finished with children, which the handler wrote", finisher{children: []core.Job{child}, done: true}, nil, 0, 0, 1},
		{"not finished by the handler", finisher{children: []core.Job{child}}, nil, 1, 1, 1},
		{"failed", finisher{err: failure}, failure, 0, 0, 0},
		{"a plain handler", core.JobHandlerFunc(func(context.Context, core.Job) ([]core.Job, error) { return nil, nil }), nil, 1, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := &calls{}
			r := core.NewJobRunner(store)
			woken := 0
			r.OnChildren = func() { woken++ }
			r.Handle("k", tc.h)
			err := r.Run(t.Context(), 1)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Run: %v, want %v", err, tc.wantErr)
			}
			if store.starts != 1 || store.completes != tc.wantCompletes || len(store.children) != tc.wantChildren {
				t.Errorf("%d starts, %d completions with %d children; want 1, %d with %d",
					store.starts, store.completes, len(store.children), tc.wantCompletes, tc.wantChildren)
			}
			if woken != tc.wantWake {
				t.Errorf("OnChildren called %d times, want %d", woken, tc.wantWake)
			}
		})
	}
}
