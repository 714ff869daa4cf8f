package mappings

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExamplesPassTheirTests(t *testing.T) {
	rep, err := RunTests("examples", AnyTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("example tests fail:\n%s", rep)
	}
	want := map[string]bool{"shopify-loyalty.yaml": true, "hubspot-contact-tier.yaml": true, "square-loyalty.yaml": true, "generic-tickets.yaml": true}
	for _, m := range rep.Mappings {
		name := filepath.Base(m.File)
		if want[name] && (m.TestFile == "" || len(m.Tests) < 3) {
			t.Errorf("%s has %d tests (test file %q)", name, len(m.Tests), m.TestFile)
		}
		delete(want, name)
	}
	if len(want) > 0 {
		t.Errorf("examples not found: %v", want)
	}
	if err := CheckDir("examples", AnyTemplate); err != nil {
		t.Errorf("CheckDir: %v", err)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const tinyMapping = `rules:
  - name: r
    on: [t]
    action: upsert
    template: tpl
    externalId: payload.id
    fields:
      k: payload.n * 2
`

func TestRunTestsReportsMismatchesWithADiff(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tiny.yaml": tinyMapping,
		"tiny_test.yaml": `- name: right
  trigger: {topic: t, payload: {id: a, n: 2}}
  expect:
    commands: [{rule: r, action: upsert, template: tpl, externalId: a, data: {k: 4}}]
- name: wrong value
  trigger: {topic: t, payload: {id: a, n: 2}}
  expect:
    commands: [{action: upsert, template: tpl, externalId: a, data: {k: 5}}]
- name: expects a skip
  trigger: {topic: t, payload: {id: a, n: 2}}
  expect: {skipped: true}
- name: expects an error
  trigger: {topic: t, payload: {id: a, n: 2}}
  expect: {error: boom}
- name: error as expected
  trigger: {topic: t, payload: {id: a, n: "x"}}
  expect: {error: 'rule "r": fields.k'}
`,
		"broken.yaml":        "rules: [}\n",
		"orphan_test.yaml":   "[]\n",
		"untested.yaml":      tinyMapping,
		"notes.txt":          "not a mapping",
		"badtests.yaml":      tinyMapping,
		"badtests_test.yaml": "- name: x\n  trigger: {topic: t}\n  expect: {}\n  surprise: 1\n",
	})
	rep, err := RunTests(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed() != 2 || rep.Failed() != 6 {
		t.Fatalf("passed %d, failed %d:\n%s", rep.Passed(), rep.Failed(), rep)
	}
	s := rep.String()
	for _, want := range []string{
		"--- FAIL: " + filepath.Join(dir, "tiny_test.yaml") + ":5: wrong value",
		"-     k: 5",
		"+     k: 4",
		"expected no commands (skipped)",
		`expected an error containing "boom"`,
		"FAIL " + filepath.Join(dir, "broken.yaml"),
		"no mapping file beside orphan_test.yaml",
		"?    " + filepath.Join(dir, "untested.yaml") + " [no test file]",
		"field surprise not found",
		"2 passed, 6 failed",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}

	err = CheckDir(dir, AnyTemplate)
	var le *LoadError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "orphan_test.yaml") || !strings.Contains(err.Error(), "surprise") {
		t.Errorf("CheckDir: %v", err)
	}
}

func TestDecodeTestsIsStrict(t *testing.T) {
	for name, src := range map[string]string{
		"no name":             "- trigger: {topic: t}\n  expect: {skipped: true}\n",
		"no topic":            "- name: a\n  trigger: {}\n  expect: {skipped: true}\n",
		"two expectations":    "- name: a\n  trigger: {topic: t}\n  expect: {skipped: true, error: x}\n",
		"no expectation":      "- name: a\n  trigger: {topic: t}\n  expect: {}\n",
		"duplicate name":      "- name: a\n  trigger: {topic: t}\n  expect: {skipped: true}\n- name: a\n  trigger: {topic: t}\n  expect: {skipped: true}\n",
		"unknown key":         "- name: a\n  trigger: {topic: t, body: {}}\n  expect: {skipped: true}\n",
		"reason without skip": "- name: a\n  trigger: {topic: t}\n  expect: {error: x, reason: y}\n",
	} {
		if _, err := DecodeTests("x_test.yaml", []byte(src)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	cases, err := DecodeTests("x_test.yaml", []byte("# c\n- name: a\n  trigger: {topic: t}\n  expect: {skipped: true}\n\n- name: b\n  trigger: {topic: t}\n  expect: {commands: []}\n"))
	if err != nil || len(cases) != 2 || cases[0].Line != 2 || cases[1].Line != 6 {
		t.Fatalf("%+v %v", cases, err)
	}
}
