package mappings

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/passhub/passhub/core"
)

// Test files sit beside their mapping: NAME.yaml is tested by
// NAME_test.yaml, a list of cases:
//
//	- name: enrols a new customer
//	  now: 2025-03-01T10:00:00Z        # optional; default trigger.receivedAt
//	  trigger:
//	    topic: customers/create
//	    source: shopify                 # optional
//	    receivedAt: 2025-03-01T10:00:00Z # optional; default 2025-01-01T00:00:00Z
//	    headers: {x-shopify-shop-domain: example.myshopify.com}
//	    payload: {...}                  # the JSON body, as YAML or JSON
//	  pass:                             # optional: the pass that exists
//	    externalId: "42"                # optional: only this external ID has it
//	    data: {points: 10}
//	    lifecycle: active               # default active
//	  expect:                           # exactly one of:
//	    commands: [{rule, action, template, externalId, data, message}]
//	    skipped: true                   # no commands; reason: optional substring
//	    error: substring of the evaluation error

// TestCase is one case of a test file.
type TestCase struct {
	Name    string      `yaml:"name"`
	Now     *time.Time  `yaml:"now"`
	Trigger TestTrigger `yaml:"trigger"`
	Pass    *TestPass   `yaml:"pass"`
	Expect  TestExpect  `yaml:"expect"`
	// Line is where the case starts in its file.
	Line int `yaml:"-"`
}

// TestTrigger is the trigger of a test case.
type TestTrigger struct {
	Topic      string            `yaml:"topic"`
	Source     string            `yaml:"source"`
	ReceivedAt *time.Time        `yaml:"receivedAt"`
	Headers    map[string]string `yaml:"headers"`
	Payload    any               `yaml:"payload"`
}

// TestPass is the pass that exists when a test case runs.
type TestPass struct {
	ID           string         `yaml:"id"`
	ExternalID   string         `yaml:"externalId"`
	Template     string         `yaml:"template"`
	Data         map[string]any `yaml:"data"`
	Lifecycle    string         `yaml:"lifecycle"`
	Version      int64          `yaml:"version"`
	WalletStatus string         `yaml:"walletStatus"`
}

// TestExpect is what a test case expects.
type TestExpect struct {
	Commands []TestCommand `yaml:"commands"`
	Skipped  bool          `yaml:"skipped"`
	Reason   string        `yaml:"reason"`
	Error    string        `yaml:"error"`
}

// TestCommand is an expected command; Template is a template reference
// (resolved like the mapping's); an empty Rule is not compared.
type TestCommand struct {
	Rule       string         `yaml:"rule,omitempty"`
	Action     Action         `yaml:"action"`
	Template   string         `yaml:"template"`
	ExternalID string         `yaml:"externalId"`
	Data       map[string]any `yaml:"data,omitempty"`
	Message    string         `yaml:"message,omitempty"`
}

// DefaultTestTime is a test trigger's receivedAt when it names none.
var DefaultTestTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Report is the result of RunTests.
type Report struct {
	Mappings []MappingReport
}

// MappingReport is one mapping file and its tests.
type MappingReport struct {
	File     string
	TestFile string // "" when the mapping has none
	// Err is why the mapping or its test file could not be loaded.
	Err   error
	Tests []TestResult
}

// TestResult is one test case's result.
type TestResult struct {
	Name string
	Line int
	// Failure says what went wrong, with a diff; empty when it passed.
	Failure string
}

// Passed counts the passing test cases.
func (r Report) Passed() int {
	n := 0
	for _, m := range r.Mappings {
		for _, t := range m.Tests {
			if t.Failure == "" {
				n++
			}
		}
	}
	return n
}

// Failed counts failing test cases and files that could not be loaded.
func (r Report) Failed() int {
	n := 0
	for _, m := range r.Mappings {
		if m.Err != nil {
			n++
		}
		for _, t := range m.Tests {
			if t.Failure != "" {
				n++
			}
		}
	}
	return n
}

// OK reports whether everything loaded and every test passed.
func (r Report) OK() bool { return r.Failed() == 0 }

// String renders the report for a terminal, ending with
// "N passed, N failed".
func (r Report) String() string {
	var b strings.Builder
	for _, m := range r.Mappings {
		if m.Err != nil {
			fmt.Fprintf(&b, "FAIL %s\n%s\n", m.File, indent(m.Err.Error(), "    "))
			continue
		}
		failed := 0
		for _, t := range m.Tests {
			if t.Failure != "" {
				failed++
				fmt.Fprintf(&b, "--- FAIL: %s:%d: %s\n%s\n", m.TestFile, t.Line, t.Name, indent(t.Failure, "    "))
			}
		}
		switch {
		case m.TestFile == "":
			fmt.Fprintf(&b, "?    %s [no test file]\n", m.File)
		case failed > 0:
			fmt.Fprintf(&b, "FAIL %s (%d of %d tests failed)\n", m.File, failed, len(m.Tests))
		default:
			fmt.Fprintf(&b, "ok   %s (%d tests)\n", m.File, len(m.Tests))
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed\n", r.Passed(), r.Failed())
	return b.String()
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// dirFiles lists the mapping files and test files of dir.
func dirFiles(dir string) (mappingFiles []string, testFiles map[string]string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading mapping directory: %w", err)
	}
	testFiles = map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		ext := filepath.Ext(name)
		if ext != ".yaml" && ext != ".yml" {
			continue
		}
		base := strings.TrimSuffix(name, ext)
		if strings.HasSuffix(base, "_test") {
			testFiles[strings.TrimSuffix(base, "_test")] = name
			continue
		}
		mappingFiles = append(mappingFiles, name)
	}
	sort.Strings(mappingFiles)
	return mappingFiles, testFiles, nil
}

// CheckDir loads every mapping file of dir and decodes every test file,
// returning all their problems joined (nil when all is well). It is
// `passhub mappings check`.
func CheckDir(dir string, templates TemplateResolver) error {
	files, tests, err := dirFiles(dir)
	if err != nil {
		return err
	}
	var errs []error
	seen := map[string]bool{}
	for _, name := range files {
		base := strings.TrimSuffix(name, filepath.Ext(name))
		seen[base] = true
		if _, err := LoadFile(filepath.Join(dir, name), templates); err != nil {
			errs = append(errs, err)
		}
		if tf, ok := tests[base]; ok {
			if _, err := LoadTests(filepath.Join(dir, tf)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for base, tf := range tests {
		if !seen[base] {
			errs = append(errs, fmt.Errorf("%s: no mapping file %s.yaml beside it", filepath.Join(dir, tf), base))
		}
	}
	return errors.Join(errs...)
}

// LoadFile reads and loads one mapping file; its name in errors is path.
func LoadFile(path string, templates TemplateResolver) (*Mapping, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading mapping: %w", err)
	}
	return Load(path, src, templates)
}

// LoadTests reads and strictly decodes a test file.
func LoadTests(path string) ([]TestCase, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading tests: %w", err)
	}
	return DecodeTests(path, src)
}

// DecodeTests strictly decodes the test file src named name.
func DecodeTests(name string, src []byte) ([]TestCase, error) {
	var cases []TestCase
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cases); err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var nodes []yaml.Node
	if err := yaml.Unmarshal(src, &nodes); err == nil && len(nodes) == len(cases) {
		for i := range cases {
			cases[i].Line = nodes[i].Line
		}
	}
	var problems []string
	names := map[string]bool{}
	for i, c := range cases {
		where := fmt.Sprintf("%s:%d", name, c.Line)
		switch {
		case strings.TrimSpace(c.Name) == "":
			problems = append(problems, fmt.Sprintf("%s: case %d: name is required", where, i+1))
		case names[c.Name]:
			problems = append(problems, fmt.Sprintf("%s: %q: duplicate test name", where, c.Name))
		}
		names[c.Name] = true
		if c.Trigger.Topic == "" {
			problems = append(problems, fmt.Sprintf("%s: %q: trigger.topic is required", where, c.Name))
		}
		kinds := 0
		if c.Expect.Commands != nil {
			kinds++
		}
		if c.Expect.Skipped {
			kinds++
		}
		if c.Expect.Error != "" {
			kinds++
		}
		if kinds != 1 {
			problems = append(problems, fmt.Sprintf("%s: %q: expect needs exactly one of commands, skipped: true, error", where, c.Name))
		}
		if c.Expect.Reason != "" && !c.Expect.Skipped {
			problems = append(problems, fmt.Sprintf("%s: %q: expect.reason goes with skipped: true", where, c.Name))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return cases, nil
}

// RunTests loads every mapping of dir (every *.yaml and *.yml but the
// *_test ones) and runs the cases of its test file. The error is only for
// a directory that cannot be read; load errors and failing cases are in
// the report.
func RunTests(dir string, templates TemplateResolver) (Report, error) {
	if templates == nil {
		templates = AnyTemplate
	}
	files, tests, err := dirFiles(dir)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	seen := map[string]bool{}
	for _, name := range files {
		base := strings.TrimSuffix(name, filepath.Ext(name))
		seen[base] = true
		mr := MappingReport{File: filepath.Join(dir, name)}
		if tf, ok := tests[base]; ok {
			mr.TestFile = filepath.Join(dir, tf)
		}
		m, err := LoadFile(mr.File, templates)
		if err != nil {
			mr.Err = err
			rep.Mappings = append(rep.Mappings, mr)
			continue
		}
		if mr.TestFile != "" {
			cases, err := LoadTests(mr.TestFile)
			if err != nil {
				mr.Err = err
			}
			for _, c := range cases {
				mr.Tests = append(mr.Tests, TestResult{Name: c.Name, Line: c.Line, Failure: RunCase(m, c, templates)})
			}
		}
		rep.Mappings = append(rep.Mappings, mr)
	}
	var orphans []string
	for base, tf := range tests {
		if !seen[base] {
			orphans = append(orphans, tf)
		}
	}
	sort.Strings(orphans)
	for _, tf := range orphans {
		rep.Mappings = append(rep.Mappings, MappingReport{
			File: filepath.Join(dir, tf), TestFile: filepath.Join(dir, tf),
			Err: fmt.Errorf("no mapping file beside %s", tf),
		})
	}
	return rep, nil
}

// RunCase runs one test case against m and returns what went wrong ("" if
// nothing).
func RunCase(m *Mapping, c TestCase, templates TemplateResolver) string {
	if templates == nil {
		templates = AnyTemplate
	}
	received := DefaultTestTime
	if c.Trigger.ReceivedAt != nil {
		received = c.Trigger.ReceivedAt.UTC()
	}
	now := received
	if c.Now != nil {
		now = c.Now.UTC()
	}
	payload, err := jsonValue(c.Trigger.Payload)
	if err != nil {
		return fmt.Sprintf("trigger.payload: %v", err)
	}
	var lookup PassLookup
	if tp := c.Pass; tp != nil {
		tplID := ""
		if tp.Template != "" {
			id, ok := templates(tp.Template)
			if !ok {
				return fmt.Sprintf("pass.template: unknown template %q", tp.Template)
			}
			tplID = id
		}
		lookup = func(_ context.Context, templateID, externalID string) (*core.Pass, error) {
			if (tp.ExternalID != "" && tp.ExternalID != externalID) || (tplID != "" && tplID != templateID) {
				return nil, nil
			}
			p := &core.Pass{
				ID: tp.ID, TemplateID: templateID, ExternalID: externalID, Data: tp.Data,
				Lifecycle: core.Lifecycle(tp.Lifecycle), Version: tp.Version, WalletStatus: core.WalletStatus(tp.WalletStatus),
			}
			if p.ID == "" {
				p.ID = "pass_test"
			}
			if p.Lifecycle == "" {
				p.Lifecycle = core.LifecycleActive
			}
			if p.Version == 0 {
				p.Version = 1
			}
			if p.WalletStatus == "" {
				p.WalletStatus = core.WalletNone
			}
			return p, nil
		}
	}
	t := Trigger{Topic: c.Trigger.Topic, Source: c.Trigger.Source, Payload: payload, Headers: c.Trigger.Headers, ReceivedAt: received}
	out, err := m.evaluate(context.Background(), t, lookup, now)
	exp := c.Expect
	switch {
	case exp.Error != "":
		if err == nil {
			return fmt.Sprintf("expected an error containing %q, got:\n%s", exp.Error, render(outcomeView(out)))
		}
		if !strings.Contains(err.Error(), exp.Error) {
			return fmt.Sprintf("expected an error containing %q, got: %v", exp.Error, err)
		}
		return ""
	case err != nil:
		return fmt.Sprintf("unexpected error: %v", err)
	case exp.Skipped:
		if len(out.Commands) > 0 {
			return fmt.Sprintf("expected no commands (skipped), got:\n%s", render(outcomeView(out)))
		}
		if exp.Reason != "" {
			for _, s := range out.Skipped {
				if strings.Contains(s.Reason, exp.Reason) {
					return ""
				}
			}
			return fmt.Sprintf("expected a skip reason containing %q, got:\n%s", exp.Reason, render(outcomeView(out)))
		}
		return ""
	}
	want := make([]map[string]any, len(exp.Commands))
	got := make([]map[string]any, len(out.Commands))
	for i, c := range out.Commands {
		got[i] = commandView(c.Rule, c.Action, c.TemplateID, c.ExternalID, c.Data, c.Message)
	}
	for i, w := range exp.Commands {
		tplID := w.Template
		if id, ok := templates(w.Template); ok {
			tplID = id
		}
		rule := w.Rule
		if rule == "" && i < len(out.Commands) {
			rule = out.Commands[i].Rule
		}
		data, err := jsonValue(w.Data)
		if err != nil {
			return fmt.Sprintf("expect.commands[%d].data: %v", i, err)
		}
		dm, _ := data.(map[string]any)
		want[i] = commandView(rule, w.Action, tplID, w.ExternalID, dm, w.Message)
	}
	if reflect.DeepEqual(want, got) {
		return ""
	}
	msg := "commands differ (- expected, + got):\n" + diffLines(render(want), render(got))
	if len(out.Skipped) > 0 {
		msg += "\nskipped:\n" + render(out.Skipped)
	}
	return msg
}

func commandView(rule string, action Action, tpl, ext string, data map[string]any, msg string) map[string]any {
	v := map[string]any{"rule": rule, "action": string(action), "template": tpl, "externalId": ext}
	if len(data) > 0 {
		v["data"] = data
	}
	if msg != "" {
		v["message"] = msg
	}
	return v
}

func outcomeView(o Outcome) map[string]any {
	cmds := make([]map[string]any, len(o.Commands))
	for i, c := range o.Commands {
		cmds[i] = commandView(c.Rule, c.Action, c.TemplateID, c.ExternalID, c.Data, c.Message)
	}
	return map[string]any{"commands": cmds, "skipped": o.Skipped}
}

func render(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return strings.TrimRight(string(b), "\n")
}

// diffLines is a line diff of a and b (longest common subsequence):
// common lines indented, removed ones prefixed "-", added ones "+".
func diffLines(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(x)*len(y) > 4_000_000 {
		return "- " + strings.Join(x, "\n- ") + "\n+ " + strings.Join(y, "\n+ ")
	}
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out.WriteString("  " + x[i] + "\n")
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("- " + x[i] + "\n")
			i++
		default:
			out.WriteString("+ " + y[j] + "\n")
			j++
		}
	}
	return strings.TrimRight(out.String(), "\n")
}
