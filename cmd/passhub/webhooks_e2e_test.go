package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/webhooks/webhookstest"
)

// The CRM's view end to end: a subscription made through the API of the
// built binary receives every pass event, signed per Standard Webhooks
// (checked by the test receiver's own verifier), with the subscription's
// field renames, and keeps verifying across a secret rotation.
func TestWebhooksReachTheCRM(t *testing.T) {
	recv := webhookstest.Start(t, webhookstest.Options{})
	p, key := startPasshub(t, "PASSHUB_DATA_DIR="+t.TempDir(), "PASSHUB_WEBHOOKS_ALLOW_PRIVATE=true")

	st, sub := call(t, "POST", p.base+"/v1/webhooks", key, `{"url":"`+recv.URL+`","events":["pass.*"],"fields":{"externalId":"crmId"}}`)
	if st != 201 {
		t.Fatalf("subscribe: %d %v", st, sub)
	}
	recv.SetSecrets(sub["secret"].(string))
	st, tpl := call(t, "POST", p.base+"/v1/templates", key, `{"name":"Loyalty","style":"storeCard","organizationName":"Acme","description":"card"}`)
	if st != 201 {
		t.Fatalf("template: %d %v", st, tpl)
	}
	st, pass := call(t, "PUT", p.base+"/v1/templates/"+tpl["id"].(string)+"/passes/crm-7", key, `{"data":{"points":1}}`)
	if st != 201 {
		t.Fatalf("pass: %d %v", st, pass)
	}
	waitMessages(t, recv, 1)

	// Rotate. During the overlap the receiver accepts either secret, as
	// Standard Webhooks receivers do; once the change has reached the
	// workers (within a second: they reuse what they read of a
	// subscription that long), every message carries a signature by the
	// new secret as well as the old.
	oldSecret := sub["secret"].(string)
	st, rot := call(t, "POST", p.base+"/v1/webhooks/"+sub["id"].(string)+"/rotate-secret", key, `{"overlap":"1h"}`)
	if st != 200 && st != 201 {
		t.Fatalf("rotate: %d %v", st, rot)
	}
	newSecret := rot["secret"].(string)
	recv.SetSecrets(oldSecret, newSecret)
	time.Sleep(1500 * time.Millisecond)
	if st, _ := call(t, "PATCH", p.base+"/v1/passes/"+pass["id"].(string), key, `{"data":{"points":2}}`); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	msgs := waitMessages(t, recv, 2)
	if n := recv.Unverified(); n != 0 {
		t.Fatalf("%d messages failed independent verification", n)
	}
	last := msgs[len(msgs)-1]
	for _, secret := range []string{oldSecret, newSecret} {
		if err := webhookstest.Verify([]string{secret}, last.Header, last.Body, time.Now(), webhookstest.DefaultTolerance); err != nil {
			t.Errorf("the message after the rotation does not verify with one of the two secrets: %v", err)
		}
	}
	types := map[string]bool{}
	for _, m := range msgs {
		var ev map[string]any
		if err := json.Unmarshal(m.Body, &ev); err != nil {
			t.Fatal(err)
		}
		types[ev["type"].(string)] = true
		data := ev["data"].(map[string]any)
		if data["passId"] != pass["id"] || data["crmId"] != "crm-7" || data["externalId"] != nil {
			t.Fatalf("payload data %v: want passId, externalId renamed crmId", data)
		}
	}
	if !types["pass.record_added"] || !types["pass.updated"] {
		t.Fatalf("event types %v", types)
	}
	if st, dl := call(t, "GET", p.base+"/v1/webhooks/"+sub["id"].(string)+"/deliveries", key, ""); st != 200 || len(dl["data"].([]any)) < 2 {
		t.Fatalf("delivery log: %d %v", st, dl)
	}
}

// Without the development switch a subscription to a loopback address is
// refused, naming the field.
func TestWebhookToLoopbackRefusedByDefault(t *testing.T) {
	p, key := startPasshub(t, "PASSHUB_DATA_DIR="+t.TempDir())
	st, body := call(t, "POST", p.base+"/v1/webhooks", key, `{"url":"http://127.0.0.1:9/hook","events":["pass.installed"]}`)
	if st != 422 || body["field"] != "url" {
		t.Fatalf("loopback subscription: %d %v, want 422 naming url", st, body)
	}
}

func waitMessages(t *testing.T, r *webhookstest.Receiver, n int) []webhookstest.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if msgs := r.Messages(); len(msgs) >= n {
			return msgs
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("got %d webhook messages, want %d", len(r.Messages()), n)
	return nil
}
