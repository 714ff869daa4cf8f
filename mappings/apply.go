package mappings

import (
	"context"
	"errors"
	"fmt"

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
	// time it ran).
	Skipped string `json:"skipped,omitempty"`
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
func Apply(ctx context.Context, svc *core.Service, workspaceID string, cmds []Command) ([]Applied, error) {
	out := make([]Applied, 0, len(cmds))
	for _, c := range cmds {
		a, err := apply(ctx, svc, workspaceID, c)
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

func apply(ctx context.Context, svc *core.Service, workspaceID string, c Command) (Applied, error) {
	a := Applied{Rule: c.Rule, Action: c.Action, ExternalID: c.ExternalID}
	existing, err := svc.PassByExternalID(ctx, workspaceID, c.TemplateID, c.ExternalID)
	live := err == nil && existing.Lifecycle != core.LifecycleDeleted
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return a, fmt.Errorf("looking up pass: %w", err)
	}
	var p core.Pass
	switch c.Action {
	case ActionUpsert:
		if !live {
			data := make(map[string]any, len(c.Data))
			for k, v := range c.Data {
				if v != nil {
					data[k] = v
				}
			}
			p, a.Created, err = svc.PutPass(ctx, workspaceID, core.PassInput{
				TemplateID: c.TemplateID, ExternalID: c.ExternalID, Data: data, Lifecycle: core.LifecycleActive,
			})
			break
		}
		p, err = svc.UpdatePass(ctx, workspaceID, existing.ID, core.PassPatch{Data: c.Data, Lifecycle: core.LifecycleActive, Message: c.Message})
	case ActionUpdate, ActionExpire, ActionVoid:
		if !live {
			a.Skipped = fmt.Sprintf("no pass with externalId %q to %s", c.ExternalID, c.Action)
			return a, nil
		}
		patch := core.PassPatch{Data: c.Data, Message: c.Message}
		switch c.Action {
		case ActionExpire:
			patch.Lifecycle = core.LifecycleExpired
		case ActionVoid:
			patch.Lifecycle = core.LifecycleVoided
		}
		p, err = svc.UpdatePass(ctx, workspaceID, existing.ID, patch)
	case ActionDelete:
		if !live {
			a.Skipped = fmt.Sprintf("no pass with externalId %q to delete", c.ExternalID)
			return a, nil
		}
		p, err = svc.DeletePass(ctx, workspaceID, existing.ID)
	default:
		return a, fmt.Errorf("unknown action %q", c.Action)
	}
	if err != nil {
		return a, err
	}
	a.PassID, a.Version = p.ID, p.Version
	return a, nil
}
