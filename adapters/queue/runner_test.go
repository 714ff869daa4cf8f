package queue_test

import (
	"context"
	"testing"

	"github.com/passhub/passhub/core"
)

// A job that fans out tells the relay at once, so its children do not wait
// for the next poll; a job without children does not.
func TestRunnerAnnouncesChildren(t *testing.T) {
	cases := []struct {
		name     string
		children int
		want     int
	}{
		{"fan-out wakes the relay", 2, 1},
		{"no children, no wake-up", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemJobs()
			runner := core.NewJobRunner(store)
			woken := 0
			runner.OnChildren = func() { woken++ }
			runner.Handle("parent", core.JobHandlerFunc(func(_ context.Context, j core.Job) ([]core.Job, error) {
				var out []core.Job
				for i := range tc.children {
					out = append(out, core.Job{WorkspaceID: j.WorkspaceID, Kind: "child", Key: j.Key + "/" + string(rune('a'+i)), State: core.JobPending})
				}
				return out, nil
			}))
			j := store.add(core.Job{WorkspaceID: "ws", Kind: "parent", Key: "p1"})
			if err := runner.Run(t.Context(), j.ID); err != nil {
				t.Fatal(err)
			}
			if woken != tc.want {
				t.Fatalf("OnChildren called %d times, want %d", woken, tc.want)
			}
			// A duplicate delivery has no effect and wakes nobody.
			if err := runner.Run(t.Context(), j.ID); err != nil {
				t.Fatal(err)
			}
			if woken != tc.want {
				t.Fatalf("a duplicate delivery woke the relay")
			}
		})
	}
}
