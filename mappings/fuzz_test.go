package mappings

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: the decoder never panics, and refuses with a *LoadError that
// has at least one problem on a real line. Whatever loads can be
// evaluated on its first topic without panicking.
func FuzzLoad(f *testing.F) {
	paths, _ := filepath.Glob("examples/*.yaml")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "rules:", "rules: [", "- a", "rules:\n  - &a {name: x}\n  - *a\n",
		"rules:\n  - name: x\n    on: [t]\n    action: upsert\n    template: t\n    externalId: payload.id\n    fields: {a: 'payload.a +'}\n",
		"rules:\n  - name: x\n    on: '*'\n    action: update\n    template: t\n    externalId: '\"k\"'\n    fields: {a: 'map(1..10, {# * 2})'}\n",
		"source: any\nrules:\n  - {name: y, on: t, action: void, template: t, externalId: '1', message: '\"m\"'}\n",
		"\xff\xfe", "rules: !!binary aGk=", "? [a]\n: b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		m, err := Load("f.yaml", src, AnyTemplate)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error %v (%T) is not a LoadError with problems", err, err)
			}
			for _, p := range le.Problems {
				if p.Line < 1 || p.Message == "" {
					t.Fatalf("problem %+v", p)
				}
			}
			if m != nil {
				t.Fatal("a mapping and an error")
			}
			return
		}
		if m == nil || len(m.Rules) == 0 {
			t.Fatal("no error and no rules")
		}
		r := m.Rules[0]
		_, _ = m.Evaluate(t.Context(), Trigger{Topic: r.On[0], Payload: map[string]any{"id": 1}}, nil)
	})
}
