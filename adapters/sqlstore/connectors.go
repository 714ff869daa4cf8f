package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/passhub/passhub/core"
)

// NormConnector is c as it reads back: times truncated as the columns
// are, an empty config nil, and sealed secrets never nil.
func NormConnector(c core.Connector) core.Connector {
	if len(c.Config) == 0 {
		c.Config = nil
	}
	if c.SecretsSealed == nil {
		c.SecretsSealed = []byte{}
	}
	c.CreatedAt = TruncTime(c.CreatedAt)
	c.UpdatedAt = TruncTime(c.UpdatedAt)
	return c
}

// NormTrigger is t as AcceptTriggers stores it: status received when
// unset, ReceivedAt now when zero, UpdatedAt ReceivedAt when zero, times
// truncated, an empty payload JSON null and an empty outcome nil.
func NormTrigger(t core.Trigger, now time.Time) core.Trigger {
	if t.Status == "" {
		t.Status = core.TriggerReceived
	}
	if t.ReceivedAt.IsZero() {
		t.ReceivedAt = now
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.ReceivedAt
	}
	if len(t.Payload) == 0 {
		t.Payload = json.RawMessage("null")
	}
	if len(t.Outcome) == 0 {
		t.Outcome = nil
	}
	t.OccurredAt = TruncTimePtr(t.OccurredAt)
	t.ReceivedAt = TruncTime(t.ReceivedAt)
	t.UpdatedAt = TruncTime(t.UpdatedAt)
	return t
}

// DedupeTriggers marks the triggers of a batch whose connector and dedupe
// key an earlier one of the batch has: the first is stored, the rest are
// duplicates.
func DedupeTriggers(triggers []core.Trigger) []bool {
	dup := make([]bool, len(triggers))
	if len(triggers) < 2 {
		return dup
	}
	seen := make(map[[2]string]struct{}, len(triggers))
	for i, t := range triggers {
		k := [2]string{t.ConnectorID, t.DedupeKey}
		if _, ok := seen[k]; ok {
			dup[i] = true
			continue
		}
		seen[k] = struct{}{}
	}
	return dup
}

// TriggerJob is the trigger.apply job written with a new trigger:
// enqueued and started when the trigger is claimed by the process
// accepting it.
func TriggerJob(t core.Trigger) core.Job {
	j := core.Job{WorkspaceID: t.WorkspaceID, Kind: core.JobKindTriggerApply, Key: t.ID, State: core.JobPending, CreatedAt: t.ReceivedAt}
	if t.Claim {
		j.State, j.Attempts = core.JobEnqueued, 1
	}
	return j
}

// ReplayJob is the trigger.apply job a replay of trigger id writes: keyed
// by the trigger and the replay, so each distinct replay runs once.
func ReplayJob(workspaceID, id, replay string, at time.Time) core.Job {
	return core.Job{WorkspaceID: workspaceID, Kind: core.JobKindTriggerApply, Key: id + "/" + replay, State: core.JobPending, CreatedAt: at}
}

// EncodeHeaders is the JSON object the headers column holds; nil stays
// nil (NULL).
func EncodeHeaders(h map[string]string) ([]byte, error) {
	if h == nil {
		return nil, nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encoding trigger headers: %w", err)
	}
	return b, nil
}

// DecodeHeaders reads the headers column; NULL is nil.
func DecodeHeaders(b []byte) (map[string]string, error) {
	if b == nil {
		return nil, nil
	}
	var h map[string]string
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("decoding trigger headers: %w", err)
	}
	return h, nil
}

// RawOrNil is b for a nullable JSON column: nil when empty.
func RawOrNil(b json.RawMessage) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
