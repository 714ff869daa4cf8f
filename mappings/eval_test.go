package mappings

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/core"
)

func mustLoad(t testing.TB, src string) *Mapping {
	t.Helper()
	m, err := Load("m.yaml", []byte(src), AnyTemplate)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// oneField is a mapping whose rule r (on topic t, upsert) has the single
// field f = expr.
func oneField(t testing.TB, expr string) *Mapping {
	t.Helper()
	return mustLoad(t, "rules:\n  - name: r\n    on: [t]\n    action: upsert\n    template: tpl\n    externalId: '\"x\"'\n    fields:\n      f: "+quoteYAML(expr)+"\n")
}

func quoteYAML(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func evalField(t testing.TB, expr string, payload any) (any, error) {
	t.Helper()
	m := oneField(t, expr)
	out, err := m.evaluate(context.Background(), Trigger{Topic: "t", Payload: payload, Headers: map[string]string{"X-Shop": "s1"}, ReceivedAt: DefaultTestTime, Source: "shopify"}, nil, DefaultTestTime.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	if len(out.Commands) != 1 {
		t.Fatalf("outcome %+v", out)
	}
	return out.Commands[0].Data["f"], nil
}

func lookupOf(passes ...*core.Pass) PassLookup {
	return func(_ context.Context, templateID, externalID string) (*core.Pass, error) {
		for _, p := range passes {
			if p.TemplateID == templateID && p.ExternalID == externalID {
				return p, nil
			}
		}
		return nil, nil
	}
}

func TestFunctions(t *testing.T) {
	payload := map[string]any{
		"s": "  Hello World  ", "price": "1,234.50", "int": "12", "n": 7, "f": 2.5,
		"when": "2025-03-01T10:30:00+01:00", "ms": 1738936800000, "tags": "a, b, c",
		"id": 706405506930370084, "list": []any{"x", "y"},
	}
	tests := []struct {
		expr string
		want any
	}{
		{`lower(trim(payload.s))`, "hello world"},
		{`upper(payload.s)`, "  HELLO WORLD  "},
		{`replace(trim(payload.s), "World", "There")`, "Hello There"},
		{`split(payload.tags, ", ")`, []any{"a", "b", "c"}},
		{`join(payload.list, "-")`, "x-y"},
		{`hasPrefix(trim(payload.s), "Hello") && hasSuffix(trim(payload.s), "World")`, true},
		{`"Hello" in split(trim(payload.s), " ")`, true},
		{`trim(payload.s) matches "^H.*d$"`, true},
		{`string(payload.id)`, "706405506930370084"},
		{`string(payload.f)`, "2.5"},
		{`int(payload.int) + 1`, 13},
		{`float(payload.int) / 8`, 1.5},
		{`parseNumber(payload.price)`, 1234.5},
		{`parseNumber(payload.int)`, 12},
		{`parseNumber(" 12.50 ")`, 12.5},
		{`parseNumber(payload.n)`, 7},
		{`parseNumber(payload.missing) ?? 0`, 0},
		{`parseNumber("")`, nil},
		{`round(2.675, 2)`, 2.68},
		{`round(payload.f)`, 3},
		{`round(10 / 3, 3)`, 3.333},
		{`formatTime(parseTime(payload.when))`, "2025-03-01T10:30:00+01:00"},
		{`formatTime(parseTime("DateOnly", "2025-03-01"))`, "2025-03-01T00:00:00Z"},
		{`formatTime(parseTime("02/01/2006", "31/12/2024"), "DateOnly")`, "2024-12-31"},
		{`formatTime(addDays(parseTime(payload.when), 30), "DateOnly")`, "2025-03-31"},
		{`unixMillis(parseTime("2025-02-07T14:00:00Z"))`, 1738936800000},
		{`formatTime(fromUnixMillis(payload.ms))`, "2025-02-07T14:00:00Z"},
		{`formatTime(now)`, "2025-01-01T01:00:00Z"},
		{`formatTime(receivedAt)`, "2025-01-01T00:00:00Z"},
		{`formatTime(now + duration("90m"), "15:04")`, "02:30"},
		{`now > receivedAt`, true},
		{`sha256hex("abc")`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{`headers["x-shop"]`, "s1"},
		{`topic + "/" + source`, "t/shopify"},
		{`toJSON({"a": [1, 2]})`, `{"a":[1,2]}`},
		{`fromJSON("{\"a\": 1}").a`, 1},
		{`toBase64("hi")`, "aGk="},
		{`len(payload.list)`, 2},
		{`sum(map(payload.list, {len(#)}))`, 2},
		{`filter(["a", "bb", "ccc"], {len(#) > 1})`, []any{"bb", "ccc"}},
		{`reduce([1, 2, 3], #acc + #, 10)`, 16},
		{`let x = payload.n * 2; x + 1`, 15},
		{`payload?.nope?.deeper ?? "dflt"`, "dflt"},
		{`{"nested": {"k": payload.n}}`, map[string]any{"nested": map[string]any{"k": 7}}},
		{`keys({"a": 1})`, []any{"a"}},
		{`repeat("ab", 3)`, "ababab"},
		{`nil`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := evalField(t, tt.expr, payload)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestFunctionErrorsAreEvalErrors(t *testing.T) {
	for _, expr := range []string{
		`parseNumber("12 apples")`,
		`parseTime("yesterday")`,
		`parseTime("2006-01-02", payload.missing)`,
		`round(1.5, 40)`,
		`int("12.50")`,
		`payload.s + 1`,
		`fromJSON("{")`,
	} {
		t.Run(expr, func(t *testing.T) {
			_, err := evalField(t, expr, map[string]any{"s": "x"})
			var ee *EvalError
			if !errors.As(err, &ee) || ee.Rule != "r" || ee.Field != "fields.f" {
				t.Fatalf("got %v (%T), want an *EvalError of rule r, fields.f", err, err)
			}
		})
	}
}

func TestPassIsNilSafe(t *testing.T) {
	src := `rules:
  - name: points
    on: [order]
    action: upsert
    template: loyalty
    externalId: payload.customer
    fields:
      points: (pass?.data.points ?? 0) + payload.points
      version: pass?.version ?? 0
      wallet: pass?.walletStatus
`
	m := mustLoad(t, src)
	trigger := Trigger{Topic: "order", Payload: map[string]any{"customer": "c1", "points": 5}}

	out, err := m.Evaluate(t.Context(), trigger, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"points": 5, "version": 0, "wallet": nil}
	if got := out.Commands[0].Data; !reflect.DeepEqual(got, want) {
		t.Errorf("without a pass: %#v, want %#v", got, want)
	}

	pass := &core.Pass{ID: "pass_1", TemplateID: "loyalty", ExternalID: "c1", Data: map[string]any{"points": 10.0}, Lifecycle: core.LifecycleActive, Version: 3, WalletStatus: core.WalletApple}
	out, err = m.Evaluate(t.Context(), trigger, lookupOf(pass))
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]any{"points": 15, "version": 3, "wallet": "apple"}
	if got := out.Commands[0].Data; !reflect.DeepEqual(got, want) {
		t.Errorf("with a pass: %#v, want %#v", got, want)
	}

	// A deleted pass is no pass.
	deleted := *pass
	deleted.Lifecycle = core.LifecycleDeleted
	out, err = m.Evaluate(t.Context(), trigger, lookupOf(&deleted))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Commands[0].Data["points"]; got != 5 {
		t.Errorf("with a deleted pass: points %v, want 5", got)
	}

	// Without ?. a missing pass is an evaluation error naming the field.
	unsafe := mustLoad(t, strings.Replace(src, "pass?.data.points ?? 0", "pass.data.points", 1))
	_, err = unsafe.Evaluate(t.Context(), trigger, nil)
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Rule != "points" || ee.Field != "fields.points" {
		t.Fatalf("got %v, want an EvalError on fields.points", err)
	}
	if !strings.Contains(err.Error(), `rule "points": fields.points: `) {
		t.Errorf("message %q", err.Error())
	}
}

func TestPassIsVisibleToWhen(t *testing.T) {
	m := mustLoad(t, `rules:
  - name: only-gold
    on: [t]
    when: pass?.data.tier == "gold"
    action: upsert
    template: tpl
    externalId: payload.id
    fields: {bonus: 'true'}
`)
	gold := &core.Pass{TemplateID: "tpl", ExternalID: "1", Data: map[string]any{"tier": "gold"}, Lifecycle: core.LifecycleActive}
	out, err := m.Evaluate(t.Context(), Trigger{Topic: "t", Payload: map[string]any{"id": 1}}, lookupOf(gold))
	if err != nil || len(out.Commands) != 1 {
		t.Fatalf("gold: %+v, %v", out, err)
	}
	out, err = m.Evaluate(t.Context(), Trigger{Topic: "t", Payload: map[string]any{"id": 2}}, lookupOf(gold))
	if err != nil || len(out.Commands) != 0 || out.Skipped[0].Reason != "when is false" {
		t.Fatalf("no pass: %+v, %v", out, err)
	}
}

// Every rule whose topic matches applies, in file order.
func TestAllMatchingRulesApplyInFileOrder(t *testing.T) {
	m := mustLoad(t, `rules:
  - name: first
    on: [a, b]
    action: upsert
    template: t1
    externalId: payload.id
    fields: {n: '1'}
  - name: not-this-topic
    on: [c]
    action: upsert
    template: t1
    externalId: payload.id
    fields: {n: '2'}
  - name: when-false
    on: [a]
    when: 'false'
    action: upsert
    template: t1
    externalId: payload.id
    fields: {n: '3'}
  - name: everything
    on: '*'
    action: upsert
    template: t2
    externalId: payload.id
    fields: {n: '4'}
  - name: update-without-pass
    on: [a]
    action: update
    template: t1
    externalId: payload.id
    fields: {n: '5'}
`)
	out, err := m.Evaluate(t.Context(), Trigger{Topic: "a", Payload: map[string]any{"id": "x"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, c := range out.Commands {
		rules = append(rules, c.Rule)
	}
	if want := []string{"first", "everything"}; !reflect.DeepEqual(rules, want) {
		t.Errorf("commands from %v, want %v", rules, want)
	}
	wantSkips := []Skip{
		{Rule: "when-false", Reason: "when is false"},
		{Rule: "update-without-pass", Reason: `no pass with externalId "x" in template t1 to update`, NoPass: true},
	}
	if !reflect.DeepEqual(out.Skipped, wantSkips) {
		t.Errorf("skipped %+v, want %+v", out.Skipped, wantSkips)
	}

	out, err = m.Evaluate(t.Context(), Trigger{Topic: "zzz", Payload: map[string]any{"id": "x"}}, nil)
	if err != nil || len(out.Commands) != 1 || out.Commands[0].Rule != "everything" {
		t.Errorf("* matches every topic: %+v %v", out, err)
	}

	// One failing rule fails the whole evaluation: no partial commands.
	bad := mustLoad(t, `rules:
  - name: ok
    on: [a]
    action: upsert
    template: t
    externalId: payload.id
    fields: {n: '1'}
  - name: broken
    on: [a]
    action: upsert
    template: t
    externalId: payload.id
    fields: {n: 'payload.missing.deeper'}
`)
	out, err = bad.Evaluate(t.Context(), Trigger{Topic: "a", Payload: map[string]any{"id": "x"}}, nil)
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Rule != "broken" || ee.Field != "fields.n" || len(out.Commands) != 0 {
		t.Errorf("got %+v, %v; want only an EvalError of broken", out, err)
	}
}

func TestSkipsAndCoercions(t *testing.T) {
	m := mustLoad(t, `source: shopify
rules:
  - name: r
    on: [t]
    action: upsert
    template: t
    externalId: payload.id
    fields: {n: '1'}
`)
	run := func(tr Trigger) (Outcome, error) { return m.Evaluate(t.Context(), tr, nil) }

	out, _ := run(Trigger{Topic: "t", Source: "square", Payload: map[string]any{"id": 1}})
	if len(out.Commands) != 0 || !strings.Contains(out.Skipped[0].Reason, "mapping is for source shopify, not square") {
		t.Errorf("another source: %+v", out)
	}
	for _, id := range []any{nil, "", "  "} {
		out, err := run(Trigger{Topic: "t", Payload: map[string]any{"id": id}})
		if err != nil || len(out.Commands) != 0 || out.Skipped[0].Reason != "externalId is empty" {
			t.Errorf("externalId %#v: %+v %v", id, out, err)
		}
	}
	for id, want := range map[any]string{12: "12", 12.0: "12", "ab": "ab"} {
		out, err := run(Trigger{Topic: "t", Payload: map[string]any{"id": id}})
		if err != nil || out.Commands[0].ExternalID != want {
			t.Errorf("externalId %#v: %+v %v; want %q", id, out, err, want)
		}
	}
	for _, id := range []any{1.5, true, map[string]any{}, strings.Repeat("x", 256)} {
		_, err := run(Trigger{Topic: "t", Payload: map[string]any{"id": id}})
		var ee *EvalError
		if !errors.As(err, &ee) || ee.Field != "externalId" {
			t.Errorf("externalId %#v: %v, want an EvalError", id, err)
		}
	}
	// Raw JSON is decoded, keeping 64-bit IDs whole.
	out, err := run(Trigger{Topic: "t", Payload: []byte(`{"id": 706405506930370084}`)})
	if err != nil || out.Commands[0].ExternalID != "706405506930370084" {
		t.Errorf("raw payload: %+v %v", out, err)
	}
}

func TestWhenAndMessageMustHaveTheirTypeAtRunTime(t *testing.T) {
	m := mustLoad(t, `rules:
  - name: r
    on: [t]
    when: payload.flag
    action: upsert
    template: t
    externalId: '"x"'
    fields: {n: '1'}
    message: payload.msg
`)
	_, err := m.Evaluate(t.Context(), Trigger{Topic: "t", Payload: map[string]any{"flag": "yes"}}, nil)
	// AsBool makes the VM cast the result: the cast is what fails.
	if err == nil || !strings.Contains(err.Error(), `rule "r": when: `) || !strings.Contains(err.Error(), "bool") {
		t.Errorf("when: %v", err)
	}
	_, err = m.Evaluate(t.Context(), Trigger{Topic: "t", Payload: map[string]any{"flag": true, "msg": 3}}, nil)
	if err == nil || !strings.Contains(err.Error(), `rule "r": message: must be a string`) {
		t.Errorf("message: %v", err)
	}
	out, err := m.Evaluate(t.Context(), Trigger{Topic: "t", Payload: map[string]any{"flag": true, "msg": nil}}, nil)
	if err != nil || out.Commands[0].Message != "" {
		t.Errorf("nil message: %+v %v", out, err)
	}
}

// Resource limits: exceeding them is an EvalError, never a panic or an
// out-of-memory crash.
func TestBudgetsAndTimeouts(t *testing.T) {
	big := strings.Repeat("x", 100_000)
	tests := []struct {
		name string
		expr string
		want func(error) bool
	}{
		{"VM memory budget (a huge range)", `len(1..1000000)`, func(err error) bool { return strings.Contains(err.Error(), "memory budget exceeded") }},
		{"VM memory budget (nested loops)", `len(filter(1..1000, {all(1..1000, {# > 0})}))`, func(err error) bool { return strings.Contains(err.Error(), "memory budget exceeded") }},
		{"doubling a string", `reduce(1..64, #acc + #acc, "ab")`, func(err error) bool { return errors.Is(err, ErrBudgetExceeded) }},
		{"doubling with let", `let a = payload.big + payload.big; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; len(f + f)`, func(err error) bool { return errors.Is(err, ErrBudgetExceeded) }},
		{"repeat", `len(repeat(repeat("a", 1000), 100000))`, func(err error) bool { return err != nil }},
		{"replace blow-up", `len(replace(replace(payload.big, "x", payload.big), "x", "yy"))`, func(err error) bool { return errors.Is(err, ErrBudgetExceeded) }},
		{"many references joined", `len(join(map(1..1000, {payload.big}), ""))`, func(err error) bool { return errors.Is(err, ErrBudgetExceeded) }},
		{"many references as text", `len(string(map(1..1000, {payload.big})))`, func(err error) bool { return errors.Is(err, ErrBudgetExceeded) }},
		{"many references as JSON", `len(toJSON(map(1..1000, {payload.big})))`, func(err error) bool { return errors.Is(err, ErrBudgetExceeded) }},
		{"upper in a loop", `len(map(1..1000, {upper(payload.big)}))`, func(err error) bool { return errors.Is(err, ErrBudgetExceeded) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := oneField(t, tt.expr)
			// Budgets, not the clock, must stop these (the race detector
			// makes everything slower).
			m.Limits.Timeout = time.Minute
			got, err := m.Evaluate(t.Context(), Trigger{Topic: "t", Payload: map[string]any{"big": big}}, nil)
			var ee *EvalError
			if !errors.As(err, &ee) || ee.Field != "fields.f" {
				t.Fatalf("got %v, %v; want an EvalError", got, err)
			}
			if !tt.want(err) {
				t.Errorf("error %v", err)
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		m := oneField(t, `len(filter(1..100000, {# % 2 == 0}))`)
		m.Limits.Timeout = time.Microsecond
		_, err := m.Evaluate(t.Context(), Trigger{Topic: "t"}, nil)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("got %v, want ErrTimeout", err)
		}
		m.Limits.Timeout = time.Minute
		out, err := m.Evaluate(t.Context(), Trigger{Topic: "t"}, nil)
		if err != nil || out.Commands[0].Data["f"] != 50000 {
			t.Fatalf("within the limit: %+v %v", out, err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		m := oneField(t, `len(filter(1..100000, {# % 2 == 0}))`)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := m.Evaluate(ctx, Trigger{Topic: "t"}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestFieldValuesAreJSONShaped(t *testing.T) {
	got, err := evalField(t, `{"t": parseTime("2025-01-02T03:04:05Z"), "l": split("a,b", ","), "f": 2.0, "i": 3}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"t": "2025-01-02T03:04:05Z", "l": []any{"a", "b"}, "f": 2, "i": 3}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if _, err := evalField(t, `0.0 / 0.0`, nil); err == nil || !strings.Contains(err.Error(), "not representable as JSON") {
		t.Errorf("NaN: %v", err)
	}
}

func TestDecodePayload(t *testing.T) {
	v, err := DecodePayload([]byte(`{"id": 706405506930370084, "price": 12.5, "n": 3, "e": 1e3, "big": 123456789012345678901234567890, "a": [1, {"b": 2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": 706405506930370084, "price": 12.5, "n": 3, "e": 1000.0, "big": 1.2345678901234568e29, "a": []any{1, map[string]any{"b": 2}}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got %#v", v)
	}
	for _, bad := range []string{``, `{`, `{} {}`, strings.Repeat("[", 100) + strings.Repeat("]", 100)} {
		if _, err := DecodePayload([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

// A loaded mapping is shared by every worker goroutine.
func TestEvaluateConcurrently(t *testing.T) {
	m := mustLoad(t, `rules:
  - name: r
    on: [t]
    action: upsert
    template: tpl
    externalId: payload.id
    fields:
      points: (pass?.data.points ?? 0) + len(filter(payload.items, {# > 1}))
      name: upper(payload.name) + "!"
`)
	pass := &core.Pass{TemplateID: "tpl", ExternalID: "1", Data: map[string]any{"points": 10.0}, Lifecycle: core.LifecycleActive}
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			var err error
			for i := 0; i < 200 && err == nil; i++ {
				var out Outcome
				out, err = m.Evaluate(context.Background(), Trigger{Topic: "t", Payload: map[string]any{"id": 1, "name": "ann", "items": []any{1, 2, 3}}}, lookupOf(pass))
				if err == nil && (out.Commands[0].Data["points"] != 12 || out.Commands[0].Data["name"] != "ANN!") {
					err = errors.New("wrong data")
				}
			}
			done <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
