// Package mappings is the mapping language: YAML files that turn the
// triggers of one source system into pass commands.
//
// A mapping file is decoded strictly (every unknown key, wrong type,
// missing key, duplicate rule and unknown template is refused, each with
// its file, line and rule), and every expression in it is compiled once at
// load against a typed environment, so a mapping that loads cannot fail on
// a typo at three in the morning. Evaluation is pure: it reads the trigger
// and the current pass and returns commands; Apply runs them through
// core.Service. Both the worker and `passhub mappings test` use these same
// two steps.
//
// Expressions are github.com/expr-lang/expr programs. They can read
// payload, headers, topic, source, receivedAt, now and pass, and call the
// functions listed in FUNCTIONS.md; nothing else. Every evaluation is
// bounded: a node limit at compile time, and at run time the VM's memory
// budget, a byte budget for the strings and collections functions make,
// and a deadline checked at every function call and loop iteration.
package mappings

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Action is what a rule does to the pass of (template, external ID).
type Action string

const (
	// ActionUpsert creates the pass with the fields, or merges the fields
	// into the existing pass (making it active again if it was expired,
	// voided or deleted).
	ActionUpsert Action = "upsert"
	// ActionUpdate merges the fields into an existing pass and shows the
	// message; it is skipped when there is no pass.
	ActionUpdate Action = "update"
	// ActionDelete marks the pass deleted.
	ActionDelete Action = "delete"
	// ActionExpire marks the pass expired (fields and message optional).
	ActionExpire Action = "expire"
	// ActionVoid marks the pass voided (fields and message optional).
	ActionVoid Action = "void"
)

// Actions lists every action.
var Actions = []Action{ActionUpsert, ActionUpdate, ActionDelete, ActionExpire, ActionVoid}

// Valid reports whether a is a known action.
func (a Action) Valid() bool {
	for _, k := range Actions {
		if a == k {
			return true
		}
	}
	return false
}

// Sources a mapping may declare; "any" (or no source) accepts triggers
// from every source.
var Sources = []string{"shopify", "hubspot", "square", "generic", "any"}

// TemplateResolver resolves a template reference (a template's name or
// its ID) to the template ID; ok is false for an unknown template.
type TemplateResolver func(ref string) (templateID string, ok bool)

// AnyTemplate accepts every template reference and returns it as the ID,
// for checking and testing mappings without a workspace.
func AnyTemplate(ref string) (string, bool) { return ref, ref != "" }

// Limits bound one mapping file and each evaluation.
type Limits struct {
	// MaxNodes is the most AST nodes one expression may have.
	MaxNodes uint
	// MemoryBudget is the expr VM's memory budget for one expression run,
	// in its units (about one per array element, range item or loop
	// iteration).
	MemoryBudget uint
	// MaxBytes is the most bytes the functions and the + operator may
	// produce in one rule's evaluation (strings, plus 16 bytes per
	// collection element).
	MaxBytes int
	// Timeout bounds the expressions of one rule (the pass lookup is not
	// counted); it is checked at every function call and loop iteration.
	Timeout time.Duration
}

// DefaultLimits are the limits Load sets.
var DefaultLimits = Limits{
	MaxNodes:     1000,
	MemoryBudget: 250_000,
	MaxBytes:     4 << 20,
	Timeout:      time.Second,
}

// Limits of the file format.
const (
	MaxFileBytes   = 1 << 20
	MaxRules       = 500
	MaxNameLen     = 100
	MaxFieldKeyLen = 64
)

// Mapping is a loaded, compiled mapping file. It is immutable and safe
// for concurrent use, except Limits, which may be changed before first use.
type Mapping struct {
	// Name is the file name it was loaded as.
	Name string
	// Source is the declared source system ("" when not declared).
	Source string
	Rules  []*Rule
	Limits Limits
}

// Rule is one compiled rule.
type Rule struct {
	Name string
	// Line is where the rule starts in the file.
	Line   int
	On     []string
	Action Action
	// Template is the reference as written; TemplateID what it resolved to.
	Template   string
	TemplateID string

	when       *expression // nil: always
	externalID *expression
	fields     []*expression // in file order; field is "fields.KEY"
	message    *expression   // nil: none
}

// Problem is one thing wrong with a mapping file.
type Problem struct {
	Line    int    `json:"line"`
	Rule    string `json:"rule,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// LoadError lists every problem of a refused mapping file.
type LoadError struct {
	File     string    `json:"file"`
	Problems []Problem `json:"problems"`
}

func (e *LoadError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d: ", e.File, p.Line)
		if p.Rule != "" {
			fmt.Fprintf(&b, "rule %q: ", p.Rule)
		}
		if p.Field != "" {
			b.WriteString(p.Field)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// loader collects problems while decoding one file.
type loader struct {
	file      string
	templates TemplateResolver
	limits    Limits
	problems  []Problem
}

func (l *loader) add(line int, rule, field, format string, args ...any) {
	l.problems = append(l.problems, Problem{Line: line, Rule: rule, Field: field, Message: fmt.Sprintf(format, args...)})
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// Load decodes and compiles the mapping file src, named name (used in
// errors). templates resolves template references; nil accepts any
// (AnyTemplate). Any problem refuses the whole file with a *LoadError that
// lists them all.
func Load(name string, src []byte, templates TemplateResolver) (m *Mapping, err error) {
	if templates == nil {
		templates = AnyTemplate
	}
	l := &loader{file: name, templates: templates, limits: DefaultLimits}
	defer func() {
		// The YAML decoder must never take the process down over a
		// malformed file.
		if r := recover(); r != nil {
			m, err = nil, &LoadError{File: name, Problems: []Problem{{Line: 1, Message: fmt.Sprintf("malformed YAML: %v", r)}}}
		}
	}()
	m = l.load(src)
	if len(l.problems) > 0 {
		return nil, &LoadError{File: name, Problems: l.problems}
	}
	m.Name = name
	m.Limits = l.limits
	return m, nil
}

func (l *loader) load(src []byte) *Mapping {
	if len(src) > MaxFileBytes {
		l.add(1, "", "", "file is larger than %d bytes", MaxFileBytes)
		return nil
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.add(1, "", "", "file is empty")
			return nil
		}
		line := 1
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		l.add(line, "", "", "invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.add(extra.Line, "", "", "a mapping file holds one YAML document")
		return nil
	} else if !errors.Is(err, io.EOF) {
		l.add(1, "", "", "invalid YAML after the first document")
		return nil
	}
	if !l.noAliases(&doc) {
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			l.add(1, "", "", "file is empty")
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		l.add(root.Line, "", "", "must be a mapping with keys source and rules, not %s", kindName(root))
		return nil
	}
	m := &Mapping{}
	var rulesNode *yaml.Node
	l.eachKey(root, "", "", func(key string, k, v *yaml.Node) {
		switch key {
		case "source":
			s, ok := l.str(v, "", "source")
			if !ok {
				return
			}
			if !contains(Sources, s) {
				l.add(v.Line, "", "source", "must be one of %s, not %q", strings.Join(Sources, ", "), s)
				return
			}
			m.Source = s
		case "rules":
			rulesNode = v
		default:
			l.add(k.Line, "", key, "unknown key (allowed: source, rules)")
		}
	})
	if rulesNode == nil {
		l.add(root.Line, "", "rules", "is required")
		return m
	}
	if rulesNode.Kind != yaml.SequenceNode {
		l.add(rulesNode.Line, "", "rules", "must be a list of rules, not %s", kindName(rulesNode))
		return m
	}
	if len(rulesNode.Content) == 0 {
		l.add(rulesNode.Line, "", "rules", "has no rules")
		return m
	}
	if len(rulesNode.Content) > MaxRules {
		l.add(rulesNode.Line, "", "rules", "has more than %d rules", MaxRules)
		return m
	}
	seen := map[string]int{}
	for i, rn := range rulesNode.Content {
		r := l.rule(i, rn)
		if r == nil {
			continue
		}
		if r.Name != "" {
			if prev, dup := seen[r.Name]; dup {
				l.add(r.Line, r.Name, "name", "duplicate rule name (first defined on line %d)", prev)
				continue
			}
			seen[r.Name] = r.Line
		}
		m.Rules = append(m.Rules, r)
	}
	return m
}

var ruleKeys = []string{"name", "description", "on", "when", "action", "template", "externalId", "fields", "message"}

func (l *loader) rule(i int, n *yaml.Node) *Rule {
	if n.Kind != yaml.MappingNode {
		l.add(n.Line, "", fmt.Sprintf("rules[%d]", i), "must be a mapping, not %s", kindName(n))
		return nil
	}
	r := &Rule{Line: n.Line}
	// The name first, so every other problem can carry it.
	if v := lookup(n, "name"); v != nil {
		if s, ok := l.str(v, "", fmt.Sprintf("rules[%d].name", i)); ok {
			switch {
			case strings.TrimSpace(s) == "":
				l.add(v.Line, "", fmt.Sprintf("rules[%d].name", i), "must not be empty")
			case len(s) > MaxNameLen:
				l.add(v.Line, "", fmt.Sprintf("rules[%d].name", i), "is longer than %d characters", MaxNameLen)
			default:
				r.Name = s
			}
		}
	} else {
		l.add(n.Line, "", fmt.Sprintf("rules[%d].name", i), "is required")
	}
	label := r.Name
	if label == "" {
		label = fmt.Sprintf("#%d", i+1)
	}
	nodes := map[string]*yaml.Node{}
	l.eachKey(n, label, "", func(key string, k, v *yaml.Node) {
		if !contains(ruleKeys, key) {
			l.add(k.Line, label, key, "unknown key (allowed: %s)", strings.Join(ruleKeys, ", "))
			return
		}
		nodes[key] = v
	})
	for _, key := range []string{"on", "action", "template", "externalId"} {
		if nodes[key] == nil {
			l.add(n.Line, label, key, "is required")
		}
	}
	if v := nodes["description"]; v != nil {
		l.str(v, label, "description")
	}
	if v := nodes["on"]; v != nil {
		r.On = l.topics(v, label)
	}
	if v := nodes["action"]; v != nil {
		if s, ok := l.str(v, label, "action"); ok {
			r.Action = Action(s)
			if !r.Action.Valid() {
				l.add(v.Line, label, "action", "unknown action %q (allowed: upsert, update, delete, expire, void)", s)
			}
		}
	}
	if v := nodes["template"]; v != nil {
		if s, ok := l.str(v, label, "template"); ok {
			r.Template = s
			if id, ok := l.templates(s); !ok || id == "" {
				l.add(v.Line, label, "template", "unknown template %q", s)
			} else {
				r.TemplateID = id
			}
		}
	}
	if v := nodes["when"]; v != nil {
		r.when = l.expr(v, label, "when", kindBool)
	}
	if v := nodes["externalId"]; v != nil {
		r.externalID = l.expr(v, label, "externalId", kindExternalID)
	}
	if v := nodes["fields"]; v != nil {
		switch {
		case r.Action == ActionDelete:
			l.add(v.Line, label, "fields", "delete takes no fields")
		case v.Kind != yaml.MappingNode:
			l.add(v.Line, label, "fields", "must be a mapping of data key to expression, not %s", kindName(v))
		case len(v.Content) == 0 && r.Action == ActionUpsert:
			l.add(v.Line, label, "fields", "is required for upsert and must not be empty")
		default:
			l.eachKey(v, label, "fields.", func(key string, k, fv *yaml.Node) {
				field := "fields." + key
				if key == "" || len(key) > MaxFieldKeyLen {
					l.add(k.Line, label, field, "data keys must be 1 to %d characters", MaxFieldKeyLen)
					return
				}
				if e := l.expr(fv, label, field, kindAny); e != nil {
					e.key = key
					r.fields = append(r.fields, e)
				}
			})
		}
	} else if r.Action == ActionUpsert {
		l.add(n.Line, label, "fields", "is required for upsert")
	}
	if v := nodes["message"]; v != nil {
		if r.Action == ActionDelete {
			l.add(v.Line, label, "message", "delete takes no message")
		} else {
			r.message = l.expr(v, label, "message", kindString)
		}
	}
	return r
}

func (l *loader) topics(v *yaml.Node, rule string) []string {
	var items []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{v}
	case yaml.SequenceNode:
		items = v.Content
	default:
		l.add(v.Line, rule, "on", "must be a topic or a list of topics, not %s", kindName(v))
		return nil
	}
	if len(items) == 0 {
		l.add(v.Line, rule, "on", "must name at least one topic (or \"*\")")
		return nil
	}
	var out []string
	for i, it := range items {
		field := "on"
		if v.Kind == yaml.SequenceNode {
			field = fmt.Sprintf("on[%d]", i)
		}
		s, ok := l.str(it, rule, field)
		if !ok {
			continue
		}
		if strings.TrimSpace(s) == "" {
			l.add(it.Line, rule, field, "topic must not be empty")
			continue
		}
		out = append(out, s)
	}
	return out
}

// eachKey calls fn for every key of the mapping node n, refusing non-string
// and duplicate keys.
func (l *loader) eachKey(n *yaml.Node, rule, prefix string, fn func(key string, k, v *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "" && k.Tag != "!!int" && k.Tag != "!!bool" && k.Tag != "!!float") {
			l.add(k.Line, rule, prefix, "keys must be strings")
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			l.add(k.Line, rule, prefix+k.Value, "duplicate key (first on line %d)", prev)
			continue
		}
		seen[k.Value] = k.Line
		fn(k.Value, k, v)
	}
}

func (l *loader) str(v *yaml.Node, rule, field string) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		l.add(v.Line, rule, field, "must be a string, not %s", kindName(v))
		return "", false
	}
	if v.Tag != "!!str" {
		l.add(v.Line, rule, field, "must be a string, not %s (quote it)", kindName(v))
		return "", false
	}
	return v.Value, true
}

func (l *loader) noAliases(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		l.add(n.Line, "", "", "YAML anchors and aliases are not supported")
		return false
	}
	for _, c := range n.Content {
		if !l.noAliases(c) {
			return false
		}
	}
	return true
}

func lookup(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!bool":
		return "a boolean"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!str":
		return "a string"
	}
	return "a " + strings.TrimPrefix(n.Tag, "!!")
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
