package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/apple/apnstest"
	"github.com/passhub/passhub/adapters/apple/testpki"
)

// iphone is a test device: it speaks the PassKit web service the way
// Wallet does.
type iphone struct {
	t         *testing.T
	base      string
	device    string
	pushToken string
}

func (d iphone) do(method, path, auth, body string, header map[string]string) *http.Response {
	d.t.Helper()
	req, err := http.NewRequest(method, d.base+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "ApplePass "+auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	return res
}

func (d iphone) register(passType, serial, auth string) int {
	d.t.Helper()
	res := d.do("POST", "/apple/v1/devices/"+d.device+"/registrations/"+passType+"/"+serial, auth, `{"pushToken":"`+d.pushToken+`"}`, nil)
	res.Body.Close()
	return res.StatusCode
}

// serials asks for the passes updated since tag ("" for all).
func (d iphone) serials(passType, tag string) (int, []string, string) {
	d.t.Helper()
	q := ""
	if tag != "" {
		q = "?passesUpdatedSince=" + tag
	}
	res := d.do("GET", "/apple/v1/devices/"+d.device+"/registrations/"+passType+q, "", "", nil)
	defer res.Body.Close()
	var body struct {
		SerialNumbers []string `json:"serialNumbers"`
		LastUpdated   string   `json:"lastUpdated"`
	}
	if res.StatusCode == 200 {
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			d.t.Fatalf("serials: %v", err)
		}
	}
	return res.StatusCode, body.SerialNumbers, body.LastUpdated
}

// passJSON reads pass.json out of a .pkpass.
func passJSON(t *testing.T, pkpass []byte) map[string]any {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pkpass), int64(len(pkpass)))
	if err != nil {
		t.Fatalf("the download is not a zip: %v", err)
	}
	for _, f := range zr.File {
		if f.Name != "pass.json" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var m map[string]any
		if err := json.NewDecoder(rc).Decode(&m); err != nil {
			t.Fatalf("pass.json: %v", err)
		}
		return m
	}
	t.Fatal("no pass.json in the .pkpass")
	return nil
}

func readAll(t *testing.T, res *http.Response) []byte {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIPhoneLifecycle plays two iPhones against a running passhub and a
// local APNs: add the pass from its share link, register, see a change
// arrive as exactly one push per device, fetch the updated serials and
// the new pass (200, then 304), unregister; the CRM-facing events and
// wallet status follow.
func TestIPhoneLifecycle(t *testing.T) {
	pki := testpki.MustNew(testpki.Options{})
	mock := apnstest.Start(t, apnstest.Options{ClientCAs: pki.Pool(), Topic: pki.PassTypeID, RecordRequests: true})
	caFile := filepath.Join(t.TempDir(), "apns-ca.pem")
	if err := os.WriteFile(caFile, mock.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	const key = "phk_iphone_lifecycle_test_key_0001"
	p, _ := startPasshub(t, "PASSHUB_DATA_DIR="+t.TempDir(), "PASSHUB_BOOTSTRAP_KEY="+key,
		"PASSHUB_APNS_URL="+mock.URL, "PASSHUB_APNS_CA_FILE="+caFile)

	creds, _ := json.Marshal(map[string]string{
		"passTypeIdentifier": pki.PassTypeID, "teamIdentifier": pki.TeamID,
		"certificate": string(pki.CertPEM), "privateKey": string(pki.KeyPEM), "wwdrCertificate": string(pki.WWDRPEM),
	})
	if st, body := call(t, "PUT", p.base+"/v1/credentials/apple", key, string(creds)); st != 200 {
		t.Fatalf("upload credentials: %d %v", st, body)
	}
	st, tpl := call(t, "POST", p.base+"/v1/templates", key, `{"name":"Loyalty","style":"storeCard","organizationName":"Acme","description":"Acme card",
		"images":{"icon":"iVBORw0KGgo="},
		"fields":{"primary":[{"key":"points","label":"Points","changeMessage":"You have %@ points"}]}}`)
	if st != 201 {
		t.Fatalf("create template: %d %v", st, tpl)
	}
	st, pass := call(t, "PUT", p.base+"/v1/templates/"+tpl["id"].(string)+"/passes/crm-42", key, `{"data":{"points":10}}`)
	if st != 201 {
		t.Fatalf("create pass: %d %v", st, pass)
	}
	passID := pass["id"].(string)
	st, link := call(t, "POST", p.base+"/v1/passes/"+passID+"/share-links", key, "")
	if st != 201 {
		t.Fatalf("create share link: %d %v", st, link)
	}

	// The customer opens the share link and adds the pass.
	res, err := http.Get(link["pkpassUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/vnd.apple.pkpass" {
		t.Fatalf("share download: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	pj := passJSON(t, readAll(t, res))
	auth, _ := pj["authenticationToken"].(string)
	if pj["serialNumber"] != passID || pj["webServiceURL"] != p.base+"/apple" || len(auth) < 16 {
		t.Fatalf("pass.json identity: serial %v, webServiceURL %v, token %q", pj["serialNumber"], pj["webServiceURL"], auth)
	}

	phones := []iphone{
		{t: t, base: p.base, device: "device-one", pushToken: strings.Repeat("a1", 32)},
		{t: t, base: p.base, device: "device-two", pushToken: strings.Repeat("b2", 32)},
	}
	if got := phones[0].register(pki.PassTypeID, passID, "wrong-token-0123456789"); got != 401 {
		t.Fatalf("register with a wrong token: %d, want 401", got)
	}
	for _, ph := range phones {
		if got := ph.register(pki.PassTypeID, passID, auth); got != 201 {
			t.Fatalf("first registration: %d, want 201", got)
		}
	}
	if got := phones[0].register(pki.PassTypeID, passID, auth); got != 200 {
		t.Fatalf("repeated registration: %d, want 200", got)
	}
	st, cur := call(t, "GET", p.base+"/v1/passes/"+passID, key, "")
	if st != 200 || cur["walletStatus"] != "apple" || cur["appleWalletInstalledAt"] == nil {
		t.Fatalf("after registering: %d walletStatus %v", st, cur["walletStatus"])
	}
	if n := eventsOf(t, p.base, key, "pass.installed"); n != 1 {
		t.Fatalf("pass.installed events: %d, want exactly 1 for two devices", n)
	}

	tags := make([]string, len(phones))
	for i, ph := range phones {
		st, serials, tag := ph.serials(pki.PassTypeID, "")
		if st != 200 || len(serials) != 1 || serials[0] != passID {
			t.Fatalf("all serials: %d %v", st, serials)
		}
		tags[i] = tag
		if st, _, _ := ph.serials(pki.PassTypeID, tag); st != 204 {
			t.Fatalf("nothing changed since %s: %d, want 204", tag, st)
		}
	}

	// The first download of the current version, for If-Modified-Since.
	res = phones[0].do("GET", "/apple/v1/passes/"+pki.PassTypeID+"/"+passID, auth, "", nil)
	readAll(t, res)
	if res.StatusCode != 200 || res.Header.Get("Last-Modified") == "" {
		t.Fatalf("pass download: %d Last-Modified %q", res.StatusCode, res.Header.Get("Last-Modified"))
	}

	// The source system changes the pass.
	if st, body := call(t, "PATCH", p.base+"/v1/passes/"+passID, key, `{"data":{"points":60},"message":"You earned 50 points"}`); st != 200 {
		t.Fatalf("patch: %d %v", st, body)
	}
	waitFor(t, "one push per device", func() bool {
		return mock.Count(phones[0].pushToken) >= 1 && mock.Count(phones[1].pushToken) >= 1
	})
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
	for _, ph := range phones {
		if n := mock.Count(ph.pushToken); n != 1 {
			t.Fatalf("device %s got %d pushes, want exactly 1", ph.device, n)
		}
	}
	for _, r := range mock.Requests() {
		if r.Topic != pki.PassTypeID || strings.TrimSpace(string(r.Body)) != "{}" || r.CertUID != pki.PassTypeID {
			t.Fatalf("push request topic %q body %q cert %q", r.Topic, r.Body, r.CertUID)
		}
	}

	// Each phone asks what changed since its tag, then fetches the pass.
	for i, ph := range phones {
		st, serials, tag := ph.serials(pki.PassTypeID, tags[i])
		if st != 200 || len(serials) != 1 || serials[0] != passID || tag == tags[i] {
			t.Fatalf("serials since %s: %d %v (tag %s)", tags[i], st, serials, tag)
		}
	}
	res = phones[0].do("GET", "/apple/v1/passes/"+pki.PassTypeID+"/"+passID, auth, "", nil)
	pj = passJSON(t, readAll(t, res))
	primary := pj["storeCard"].(map[string]any)["primaryFields"].([]any)[0].(map[string]any)
	if primary["value"] != float64(60) || primary["changeMessage"] != "You earned 50 points" {
		t.Fatalf("updated field: %v", primary)
	}
	// HTTP dates have whole seconds: once the second of the change has
	// passed, Last-Modified names it and revalidation answers 304.
	updated, err := time.Parse(time.RFC3339Nano, callField(t, p.base+"/v1/passes/"+passID, key, "updatedAt"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(updated.Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	res = phones[0].do("GET", "/apple/v1/passes/"+pki.PassTypeID+"/"+passID, auth, "", nil)
	readAll(t, res)
	lm := res.Header.Get("Last-Modified")
	if res.StatusCode != 200 || lm == "" {
		t.Fatalf("download: %d Last-Modified %q", res.StatusCode, lm)
	}
	res = phones[0].do("GET", "/apple/v1/passes/"+pki.PassTypeID+"/"+passID, auth, "", map[string]string{"If-Modified-Since": lm})
	readAll(t, res)
	if res.StatusCode != 304 {
		t.Fatalf("revalidation with If-Modified-Since %s: %d, want 304", lm, res.StatusCode)
	}

	// Both phones remove the pass.
	for i, ph := range phones {
		res := ph.do("DELETE", "/apple/v1/devices/"+ph.device+"/registrations/"+pki.PassTypeID+"/"+passID, auth, "", nil)
		readAll(t, res)
		if res.StatusCode != 200 {
			t.Fatalf("unregister: %d", res.StatusCode)
		}
		want := "apple"
		if i == len(phones)-1 {
			want = "none"
		}
		if got := callField(t, p.base+"/v1/passes/"+passID, key, "walletStatus"); got != want {
			t.Fatalf("after %d unregistrations walletStatus %q, want %q", i+1, got, want)
		}
	}
	if n := eventsOf(t, p.base, key, "pass.uninstalled"); n != 1 {
		t.Fatalf("pass.uninstalled events: %d, want 1", n)
	}
	st, logs := call(t, "GET", p.base+"/v1/push-logs?passId="+passID+"&status=ok", key, "")
	if data, _ := logs["data"].([]any); st != 200 || len(data) != 2 {
		t.Fatalf("push log: %d %v", st, logs)
	}
}

func eventsOf(t *testing.T, base, key, typ string) int {
	t.Helper()
	st, body := call(t, "GET", base+"/v1/events?type="+typ, key, "")
	if st != 200 {
		t.Fatalf("events: %d %v", st, body)
	}
	list, _ := body["data"].([]any)
	for _, e := range list {
		if d := e.(map[string]any)["data"].(map[string]any); d["platform"] != "apple" {
			t.Fatalf("%s event without platform apple: %v", typ, d)
		}
	}
	return len(list)
}

func callField(t *testing.T, url, key, field string) string {
	t.Helper()
	st, body := call(t, "GET", url, key, "")
	if st != 200 {
		t.Fatalf("GET %s: %d %v", url, st, body)
	}
	return fmt.Sprint(body[field])
}
