package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// Chained jobs (core.ChainStore): written claimed, started once by the
// worker that claimed them, handed back to the relay when they fail, and
// re-driven by the sweeper when nobody ran them.
var chainCases = []testCase{
	{"Chain/ClaimedChildrenSkipTheRelay", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws, jobs := mustJobs(t, s, 1)
		at := now()
		children := []core.Job{
			{WorkspaceID: ws.ID, Kind: "apple.push", Key: "evt-c", State: core.JobEnqueued, CreatedAt: at.Add(-time.Hour)},
			{WorkspaceID: ws.ID, Kind: "webhook.deliver", Key: "evt-c/sub", State: core.JobPending, CreatedAt: at},
		}
		must(t, "CompleteJob", s.CompleteJob(ctx, jobs[0].ID, children, at))
		pending := allPendingJobs(t, s)
		if _, ok := jobByKey(pending, "apple.push", "evt-c"); ok {
			t.Error("a claimed child is pending: the relay would hand it to the queue too")
		}
		if _, ok := jobByKey(pending, "webhook.deliver", "evt-c/sub"); !ok {
			t.Error("the unclaimed child is not pending")
		}
		// Enqueued as of its write (not its older creation), so the
		// sweeper leaves it to the worker for the stale age.
		stale, err := s.StaleJobs(ctx, at.Add(-time.Minute), 100)
		must(t, "StaleJobs", err)
		if _, ok := jobByKey(stale, "apple.push", "evt-c"); ok {
			t.Error("a just-claimed child is already stale")
		}
		stale, err = s.StaleJobs(ctx, at.Add(time.Minute), 100)
		must(t, "StaleJobs", err)
		if _, ok := jobByKey(stale, "apple.push", "evt-c"); !ok {
			t.Error("a claimed child nobody ran is never re-driven by the sweeper")
		}

		j, err := s.StartChainedJob(ctx, "apple.push", "evt-c")
		must(t, "StartChainedJob", err)
		if j.State != core.JobEnqueued || j.Attempts != 1 || j.WorkspaceID != ws.ID || j.ID == 0 {
			t.Errorf("started chained job = %+v, want enqueued with one attempt", j)
		}
		// Once: a second start (a re-drive racing the worker) finds none.
		if _, err := s.StartChainedJob(ctx, "apple.push", "evt-c"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("second StartChainedJob: err = %v, want ErrNotFound", err)
		}
		// Unclaimed (pending) and missing jobs are not the chain's.
		for _, k := range [][2]string{{"webhook.deliver", "evt-c/sub"}, {"apple.push", "nope"}} {
			if _, err := s.StartChainedJob(ctx, k[0], k[1]); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("StartChainedJob(%s %s): err = %v, want ErrNotFound", k[0], k[1], err)
			}
		}
	}},
	{"Chain/CompleteJobReportsTheChildrenItInserted", func(t *testing.T, s Store) {
		// A claimed child is written started, and its ID comes back with
		// the completion: the worker runs it with no write to start it.
		ctx := t.Context()
		ws, jobs := mustJobs(t, s, 2)
		at := now()
		must(t, "CompleteJob", s.CompleteJob(ctx, jobs[0].ID, []core.Job{{WorkspaceID: ws.ID, Kind: "apple.push", Key: "evt-i"}}, at))
		children := []core.Job{
			{WorkspaceID: ws.ID, Kind: "apple.push", Key: "evt-n", Payload: []byte(`{"passIds":["p"]}`), State: core.JobEnqueued, Attempts: 1, CreatedAt: at},
			{WorkspaceID: ws.ID, Kind: "google.sync", Key: "evt-n", State: core.JobPending, CreatedAt: at},
			{WorkspaceID: ws.ID, Kind: "apple.push", Key: "evt-i", State: core.JobEnqueued, Attempts: 1, CreatedAt: at}, // exists
		}
		must(t, "CompleteJob", s.CompleteJob(ctx, jobs[1].ID, children, at))
		if children[0].ID == 0 || children[1].ID == 0 || children[0].ID == children[1].ID {
			t.Fatalf("inserted children's IDs = %d, %d; want two distinct IDs", children[0].ID, children[1].ID)
		}
		if children[2].ID != 0 {
			t.Errorf("a skipped child (its kind and key existed) has ID %d, want 0", children[2].ID)
		}
		claimed, err := s.Job(ctx, children[0].ID)
		must(t, "Job", err)
		if claimed.Kind != "apple.push" || claimed.Key != "evt-n" || claimed.State != core.JobEnqueued || claimed.Attempts != 1 ||
			string(claimed.Payload) != `{"passIds":["p"]}` || claimed.EnqueuedAt == nil {
			t.Errorf("claimed child = %+v, want enqueued, started, with its payload", claimed)
		}
		if _, err := s.StartChainedJob(ctx, "apple.push", "evt-n"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("StartChainedJob of a child written started: err = %v, want ErrNotFound", err)
		}
		if queued, err := s.Job(ctx, children[1].ID); err != nil || queued.Kind != "google.sync" || queued.State != core.JobPending || queued.Attempts != 0 {
			t.Errorf("pending child = %+v, %v; want pending with no attempt", queued, err)
		}
	}},
	{"Chain/AnEventsClaimedDispatchRunsInTheSameRun", func(t *testing.T, s Store) {
		// A pass change made in a chaining run writes its event's
		// dispatch job claimed (and, a store that may, reports its ID:
		// core.JobInserted): the run then dispatches it, on its first
		// attempt, and leaves nothing to the relay or the sweeper.
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		p, _ := mustPass(t, s, ws.ID, tpl.ID, "chained")
		_, err := s.CreateJobs(ctx, []core.Job{{WorkspaceID: ws.ID, Kind: "edit", Key: "edit-1"}})
		must(t, "CreateJobs", err)
		edit, ok := jobByKey(allPendingJobs(t, s), "edit", "edit-1")
		if !ok {
			t.Fatal("edit job not written")
		}
		var dispatched []core.Job
		r := core.NewJobRunner(s)
		r.Chain(s)
		r.Handle("edit", core.JobHandlerFunc(func(ctx context.Context, _ core.Job) ([]core.Job, error) {
			_, err := s.UpdatePass(ctx, ws.ID, p.ID, func(p *core.Pass) ([]core.Event, error) {
				p.Data = map[string]any{"points": 2.0}
				p.Version++
				return []core.Event{core.NewEvent(core.EventUpdated, p, now())}, nil
			})
			return nil, err
		}))
		r.Handle(core.JobKindDispatch, core.JobHandlerFunc(func(_ context.Context, j core.Job) ([]core.Job, error) {
			dispatched = append(dispatched, j)
			return nil, nil
		}))
		must(t, "Run", r.Run(ctx, edit.ID))
		if len(dispatched) != 1 || dispatched[0].ID == 0 || dispatched[0].Attempts != 1 || dispatched[0].WorkspaceID != ws.ID {
			t.Fatalf("dispatched = %+v, want the event's dispatch job, by its ID, on its first attempt", dispatched)
		}
		done, err := s.Job(ctx, dispatched[0].ID)
		must(t, "Job", err)
		if done.Kind != core.JobKindDispatch || done.State != core.JobDone || done.Attempts != 1 {
			t.Errorf("dispatch job after the run = %+v, want done after one attempt", done)
		}
		if j, ok := jobByKey(allPendingJobs(t, s), core.JobKindDispatch, dispatched[0].Key); ok {
			t.Errorf("the chained dispatch job is pending too: %+v", j)
		}
		stale, err := s.StaleJobs(ctx, now().Add(time.Hour), 100)
		must(t, "StaleJobs", err)
		if len(stale) != 0 {
			t.Errorf("jobs left enqueued and not done: %+v", stale)
		}
	}},
	{"Chain/ClaimedTriggersSkipTheRelay", func(t *testing.T, s Store) {
		// The process accepting a webhook claims its trigger.apply job to
		// run it at once (core.Local): written enqueued and started, not
		// pending, and handed back with its ID.
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		c := mustConnector(t, s, ws.ID)
		for range 2 {
			_, err := s.PutMapping(ctx, ws.ID, c.Mapping, "rules: []", now())
			must(t, "PutMapping", err)
		}
		at := now()
		claimed, queued := newTrigger(c, "orders/paid", "wh-claimed", at), newTrigger(c, "orders/paid", "wh-queued", at)
		claimed.Claim = true
		got := acceptAll(t, s, claimed, queued)
		if got[0].Duplicate || got[1].Duplicate {
			t.Fatalf("accepted = %+v, want both new", got)
		}
		if got[1].Job.ID != 0 || got[1].Loaded != nil {
			t.Errorf("an unclaimed trigger came back with a job to run: %+v", got[1])
		}
		j := got[0].Job
		if j.ID == 0 || j.Kind != core.JobKindTriggerApply || j.Key != claimed.ID || j.WorkspaceID != ws.ID || j.State != core.JobEnqueued || j.Attempts != 1 {
			t.Errorf("claimed trigger's job = %+v, want its trigger.apply job, enqueued and started, with its ID", j)
		}
		if stored, err := s.Job(ctx, j.ID); err != nil || stored.Key != claimed.ID || stored.State != core.JobEnqueued || stored.Attempts != 1 {
			t.Errorf("stored claimed job = %+v, %v; want it enqueued with one attempt", stored, err)
		}
		if _, err := s.StartChainedJob(ctx, core.JobKindTriggerApply, claimed.ID); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("StartChainedJob of a job written started: err = %v, want ErrNotFound", err)
		}
		// A store that read the source with the write hands over what the
		// run would otherwise read.
		if l := got[0].Loaded; l != nil {
			tr, src, err := s.TriggerToApply(ctx, ws.ID, claimed.ID)
			must(t, "TriggerToApply", err)
			sameJSON(t, "loaded trigger", l.Trigger, tr)
			if l.Source != src || src.MappingVersion != 2 || src.ConnectorKind != c.Kind {
				t.Errorf("loaded source = %+v, want %+v (the connector's kind, mapping version 2)", l.Source, src)
			}
		}
		pending := allPendingJobs(t, s)
		if _, ok := jobByKey(pending, core.JobKindTriggerApply, claimed.ID); ok {
			t.Error("a claimed trigger's job is pending: the relay would hand it to the queue too")
		}
		if _, ok := jobByKey(pending, core.JobKindTriggerApply, queued.ID); !ok {
			t.Error("an unclaimed trigger's job is not pending")
		}
		stale, err := s.StaleJobs(ctx, at.Add(-time.Minute), 100)
		must(t, "StaleJobs", err)
		if _, ok := jobByKey(stale, core.JobKindTriggerApply, claimed.ID); ok {
			t.Error("a just-claimed trigger job is already stale")
		}
		stale, err = s.StaleJobs(ctx, at.Add(time.Minute), 100)
		must(t, "StaleJobs", err)
		if _, ok := jobByKey(stale, core.JobKindTriggerApply, claimed.ID); !ok {
			t.Error("a claimed trigger job nobody ran is never re-driven by the sweeper")
		}
		// A claimed redelivery is a duplicate: no second job to run.
		again := newTrigger(c, "orders/paid", "wh-queued", at)
		again.Claim = true
		if dup := acceptAll(t, s, again); !dup[0].Duplicate || dup[0].Job.ID != 0 || dup[0].Loaded != nil {
			t.Fatalf("a claimed redelivery = %+v, want a duplicate with nothing to run", dup[0])
		}
	}},
	{"Chain/RequeueHandsBackToTheRelay", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws, jobs := mustJobs(t, s, 1)
		at := now()
		child := core.Job{WorkspaceID: ws.ID, Kind: "apple.push", Key: "evt-r", State: core.JobEnqueued, CreatedAt: at}
		must(t, "CompleteJob", s.CompleteJob(ctx, jobs[0].ID, []core.Job{child}, at))
		j, err := s.StartChainedJob(ctx, "apple.push", "evt-r")
		must(t, "StartChainedJob", err)
		must(t, "RequeueJob", s.RequeueJob(ctx, j.ID, "APNs unavailable"))
		got, ok := jobByKey(allPendingJobs(t, s), "apple.push", "evt-r")
		if !ok {
			t.Fatal("a requeued job is not pending")
		}
		if got.LastError != "APNs unavailable" || got.Attempts != 1 || got.EnqueuedAt != nil {
			t.Errorf("requeued job = %+v, want the error, its attempt and no enqueue time", got)
		}
		// The queue's run starts it as any job: the attempt counts on.
		started, err := s.StartJob(ctx, j.ID)
		must(t, "StartJob", err)
		if started.Attempts != 2 {
			t.Errorf("attempts after the queue's start = %d, want 2", started.Attempts)
		}
		must(t, "CompleteJob", s.CompleteJob(ctx, j.ID, nil, at))
		// A finished job stays finished.
		must(t, "RequeueJob of a done job", s.RequeueJob(ctx, j.ID, "late"))
		if done, err := s.Job(ctx, j.ID); err != nil || done.State != core.JobDone {
			t.Errorf("done job after RequeueJob = %+v, %v; want it done", done, err)
		}
		if err := s.RequeueJob(ctx, 1<<40, "x"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("RequeueJob of a missing job: err = %v, want ErrNotFound", err)
		}
	}},
}
