package storetest

import (
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

// retentionCases: a purge forgets finished jobs and push logs older than
// the cutoff, and nothing else.
var retentionCases = []testCase{
	{"History/Purge", func(t *testing.T, s Store) {
		ctx := t.Context()
		ws := mustWorkspace(t, s)
		tpl := mustTemplate(t, s, ws.ID)
		for i := range 3 {
			mustPass(t, s, ws.ID, tpl.ID, "h"+string(rune('a'+i)))
		}
		jobs := allPendingJobs(t, s)
		if len(jobs) < 3 {
			t.Fatalf("fixture: %d pending jobs", len(jobs))
		}
		cutoff := now().Add(-24 * time.Hour)
		old, recent := cutoff.Add(-time.Hour), cutoff.Add(time.Hour)
		// jobs[0] done long ago, jobs[1] failed long ago, jobs[2] done
		// recently; the rest stay pending however old they are.
		for i, at := range []time.Time{old, old, recent} {
			_, err := s.StartJob(ctx, jobs[i].ID)
			must(t, "StartJob", err)
			if i == 1 {
				must(t, "FailJob", s.FailJob(ctx, jobs[i].ID, "gave up", true, at))
				continue
			}
			must(t, "CompleteJob", s.CompleteJob(ctx, jobs[i].ID, nil, at))
		}
		logs := []core.PushLog{
			{WorkspaceID: ws.ID, At: old, Platform: core.PlatformApple, PassID: "p", Status: core.PushOK, HTTPStatus: 200, JobID: jobs[0].ID},
			{WorkspaceID: ws.ID, At: old.Add(time.Minute), Platform: core.PlatformApple, PassID: "p", Status: core.PushOK, HTTPStatus: 200, JobID: jobs[0].ID},
			{WorkspaceID: ws.ID, At: recent, Platform: core.PlatformApple, PassID: "p", Status: core.PushOK, HTTPStatus: 200, JobID: jobs[2].ID},
		}
		must(t, "AppendPushLogs", s.AppendPushLogs(ctx, logs))

		got, err := s.PurgeHistory(ctx, cutoff)
		must(t, "PurgeHistory", err)
		if got != (core.Purged{Jobs: 2, PushLogs: 2}) {
			t.Fatalf("purged %+v, want 2 jobs and 2 push logs", got)
		}
		for i, j := range jobs {
			_, err := s.Job(ctx, j.ID)
			if i < 2 {
				wantErr(t, "Job purged", err, core.ErrNotFound)
			} else {
				must(t, "Job kept", err)
			}
		}
		left, _, err := s.ListPushLogs(ctx, ws.ID, core.PushLogQuery{Page: core.Page{Limit: 10}})
		must(t, "ListPushLogs", err)
		if len(left) != 1 || !left[0].At.Equal(us(recent)) {
			t.Fatalf("push logs left %+v, want the recent one", left)
		}
		// Nothing left to purge: a second run deletes nothing.
		got, err = s.PurgeHistory(ctx, cutoff)
		must(t, "PurgeHistory again", err)
		if got != (core.Purged{}) {
			t.Fatalf("second purge %+v", got)
		}
	}},
}
