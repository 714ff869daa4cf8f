package connectors

import (
	"net/http"
	"testing"
)

// FuzzKeyExpression: whatever the expression and the payload, compiling
// and evaluating a key expression returns a field error, a key error or a
// bounded key; it never panics.
func FuzzKeyExpression(f *testing.F) {
	for _, seed := range []struct{ src, body string }{
		{`payload.type + "." + payload.action`, `{"type":"order","action":"paid"}`},
		{`payload.id`, `{"id":706405506930370084}`},
		{`join(map(payload.tags, upper(#)), "-")`, `{"tags":["a","b"]}`},
		{`replace(payload.s, "", payload.s)`, `{"s":"abcdefghij"}`},
		{`let a = payload.s + payload.s; a + a + a`, `{"s":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`},
		{`reduce(1..100, #acc + payload.s, "")`, `{"s":"0123456789012345678901234567890123456789012345678901234567890123456789"}`},
		{`string(count(1..100000, # > 0))`, `{}`},
		{`headers["x-event"] ?? payload.x?.y`, `{"x":null}`},
		{`int(payload.n) * 2`, `{"n":"21"}`},
		{`payload.a matches "^[a-z]+$" ? "l" : "o"`, `{"a":"abc"}`},
	} {
		f.Add(seed.src, seed.body)
	}
	f.Fuzz(func(t *testing.T, src, body string) {
		k, err := compileKeys(Config{TopicExpr: src})
		if err != nil || k.topic == nil {
			return
		}
		topic, dedupe := "", "d"
		h := http.Header{}
		h.Set("X-Event", "e")
		if err := k.keys([]byte(body), h, &topic, &dedupe); err != nil {
			if _, ok := err.(*KeyError); !ok {
				t.Fatalf("%q on %q: error %v (%T), want a *KeyError", src, body, err, err)
			}
			return
		}
		if topic == "" || len(topic) > MaxTopicLen {
			t.Fatalf("%q on %q: topic %q", src, body, topic)
		}
	})
}
