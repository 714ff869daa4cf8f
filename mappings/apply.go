package mappings

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// Applied is what one command did.
type Applied struct {
	Rule       string `json:"rule"`
	Action     Action `json:"action"`
	ExternalID string `json:"externalId"`
	PassID     string `json:"passId,omitempty"`
	Version    int64  `json:"version,omitempty"`
	// Created is true when an upsert issued a new pass.
	Created bool `json:"created,omitempty"`
	// Skipped says why the command did nothing (the pass was gone by the
	// time it ran, the event was stale, or it was applied before).
	Skipped string `json:"skipped,omitempty"`
	// Stale lists the fields left alone because the pass holds values
	// from a later event.
	Stale []string `json:"stale,omitempty"`
}

// ServiceLookup is the PassLookup of a workspace through svc.
func ServiceLookup(svc *core.Service, workspaceID string) PassLookup {
	return func(ctx context.Context, templateID, externalID string) (*core.Pass, error) {
		p, err := svc.PassByExternalID(ctx, workspaceID, templateID, externalID)
		if errors.Is(err, core.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &p, nil
	}
}

// Source says where commands come from, for Apply.
type Source struct {
	// Key names this application of a trigger (its ID, with a replay
	// suffix): each command is applied to its pass at most once per key.
	// Empty: no such check.
	Key string
	// At is when the source system says the event happened; zero when
	// unknown (no stale-data protection then).
	At time.Time
}

// Apply runs cmds through svc, in order, each in its own transaction, and
// returns what each did. It stops at the first failure, returning what
// was applied before it and the error.
//
//   - upsert: no pass (or a deleted one) → core.PutPass with the fields (a
//     deleted pass is revived with exactly the fields; nil fields are
//     left out); otherwise core.UpdatePass merging the fields (nil removes
//     a key), making the pass active again and showing the message.
//   - update: core.UpdatePass merging the fields and showing the message;
//     skipped when there is no live pass.
//   - expire, void: core.UpdatePass to that lifecycle, with the fields and
//     message if any; skipped when there is no live pass.
//   - delete: core.DeletePass; skipped when there is no live pass.
//
// A command from Evaluate acts only on the pass version it was computed
// from: if the pass changed since, Apply returns core.ErrVersionMismatch
// (evaluate again and apply what is left). With src.At, a field whose
// value is the event's own is not written over a value from a later
// event (Applied.Stale); with src.Key, a command already applied is
// skipped (a job retried after a crash).
func Apply(ctx context.Context, svc *core.Service, workspaceID string, cmds []Command, src Source) ([]Applied, error) {
	out := make([]Applied, 0, len(cmds))
	for _, c := range cmds {
		a, err := apply(ctx, svc, workspaceID, c, src)
		if err != nil {
			return out, fmt.Errorf("rule %q: %s pass %q: %w", c.Rule, gerund(c.Action), c.ExternalID, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func gerund(a Action) string {
	switch a {
	case ActionUpsert:
		return "upserting"
	case ActionUpdate:
		return "updating"
	case ActionDelete:
		return "deleting"
	case ActionExpire:
		return "expiring"
	case ActionVoid:
		return "voiding"
	}
	return string(a) + "ing"
}

// CommandKey names command c within the application src.
func CommandKey(src Source, c Command) string {
	if src.Key == "" {
		return ""
	}
	return src.Key + "/" + c.Rule + "/" + c.ExternalID
}

func apply(ctx context.Context, svc *core.Service, workspaceID string, c Command, src Source) (Applied, error) {
	a := Applied{Rule: c.Rule, Action: c.Action, ExternalID: c.ExternalID}
	var existing core.Pass
	var found bool
	var ifVersion int64
	if c.Seen {
		// The rule saw this pass; the store refuses the change if it has
		// moved on since (IfVersion), so no second lookup is needed.
		existing = core.Pass{ID: c.BasePassID, Version: c.BaseVersion, Lifecycle: c.BaseLifecycle}
		found, ifVersion = c.BaseVersion != 0, c.BaseVersion
	} else {
		var err error
		existing, err = svc.PassByExternalID(ctx, workspaceID, c.TemplateID, c.ExternalID)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return a, fmt.Errorf("looking up pass: %w", err)
		}
		found = err == nil
	}
	live := found && existing.Lifecycle != core.LifecycleDeleted
	change := &core.SourceChange{Key: CommandKey(src, c), At: src.At, Latest: c.Latest}
	var p core.Pass
	var err error
	switch c.Action {
	case ActionUpsert:
		if !live {
			data := make(map[string]any, len(c.Data))
			for k, v := range c.Data {
				if v != nil {
					data[k] = v
				}
			}
			in := core.PassInput{TemplateID: c.TemplateID, ExternalID: c.ExternalID, Data: data, Lifecycle: core.LifecycleActive, Source: change}
			if !found && c.Seen {
				// Created by no one else since the rule looked: a create
				// that loses a race must not replace the winner's pass.
				p, err = svc.CreatePass(ctx, workspaceID, in)
				if errors.Is(err, core.ErrConflict) {
					return a, core.ErrVersionMismatch
				}
				a.Created = err == nil
				break
			}
			in.IfVersion = ifVersion
			p, a.Created, err = svc.PutPass(ctx, workspaceID, in)
			break
		}
		var stale []string
		p, stale, err = svc.UpdatePassFrom(ctx, workspaceID, existing.ID, core.PassPatch{
			Data: c.Data, Lifecycle: core.LifecycleActive, Message: c.Message, IfVersion: ifVersion, Source: change,
		})
		a.noteStale(stale, p, existing)
	case ActionUpdate, ActionExpire, ActionVoid:
		if !live {
			a.Skipped = fmt.Sprintf("no pass with externalId %q to %s", c.ExternalID, c.Action)
			return a, nil
		}
		patch := core.PassPatch{Data: c.Data, Message: c.Message, IfVersion: ifVersion, Source: change}
		switch c.Action {
		case ActionExpire:
			patch.Lifecycle = core.LifecycleExpired
		case ActionVoid:
			patch.Lifecycle = core.LifecycleVoided
		}
		var stale []string
		p, stale, err = svc.UpdatePassFrom(ctx, workspaceID, existing.ID, patch)
		a.noteStale(stale, p, existing)
	case ActionDelete:
		if !live {
			a.Skipped = fmt.Sprintf("no pass with externalId %q to delete", c.ExternalID)
			return a, nil
		}
		p, err = svc.DeletePass(ctx, workspaceID, existing.ID)
	default:
		return a, fmt.Errorf("unknown action %q", c.Action)
	}
	if errors.Is(err, core.ErrAlreadyApplied) {
		a.PassID, a.Version = existing.ID, existing.Version
		a.Skipped = "already applied (the job ran before)"
		return a, nil
	}
	if err != nil {
		return a, err
	}
	a.PassID, a.Version = p.ID, p.Version
	return a, nil
}

// noteStale records the keys a stale event left alone, and says so as the
// skip reason when the command changed nothing at all.
func (a *Applied) noteStale(stale []string, after, before core.Pass) {
	if len(stale) == 0 {
		return
	}
	a.Stale = stale
	if after.ID != "" && after.Version == before.Version {
		a.Skipped = fmt.Sprintf("stale: the pass holds newer values of %s", strings.Join(stale, ", "))
	}
}
