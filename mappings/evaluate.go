package mappings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/passhub/passhub/core"
)

// Trigger is what a mapping evaluates: one event from a source system.
type Trigger struct {
	Topic  string
	Source string
	// Payload is the decoded JSON body (see DecodePayload). A
	// json.RawMessage or []byte is decoded with DecodePayload.
	Payload any
	// Headers are the request headers; keys are lower-cased for
	// expressions.
	Headers    map[string]string
	ReceivedAt time.Time
}

// PassLookup finds the pass of (template, external ID); nil and no error
// when there is none.
type PassLookup func(ctx context.Context, templateID, externalID string) (*core.Pass, error)

// Command is one thing to do to a pass, the output of a rule.
type Command struct {
	Rule       string `json:"rule"`
	Action     Action `json:"action"`
	TemplateID string `json:"templateId"`
	ExternalID string `json:"externalId"`
	// Data is the rule's fields, JSON-shaped (numbers without a fraction
	// are ints). A nil value removes the key from the pass.
	Data    map[string]any `json:"data,omitempty"`
	Message string         `json:"message,omitempty"`
	// BaseVersion is the version of the pass the rule saw (deleted or
	// not; 0: none). Apply refuses to act on a pass that has moved on
	// since (core.ErrVersionMismatch), so values computed from the pass
	// are never written over a concurrent change: evaluate again.
	BaseVersion int64 `json:"-"`
	// Seen says BaseVersion is known (the command came from Evaluate
	// with a lookup); a hand-built command acts on whatever pass exists.
	Seen bool `json:"-"`
	// BasePassID and BaseLifecycle are the ID and lifecycle of the pass
	// the rule saw, so Apply need not look it up again.
	BasePassID    string         `json:"-"`
	BaseLifecycle core.Lifecycle `json:"-"`
	// Latest lists the data keys whose values are the event's own (their
	// expressions do not read the pass): a stale event does not
	// overwrite them (core.SourceChange.Latest).
	Latest map[string]bool `json:"-"`
}

// Skip says why a rule, or the whole trigger, did nothing.
type Skip struct {
	Rule   string `json:"rule,omitempty"`
	Reason string `json:"reason"`
	// NoPass marks a rule that needs an existing pass and found none; the
	// event that creates it may still be on its way (sources deliver out
	// of order), so a caller may try again a little later.
	NoPass bool `json:"noPass,omitempty"`
}

// Outcome is what evaluating a trigger gives: the commands of the rules
// that applied, in file order, and why the others that matched the topic
// did not.
type Outcome struct {
	Commands []Command `json:"commands,omitempty"`
	Skipped  []Skip    `json:"skipped,omitempty"`
}

// EvalError is a rule whose expression failed at evaluation.
type EvalError struct {
	Rule string
	// Field is the expression that failed: when, externalId,
	// fields.KEY, message; or pass when the lookup failed.
	Field string
	Err   error
}

func (e *EvalError) Error() string {
	msg := e.Err.Error()
	var fe *file.Error
	if errors.As(e.Err, &fe) {
		msg = fe.Message
		if fe.Column > 0 || fe.Line > 1 {
			msg = fmt.Sprintf("%s (line %d, column %d of the expression)", msg, fe.Line, fe.Column+1)
		}
	}
	return fmt.Sprintf("rule %q: %s: %s", e.Rule, e.Field, msg)
}

func (e *EvalError) Unwrap() error { return e.Err }

// Evaluate runs the rules of m against t. Every rule whose `on` matches
// the topic is evaluated in file order: externalId first, then the pass
// is looked up (lookup may be nil: no pass), then when, fields and
// message. Rules see the pass as it was before the trigger: commands are
// only returned, never applied here. Any expression error fails the whole
// evaluation with an *EvalError and no commands.
func (m *Mapping) Evaluate(ctx context.Context, t Trigger, lookup PassLookup) (Outcome, error) {
	return m.evaluate(ctx, t, lookup, time.Now().UTC())
}

func (m *Mapping) evaluate(ctx context.Context, t Trigger, lookup PassLookup, now time.Time) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	if m.Source != "" && m.Source != "any" && t.Source != "" && t.Source != m.Source {
		return Outcome{Skipped: []Skip{{Reason: fmt.Sprintf("mapping is for source %s, not %s", m.Source, t.Source)}}}, nil
	}
	payload := t.Payload
	switch raw := payload.(type) {
	case json.RawMessage:
		p, err := DecodePayload(raw)
		if err != nil {
			return Outcome{}, err
		}
		payload = p
	case []byte:
		p, err := DecodePayload(raw)
		if err != nil {
			return Outcome{}, err
		}
		payload = p
	}
	headers := make(map[string]string, len(t.Headers))
	for k, v := range t.Headers {
		headers[strings.ToLower(k)] = v
	}
	base := env{
		Payload: payload, Headers: headers, Topic: t.Topic, Source: t.Source,
		ReceivedAt: t.ReceivedAt, Now: now,
	}
	var machine vm.VM
	var out Outcome
	matched := false
	for _, r := range m.Rules {
		if !r.matches(t.Topic) {
			continue
		}
		matched = true
		cmd, skip, err := m.rule(ctx, r, base, lookup, &machine)
		if err != nil {
			return Outcome{}, err
		}
		if skip != nil {
			skip.Rule = r.Name
			out.Skipped = append(out.Skipped, *skip)
			continue
		}
		out.Commands = append(out.Commands, cmd)
	}
	if !matched {
		out.Skipped = append(out.Skipped, Skip{Reason: fmt.Sprintf("no rule matches topic %q", t.Topic)})
	}
	return out, nil
}

func (r *Rule) matches(topic string) bool {
	for _, on := range r.On {
		if on == "*" || on == topic {
			return true
		}
	}
	return false
}

func (m *Mapping) rule(ctx context.Context, r *Rule, e env, lookup PassLookup, machine *vm.VM) (Command, *Skip, error) {
	machine.MemoryBudget = m.Limits.MemoryBudget
	e.Meter = newMeter(ctx, m.Limits)
	run := func(x *expression) (any, error) {
		if err := e.Meter.check(); err != nil {
			return nil, &EvalError{Rule: r.Name, Field: x.field, Err: err}
		}
		v, err := machine.Run(x.prog, e)
		if err != nil {
			return nil, &EvalError{Rule: r.Name, Field: x.field, Err: err}
		}
		return v, nil
	}
	fail := func(field, format string, args ...any) error {
		return &EvalError{Rule: r.Name, Field: field, Err: fmt.Errorf(format, args...)}
	}

	v, err := run(r.externalID)
	if err != nil {
		return Command{}, nil, err
	}
	extID, err := externalIDString(v)
	if errors.Is(err, errNoExternalID) {
		// The event is not about a record with an ID (a guest checkout,
		// an account without a customer): nothing to do.
		return Command{}, &Skip{Reason: "externalId is empty"}, nil
	}
	if err != nil {
		return Command{}, nil, fail("externalId", "%v", err)
	}

	lookupStart := time.Now()
	var base int64
	var baseID string
	var baseLifecycle core.Lifecycle
	if lookup != nil {
		p, err := lookup(ctx, r.TemplateID, extID)
		if err != nil {
			return Command{}, nil, &EvalError{Rule: r.Name, Field: "pass", Err: fmt.Errorf("looking up pass %q: %w", extID, err)}
		}
		if p != nil {
			base, baseID, baseLifecycle = p.Version, p.ID, p.Lifecycle
			if p.Lifecycle != core.LifecycleDeleted {
				e.Pass = passView(p)
			}
		}
	}
	// The lookup's time is not the expressions'.
	e.Meter.deadline = e.Meter.deadline.Add(time.Since(lookupStart))
	if e.Pass == nil && r.Action != ActionUpsert {
		return Command{}, &Skip{Reason: fmt.Sprintf("no pass with externalId %q in template %s to %s", extID, r.Template, r.Action), NoPass: true}, nil
	}

	if r.when != nil {
		v, err := run(r.when)
		if err != nil {
			return Command{}, nil, err
		}
		ok, isBool := v.(bool)
		if !isBool {
			return Command{}, nil, fail("when", "must be a boolean, not %s", typeName(v))
		}
		if !ok {
			return Command{}, &Skip{Reason: "when is false"}, nil
		}
	}

	cmd := Command{Rule: r.Name, Action: r.Action, TemplateID: r.TemplateID, ExternalID: extID,
		BaseVersion: base, Seen: lookup != nil, BasePassID: baseID, BaseLifecycle: baseLifecycle}
	if len(r.fields) > 0 {
		cmd.Data = make(map[string]any, len(r.fields))
	}
	for _, f := range r.fields {
		if !f.readsPass {
			if cmd.Latest == nil {
				cmd.Latest = make(map[string]bool, len(r.fields))
			}
			cmd.Latest[f.key] = true
		}
	}
	for _, f := range r.fields {
		v, err := run(f)
		if err != nil {
			return Command{}, nil, err
		}
		v, err = jsonValue(v)
		if err != nil {
			return Command{}, nil, fail(f.field, "%v", err)
		}
		cmd.Data[f.key] = v
	}
	if r.message != nil {
		v, err := run(r.message)
		if err != nil {
			return Command{}, nil, err
		}
		switch s := v.(type) {
		case nil:
		case string:
			if len(s) > core.MaxMessageLen {
				return Command{}, nil, fail("message", "is longer than %d bytes", core.MaxMessageLen)
			}
			cmd.Message = s
		default:
			return Command{}, nil, fail("message", "must be a string, not %s", typeName(v))
		}
	}
	return cmd, nil, nil
}

var errNoExternalID = errors.New("is empty")

// externalIDString coerces an externalId result: strings as they are,
// integers in decimal; nil and blank are errNoExternalID.
func externalIDString(v any) (string, error) {
	var s string
	switch t := v.(type) {
	case nil:
		return "", errNoExternalID
	case string:
		s = t
	case int:
		s = strconv.Itoa(t)
	case int64:
		s = strconv.FormatInt(t, 10)
	case float64:
		if t != math.Trunc(t) || math.Abs(t) >= 1<<53 {
			return "", fmt.Errorf("is the number %v, not an integer; wrap it in string(...)", t)
		}
		s = strconv.FormatInt(int64(t), 10)
	case json.Number:
		s = t.String()
	default:
		return "", fmt.Errorf("must be a string, not %s; wrap it in string(...)", typeName(v))
	}
	if strings.TrimSpace(s) == "" {
		return "", errNoExternalID
	}
	if len(s) > core.MaxExternalIDLen {
		return "", fmt.Errorf("is longer than %d bytes", core.MaxExternalIDLen)
	}
	return s, nil
}

func passView(p *core.Pass) *PassView {
	d, _ := exprShape(p.Data).(map[string]any)
	if d == nil {
		d = map[string]any{}
	}
	return &PassView{
		ID: p.ID, ExternalID: p.ExternalID, Data: d, Lifecycle: string(p.Lifecycle),
		Version: int(p.Version), WalletStatus: string(p.WalletStatus),
	}
}

// MaxPayloadDepth is how deep DecodePayload lets JSON nest.
const MaxPayloadDepth = 64

// DecodePayload decodes a JSON body the way expressions expect it:
// objects as map[string]any, arrays as []any, numbers without a fraction
// or exponent as int (so 64-bit IDs keep every digit), other numbers as
// float64.
func DecodePayload(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding payload: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decoding payload: data after the JSON value")
	}
	return numbers(v, 0)
}

func numbers(v any, depth int) (any, error) {
	if depth > MaxPayloadDepth {
		return nil, fmt.Errorf("decoding payload: nests deeper than %d levels", MaxPayloadDepth)
	}
	switch t := v.(type) {
	case json.Number:
		s := string(t)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return int(i), nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("decoding payload: number %s: %w", truncate(s, 40), err)
		}
		return f, nil
	case map[string]any:
		for k, e := range t {
			n, err := numbers(e, depth+1)
			if err != nil {
				return nil, err
			}
			t[k] = n
		}
	case []any:
		for i, e := range t {
			n, err := numbers(e, depth+1)
			if err != nil {
				return nil, err
			}
			t[i] = n
		}
	}
	return v, nil
}

// jsonValue makes v JSON-shaped, as it will be after the store keeps it.
func jsonValue(v any) (any, error) {
	switch t := v.(type) {
	case nil, bool, string, int:
		return v, nil
	case int64:
		return int(t), nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("%v is not representable as JSON", t)
		}
		return normalizeNumber(t), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("is not representable as JSON: %w", err)
	}
	return DecodePayload(b)
}

// exprShape copies stored pass data (encoding/json shapes) into the shape
// payloads have: numbers without a fraction become ints, so that
// pass.data.points + 1 is an int like payload numbers are.
func exprShape(v any) any {
	switch t := v.(type) {
	case float64:
		return normalizeNumber(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = exprShape(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = exprShape(e)
		}
		return out
	case nil, string, bool, int:
		return v
	}
	if j, err := jsonValue(v); err == nil {
		return j
	}
	return v
}
