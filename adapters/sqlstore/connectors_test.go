package sqlstore

import (
	"slices"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

func TestDedupeTriggers(t *testing.T) {
	tr := func(connector, key string) core.Trigger { return core.Trigger{ConnectorID: connector, DedupeKey: key} }
	got := DedupeTriggers([]core.Trigger{tr("a", "1"), tr("a", "2"), tr("a", "1"), tr("b", "1"), tr("b", "1")})
	if want := []bool{false, false, true, false, true}; !slices.Equal(got, want) {
		t.Errorf("DedupeTriggers = %v, want %v", got, want)
	}
	if got := DedupeTriggers([]core.Trigger{tr("a", "1")}); !slices.Equal(got, []bool{false}) {
		t.Errorf("DedupeTriggers of one = %v", got)
	}
}

func TestNormTriggerAndJobs(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("x", 3600))
	n := NormTrigger(core.Trigger{ID: "trg_1", WorkspaceID: "ws_1", Outcome: []byte{}}, now)
	if n.Status != core.TriggerReceived || !n.ReceivedAt.Equal(TruncTime(now)) || !n.UpdatedAt.Equal(n.ReceivedAt) ||
		string(n.Payload) != "null" || n.Outcome != nil || n.ReceivedAt.Location() != time.UTC {
		t.Errorf("NormTrigger of an empty trigger: %+v", n)
	}
	j := TriggerJob(n)
	if j.Kind != core.JobKindTriggerApply || j.Key != "trg_1" || j.WorkspaceID != "ws_1" || j.State != core.JobPending || !j.CreatedAt.Equal(n.ReceivedAt) {
		t.Errorf("TriggerJob = %+v", j)
	}
	if r := ReplayJob("ws_1", "trg_1", "rp_1", now); r.Key != "trg_1/rp_1" || r.Kind != core.JobKindTriggerApply || r.State != core.JobPending {
		t.Errorf("ReplayJob = %+v", r)
	}
}
