package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// mustJobs creates n passes and returns their dispatch jobs, oldest first.
func mustJobs(t *testing.T, s Store, n int) (core.Workspace, []core.Job) {
	t.Helper()
	ws := mustWorkspace(t, s)
	tpl := mustTemplate(t, s, ws.ID)
	var keys []string
	for i := range n {
		_, ev := mustPass(t, s, ws.ID, tpl.ID, fmt.Sprintf("j%d", i))
		keys = append(keys, ev.ID)
	}
	pending := allPendingJobs(t, s)
	var out []core.Job
	for _, k := range keys {
		j, ok := jobByKey(pending, core.JobKindDispatch, k)
		if !ok {
			t.Fatalf("no dispatch job for event %s", k)
		}
		out = append(out, j)
	}
	return ws, out
}

func jobIDs(jobs []core.Job) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

var jobCases = []testCase{
	{"Job/PendingOldestFirst", func(t *testing.T, s Store) {
		ctx := t.Context()
		_, jobs := mustJobs(t, s, 5)
		if !slices.IsSorted(jobIDs(jobs)) {
			t.Fatalf("job IDs %v do not grow with creation", jobIDs(jobs))
		}
		got, err := s.PendingJobs(ctx, 3)
		must(t, "PendingJobs", err)
		if !slices.Equal(jobIDs(got), jobIDs(jobs[:3])) {
			t.Errorf("PendingJobs(3) = %v, want %v", jobIDs(got), jobIDs(jobs[:3]))
		}
		j, err := s.Job(ctx, jobs[0].ID)
		must(t, "Job", err)
		sameJSON(t, "job", j, jobs[0])
		_, err = s.Job(ctx, 1<<40)
		wantErr(t, "Job missing", err, core.ErrNotFound)
	}},
	{"Job/EnqueueAndStale", func(t *testing.T, s Store) {
		ctx := t.Context()
		_, jobs := mustJobs(t, s, 4)
		t0 := now().Add(-10 * time.Minute)
		must(t, "MarkJobsEnqueued", s.MarkJobsEnqueued(ctx, jobIDs(jobs[:2]), t0))
		must(t, "MarkJobsEnqueued none", s.MarkJobsEnqueued(ctx, nil, t0))
		pending, err := s.PendingJobs(ctx, 100)
		must(t, "PendingJobs", err)
		if !slices.Equal(jobIDs(pending), jobIDs(jobs[2:])) {
			t.Errorf("pending %v, want %v", jobIDs(pending), jobIDs(jobs[2:]))
		}
		j, err := s.Job(ctx, jobs[0].ID)
		must(t, "Job", err)
		if j.State != core.JobEnqueued || j.EnqueuedAt == nil || !j.EnqueuedAt.Equal(us(t0)) {
			t.Errorf("enqueued job %+v, want state enqueued at %v", j, us(t0))
		}

		stale, err := s.StaleJobs(ctx, t0.Add(time.Second), 100)
		must(t, "StaleJobs", err)
		if !slices.Equal(jobIDs(stale), jobIDs(jobs[:2])) {
			t.Errorf("stale %v, want %v", jobIDs(stale), jobIDs(jobs[:2]))
		}
		stale, err = s.StaleJobs(ctx, t0.Add(time.Second), 1)
		must(t, "StaleJobs", err)
		if !slices.Equal(jobIDs(stale), jobIDs(jobs[:1])) {
			t.Errorf("stale with limit 1: %v, want %v", jobIDs(stale), jobIDs(jobs[:1]))
		}
		stale, err = s.StaleJobs(ctx, us(t0), 100)
		must(t, "StaleJobs", err)
		if len(stale) != 0 {
			t.Errorf("jobs enqueued at t are stale before t: %v", jobIDs(stale))
		}

		// Re-enqueueing moves enqueued_at; done and failed jobs stay.
		t1 := now()
		must(t, "MarkJobsEnqueued again", s.MarkJobsEnqueued(ctx, []int64{jobs[0].ID}, t1))
		stale, err = s.StaleJobs(ctx, t0.Add(time.Second), 100)
		must(t, "StaleJobs", err)
		if !slices.Equal(jobIDs(stale), jobIDs(jobs[1:2])) {
			t.Errorf("stale after re-enqueue %v, want %v", jobIDs(stale), jobIDs(jobs[1:2]))
		}
		must(t, "CompleteJob", s.CompleteJob(ctx, jobs[1].ID, nil, now()))
		must(t, "FailJob", s.FailJob(ctx, jobs[2].ID, "gone", true, now()))
		must(t, "MarkJobsEnqueued finished", s.MarkJobsEnqueued(ctx, []int64{jobs[1].ID, jobs[2].ID, jobs[3].ID}, t1))
		for i, want := range []core.JobState{core.JobEnqueued, core.JobDone, core.JobFailed, core.JobEnqueued} {
			j, err := s.Job(ctx, jobs[i].ID)
			must(t, "Job", err)
			if j.State != want {
				t.Errorf("job %d: state %s, want %s", i, j.State, want)
			}
		}
	}},
	{"Job/StartCompleteFail", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws, jobs := mustJobs(t, s, 3)
		j, err := s.StartJob(ctx, jobs[0].ID)
		must(t, "StartJob", err)
		if j.Attempts != 1 || j.Kind != core.JobKindDispatch || j.Key != jobs[0].Key || j.WorkspaceID != ws.ID {
			t.Errorf("started job %+v", j)
		}
		j, err = s.StartJob(ctx, jobs[0].ID)
		must(t, "StartJob", err)
		if j.Attempts != 2 {
			t.Errorf("attempts %d after two starts, want 2", j.Attempts)
		}
		_, err = s.StartJob(ctx, 1<<40)
		wantErr(t, "StartJob missing", err, core.ErrNotFound)

		must(t, "FailJob", s.FailJob(ctx, jobs[0].ID, "timeout", false, now()))
		j, err = s.Job(ctx, jobs[0].ID)
		must(t, "Job", err)
		if j.State != core.JobPending || j.LastError != "timeout" {
			t.Errorf("job after a non-final failure: state %s, last error %q", j.State, j.LastError)
		}

		doneAt := now()
		must(t, "CompleteJob", s.CompleteJob(ctx, jobs[0].ID, nil, doneAt))
		j, err = s.Job(ctx, jobs[0].ID)
		must(t, "Job", err)
		if j.State != core.JobDone || j.DoneAt == nil || !j.DoneAt.Equal(us(doneAt)) {
			t.Errorf("completed job %+v, want done at %v", j, us(doneAt))
		}
		j, err = s.StartJob(ctx, jobs[0].ID)
		wantErr(t, "StartJob of a done job", err, core.ErrJobDone)
		if j.ID != jobs[0].ID || j.Kind != core.JobKindDispatch || j.Attempts != 2 {
			t.Errorf("StartJob of a done job returned %+v, want the unchanged job", j)
		}
		wantErr(t, "CompleteJob twice", s.CompleteJob(ctx, jobs[0].ID, nil, now()), core.ErrJobDone)
		wantErr(t, "CompleteJob missing", s.CompleteJob(ctx, 1<<40, nil, now()), core.ErrNotFound)
		wantErr(t, "FailJob missing", s.FailJob(ctx, 1<<40, "x", true, now()), core.ErrNotFound)
		// A late failure report does not undo a completion.
		must(t, "FailJob of a done job", s.FailJob(ctx, jobs[0].ID, "late", true, now()))
		j, err = s.Job(ctx, jobs[0].ID)
		must(t, "Job", err)
		if j.State != core.JobDone {
			t.Errorf("done job became %s after FailJob", j.State)
		}

		must(t, "FailJob final", s.FailJob(ctx, jobs[1].ID, "bad request", true, now()))
		j, err = s.Job(ctx, jobs[1].ID)
		must(t, "Job", err)
		if j.State != core.JobFailed || j.LastError != "bad request" {
			t.Errorf("job after a final failure: state %s, last error %q", j.State, j.LastError)
		}
		_, err = s.StartJob(ctx, jobs[1].ID)
		wantErr(t, "StartJob of a failed job", err, core.ErrJobDone)
		wantErr(t, "CompleteJob of a failed job", s.CompleteJob(ctx, jobs[1].ID, nil, now()), core.ErrJobDone)
		pending, err := s.PendingJobs(ctx, 100)
		must(t, "PendingJobs", err)
		if !slices.Equal(jobIDs(pending), jobIDs(jobs[2:])) {
			t.Errorf("pending %v, want %v", jobIDs(pending), jobIDs(jobs[2:]))
		}
	}},
	{"Job/CompleteInsertsChildrenOnce", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws, jobs := mustJobs(t, s, 2)
		at := now()
		payload := json.RawMessage(`{"url":"https://example.com/hook","n":1}`)
		children := []core.Job{
			{WorkspaceID: ws.ID, Kind: "webhook.deliver", Key: "evt-1/sub-1", Payload: payload, State: core.JobPending, CreatedAt: at},
			{WorkspaceID: ws.ID, Kind: "apple.push", Key: "evt-1", State: core.JobPending, CreatedAt: at},
			// The same kind and key twice in one batch is one job.
			{WorkspaceID: ws.ID, Kind: "apple.push", Key: "evt-1", State: core.JobPending, CreatedAt: at},
		}
		must(t, "CompleteJob", s.CompleteJob(ctx, jobs[0].ID, children, at))
		// Another parent fanning out to an existing kind and key adds
		// nothing, but completes.
		more := []core.Job{
			{WorkspaceID: ws.ID, Kind: "webhook.deliver", Key: "evt-1/sub-1", Payload: json.RawMessage(`{"other":true}`), State: core.JobPending, CreatedAt: at},
			{WorkspaceID: ws.ID, Kind: "google.sync", Key: "evt-1", State: core.JobPending},
		}
		must(t, "CompleteJob", s.CompleteJob(ctx, jobs[1].ID, more, at))

		pending := allPendingJobs(t, s)
		if len(pending) != 3 {
			t.Fatalf("%d pending jobs, want 3 children: %+v", len(pending), pending)
		}
		hook, ok := jobByKey(pending, "webhook.deliver", "evt-1/sub-1")
		if !ok {
			t.Fatal("webhook child missing")
		}
		if string(hook.Payload) != string(payload) || hook.WorkspaceID != ws.ID || hook.State != core.JobPending || !hook.CreatedAt.Equal(us(at)) {
			t.Errorf("webhook child %+v (payload %s)", hook, hook.Payload)
		}
		push, ok := jobByKey(pending, "apple.push", "evt-1")
		if !ok {
			t.Fatal("push child missing")
		}
		if push.Payload != nil {
			t.Errorf("push child payload %q, want none", push.Payload)
		}
		sync, ok := jobByKey(pending, "google.sync", "evt-1")
		if !ok {
			t.Fatal("sync child missing")
		}
		if !sync.CreatedAt.Equal(us(at)) {
			t.Errorf("child without CreatedAt: created %v, want the completion time %v", sync.CreatedAt, us(at))
		}
	}},
	{"Job/CompleteExactlyOnce", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws, jobs := mustJobs(t, s, 1)
		const callers = 10
		var wg sync.WaitGroup
		errs := make([]error, callers)
		for i := range callers {
			wg.Go(func() {
				child := core.Job{WorkspaceID: ws.ID, Kind: "webhook.deliver", Key: fmt.Sprintf("caller-%d", i), State: core.JobPending, CreatedAt: now()}
				errs[i] = s.CompleteJob(ctx, jobs[0].ID, []core.Job{child}, now())
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("callers %d and %d both completed the job", winner, i)
				}
				winner = i
			case errors.Is(err, core.ErrJobDone):
			default:
				t.Fatalf("caller %d: %v", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no caller completed the job")
		}
		pending := allPendingJobs(t, s)
		if len(pending) != 1 || pending[0].Key != fmt.Sprintf("caller-%d", winner) {
			t.Errorf("children %+v, want only the winner's (caller-%d)", pending, winner)
		}
	}},
}
