package httpapi

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/apple"
	"github.com/passhub/passhub/adapters/apple/testpki"
	"github.com/passhub/passhub/core"
)

func credentialsBody(p *testpki.PKI) map[string]any {
	return map[string]any{
		"passTypeIdentifier": p.PassTypeID, "teamIdentifier": p.TeamID,
		"certificate": string(p.CertPEM), "privateKey": string(p.KeyPEM), "wwdrCertificate": string(p.WWDRPEM),
	}
}

// appleEnv is an env whose workspace has Apple credentials and one pass.
type appleEnv struct {
	*env
	pki  *testpki.PKI
	pass core.Pass
}

func newAppleEnv(t *testing.T) *appleEnv {
	e := newEnv(t)
	pki := testpki.Default()
	e.ok(req{Method: "PUT", Path: "/v1/credentials/apple", Key: e.admin, Body: credentialsBody(pki)}, http.StatusOK, nil)
	var tpl core.Template
	e.ok(req{Method: "POST", Path: "/v1/templates", Key: e.admin, Body: map[string]any{
		"name": "Loyalty", "style": "storeCard", "organizationName": "Acme", "description": "Acme card",
		"images": map[string]any{"icon": "iVBORw0KGgo="},
		"fields": map[string]any{"primary": []any{map[string]any{"key": "points", "label": "Points"}}},
	}}, http.StatusCreated, &tpl)
	p := e.pass(e.editor, map[string]any{"templateId": tpl.ID, "externalId": "c-1", "data": map[string]any{"points": 1}})
	full, err := e.store.Pass(t.Context(), e.wsID, p.ID)
	must(t, err)
	return &appleEnv{env: e, pki: pki, pass: full}
}

func (e *appleEnv) passkitPath(device string) string {
	return "/apple/v1/devices/" + device + "/registrations/" + e.pki.PassTypeID + "/" + e.pass.ID
}

func TestAppleCredentialsUploadValidatesAndNeverReturnsTheKey(t *testing.T) {
	e := newEnv(t)
	pki := testpki.Default()
	expired := testpki.MustNew(testpki.Options{Now: time.Now().AddDate(-3, 0, 0)})
	cases := []struct {
		name   string
		key    string
		edit   func(map[string]any)
		status int
		field  string
	}{
		{"viewer may not", e.viewer, nil, http.StatusForbidden, ""},
		{"editor may not", e.editor, nil, http.StatusForbidden, ""},
		{"pass type must match the certificate UID", e.admin, func(b map[string]any) { b["passTypeIdentifier"] = "pass.com.other" }, http.StatusUnprocessableEntity, "passTypeIdentifier"},
		{"key must match the certificate", e.admin, func(b map[string]any) { b["privateKey"] = string(testpki.KeyPEM(testpki.ECKey())) }, http.StatusUnprocessableEntity, "privateKey"},
		{"certificate must be PEM", e.admin, func(b map[string]any) { b["certificate"] = "nope" }, http.StatusUnprocessableEntity, "certificate"},
		{"expired certificate", e.admin, func(b map[string]any) {
			for k, v := range credentialsBody(expired) {
				b[k] = v
			}
		}, http.StatusUnprocessableEntity, "certificate"},
		{"WWDR required", e.admin, func(b map[string]any) { delete(b, "wwdrCertificate") }, http.StatusUnprocessableEntity, "wwdrCertificate"},
		{"unknown field", e.admin, func(b map[string]any) { b["pasTypeIdentifier"] = "x" }, http.StatusBadRequest, "pasTypeIdentifier"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := credentialsBody(pki)
			if tc.edit != nil {
				tc.edit(body)
			}
			problem(t, e.do(req{Method: "PUT", Path: "/v1/credentials/apple", Key: tc.key, Body: body}), tc.status, tc.field)
		})
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/credentials/apple", Key: e.admin}), http.StatusNotFound, "")

	res := e.ok(req{Method: "PUT", Path: "/v1/credentials/apple", Key: e.admin, Body: credentialsBody(pki)}, http.StatusOK, nil)
	got := e.ok(req{Method: "GET", Path: "/v1/credentials/apple", Key: e.viewer}, http.StatusOK, nil)
	for _, b := range [][]byte{res.Body, got.Body} {
		if bytes.Contains(b, []byte("PRIVATE KEY")) || bytes.Contains(b, []byte("privateKey")) {
			t.Fatalf("an answer carries the private key: %s", b)
		}
	}
	var info apple.CredentialInfo
	must(t, json.Unmarshal(got.Body, &info))
	if info.PassTypeIdentifier != pki.PassTypeID || info.Certificate.NotAfter.IsZero() || info.Certificate.SHA256 == "" {
		t.Fatalf("credential info %+v", info)
	}
	// At rest the key is sealed, not PEM.
	rec, err := e.store.AppleCredentials(t.Context(), e.wsID)
	must(t, err)
	if bytes.Contains(rec.KeySealed, []byte("PRIVATE KEY")) || len(rec.KeySealed) == 0 {
		t.Fatal("the stored key is not sealed")
	}
	// One pass type identifier, one workspace.
	problem(t, e.do(req{Method: "PUT", Path: "/v1/credentials/apple", Key: e.other, Body: credentialsBody(pki)}), http.StatusConflict, "passTypeIdentifier")

	e.ok(req{Method: "DELETE", Path: "/v1/credentials/apple", Key: e.admin}, http.StatusNoContent, nil)
	problem(t, e.do(req{Method: "GET", Path: "/v1/credentials/apple", Key: e.admin}), http.StatusNotFound, "")
}

func TestPassKitAnswersUnauthorizedWithoutSayingWhy(t *testing.T) {
	e := newAppleEnv(t)
	good := e.pass.AuthToken
	cases := []struct {
		name, passType, serial, auth string
	}{
		{"no header", e.pki.PassTypeID, e.pass.ID, ""},
		{"wrong token", e.pki.PassTypeID, e.pass.ID, "ApplePass " + strings.Repeat("x", len(good))},
		{"bearer scheme", e.pki.PassTypeID, e.pass.ID, "Bearer " + good},
		{"unknown serial", e.pki.PassTypeID, "pass_unknown", "ApplePass " + good},
		{"unknown pass type", "pass.com.unknown", e.pass.ID, "ApplePass " + good},
	}
	var bodies []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			for _, r := range []req{
				{Method: "POST", Path: "/apple/v1/devices/d1/registrations/" + tc.passType + "/" + tc.serial, Body: `{"pushToken":"abcd"}`, Header: h},
				{Method: "DELETE", Path: "/apple/v1/devices/d1/registrations/" + tc.passType + "/" + tc.serial, Header: h},
				{Method: "GET", Path: "/apple/v1/passes/" + tc.passType + "/" + tc.serial, Header: h},
			} {
				res := e.do(r)
				problem(t, res, http.StatusUnauthorized, "")
				bodies = append(bodies, string(res.Body))
			}
		})
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Fatalf("401 answers differ, revealing why:\n%s\n%s", bodies[0], b)
		}
	}
}

func TestPassKitRegistrationLifecycle(t *testing.T) {
	e := newAppleEnv(t)
	auth := map[string]string{"Authorization": "ApplePass " + e.pass.AuthToken}
	token := strings.Repeat("ab", 32)

	problem(t, e.do(req{Method: "POST", Path: e.passkitPath("d1"), Body: `{"pushToken":"not hex!"}`, Header: auth}), http.StatusUnprocessableEntity, "pushToken")
	problem(t, e.do(req{Method: "POST", Path: e.passkitPath("d1"), Body: `{}`, Header: auth}), http.StatusUnprocessableEntity, "pushToken")
	problem(t, e.do(req{Method: "POST", Path: e.passkitPath("d1"), Body: `[`, Header: auth}), http.StatusBadRequest, "pushToken")

	e.ok(req{Method: "POST", Path: e.passkitPath("d1"), Body: `{"pushToken":"` + token + `"}`, Header: auth}, http.StatusCreated, nil)
	e.ok(req{Method: "POST", Path: e.passkitPath("d1"), Body: `{"pushToken":"` + token + `","extra":1}`, Header: auth}, http.StatusOK, nil)

	var p core.Pass
	e.ok(req{Method: "GET", Path: "/v1/passes/" + e.pass.ID, Key: e.viewer}, http.StatusOK, &p)
	if p.WalletStatus != core.WalletApple || p.Version != e.pass.Version || !p.UpdatedAt.Equal(e.pass.UpdatedAt) {
		t.Fatalf("after install: status %s version %d (was %d) updatedAt %s (was %s)", p.WalletStatus, p.Version, e.pass.Version, p.UpdatedAt, e.pass.UpdatedAt)
	}
	var regs list[registrationView]
	e.ok(req{Method: "GET", Path: "/v1/passes/" + e.pass.ID + "/registrations", Key: e.viewer}, http.StatusOK, &regs)
	if len(regs.Data) != 1 || regs.Data[0].PushTokenHash != apple.TokenHash(token) || strings.Contains(string(mustJSON(t, regs)), token) {
		t.Fatalf("registrations %+v", regs)
	}

	// Serials: all, then none since the tag, unknown device none.
	var serials serialsView
	e.ok(req{Method: "GET", Path: "/apple/v1/devices/d1/registrations/" + e.pki.PassTypeID}, http.StatusOK, &serials)
	if len(serials.SerialNumbers) != 1 || serials.SerialNumbers[0] != e.pass.ID || serials.LastUpdated == "" {
		t.Fatalf("serials %+v", serials)
	}
	e.ok(req{Method: "GET", Path: "/apple/v1/devices/d1/registrations/" + e.pki.PassTypeID + "?passesUpdatedSince=" + serials.LastUpdated}, http.StatusNoContent, nil)
	e.ok(req{Method: "GET", Path: "/apple/v1/devices/nobody/registrations/" + e.pki.PassTypeID}, http.StatusNoContent, nil)

	e.ok(req{Method: "DELETE", Path: e.passkitPath("d1"), Header: auth}, http.StatusOK, nil)
	e.ok(req{Method: "DELETE", Path: e.passkitPath("d1"), Header: auth}, http.StatusOK, nil) // already gone
	e.ok(req{Method: "GET", Path: "/v1/passes/" + e.pass.ID, Key: e.viewer}, http.StatusOK, &p)
	if p.WalletStatus != core.WalletNone || p.AppleWalletInstalledAt != nil {
		t.Fatalf("after uninstall: %s", p.WalletStatus)
	}
	var evs list[core.Event]
	e.ok(req{Method: "GET", Path: "/v1/events", Key: e.viewer}, http.StatusOK, &evs)
	var types []core.EventType
	for _, ev := range evs.Data {
		types = append(types, ev.Type)
	}
	if len(types) < 2 || types[0] != core.EventUninstalled || types[1] != core.EventInstalled {
		t.Fatalf("events newest first %v, want pass.uninstalled then pass.installed", types)
	}
	if evs.Data[0].Data.Platform != core.PlatformApple {
		t.Fatalf("uninstall platform %q", evs.Data[0].Data.Platform)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

func TestPassKitPassDownloadAndRevalidation(t *testing.T) {
	e := newAppleEnv(t)
	auth := map[string]string{"Authorization": "ApplePass " + e.pass.AuthToken}
	path := "/apple/v1/passes/" + e.pki.PassTypeID + "/" + e.pass.ID
	res := e.ok(req{Method: "GET", Path: path, Header: auth}, http.StatusOK, nil)
	if ct := res.Header.Get("Content-Type"); ct != ContentTypePKPass {
		t.Fatalf("Content-Type %q", ct)
	}
	lm, err := http.ParseTime(res.Header.Get("Last-Modified"))
	must(t, err)
	zr, err := zip.NewReader(bytes.NewReader(res.Body), int64(len(res.Body)))
	must(t, err)
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	for _, n := range []string{"pass.json", "manifest.json", "signature", "icon.png"} {
		if !names[n] {
			t.Fatalf("the .pkpass lacks %s", n)
		}
	}
	// An If-Modified-Since before the change never gets a 304.
	before := e.pass.UpdatedAt.Add(-time.Second).Format(http.TimeFormat)
	e.ok(req{Method: "GET", Path: path, Header: map[string]string{"Authorization": auth["Authorization"], "If-Modified-Since": before}}, http.StatusOK, nil)
	// At or after the rounded-up second: 304.
	after := e.pass.UpdatedAt.Truncate(time.Second).Add(time.Second).Format(http.TimeFormat)
	e.ok(req{Method: "GET", Path: path, Header: map[string]string{"Authorization": auth["Authorization"], "If-Modified-Since": after}}, http.StatusNotModified, nil)
	if lm.After(e.pass.UpdatedAt.Truncate(time.Second).Add(time.Second)) {
		t.Fatalf("Last-Modified %s is later than the change %s", lm, e.pass.UpdatedAt)
	}
}

func TestLastModifiedNeverCausesAFalse304(t *testing.T) {
	base := time.Date(2026, 11, 23, 10, 0, 5, 0, time.UTC)
	cases := []struct {
		name                 string
		u, now               time.Time
		wantModified, wantLM time.Time
	}{
		{"whole second, passed", base, base.Add(time.Second), base, base},
		{"whole second, still now", base, base, base, base.Truncate(time.Second)},
		{"mid-second, second not over: send the floor", base.Add(300 * time.Millisecond), base.Add(600 * time.Millisecond), base.Add(time.Second), base},
		{"mid-second, second over: send the ceiling", base.Add(300 * time.Millisecond), base.Add(1100 * time.Millisecond), base.Add(time.Second), base.Add(time.Second)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			modified, sent := lastModified(tc.u, tc.now)
			if !modified.Equal(tc.wantModified) || !sent.Equal(tc.wantLM) {
				t.Fatalf("lastModified(%s, %s) = %s, %s; want %s, %s", tc.u, tc.now, modified, sent, tc.wantModified, tc.wantLM)
			}
			// A device echoing what it was sent gets a 304 only when the
			// version it holds is this one or later.
			if !sent.Before(modified) && sent.Before(tc.u) {
				t.Fatal("a 304 for a header earlier than the change")
			}
		})
	}
}

func TestShareLinks(t *testing.T) {
	e := newAppleEnv(t)
	var link shareLinkView
	e.ok(req{Method: "POST", Path: "/v1/passes/" + e.pass.ID + "/share-links", Key: e.editor}, http.StatusCreated, &link)
	if len(link.Token) < 32 || link.URL != testPublicURL+"/p/"+link.Token || link.PKPassURL != link.URL+"/pass.pkpass" {
		t.Fatalf("link %+v", link)
	}
	problem(t, e.do(req{Method: "POST", Path: "/v1/passes/" + e.pass.ID + "/share-links", Key: e.viewer}), http.StatusForbidden, "")
	problem(t, e.do(req{Method: "GET", Path: "/v1/passes/" + e.pass.ID + "/share-links", Key: e.other}), http.StatusNotFound, "")

	iphone := "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
	res := e.ok(req{Method: "GET", Path: "/p/" + link.Token, Header: map[string]string{"User-Agent": iphone}}, http.StatusOK, nil)
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("share page headers %v", res.Header)
	}
	if !bytes.Contains(res.Body, []byte("Add to Apple Wallet")) || !bytes.Contains(res.Body, []byte(link.PKPassURL)) {
		t.Fatalf("share page lacks the Apple button:\n%s", res.Body)
	}
	dl := e.ok(req{Method: "GET", Path: "/p/" + link.Token + "/pass.pkpass"}, http.StatusOK, nil)
	if dl.Header.Get("Content-Type") != ContentTypePKPass {
		t.Fatalf("download Content-Type %q", dl.Header.Get("Content-Type"))
	}
	problem(t, e.do(req{Method: "GET", Path: "/p/" + strings.Repeat("0", 32)}), http.StatusNotFound, "")

	var revoked shareLinkView
	e.ok(req{Method: "DELETE", Path: "/v1/passes/" + e.pass.ID + "/share-links/" + link.ID, Key: e.editor}, http.StatusOK, &revoked)
	if revoked.RevokedAt == nil {
		t.Fatal("revokedAt not set")
	}
	e.ok(req{Method: "DELETE", Path: "/v1/passes/" + e.pass.ID + "/share-links/" + link.ID, Key: e.editor}, http.StatusOK, nil)
	problem(t, e.do(req{Method: "GET", Path: "/p/" + link.Token}), http.StatusGone, "")
	problem(t, e.do(req{Method: "GET", Path: "/p/" + link.Token + "/pass.pkpass"}), http.StatusGone, "")
	var links list[shareLinkView]
	e.ok(req{Method: "GET", Path: "/v1/passes/" + e.pass.ID + "/share-links", Key: e.viewer}, http.StatusOK, &links)
	if len(links.Data) != 1 || links.Data[0].RevokedAt == nil {
		t.Fatalf("links %+v", links)
	}
}

func TestPassDownloadNeedsCredentials(t *testing.T) {
	e := newEnv(t)
	tpl := e.template(e.admin, "T")
	p := e.pass(e.editor, map[string]any{"templateId": tpl, "externalId": "x"})
	problem(t, e.do(req{Method: "GET", Path: "/v1/passes/" + p.ID + "/pkpass", Key: e.viewer}), http.StatusConflict, "credentials")

	a := newAppleEnv(t)
	res := a.ok(req{Method: "GET", Path: "/v1/passes/" + a.pass.ID + "/pkpass", Key: a.viewer}, http.StatusOK, nil)
	if res.Header.Get("Content-Type") != ContentTypePKPass || !strings.Contains(res.Header.Get("Content-Disposition"), "pass.pkpass") {
		t.Fatalf("headers %v", res.Header)
	}
}

func TestTemplatePushAndPushLogParameters(t *testing.T) {
	e := newAppleEnv(t)
	var started pushStarted
	e.ok(req{Method: "POST", Path: "/v1/templates/" + e.pass.TemplateID + "/push", Key: e.editor}, http.StatusAccepted, &started)
	jobs, err := e.store.PendingJobs(t.Context(), 1000)
	must(t, err)
	found := false
	for _, j := range jobs {
		found = found || (j.Kind == apple.JobTemplatePush && j.Key == started.Key)
	}
	if !found {
		t.Fatalf("no %s job with key %s among %d pending", apple.JobTemplatePush, started.Key, len(jobs))
	}
	problem(t, e.do(req{Method: "POST", Path: "/v1/templates/tpl_nope/push", Key: e.editor}), http.StatusNotFound, "")
	problem(t, e.do(req{Method: "GET", Path: "/v1/push-logs?platform=windows", Key: e.viewer}), http.StatusBadRequest, "platform")
	problem(t, e.do(req{Method: "GET", Path: "/v1/push-logs?status=meh", Key: e.viewer}), http.StatusBadRequest, "status")
	problem(t, e.do(req{Method: "GET", Path: "/v1/push-logs?since=yesterday", Key: e.viewer}), http.StatusBadRequest, "since")
	e.ok(req{Method: "GET", Path: "/v1/push-logs?platform=apple&status=ok", Key: e.viewer}, http.StatusOK, nil)
}

func TestPassKitLogIsAccepted(t *testing.T) {
	e := newAppleEnv(t)
	e.ok(req{Method: "POST", Path: "/apple/v1/log", Body: `{"logs":["Web service error for pass.x: bad"]}`}, http.StatusOK, nil)
	if !strings.Contains(e.logs.String(), "Web service error for pass.x") {
		t.Fatal("the device's log line is not in the server log")
	}
}

func TestPassKitServesDeletedPassesAsVoided(t *testing.T) {
	e := newAppleEnv(t)
	auth := "ApplePass " + e.pass.AuthToken
	path := "/apple/v1/passes/" + e.pki.PassTypeID + "/" + e.pass.ID
	var deleted core.Pass
	e.ok(req{Method: "DELETE", Path: "/v1/passes/" + e.pass.ID, Key: e.editor}, http.StatusOK, &deleted)
	res := e.ok(req{Method: "GET", Path: path, Header: map[string]string{"Authorization": auth}}, http.StatusOK, nil)
	zr, err := zip.NewReader(bytes.NewReader(res.Body), int64(len(res.Body)))
	must(t, err)
	for _, f := range zr.File {
		if f.Name != "pass.json" {
			continue
		}
		rc, err := f.Open()
		must(t, err)
		var pj map[string]any
		must(t, json.NewDecoder(rc).Decode(&pj))
		rc.Close()
		if pj["voided"] != true {
			t.Fatalf("a deleted pass is served without voided: %v", pj["voided"])
		}
	}
	// Once the template is gone too, a device holding the final version
	// revalidates to 304 and any other request learns the pass is gone.
	e.ok(req{Method: "DELETE", Path: "/v1/templates/" + e.pass.TemplateID, Key: e.admin}, http.StatusNoContent, nil)
	later := deleted.UpdatedAt.Truncate(time.Second).Add(time.Second).Format(http.TimeFormat)
	e.ok(req{Method: "GET", Path: path, Header: map[string]string{"Authorization": auth, "If-Modified-Since": later}}, http.StatusNotModified, nil)
	problem(t, e.do(req{Method: "GET", Path: path, Header: map[string]string{"Authorization": auth}}), http.StatusGone, "")
}
