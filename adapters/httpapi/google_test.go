package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/adapters/google/callback"
	"github.com/passhub/passhub/core"
)

const testIssuer = "3388000000012345"

// googleEnv is an appleEnv whose workspace also has Google credentials.
type googleEnv struct {
	*appleEnv
	nonce int
}

func newGoogleEnv(t *testing.T) *googleEnv {
	e := newAppleEnv(t)
	key, _ := e.google.ServiceAccount(t, "passhub@test.iam.gserviceaccount.com")
	e.ok(req{Method: "PUT", Path: "/v1/credentials/google", Key: e.admin, Body: map[string]any{
		"issuerId": testIssuer, "serviceAccount": json.RawMessage(key),
	}}, http.StatusOK, nil)
	return &googleEnv{appleEnv: e}
}

// callbackBody is a callback signed by the test root for the pass.
func (e *googleEnv) callbackBody(event string, opts ...callback.SignOption) []byte {
	e.nonce++
	return e.signer.Sign(testIssuer, callback.Message{
		ClassID: testIssuer + ".tpl", ObjectID: testIssuer + "." + e.pass.ID, EventType: event,
		ExpTime: time.Now().Add(time.Hour).Add(time.Duration(e.nonce) * time.Millisecond), Nonce: "nonce-" + string(rune('a'+e.nonce)) + time.Now().Format(time.RFC3339Nano),
	}, opts...)
}

func (e *googleEnv) status() core.Pass {
	var p core.Pass
	e.ok(req{Method: "GET", Path: "/v1/passes/" + e.pass.ID, Key: e.viewer}, http.StatusOK, &p)
	return p
}

func TestGoogleCallbacksMoveWalletStatusWithApple(t *testing.T) {
	e := newGoogleEnv(t)
	apple := map[string]string{"Authorization": "ApplePass " + e.pass.AuthToken}
	steps := []struct {
		name string
		do   func()
		want core.WalletStatus
	}{
		{"saved to Google", func() {
			e.ok(req{Method: "POST", Path: "/google/callbacks", Body: string(e.callbackBody("save"))}, http.StatusOK, nil)
		}, core.WalletGoogle},
		{"added to Apple too", func() {
			e.ok(req{Method: "POST", Path: e.passkitPath("d1"), Body: `{"pushToken":"abcd"}`, Header: apple}, http.StatusCreated, nil)
		}, core.WalletBoth},
		{"deleted from Google", func() {
			e.ok(req{Method: "POST", Path: "/google/callbacks", Body: string(e.callbackBody("del"))}, http.StatusOK, nil)
		}, core.WalletApple},
		{"removed from Apple", func() {
			e.ok(req{Method: "DELETE", Path: e.passkitPath("d1"), Header: apple}, http.StatusOK, nil)
		}, core.WalletNone},
	}
	for _, s := range steps {
		s.do()
		if got := e.status(); got.WalletStatus != s.want {
			t.Fatalf("%s: walletStatus %s, want %s", s.name, got.WalletStatus, s.want)
		}
	}
	var evs list[core.Event]
	e.ok(req{Method: "GET", Path: "/v1/events?type=pass.installed", Key: e.viewer}, http.StatusOK, &evs)
	platforms := map[core.Platform]int{}
	for _, ev := range evs.Data {
		platforms[ev.Data.Platform]++
	}
	if platforms[core.PlatformGoogle] != 1 || platforms[core.PlatformApple] != 1 {
		t.Fatalf("pass.installed per platform %v, want one each", platforms)
	}
}

func TestGoogleCallbackRefusalsChangeNothing(t *testing.T) {
	e := newGoogleEnv(t)
	replayed := e.callbackBody("save")
	e.ok(req{Method: "POST", Path: "/google/callbacks", Body: string(replayed)}, http.StatusOK, nil)
	before := e.status()

	otherRoot := callback.NewTestSigner()
	expiredKey := callback.NewTestSigner()
	expiredKey.Root = e.signer.Root
	expiredKey.IntermediateExpiry = time.Now().Add(-time.Minute)
	cases := []struct {
		name string
		body []byte
	}{
		{"tampered message", e.callbackBody("del", callback.TamperSignedMessage())},
		{"signed for another issuer", e.signer.Sign("999", callback.Message{ClassID: testIssuer + ".tpl", ObjectID: testIssuer + "." + e.pass.ID, EventType: "del", ExpTime: time.Now().Add(time.Hour), Nonce: "n-other-issuer"})},
		{"unknown issuer", e.signer.Sign("999", callback.Message{ClassID: "999.tpl", ObjectID: "999." + e.pass.ID, EventType: "del", ExpTime: time.Now().Add(time.Hour), Nonce: "n-unknown-issuer"})},
		{"expired intermediate key", expiredKey.Sign(testIssuer, callback.Message{ClassID: testIssuer + ".tpl", ObjectID: testIssuer + "." + e.pass.ID, EventType: "del", ExpTime: time.Now().Add(time.Hour), Nonce: "n-expired-key"})},
		{"expired message", e.signer.Sign(testIssuer, callback.Message{ClassID: testIssuer + ".tpl", ObjectID: testIssuer + "." + e.pass.ID, EventType: "del", ExpTime: time.Now().Add(-time.Second), Nonce: "n-expired-msg"})},
		{"replayed nonce", replayed},
		{"unknown root", otherRoot.Sign(testIssuer, callback.Message{ClassID: testIssuer + ".tpl", ObjectID: testIssuer + "." + e.pass.ID, EventType: "del", ExpTime: time.Now().Add(time.Hour), Nonce: "n-other-root"})},
		{"not JSON", []byte("{")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problem(t, e.do(req{Method: "POST", Path: "/google/callbacks", Body: string(tc.body)}), http.StatusUnauthorized, "")
			after := e.status()
			if after.WalletStatus != before.WalletStatus || !after.GoogleWalletInstalledAt.Equal(*before.GoogleWalletInstalledAt) {
				t.Fatalf("wallet status moved: %s -> %s", before.WalletStatus, after.WalletStatus)
			}
		})
	}
	var evs list[core.Event]
	e.ok(req{Method: "GET", Path: "/v1/events?type=pass.uninstalled", Key: e.viewer}, http.StatusOK, &evs)
	if len(evs.Data) != 0 {
		t.Fatalf("a refused callback recorded %d uninstall events", len(evs.Data))
	}
}

func TestGoogleLateCallbackNeverMovesStatusBackwards(t *testing.T) {
	e := newGoogleEnv(t)
	early := e.callbackBody("save") // happened first
	late := e.callbackBody("del")   // happened later, delivered first
	e.ok(req{Method: "POST", Path: "/google/callbacks", Body: string(late)}, http.StatusOK, nil)
	e.ok(req{Method: "POST", Path: "/google/callbacks", Body: string(early)}, http.StatusOK, nil)
	if got := e.status(); got.WalletStatus != core.WalletNone {
		t.Fatalf("a late save after a newer delete left status %s, want none", got.WalletStatus)
	}
}

func TestGoogleCredentialsAndSaveLink(t *testing.T) {
	e := newAppleEnv(t)
	key, _ := e.google.ServiceAccount(t, "sa@test.iam.gserviceaccount.com")
	cases := []struct {
		name   string
		key    string
		body   map[string]any
		status int
		field  string
	}{
		{"editor may not", e.editor, map[string]any{"issuerId": testIssuer, "serviceAccount": json.RawMessage(key)}, http.StatusForbidden, ""},
		{"issuer must be numeric", e.admin, map[string]any{"issuerId": "abc", "serviceAccount": json.RawMessage(key)}, http.StatusUnprocessableEntity, "issuerId"},
		{"key must be a service account", e.admin, map[string]any{"issuerId": testIssuer, "serviceAccount": map[string]any{"type": "user"}}, http.StatusUnprocessableEntity, "serviceAccount.type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problem(t, e.do(req{Method: "PUT", Path: "/v1/credentials/google", Key: tc.key, Body: tc.body}), tc.status, tc.field)
		})
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/passes/" + e.pass.ID + "/google", Key: e.viewer}), http.StatusConflict, "credentials")

	res := e.ok(req{Method: "PUT", Path: "/v1/credentials/google", Key: e.admin, Body: map[string]any{"issuerId": testIssuer, "serviceAccount": string(key)}}, http.StatusOK, nil)
	got := e.ok(req{Method: "GET", Path: "/v1/credentials/google", Key: e.viewer}, http.StatusOK, nil)
	for _, b := range [][]byte{res.Body, got.Body} {
		if strings.Contains(string(b), "PRIVATE KEY") || strings.Contains(string(b), "private_key\"") {
			t.Fatalf("an answer carries the key: %s", b)
		}
	}
	problem(t, e.do(req{Method: "PUT", Path: "/v1/credentials/google", Key: e.other, Body: map[string]any{"issuerId": testIssuer, "serviceAccount": json.RawMessage(key)}}), http.StatusConflict, "issuerId")

	var link saveLinkView
	e.ok(req{Method: "GET", Path: "/v1/passes/" + e.pass.ID + "/google", Key: e.viewer}, http.StatusOK, &link)
	jwt, ok := strings.CutPrefix(link.SaveURL, "https://pay.google.com/gp/v/save/")
	if !ok {
		t.Fatalf("save URL %q", link.SaveURL)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	if !strings.Contains(string(claims), testIssuer+"."+e.pass.ID) || !strings.Contains(string(claims), `"typ":"savetowallet"`) {
		t.Fatalf("claims %s", claims)
	}
	if _, ok := e.google.Object("loyalty", testIssuer+"."+e.pass.ID); !ok {
		t.Fatal("the save link references an object Google does not have")
	}

	// The share page offers Google now, and its button leads to the link.
	var share shareLinkView
	e.ok(req{Method: "POST", Path: "/v1/passes/" + e.pass.ID + "/share-links", Key: e.editor}, http.StatusCreated, &share)
	android := "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
	page := e.ok(req{Method: "GET", Path: "/p/" + share.Token, Header: map[string]string{"User-Agent": android}}, http.StatusOK, nil)
	if !strings.Contains(string(page.Body), "Add to Google Wallet") || !strings.Contains(string(page.Body), share.URL+"/google") {
		t.Fatalf("share page lacks the Google button")
	}
	redirect := e.do(req{Method: "GET", Path: "/p/" + share.Token + "/google"})
	if redirect.Status != http.StatusFound || !strings.HasPrefix(redirect.Header.Get("Location"), "https://pay.google.com/gp/v/save/") {
		t.Fatalf("share Google button: %d %q", redirect.Status, redirect.Header.Get("Location"))
	}
}

func TestGoogleImagesAreServedForClassLogos(t *testing.T) {
	e := newAppleEnv(t)
	res := e.ok(req{Method: "GET", Path: "/google/images/" + e.wsID + "/" + e.pass.TemplateID + "/icon.png"}, http.StatusOK, nil)
	if res.Header.Get("Content-Type") != "image/png" || len(res.Body) == 0 {
		t.Fatalf("image: %q %d bytes", res.Header.Get("Content-Type"), len(res.Body))
	}
	problem(t, e.do(req{Method: "GET", Path: "/google/images/" + e.wsID + "/" + e.pass.TemplateID + "/strip.png"}), http.StatusNotFound, "")
	problem(t, e.do(req{Method: "GET", Path: "/google/images/" + e.otherWS + "/" + e.pass.TemplateID + "/icon.png"}), http.StatusNotFound, "")
}

func TestTemplateEditQueuesTheGoogleClassUpdate(t *testing.T) {
	e := newGoogleEnv(t)
	var tpl core.Template
	e.ok(req{Method: "PATCH", Path: "/v1/templates/" + e.pass.TemplateID, Key: e.editor, Body: map[string]any{"organizationName": "Acme Co."}}, http.StatusOK, &tpl)
	jobs, err := e.store.PendingJobs(t.Context(), 1000)
	must(t, err)
	for _, j := range jobs {
		if j.Kind == google.JobClass && strings.HasPrefix(j.Key, tpl.ID+"@") {
			return
		}
	}
	t.Fatalf("no %s job for template %s among %d pending jobs", google.JobClass, tpl.ID, len(jobs))
}
