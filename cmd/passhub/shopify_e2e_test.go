package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestShopifyWebhooksToPass: a running passhub takes signed Shopify
// webhooks at a connector's URL and, through the example mapping, issues
// a loyalty pass and raises its points — once, however often Shopify
// redelivers.
func TestShopifyWebhooksToPass(t *testing.T) {
	const key = "phk_shopify_e2e_test_key_000001"
	p, _ := startPasshub(t, "PASSHUB_DATA_DIR="+t.TempDir(), "PASSHUB_BOOTSTRAP_KEY="+key)
	if st, body := call(t, "POST", p.base+"/v1/templates", key, `{"name":"loyalty","style":"storeCard","organizationName":"Acme","description":"Acme card",
		"fields":{"primary":[{"key":"points","label":"Points"}]}}`); st != 201 {
		t.Fatalf("template: %d %v", st, body)
	}
	src, err := os.ReadFile("../../mappings/examples/shopify-loyalty.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := json.Marshal(map[string]string{"source": string(src)})
	if st, body := call(t, "PUT", p.base+"/v1/mappings/shopify-loyalty", key, string(mb)); st != 200 {
		t.Fatalf("mapping: %d %v", st, body)
	}
	st, con := call(t, "POST", p.base+"/v1/connectors", key, `{"name":"shop","kind":"shopify","secrets":{"secrets":["shpss_e2e"]},"mapping":"shopify-loyalty"}`)
	if st != 201 {
		t.Fatalf("connector: %d %v", st, con)
	}
	post := func(topic, id, body string) int {
		return postSigned(t, con["url"].(string), "shpss_e2e", topic, id, body)
	}
	if st := postSigned(t, con["url"].(string), "not-the-secret", "customers/create", "forged", `{"id":1}`); st != 401 {
		t.Fatalf("forged delivery: %d, want 401", st)
	}
	customer := `{"id":706405506930370084,"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","created_at":"2026-11-20T10:00:00Z"}`
	if st := post("customers/create", "wh-1", customer); st != 200 {
		t.Fatalf("customers/create: %d", st)
	}
	order := `{"id":820982911946154508,"name":"#1001","total_price":"50.00","customer":{"id":706405506930370084}}`
	for range 3 {
		if st := post("orders/paid", "wh-2", order); st != 200 {
			t.Fatalf("orders/paid: %d", st)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, list := call(t, "GET", p.base+"/v1/passes?limit=10", key, "")
		data, _ := list["data"].([]any)
		if st == 200 && len(data) == 1 {
			pass := data[0].(map[string]any)
			fields := pass["data"].(map[string]any)
			if fields["points"] == float64(50) {
				time.Sleep(300 * time.Millisecond)
				_, again := call(t, "GET", p.base+"/v1/passes/"+pass["id"].(string), key, "")
				if again["version"] != float64(2) {
					t.Fatalf("a redelivered order changed the pass again: version %v", again["version"])
				}
				return
			}
		}
		if time.Now().After(deadline) {
			st, trig := call(t, "GET", p.base+"/v1/triggers", key, "")
			t.Fatalf("the pass never reached 50 points; passes %v; triggers %d %v", data, st, trig)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postSigned posts body to url as Shopify would, signed with secret.
func postSigned(t *testing.T, url, secret, topic, id, body string) int {
	t.Helper()
	res, err := http.DefaultClient.Do(shopifyRequest(url, secret, topic, id, body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// shopifyRequest is a Shopify webhook delivery signed with secret.
func shopifyRequest(url, secret, topic, id, body string) *http.Request {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Shop-Domain", "acme.myshopify.com")
	req.Header.Set("X-Shopify-Webhook-Id", id)
	return req
}

// TestMappingsDirLoadsAtStart: PASSHUB_MAPPINGS_DIR puts every mapping
// file into the default workspace; an unchanged file is not a new version
// on the next start.
func TestMappingsDirLoadsAtStart(t *testing.T) {
	const key = "phk_mappings_dir_test_key_0001"
	data := t.TempDir()
	for start := 1; start <= 2; start++ {
		p, _ := startPasshub(t, "PASSHUB_DATA_DIR="+data, "PASSHUB_BOOTSTRAP_KEY="+key, "PASSHUB_MAPPINGS_DIR=../../mappings/examples")
		st, list := call(t, "GET", p.base+"/v1/mappings", key, "")
		files, _ := list["data"].([]any)
		if st != 200 || len(files) != 4 {
			t.Fatalf("start %d: %d %v", start, st, list)
		}
		for _, f := range files {
			if v := f.(map[string]any)["version"]; v != float64(1) {
				t.Fatalf("start %d: %v is version %v, want 1", start, f.(map[string]any)["name"], v)
			}
		}
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}
