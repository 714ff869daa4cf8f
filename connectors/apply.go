package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/passhub/passhub/core"
	"github.com/passhub/passhub/mappings"
)

// ApplyStore is what mapping a trigger needs of the store.
type ApplyStore interface {
	TriggerToApply(ctx context.Context, workspaceID, id string) (core.Trigger, core.TriggerSource, error)
	RecordTriggerOutcome(ctx context.Context, workspaceID, id string, status core.TriggerStatus, outcome json.RawMessage, at time.Time) error
	FinishTrigger(ctx context.Context, workspaceID, id string, status core.TriggerStatus, outcome json.RawMessage, at time.Time, jobID int64) error
	Mapping(ctx context.Context, workspaceID, name string) (core.MappingFile, error)
	ListTemplates(ctx context.Context, workspaceID string, page core.Page) ([]core.Template, string, error)
}

// Applier is the trigger.apply job handler: it maps a trigger with its
// connector's mapping file and runs the commands through the same use
// cases as the REST API, then records what happened on the trigger.
type Applier struct {
	store ApplyStore
	svc   *core.Service
	now   func() time.Time

	mu       sync.Mutex
	compiled map[compiledKey]compiledMapping
}

type compiledKey struct {
	workspaceID, name string
	version           int64
}

type compiledMapping struct {
	m  *mappings.Mapping
	at time.Time
}

// compiledTTL bounds how long a compiled mapping is reused: template
// names are resolved at compile time, and a template created since must
// become visible.
const compiledTTL = 30 * time.Second

// NewApplier returns the trigger.apply handler.
func NewApplier(store ApplyStore, svc *core.Service) *Applier {
	return &Applier{store: store, svc: svc, now: time.Now, compiled: map[compiledKey]compiledMapping{}}
}

// Outcome is what a trigger's outcome records.
type Outcome struct {
	Applied []mappings.Applied `json:"applied,omitempty"`
	Skipped []mappings.Skip    `json:"skipped,omitempty"`
	Rule    string             `json:"rule,omitempty"`
	Field   string             `json:"field,omitempty"`
	Error   string             `json:"error,omitempty"`
}

// HandleJob maps the trigger the job names (its key is the trigger ID,
// with "/replay" suffixes for replays); the runner completes the job.
func (a *Applier) HandleJob(ctx context.Context, j core.Job) ([]core.Job, error) {
	_, err := a.run(ctx, j, false)
	return nil, err
}

// FinishJob is HandleJob recording the trigger's outcome and completing
// j in one write: one commit fewer per trigger.
func (a *Applier) FinishJob(ctx context.Context, j core.Job) ([]core.Job, bool, error) {
	done, err := a.run(ctx, j, true)
	return nil, done, err
}

func (a *Applier) run(ctx context.Context, j core.Job, finish bool) (bool, error) {
	id, _, _ := strings.Cut(j.Key, "/")
	var t core.Trigger
	var src core.TriggerSource
	var err error
	if lt, ok := core.LoadedTriggerFor(ctx, id); ok {
		t, src = lt.Trigger, lt.Source // as accepted, a moment ago
	} else {
		t, src, err = a.store.TriggerToApply(ctx, j.WorkspaceID, id)
	}
	if errors.Is(err, core.ErrNotFound) {
		return false, core.Permanent(fmt.Errorf("trigger %s: %w", id, err))
	}
	if err != nil {
		return false, fmt.Errorf("loading trigger %s: %w", id, err)
	}
	status, out, err := a.apply(ctx, t, src, j.Key)
	if err != nil {
		return false, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return false, fmt.Errorf("encoding trigger outcome: %w", err)
	}
	at := a.now().UTC().Truncate(time.Microsecond)
	if !finish {
		if err := a.store.RecordTriggerOutcome(ctx, t.WorkspaceID, t.ID, status, b, at); err != nil {
			return false, fmt.Errorf("recording trigger outcome: %w", err)
		}
		return false, nil
	}
	err = a.store.FinishTrigger(ctx, t.WorkspaceID, t.ID, status, b, at, j.ID)
	if errors.Is(err, core.ErrJobDone) {
		// A duplicate run: the runner's completion says so.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("recording trigger outcome: %w", err)
	}
	return true, nil
}

// apply returns the trigger's status and outcome; an error only for
// failures a retry may fix (the store is down).
func (a *Applier) apply(ctx context.Context, t core.Trigger, src core.TriggerSource, jobKey string) (core.TriggerStatus, Outcome, error) {
	failed := func(err error) (core.TriggerStatus, Outcome, error) {
		out := Outcome{Error: err.Error()}
		var ee *mappings.EvalError
		if errors.As(err, &ee) {
			out.Rule, out.Field, out.Error = ee.Rule, ee.Field, ee.Err.Error()
		}
		return core.TriggerFailed, out, nil
	}
	if src.ConnectorKind == "" {
		return failed(errors.New("the connector was deleted"))
	}
	m, err := a.mapping(ctx, t.WorkspaceID, src.Mapping, src.MappingVersion)
	if errors.Is(err, core.ErrNotFound) {
		return failed(fmt.Errorf("no mapping named %q: PUT /v1/mappings/%s", src.Mapping, src.Mapping))
	}
	var le *mappings.LoadError
	if errors.As(err, &le) {
		return failed(err)
	}
	if err != nil {
		return "", Outcome{}, err
	}
	payload, err := mappings.DecodePayload(t.Payload)
	if err != nil {
		return failed(fmt.Errorf("decoding payload: %w", err))
	}
	from := mappings.Source{Key: jobKey}
	if t.OccurredAt != nil {
		from.At = *t.OccurredAt
	}
	// A command computed from a pass that another trigger changed in the
	// meantime is refused (ErrVersionMismatch): evaluate again with the
	// fresh pass and apply what is left. done keeps what this run applied.
	var out Outcome
	done := map[string]bool{}
	for attempt := 1; ; attempt++ {
		res, err := m.Evaluate(ctx, mappings.Trigger{
			Topic: t.Topic, Source: string(src.ConnectorKind), Payload: payload, Headers: t.Headers, ReceivedAt: t.ReceivedAt,
		}, mappings.ServiceLookup(a.svc, t.WorkspaceID))
		if err != nil {
			return failed(err)
		}
		out.Skipped = res.Skipped
		if len(res.Commands) == 0 && len(out.Applied) == 0 {
			if a.waitForPass(t, res.Skipped) {
				return "", Outcome{}, &core.RetryAfterError{After: noPassRetry, Err: errors.New("a rule needs a pass that does not exist yet; its create may still be in flight")}
			}
			return core.TriggerSkipped, Outcome{Skipped: res.Skipped}, nil
		}
		var todo []mappings.Command
		for _, cmd := range res.Commands {
			if !done[mappings.CommandKey(from, cmd)] {
				todo = append(todo, cmd)
			}
		}
		applied, err := mappings.Apply(ctx, a.svc, t.WorkspaceID, todo, from)
		for i, ap := range applied {
			done[mappings.CommandKey(from, todo[i])] = true
			out.Applied = append(out.Applied, ap)
		}
		if errors.Is(err, core.ErrVersionMismatch) {
			if attempt < maxEvaluations {
				// Step aside a little, randomly, so racing triggers do
				// not collide again in lockstep.
				time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond))))
				continue
			}
			return "", Outcome{}, fmt.Errorf("the passes kept changing under %d evaluations: %w", attempt, err)
		}
		if err != nil {
			if isTransient(err) {
				return "", Outcome{}, err
			}
			out.Error = err.Error()
			return core.TriggerFailed, out, nil
		}
		return core.TriggerApplied, out, nil
	}
}

// maxEvaluations bounds how often one run evaluates a trigger again after
// losing races to other triggers changing the same passes; past it the
// job is retried later (nothing is lost).
const maxEvaluations = 10

// Sources deliver out of order (an order paid before the customer's
// create was mapped): a trigger whose rules only found no pass to update
// is tried again for noPassWindow after it arrived before it is recorded
// as skipped.
const (
	noPassWindow = time.Minute
	noPassRetry  = 2 * time.Second
)

func (a *Applier) waitForPass(t core.Trigger, skipped []mappings.Skip) bool {
	if a.now().Sub(t.ReceivedAt) > noPassWindow {
		return false
	}
	for _, s := range skipped {
		if s.NoPass {
			return true
		}
	}
	return false
}

// isTransient tells store and context failures (retry) from domain
// refusals (a bad command: recorded as failed).
func isTransient(err error) bool {
	return !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrConflict) && !errors.Is(err, core.ErrNotFound)
}

// mapping compiles (or reuses) version of the workspace's mapping file
// name (0: there is none); the source is read only to compile.
func (a *Applier) mapping(ctx context.Context, workspaceID, name string, version int64) (*mappings.Mapping, error) {
	if version == 0 {
		return nil, fmt.Errorf("mapping %s: %w", name, core.ErrNotFound)
	}
	a.mu.Lock()
	c, ok := a.compiled[compiledKey{workspaceID, name, version}]
	a.mu.Unlock()
	if ok && a.now().Sub(c.at) < compiledTTL {
		return c.m, nil
	}
	mf, err := a.store.Mapping(ctx, workspaceID, name)
	if err != nil {
		return nil, err
	}
	key := compiledKey{workspaceID, name, mf.Version}
	resolve, err := TemplateResolver(ctx, a.store, workspaceID)
	if err != nil {
		return nil, err
	}
	m, err := mappings.Load(name+".yaml", []byte(mf.Source), resolve)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.compiled[key] = compiledMapping{m: m, at: a.now()}
	a.mu.Unlock()
	return m, nil
}

// TemplateLister lists a workspace's templates.
type TemplateLister interface {
	ListTemplates(ctx context.Context, workspaceID string, page core.Page) ([]core.Template, string, error)
}

// TemplateResolver resolves template references in a mapping — by ID or
// by name — against the workspace's templates.
func TemplateResolver(ctx context.Context, store TemplateLister, workspaceID string) (mappings.TemplateResolver, error) {
	ids := map[string]string{}
	cursor := ""
	for {
		ts, next, err := store.ListTemplates(ctx, workspaceID, core.Page{Cursor: cursor, Limit: 1000})
		if err != nil {
			return nil, fmt.Errorf("listing templates: %w", err)
		}
		for _, t := range ts {
			ids[t.ID] = t.ID
			if _, taken := ids[t.Name]; !taken {
				ids[t.Name] = t.ID
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return func(ref string) (string, bool) {
		id, ok := ids[ref]
		return id, ok
	}, nil
}
