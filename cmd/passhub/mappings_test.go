package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// passhub mappings check|test is what a user's CI runs over its mapping
// files: exit status and output must say what is wrong.
func TestMappingsCommands(t *testing.T) {
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "bad.yaml"), []byte("rules:\n  - name: x\n    on: [a]\n    action: explode\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	failing := t.TempDir()
	for name, body := range map[string]string{
		"m.yaml":      "rules:\n  - name: enrol\n    on: [customers/create]\n    action: upsert\n    template: loyalty\n    externalId: string(payload.id)\n    fields:\n      name: payload.name\n",
		"m_test.yaml": "- name: wrong expectation\n  trigger:\n    topic: customers/create\n    payload: {id: 1, name: Ada}\n  expect:\n    skipped: true\n",
	} {
		if err := os.WriteFile(filepath.Join(failing, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
	}{
		{"examples are valid", []string{"mappings", "check", "../../mappings/examples"}, "", "valid"},
		{"examples pass their tests", []string{"mappings", "test", "../../mappings/examples"}, "", "0 failed"},
		{"a bad file names line, rule and field", []string{"mappings", "check", bad}, `bad.yaml:4: rule "x": action`, ""},
		{"a failing case fails the command", []string{"mappings", "test", failing}, "1 mapping test(s) failed", "1 failed"},
		{"usage", []string{"mappings", "lint", bad}, "usage", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, func(string) string { return "" }, &out, &out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v\n%s", err, out.String())
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("output %q lacks %q", out.String(), tc.wantOut)
			}
		})
	}
}
