package googletest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/adapters/google/googletest"
	"github.com/passhub/passhub/core"
)

const issuer = "3388000000099"

func TestServer(t *testing.T) {
	srv := googletest.Start(t, googletest.Options{NotifyLimit: 1})
	key, _ := srv.ServiceAccount(t, "sa@test.iam.gserviceaccount.com")
	sa, err := google.ParseServiceAccount(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := google.NewClient(issuer, sa, google.ClientConfig{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tpl := core.Template{ID: "t1", Name: "Gym", Style: core.StyleGeneric}
	if err := c.UpsertClass(context.Background(), google.KindGeneric, tpl, google.ClassOptions{}); err != nil {
		t.Fatal(err)
	}
	tok := srv.TokenRequests()[0].Token
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+strings.TrimPrefix(path, "/"), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	classPath := "/walletobjects/v1/genericClass/" + issuer + ".t1"

	// Class messages share the notification quota logic: one allowed here.
	msg := `{"message":{"header":"h","body":"b","messageType":"TEXT_AND_NOTIFY"}}`
	if st, _ := do("POST", classPath+"/addMessage", msg); st != 200 {
		t.Fatalf("first notify → %d", st)
	}
	st, body := do("POST", classPath+"/addMessage", msg)
	e, _ := body["error"].(map[string]any)
	errs, _ := e["errors"].([]any)
	if st != 403 || len(errs) != 1 || errs[0].(map[string]any)["reason"] != "quotaExceeded" ||
		e["message"] != googletest.QuotaMessage(issuer, "class", issuer+".t1") {
		t.Fatalf("second notify → %d %v", st, body)
	}

	// PUT replaces but keeps the platform's messages.
	if st, body := do("PUT", classPath, `{"id":"`+issuer+`.t1","callbackOptions":{"url":"https://x.example/cb"}}`); st != 200 || body["messages"] == nil {
		t.Fatalf("PUT → %d %v", st, body)
	}

	// Prefix faults, used up after Times.
	srv.Inject(googletest.Fault{Method: "GET", Path: "/walletobjects/v1/genericClass/*", Status: 503, Times: 2})
	for i, want := range []int{503, 503, 200} {
		if st, _ := do("GET", classPath, ""); st != want {
			t.Fatalf("GET %d → %d, want %d", i, st, want)
		}
	}
	if got, ok := srv.Class("generic", issuer+".t1"); !ok || get(got, "callbackOptions") == nil {
		t.Fatalf("stored class %v", got)
	}
}

func get(m map[string]any, k string) any { return m[k] }
