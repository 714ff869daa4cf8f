package queue_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/passhub/passhub/core"
)

// memJobs is an in-memory core.JobStore for tests that do not need a
// real store.
type memJobs struct {
	mu    sync.Mutex
	jobs  map[int64]*core.Job
	next  int64
	reads int // PendingJobs calls
}

var _ core.JobStore = (*memJobs)(nil)

func newMemJobs() *memJobs { return &memJobs{jobs: map[int64]*core.Job{}} }

// add stores a new job (pending unless j.State says otherwise).
func (m *memJobs) add(j core.Job) core.Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	j.ID = m.next
	if j.State == "" {
		j.State = core.JobPending
	}
	if j.Key == "" {
		j.Key = j.Kind + "-" + time.Now().String()
	}
	m.jobs[j.ID] = &j
	return j
}

func (m *memJobs) pendingReads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}

func (m *memJobs) get(id int64) core.Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.jobs[id]
}

func (m *memJobs) list(keep func(core.Job) bool, limit int) []core.Job {
	var out []core.Job
	for _, j := range m.jobs {
		if keep(*j) {
			out = append(out, *j)
		}
	}
	slices.SortFunc(out, func(a, b core.Job) int { return int(a.ID - b.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func (m *memJobs) PendingJobs(_ context.Context, limit int) ([]core.Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	return m.list(func(j core.Job) bool { return j.State == core.JobPending }, limit), nil
}

func (m *memJobs) StaleJobs(_ context.Context, before time.Time, limit int) ([]core.Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list(func(j core.Job) bool {
		return j.State == core.JobEnqueued && j.EnqueuedAt != nil && j.EnqueuedAt.Before(before)
	}, limit), nil
}

func (m *memJobs) MarkJobsEnqueued(_ context.Context, ids []int64, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if j := m.jobs[id]; j != nil && (j.State == core.JobPending || j.State == core.JobEnqueued) {
			j.State, j.EnqueuedAt = core.JobEnqueued, &at
		}
	}
	return nil
}

func (m *memJobs) Job(_ context.Context, id int64) (core.Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	if j == nil {
		return core.Job{}, core.ErrNotFound
	}
	return *j, nil
}

func (m *memJobs) StartJob(_ context.Context, id int64) (core.Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	if j == nil {
		return core.Job{}, core.ErrNotFound
	}
	if j.State == core.JobDone || j.State == core.JobFailed {
		return *j, core.ErrJobDone
	}
	j.Attempts++
	return *j, nil
}

func (m *memJobs) CompleteJob(_ context.Context, id int64, children []core.Job, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	if j == nil {
		return core.ErrNotFound
	}
	if j.State == core.JobDone || j.State == core.JobFailed {
		return core.ErrJobDone
	}
	j.State, j.DoneAt = core.JobDone, &at
	for _, c := range children {
		dup := false
		for _, o := range m.jobs {
			dup = dup || (o.Kind == c.Kind && o.Key == c.Key)
		}
		if !dup {
			m.next++
			c.ID, c.State = m.next, core.JobPending
			m.jobs[c.ID] = &c
		}
	}
	return nil
}

func (m *memJobs) FailJob(_ context.Context, id int64, msg string, final bool, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	if j == nil {
		return core.ErrNotFound
	}
	if j.State == core.JobDone || j.State == core.JobFailed {
		return nil
	}
	j.LastError = msg
	if final {
		j.State = core.JobFailed
	}
	return nil
}
