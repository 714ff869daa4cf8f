package mappings

import (
	"errors"
	"strings"
	"testing"
)

// A minimal valid rule, to build broken files from.
const okRule = `
  - name: r1
    on: [a]
    action: upsert
    template: loyalty
    externalId: payload.id
    fields:
      x: payload.x
`

func TestLoadAcceptsTheIssueExample(t *testing.T) {
	src := `source: shopify
rules:
  - name: enrol-customer
    on: [customers/create]
    when: payload.email != ""
    action: upsert            # upsert | update | delete | expire | void
    template: loyalty
    externalId: string(payload.id)
    fields:
      name: payload.first_name + " " + payload.last_name
      email: lower(payload.email)
      points: pass?.data.points ?? 0
  - name: points-on-paid-order
    on: [orders/paid]
    action: update
    template: loyalty
    externalId: string(payload.customer.id)
    fields:
      points: (pass?.data.points ?? 0) + int(float(payload.total_price))
    message: '"You earned " + string(int(float(payload.total_price))) + " points"'
`
	m, err := Load("shop.yaml", []byte(src), AnyTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if m.Source != "shopify" || len(m.Rules) != 2 || m.Rules[1].Name != "points-on-paid-order" || m.Rules[1].Line != 13 {
		t.Errorf("got source %q, %d rules, second %q on line %d", m.Source, len(m.Rules), m.Rules[1].Name, m.Rules[1].Line)
	}
	if got := m.Rules[0].fields[2].key; got != "points" {
		t.Errorf("fields keep file order: third is %q", got)
	}
}

func TestLoadTemplateResolution(t *testing.T) {
	resolver := func(ref string) (string, bool) {
		switch ref {
		case "loyalty", "tpl_1":
			return "tpl_1", true
		}
		return "", false
	}
	m, err := Load("m.yaml", []byte("rules:"+okRule), resolver)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Rules[0]; r.Template != "loyalty" || r.TemplateID != "tpl_1" {
		t.Errorf("template %q → %q, want loyalty → tpl_1", r.Template, r.TemplateID)
	}
	byID := strings.Replace("rules:"+okRule, "template: loyalty", "template: tpl_1", 1)
	if _, err := Load("m.yaml", []byte(byID), resolver); err != nil {
		t.Errorf("a template ID is a valid reference: %v", err)
	}
}

// Every problem names the file, line, rule and field.
func TestLoadRefusesWithLineRuleAndField(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Problem // Message is a substring
	}{
		{"unknown top-level key", "sources: shopify\nrules:" + okRule,
			Problem{Line: 1, Field: "sources", Message: "unknown key"}},
		{"unknown source", "source: magento\nrules:" + okRule,
			Problem{Line: 1, Field: "source", Message: "must be one of shopify, hubspot, square, generic, any"}},
		{"source of the wrong type", "source: [shopify]\nrules:" + okRule,
			Problem{Line: 1, Field: "source", Message: "must be a string, not a list"}},
		{"no rules", "source: shopify\n",
			Problem{Line: 1, Field: "rules", Message: "is required"}},
		{"rules not a list", "rules: {a: b}\n",
			Problem{Line: 1, Field: "rules", Message: "must be a list"}},
		{"unknown rule key", "rules:" + okRule + "    onn: [b]\n",
			Problem{Line: 9, Rule: "r1", Field: "onn", Message: "unknown key"}},
		{"missing name", "rules:\n  - on: [a]\n    action: delete\n    template: t\n    externalId: payload.id\n",
			Problem{Line: 2, Field: "rules[0].name", Message: "is required"}},
		{"missing on", "rules:\n  - name: x\n    action: delete\n    template: t\n    externalId: payload.id\n",
			Problem{Line: 2, Rule: "x", Field: "on", Message: "is required"}},
		{"missing action", "rules:\n  - name: x\n    on: a\n    template: t\n    externalId: payload.id\n",
			Problem{Line: 2, Rule: "x", Field: "action", Message: "is required"}},
		{"missing template", "rules:\n  - name: x\n    on: a\n    action: delete\n    externalId: payload.id\n",
			Problem{Line: 2, Rule: "x", Field: "template", Message: "is required"}},
		{"missing externalId", "rules:\n  - name: x\n    on: a\n    action: delete\n    template: t\n",
			Problem{Line: 2, Rule: "x", Field: "externalId", Message: "is required"}},
		{"upsert without fields", "rules:\n  - name: x\n    on: a\n    action: upsert\n    template: t\n    externalId: payload.id\n",
			Problem{Line: 2, Rule: "x", Field: "fields", Message: "is required for upsert"}},
		{"delete with fields", "rules:\n  - name: x\n    on: a\n    action: delete\n    template: t\n    externalId: payload.id\n    fields: {a: 1}\n",
			Problem{Line: 7, Rule: "x", Field: "fields", Message: "delete takes no fields"}},
		{"unknown action", "rules:\n  - name: x\n    on: a\n    action: merge\n    template: t\n    externalId: payload.id\n",
			Problem{Line: 4, Rule: "x", Field: "action", Message: `unknown action "merge"`}},
		{"unknown template", strings.Replace("rules:"+okRule, "template: loyalty", "template: nope", 1),
			Problem{Line: 5, Rule: "r1", Field: "template", Message: `unknown template "nope"`}},
		{"duplicate rule name", "rules:" + okRule + strings.Replace(okRule, "on: [a]", "on: [b]", 1),
			Problem{Line: 10, Rule: "r1", Field: "name", Message: "duplicate rule name (first defined on line 2)"}},
		{"duplicate key", strings.Replace("rules:"+okRule, "    action: upsert\n", "    action: upsert\n    action: update\n", 1),
			Problem{Line: 5, Rule: "r1", Field: "action", Message: "duplicate key (first on line 4)"}},
		{"duplicate field", "rules:" + okRule + "      x: 2\n",
			Problem{Line: 9, Rule: "r1", Field: "fields.x", Message: "duplicate key"}},
		{"on of the wrong type", strings.Replace("rules:"+okRule, "on: [a]", "on: {a: 1}", 1),
			Problem{Line: 3, Rule: "r1", Field: "on", Message: "must be a topic or a list of topics"}},
		{"empty on", strings.Replace("rules:"+okRule, "on: [a]", "on: []", 1),
			Problem{Line: 3, Rule: "r1", Field: "on", Message: "at least one topic"}},
		{"topic not a string", strings.Replace("rules:"+okRule, "on: [a]", "on: [a, 3]", 1),
			Problem{Line: 3, Rule: "r1", Field: "on[1]", Message: "must be a string, not an integer"}},
		{"action not a string", strings.Replace("rules:"+okRule, "action: upsert", "action: [upsert]", 1),
			Problem{Line: 4, Rule: "r1", Field: "action", Message: "must be a string, not a list"}},
		{"fields not a mapping", strings.Replace("rules:"+okRule, "    fields:\n      x: payload.x\n", "    fields: [x]\n", 1),
			Problem{Line: 7, Rule: "r1", Field: "fields", Message: "must be a mapping"}},
		{"expression not a scalar", strings.Replace("rules:"+okRule, "x: payload.x", "x: [payload.x]", 1),
			Problem{Line: 8, Rule: "r1", Field: "fields.x", Message: "must be an expression"}},
		{"null expression", strings.Replace("rules:"+okRule, "x: payload.x", "x: null", 1),
			Problem{Line: 8, Rule: "r1", Field: "fields.x", Message: "write nil"}},
		{"syntax error", strings.Replace("rules:"+okRule, "x: payload.x", "x: payload.x +", 1),
			Problem{Line: 8, Rule: "r1", Field: "fields.x", Message: "unexpected token"}},
		{"syntax error on the third line of a block", strings.Replace("rules:"+okRule, "x: payload.x", "x: |\n        let a = 1;\n        let b = 2;\n        a + ) b", 1),
			Problem{Line: 11, Rule: "r1", Field: "fields.x", Message: "unexpected token"}},
		{"YAML syntax", "rules:\n  - name: x\n    on: [a\n",
			Problem{Line: 2, Message: "invalid YAML"}},
		{"not a mapping", "- a\n- b\n",
			Problem{Line: 1, Message: "must be a mapping"}},
		{"anchors", "rules:\n  - &r\n    name: x\n",
			Problem{Line: 2, Message: "anchors and aliases"}},
		{"two documents", "rules:" + okRule + "---\nrules: []\n",
			Problem{Line: 9, Message: "one YAML document"}},
		{"empty file", "", Problem{Line: 1, Message: "empty"}},
		{"delete with message", "rules:\n  - name: x\n    on: a\n    action: delete\n    template: t\n    externalId: payload.id\n    message: '\"bye\"'\n",
			Problem{Line: 7, Rule: "x", Field: "message", Message: "delete takes no message"}},
		{"field key too long", strings.Replace("rules:"+okRule, "x: payload.x", strings.Repeat("k", 65)+": payload.x", 1),
			Problem{Line: 8, Rule: "r1", Field: "fields." + strings.Repeat("k", 65), Message: "1 to 64 characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Load("m.yaml", []byte(tt.src), func(ref string) (string, bool) { return ref, ref != "nope" })
			if m != nil {
				t.Fatalf("loaded a mapping; want it refused")
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v (%T), want *LoadError", err, err)
			}
			if le.File != "m.yaml" || len(le.Problems) == 0 {
				t.Fatalf("LoadError %+v", le)
			}
			for _, p := range le.Problems {
				if p.Line == tt.want.Line && p.Rule == tt.want.Rule && p.Field == tt.want.Field && strings.Contains(p.Message, tt.want.Message) {
					return
				}
			}
			t.Errorf("problems %+v\nwant one like %+v", le.Problems, tt.want)
		})
	}
}

func TestLoadListsEveryProblemAndFormatsThem(t *testing.T) {
	src := `rules:
  - name: a
    on: [x]
    action: explode
    template: t
    externalId: payload.id
  - name: b
    on: [x]
    action: update
    template: t
    externalId: payload.id
    fields:
      n: payload.n +
`
	_, err := Load("dir/m.yaml", []byte(src), AnyTemplate)
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 2 {
		t.Fatalf("want two problems, got %v", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 {
		t.Fatalf("Error() has %d lines: %q", len(lines), err.Error())
	}
	if want := `dir/m.yaml:4: rule "a": action: unknown action "explode"`; !strings.HasPrefix(lines[0], want) {
		t.Errorf("first line %q, want prefix %q", lines[0], want)
	}
	if want := `dir/m.yaml:13: rule "b": fields.n: `; !strings.HasPrefix(lines[1], want) {
		t.Errorf("second line %q, want prefix %q", lines[1], want)
	}
}

// Expressions are type-checked at load, not at three in the morning.
func TestLoadRefusesExpressionsThatCannotWork(t *testing.T) {
	rule := func(field, expr string) string {
		return "rules:\n  - name: r\n    on: [a]\n    action: update\n    template: t\n    externalId: payload.id\n    " + field + ": '" + expr + "'\n"
	}
	fieldRule := func(expr string) string {
		return "rules:\n  - name: r\n    on: [a]\n    action: update\n    template: t\n    externalId: payload.id\n    fields:\n      f: '" + expr + "'\n"
	}
	tests := []struct {
		name, src, field, msg string
	}{
		{"when must be a boolean", rule("when", `"yes"`), "when", "expected bool"},
		{"when of a number", rule("when", `1 + 2`), "when", "expected bool"},
		{"message must be a string", rule("message", `1 + 2`), "message", "expected string"},
		{"externalId cannot be a boolean", strings.Replace(rule("when", "true"), "externalId: payload.id", "externalId: payload.id > 3", 1), "externalId", "must be a string"},
		{"mismatched operands", fieldRule(`"points: " + 3`), "fields.f", "mismatched types string and int"},
		{"unknown variable", fieldRule(`payloadd.x`), "fields.f", "unknown name payloadd"},
		{"pass has no such field", fieldRule(`pass.points`), "fields.f", "points"},
		{"wrong argument type", fieldRule(`lower(3)`), "fields.f", "cannot use int as argument"},
		// expr skips re-checking the arguments of a patched call: these
		// loaded, and failed only when a trigger arrived.
		{"unknown name inside a function call", fieldRule(`upper(nosuch)`), "fields.f", "unknown name nosuch"},
		{"unknown name beside a function call", fieldRule(`lower(payload.x) + nosuch`), "fields.f", "unknown name nosuch"},
		{"unknown name in a hash", fieldRule(`sha256hex(nosuch.x)`), "fields.f", "unknown name nosuch"},
		{"env() does not exist", fieldRule(`env("HOME")`), "fields.f", "unknown name env"},
		{"readFile does not exist", fieldRule(`readFile("/etc/passwd")`), "fields.f", "unknown name readFile"},
		{"httpGet does not exist", fieldRule(`httpGet("http://example.com")`), "fields.f", "unknown name httpGet"},
		{"date (reads the zone database) is disabled", fieldRule(`date("2024-01-01")`), "fields.f", "unknown name date"},
		{"timezone is disabled", fieldRule(`timezone("Europe/Paris")`), "fields.f", "unknown name timezone"},
		{"now is a variable, not a function", fieldRule(`now()`), "fields.f", "not callable"},
		{"method calls are refused", fieldRule(`now.Format("2006")`), "fields.f", "method calls are not allowed"},
		{"the meter cannot be named", fieldRule(`__meter`), "fields.f", "unknown name __meter"},
		{"$env cannot be named", fieldRule(`$env.payload`), "fields.f", "unknown name $env"},
		{"internal functions cannot be called", fieldRule(`__add(1, 2)`), "fields.f", "unknown name __add"},
		{"matches needs a constant pattern", fieldRule(`payload.a matches payload.b`), "fields.f", "constant pattern"},
		{"node limit", fieldRule(strings.Repeat("1 + ", 1000) + "1"), "fields.f", "exceeds maximum allowed nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("m.yaml", []byte(tt.src), AnyTemplate)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *LoadError", err)
			}
			for _, p := range le.Problems {
				if p.Rule == "r" && p.Field == tt.field && strings.Contains(p.Message, tt.msg) {
					return
				}
			}
			t.Errorf("problems %+v; want %s: ...%s...", le.Problems, tt.field, tt.msg)
		})
	}
}

func TestLoadAcceptsExpressionsAtTheNodeLimit(t *testing.T) {
	// 1 + 1 + ... with 400 additions is about 800 nodes: under the limit.
	src := "rules:\n  - name: r\n    on: [a]\n    action: update\n    template: t\n    externalId: payload.id\n    fields:\n      f: '" + strings.Repeat("1 + ", 400) + "1'\n"
	if _, err := Load("m.yaml", []byte(src), AnyTemplate); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRefusesHugeFiles(t *testing.T) {
	_, err := Load("m.yaml", []byte("# "+strings.Repeat("x", MaxFileBytes)), AnyTemplate)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}
