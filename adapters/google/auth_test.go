package google_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/adapters/google/googletest"
	"github.com/passhub/passhub/core"
)

// decodeJWT verifies an RS256 JWT with pub and returns its header and
// claims.
func decodeJWT(t *testing.T, token string, pub *rsa.PublicKey) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT has %d parts", len(parts))
	}
	enc := base64.RawURLEncoding
	sig, err := enc.DecodeString(parts[2])
	must(t, err)
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("JWT signature: %v", err)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := enc.DecodeString(parts[i])
		must(t, err)
		must(t, json.Unmarshal(raw, dst))
	}
	return header, claims
}

func TestOAuthAssertionAndTokenReuse(t *testing.T) {
	e := newEnv(t, googletest.Options{})
	tpl := template(core.StyleGeneric)
	must(t, e.client.UpsertClass(ctx(t), google.KindGeneric, tpl, classOpts()))
	for range 3 {
		_, err := e.client.UpsertObject(ctx(t), google.KindGeneric, tpl, pass(), google.ObjectOptions{})
		must(t, err)
	}

	trs := e.srv.TokenRequests()
	if len(trs) != 1 {
		t.Fatalf("%d token requests for %d API calls, want the token reused", len(trs), len(e.srv.Requests()))
	}
	tr := trs[0]
	if tr.Status != 200 || !tr.SignatureValid || tr.GrantType != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		t.Fatalf("token request: %+v", tr)
	}
	_, key := testKey(t)
	header, claims := decodeJWT(t, tr.Assertion, &key.PublicKey)
	if header["alg"] != "RS256" || header["kid"] != e.sa.PrivateKeyID {
		t.Errorf("assertion header %v", header)
	}
	if claims["iss"] != saEmail || claims["aud"] != e.srv.TokenURL || claims["scope"] != google.Scope {
		t.Errorf("assertion claims %v", claims)
	}
	iat, exp := claims["iat"].(float64), claims["exp"].(float64)
	if now := float64(time.Now().Unix()); iat > now || exp <= now || exp-iat > 3600 {
		t.Errorf("iat %v exp %v", iat, exp)
	}
	for _, r := range e.srv.Requests() {
		if r.Bearer != tr.Token {
			t.Fatalf("%s %s used bearer %q, want %q", r.Method, r.Path, r.Bearer, tr.Token)
		}
	}
}

func TestUntrustedKeyIsPermanent(t *testing.T) {
	srv := googletest.Start(t, googletest.Options{})
	other := googletest.Start(t, googletest.Options{})
	// A key the fake does not trust (trusted by another server only).
	sa, err := google.ParseServiceAccount(keyFor(t, other))
	must(t, err)
	sa.TokenURI = srv.TokenURL
	c, err := google.NewClient(issuerID, sa, google.ClientConfig{BaseURL: srv.URL})
	must(t, err)
	err = c.UpsertClass(ctx(t), google.KindGeneric, template(core.StyleGeneric), classOpts())
	var ae *google.APIError
	if !errors.Is(err, core.ErrPermanent) || !errors.As(err, &ae) || ae.Status != 400 || ae.Reason != "invalid_grant" {
		t.Fatalf("err = %v, want permanent invalid_grant", err)
	}
	if trs := srv.TokenRequests(); len(trs) != 1 || trs[0].SignatureValid {
		t.Fatalf("token requests %+v", trs)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d API requests without a token", n)
	}
}

func TestErrorClassification(t *testing.T) {
	classPath := "/walletobjects/v1/genericClass"
	tests := []struct {
		name       string
		fault      googletest.Fault
		permanent  bool
		retryAfter time.Duration // 0: no RetryAfterError
		status     int
		reason     string
		message    string
	}{
		{name: "429 with Retry-After", fault: googletest.Fault{Path: classPath, Status: 429, RetryAfter: "7"},
			retryAfter: 7 * time.Second, status: 429, reason: "rateLimitExceeded", message: "Rate Limit Exceeded"},
		{name: "429 without Retry-After", fault: googletest.Fault{Path: classPath, Status: 429},
			status: 429, reason: "rateLimitExceeded", message: "Rate Limit Exceeded"},
		{name: "500", fault: googletest.Fault{Path: classPath, Status: 500},
			status: 500, reason: "backendError", message: "Internal error encountered."},
		{name: "503 with Retry-After", fault: googletest.Fault{Path: classPath, Status: 503, RetryAfter: "120"},
			retryAfter: 2 * time.Minute, status: 503, reason: "backendError"},
		{name: "403 rate limit", fault: googletest.Fault{Path: classPath, Status: 403, Reason: "userRateLimitExceeded", Message: "User Rate Limit Exceeded"},
			status: 403, reason: "userRateLimitExceeded", message: "User Rate Limit Exceeded"},
		{name: "400 keeps Google's message", fault: googletest.Fault{Path: classPath, Status: 400, Reason: "invalid", Message: "Invalid hexBackgroundColor: 'blue'"},
			permanent: true, status: 400, reason: "invalid", message: "Invalid hexBackgroundColor: 'blue'"},
		{name: "403 permission denied", fault: googletest.Fault{Path: classPath, Status: 403, Reason: "forbidden", Message: "The caller does not have permission"},
			permanent: true, status: 403, reason: "forbidden", message: "The caller does not have permission"},
		{name: "token endpoint 500", fault: googletest.Fault{Path: googletest.TokenPath, Status: 500, Reason: "internal_failure", Message: "Backend error"},
			status: 500, reason: "internal_failure", message: "Backend error"},
		{name: "token endpoint 400", fault: googletest.Fault{Path: googletest.TokenPath, Status: 400, Reason: "invalid_grant", Message: "account not found"},
			permanent: true, status: 400, reason: "invalid_grant", message: "account not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, googletest.Options{})
			f := tt.fault
			f.Times = 1
			e.srv.Inject(f)
			err := e.client.UpsertClass(ctx(t), google.KindGeneric, template(core.StyleGeneric), classOpts())
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, core.ErrPermanent); got != tt.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			var ra *core.RetryAfterError
			if got := errors.As(err, &ra); got != (tt.retryAfter > 0) || got && ra.After != tt.retryAfter {
				t.Errorf("RetryAfterError = %v (%v), want after %v", got, err, tt.retryAfter)
			}
			var ae *google.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("no APIError in %v", err)
			}
			if ae.Status != tt.status || ae.Reason != tt.reason || tt.message != "" && ae.Message != tt.message {
				t.Errorf("APIError = %+v, want %d %s %q", *ae, tt.status, tt.reason, tt.message)
			}
			// The fault was one-shot: the retry the queue would make passes.
			must(t, e.client.UpsertClass(ctx(t), google.KindGeneric, template(core.StyleGeneric), classOpts()))
		})
	}
}

func TestFakeValidatesLikeGoogle(t *testing.T) {
	// The fake refuses what Google refuses, so the tests above prove the
	// client sends what Google requires; here the refusals themselves.
	e := newEnv(t, googletest.Options{})
	tpl := template(core.StyleStoreCard)
	// An object before its class.
	_, err := e.client.UpsertObject(ctx(t), google.KindLoyalty, tpl, pass(), google.ObjectOptions{})
	var ae *google.APIError
	if !errors.Is(err, core.ErrPermanent) || !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("object without class: %v", err)
	}
	// Raw calls the client never makes.
	tok := e.srv.TokenRequests()[0].Token
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/walletobjects/v1/loyaltyClass", `{"id":"` + issuerID + `.c1","issuerName":"A","reviewStatus":"UNDER_REVIEW","programName":"P"}`, 400},
		{"/walletobjects/v1/offerClass", `{"id":"` + issuerID + `.c1","issuerName":"A","reviewStatus":"UNDER_REVIEW","title":"T","provider":"P"}`, 400},
		{"/walletobjects/v1/genericClass", `{"id":"` + issuerID + `.has space"}`, 400},
		{"/walletobjects/v1/genericClass", `{"id":"` + issuerID + `.g1"}`, 200},
		{"/walletobjects/v1/genericObject", `{"id":"` + issuerID + `.o1","classId":"` + issuerID + `.g1","cardTitle":{"defaultValue":{"language":"en","value":"x"}}}`, 400},
		{"/walletobjects/v1/genericObject", `{"id":"` + issuerID + `.o1","classId":"` + issuerID + `.g1","cardTitle":{"defaultValue":{"language":"en","value":"x"}},"header":{"defaultValue":{"language":"en","value":"y"}},"textModulesData":[{"id":"a.b","body":"z"}]}`, 400},
	} {
		req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(e.srv.URL, "/")+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("POST %s %s → %d, want %d", tc.path, tc.body, resp.StatusCode, tc.status)
		}
	}
	// No bearer token: 401.
	resp, err := http.Get(e.srv.URL + "walletobjects/v1/genericClass/" + issuerID + ".g1")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without token → %d", resp.StatusCode)
	}
}

func TestSaveURL(t *testing.T) {
	_, key := testKey(t)
	sa, err := google.ParseServiceAccount(keyJSON)
	must(t, err)
	now := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	objectID := google.ObjectID(issuerID, "pass 01/é")
	if objectID != issuerID+".pass_01__" {
		t.Fatalf("object ID %q not sanitised", objectID)
	}
	tests := []struct {
		kind    google.ClassKind
		origins []string
		key     string
		want    []any
	}{
		{google.KindLoyalty, []string{"https://shop.example.com"}, "loyaltyObjects", []any{"https://shop.example.com"}},
		{google.KindOffer, nil, "offerObjects", []any{}},
		{google.KindEventTicket, []string{"https://a.example", "https://b.example"}, "eventTicketObjects", []any{"https://a.example", "https://b.example"}},
		{google.KindGeneric, nil, "genericObjects", []any{}},
		{google.KindGiftCard, nil, "giftCardObjects", []any{}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			u, err := google.SaveURL(sa, tt.kind, objectID, tt.origins, now)
			must(t, err)
			token, ok := strings.CutPrefix(u, "https://pay.google.com/gp/v/save/")
			if !ok {
				t.Fatalf("URL %s", u)
			}
			header, claims := decodeJWT(t, token, &key.PublicKey)
			if want := map[string]any{"alg": "RS256", "typ": "JWT", "kid": sa.PrivateKeyID}; !reflect.DeepEqual(header, want) {
				t.Errorf("header %v, want %v", header, want)
			}
			want := map[string]any{
				"iss":     saEmail,
				"aud":     "google",
				"typ":     "savetowallet",
				"iat":     float64(now.Unix()),
				"origins": tt.want,
				"payload": map[string]any{tt.key: []any{map[string]any{"id": objectID}}},
			}
			if !reflect.DeepEqual(claims, want) {
				t.Errorf("claims %v\nwant   %v", claims, want)
			}
		})
	}
	for _, bad := range []string{"", issuerID + ".pass 1", issuerID + ".pässe"} {
		if _, err := google.SaveURL(sa, google.KindLoyalty, bad, nil, now); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("SaveURL(%q) err = %v, want invalid", bad, err)
		}
	}
	if _, err := google.SaveURL(sa, "flight", objectID, nil, now); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("unknown kind: %v", err)
	}
}
