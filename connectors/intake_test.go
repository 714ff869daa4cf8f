package connectors_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/secretbox"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/connectors"
	"github.com/passhub/passhub/connectors/verify"
	"github.com/passhub/passhub/core"
)

const publicURL = "https://passhub.test"

type env struct {
	t      *testing.T
	store  *sqlite.Store
	intake *connectors.Intake
	ws     string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	key := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := core.NewService(st).CreateWorkspace(t.Context(), "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: st, intake: connectors.New(st, box, publicURL), ws: ws.ID}
}

func (e *env) create(in connectors.Input) core.Connector {
	e.t.Helper()
	c, err := e.intake.Create(e.t.Context(), e.ws, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) triggers() []core.Trigger {
	e.t.Helper()
	ts, _, err := e.store.ListTriggers(e.t.Context(), e.ws, core.TriggerQuery{Page: core.Page{Limit: 1000}})
	if err != nil {
		e.t.Fatal(err)
	}
	return ts
}

func b64HMAC(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func shopifyHeaders(secret, body, webhookID string) http.Header {
	h := http.Header{}
	h.Set("X-Shopify-Hmac-Sha256", b64HMAC(secret, body))
	h.Set("X-Shopify-Topic", "orders/paid")
	h.Set("X-Shopify-Shop-Domain", "acme.myshopify.com")
	h.Set("X-Shopify-Webhook-Id", webhookID)
	h.Set("X-Shopify-Triggered-At", "2026-11-23T10:00:00.123Z")
	return h
}

func TestShopifyDeliveryIsStoredOnce(t *testing.T) {
	e := newEnv(t)
	c := e.create(connectors.Input{Name: "shop", Kind: core.ConnectorShopify, Secrets: connectors.Secrets{Secrets: []string{"old-secret", "new-secret"}}, Mapping: "shopify-loyalty"})
	if e.intake.URL(c) != publicURL+"/hooks/"+c.ID {
		t.Fatalf("url %s", e.intake.URL(c))
	}
	body := `{"id":820982911946154508,"total_price":"50.00","customer":{"id":115310627314723954}}`
	for i := range 3 {
		r, err := e.intake.Receive(t.Context(), c.ID, "POST", shopifyHeaders("new-secret", body, "wh-1"), []byte(body))
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		if want := (connectors.Receipt{Accepted: 1}); i == 0 && r.Accepted != want.Accepted {
			t.Fatalf("first delivery %+v", r)
		}
		if i > 0 && (r.Accepted != 0 || r.Duplicates != 1) {
			t.Fatalf("redelivery %d: %+v, want a duplicate", i, r)
		}
	}
	ts := e.triggers()
	if len(ts) != 1 || ts[0].Topic != "orders/paid" || ts[0].DedupeKey == "" || ts[0].OccurredAt == nil || string(ts[0].Payload) != body ||
		ts[0].Headers["x-shopify-shop-domain"] != "acme.myshopify.com" || ts[0].Status != core.TriggerReceived {
		t.Fatalf("triggers %+v", ts)
	}
	jobs, err := e.store.PendingJobs(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Kind != core.JobKindTriggerApply || jobs[0].Key != ts[0].ID {
		t.Fatalf("jobs %+v, want one trigger.apply for %s", jobs, ts[0].ID)
	}
	// The old secret still signs during rotation.
	if _, err := e.intake.Receive(t.Context(), c.ID, "POST", shopifyHeaders("old-secret", body, "wh-2"), []byte(body)); err != nil {
		t.Fatalf("rotated secret: %v", err)
	}
}

func TestRefusedDeliveriesStoreNothing(t *testing.T) {
	e := newEnv(t)
	shop := e.create(connectors.Input{Name: "shop", Kind: core.ConnectorShopify, Secrets: connectors.Secrets{Secrets: []string{"s3cret"}}, Mapping: "m"})
	hub := e.create(connectors.Input{Name: "hub", Kind: core.ConnectorHubSpot, Secrets: connectors.Secrets{ClientSecret: "hub-secret"}, Mapping: "m"})
	body := `{"id":1}`
	hubBody := `[{"eventId":1,"portalId":62515,"occurredAt":1700000000000,"subscriptionType":"contact.propertyChange","objectId":123,"propertyName":"tier","propertyValue":"gold"}]`
	hubHeaders := func(ts time.Time, sig string) http.Header {
		h := http.Header{}
		stamp := strconv.FormatInt(ts.UnixMilli(), 10)
		if sig == "" {
			sig = b64HMAC("hub-secret", "POST"+publicURL+"/hooks/"+hub.ID+hubBody+stamp)
		}
		h.Set("X-HubSpot-Signature-v3", sig)
		h.Set("X-HubSpot-Request-Timestamp", stamp)
		return h
	}
	cases := []struct {
		name    string
		id      string
		header  http.Header
		body    string
		wantErr error
	}{
		{"wrong secret", shop.ID, shopifyHeaders("other", body, "w1"), body, verify.ErrSignature},
		{"tampered body", shop.ID, shopifyHeaders("s3cret", body, "w2"), `{"id":2}`, verify.ErrSignature},
		{"no signature", shop.ID, http.Header{}, body, verify.ErrSignature},
		{"hubspot stale timestamp", hub.ID, hubHeaders(time.Now().Add(-6*time.Minute), ""), hubBody, verify.ErrStale},
		{"hubspot forged", hub.ID, hubHeaders(time.Now(), b64HMAC("guess", "x")), hubBody, verify.ErrSignature},
		{"unknown connector", "con_nope", shopifyHeaders("s3cret", body, "w3"), body, core.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.intake.Receive(t.Context(), tc.id, "POST", tc.header, []byte(tc.body))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
	if ts := e.triggers(); len(ts) != 0 {
		t.Fatalf("refused deliveries stored %d triggers", len(ts))
	}
	// A fresh, correctly signed HubSpot batch is one trigger per event.
	r, err := e.intake.Receive(t.Context(), hub.ID, "POST", hubHeaders(time.Now(), ""), []byte(hubBody))
	if err != nil || r.Accepted != 1 {
		t.Fatalf("hubspot: %+v %v", r, err)
	}
}

// hubspotBatch delivers a signed HubSpot batch of n contact events.
func (e *env) hubspotBatch(hub core.Connector, n int) (connectors.Receipt, error) {
	body := "["
	for i := range n {
		if i > 0 {
			body += ","
		}
		body += fmt.Sprintf(`{"eventId":%d,"portalId":62515,"occurredAt":1700000000000,"subscriptionType":"contact.propertyChange","objectId":%d,"propertyName":"tier","propertyValue":"gold"}`, 100+i, 500+i)
	}
	body += "]"
	stamp := strconv.FormatInt(time.Now().UnixMilli(), 10)
	h := http.Header{}
	h.Set("X-HubSpot-Signature-v3", b64HMAC("hub-secret", "POST"+publicURL+"/hooks/"+hub.ID+body+stamp))
	h.Set("X-HubSpot-Request-Timestamp", stamp)
	return e.intake.Receive(e.t.Context(), hub.ID, "POST", h, []byte(body))
}

func (e *env) hubspot() core.Connector {
	return e.create(connectors.Input{Name: "hub", Kind: core.ConnectorHubSpot, Secrets: connectors.Secrets{ClientSecret: "hub-secret"}, Mapping: "m"})
}

func TestHubSpotBatchIsOneTriggerPerEvent(t *testing.T) {
	e := newEnv(t)
	r, err := e.hubspotBatch(e.hubspot(), 3)
	if err != nil || r.Accepted != 3 || len(r.TriggerIDs) != 3 {
		t.Fatalf("batch: %+v %v", r, err)
	}
	for _, tr := range e.triggers() {
		if tr.Topic != "contact.propertyChange" || tr.Source == "" {
			t.Fatalf("trigger %+v", tr)
		}
	}
}

func TestConnectorSettingsAreValidatedAndSecretsKept(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name  string
		in    connectors.Input
		field string
	}{
		{"name required", connectors.Input{Kind: core.ConnectorShopify, Secrets: connectors.Secrets{Secrets: []string{"x"}}, Mapping: "m"}, "name"},
		{"kind known", connectors.Input{Name: "n", Kind: "stripe", Mapping: "m"}, "kind"},
		{"mapping required", connectors.Input{Name: "n", Kind: core.ConnectorShopify, Secrets: connectors.Secrets{Secrets: []string{"x"}}}, "mapping"},
		{"shopify needs a secret", connectors.Input{Name: "n", Kind: core.ConnectorShopify, Mapping: "m"}, "secrets.secrets"},
		{"square needs a key", connectors.Input{Name: "n", Kind: core.ConnectorSquare, Mapping: "m"}, "secrets.signatureKey"},
		{"generic scheme known", connectors.Input{Name: "n", Kind: core.ConnectorGeneric, Config: connectors.Config{Scheme: "jwt"}, Mapping: "m"}, "config.scheme"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.intake.Create(t.Context(), e.ws, tc.in)
			var fe *core.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want a field error on %s", err, tc.field)
			}
		})
	}
	c := e.create(connectors.Input{Name: "sq", Kind: core.ConnectorSquare, Secrets: connectors.Secrets{SignatureKey: "sq-key"}, Mapping: "m"})
	if string(c.SecretsSealed) == "" || len(c.Config) == 0 {
		t.Fatal("secrets not sealed or config not kept")
	}
	// An update without secrets keeps them: a Square delivery still verifies.
	if _, err := e.intake.Update(t.Context(), e.ws, c.ID, connectors.Input{Name: "square", Mapping: "m2"}); err != nil {
		t.Fatal(err)
	}
	body := `{"merchant_id":"M1","type":"loyalty.account.updated","event_id":"e-1","created_at":"2026-11-23T10:00:00Z","data":{"type":"loyalty_account","id":"a1","object":{}}}`
	h := http.Header{}
	h.Set("X-Square-Hmacsha256-Signature", b64HMAC("sq-key", publicURL+"/hooks/"+c.ID+body))
	r, err := e.intake.Receive(t.Context(), c.ID, "POST", h, []byte(body))
	if err != nil || r.Accepted != 1 {
		t.Fatalf("square after update: %+v %v", r, err)
	}
}

const apiKey = "generic-key-0123456789"

// genericDelivery receives body on a generic API-key connector with the
// extra headers given.
func (e *env) genericDelivery(c core.Connector, body string, extra map[string]string) (connectors.Receipt, error) {
	e.t.Helper()
	h := http.Header{}
	h.Set("X-Api-Key", apiKey)
	for k, v := range extra {
		h.Set(k, v)
	}
	return e.intake.Receive(e.t.Context(), c.ID, "POST", h, []byte(body))
}

func genericInput(cfg connectors.Config) connectors.Input {
	cfg.Scheme = connectors.SchemeAPIKey
	return connectors.Input{Name: "crm", Kind: core.ConnectorGeneric, Secrets: connectors.Secrets{Keys: []string{apiKey}}, Config: cfg, Mapping: "m"}
}

func TestGenericConnectorTopicAndDedupeKeyComeFromHeaderThenExpressionThenBody(t *testing.T) {
	body := `{"id":706405506930370084,"type":"order","action":"paid","amount":12.0,"customer":{"email":"Ada@Example.com"},"tags":["a","b"]}`
	cases := []struct {
		name       string
		cfg        connectors.Config
		headers    map[string]string
		wantTopic  string
		wantDedupe string
	}{
		{"headers win over expressions",
			connectors.Config{TopicHeader: "X-Event", DedupeHeader: "X-Delivery", TopicExpr: `"from-expr"`, DedupeExpr: `"from-expr"`},
			map[string]string{"X-Event": "order.created", "X-Delivery": "d-1"}, "order.created", "d-1"},
		{"expressions when the headers are absent",
			connectors.Config{TopicHeader: "X-Event", DedupeHeader: "X-Delivery", TopicExpr: `payload.type + "." + payload.action`, DedupeExpr: `payload.id`},
			nil, "order.paid", "706405506930370084"},
		{"an integral float is written as an integer",
			connectors.Config{Topic: "t", DedupeExpr: `payload.amount`}, nil, "t", "12"},
		{"headers are lower-cased and the functions of mapping files work",
			connectors.Config{TopicExpr: `headers["x-source"] + ":" + lower(payload.customer.email)`, DedupeExpr: `sha256hex(string(payload.id)) | trimPrefix("")`},
			map[string]string{"X-Source": "crm"}, "crm:ada@example.com", core.SHA256Hex("706405506930370084")},
		{"the API key header is not visible to expressions",
			connectors.Config{TopicExpr: `headers["x-api-key"] == "" ? "hidden" : "leaked"`, DedupeExpr: `join(payload.tags, "-") + "/" + split("x/y", "/")[1]`},
			nil, "hidden", "a-b/y"},
		{"loops over the payload",
			connectors.Config{TopicExpr: `find(payload.tags, # != "a")`, DedupeExpr: `string(count(payload.tags, true))`},
			nil, "b", "2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.create(genericInput(tc.cfg))
			if r, err := e.genericDelivery(c, body, tc.headers); err != nil || r.Accepted != 1 {
				t.Fatalf("delivery: %+v %v", r, err)
			}
			ts := e.triggers()
			if len(ts) != 1 || ts[0].Topic != tc.wantTopic || ts[0].DedupeKey != tc.wantDedupe {
				t.Fatalf("triggers %+v, want topic %q and dedupe key %q", ts, tc.wantTopic, tc.wantDedupe)
			}
			// The same delivery again is a duplicate, by the same key.
			if r, err := e.genericDelivery(c, body, tc.headers); err != nil || r.Duplicates != 1 {
				t.Fatalf("redelivery: %+v %v", r, err)
			}
		})
	}
}

func TestGenericConnectorDedupeKeyFallsBackToTheBodyHash(t *testing.T) {
	e := newEnv(t)
	c := e.create(genericInput(connectors.Config{TopicExpr: `payload.type`}))
	body := `{"type":"order"}`
	if _, err := e.genericDelivery(c, body, nil); err != nil {
		t.Fatal(err)
	}
	if ts := e.triggers(); len(ts) != 1 || ts[0].Topic != "order" || ts[0].DedupeKey != "body:"+core.SHA256Hex(body) {
		t.Fatalf("triggers %+v", ts)
	}
}

func TestConnectorKeyExpressionFailingOnAPayloadStoresNothing(t *testing.T) {
	long := func(n int) string { return fmt.Sprintf("%q", strings.Repeat("x", n)) }
	cases := []struct {
		name   string
		cfg    connectors.Config
		body   string
		field  string
		reason string
	}{
		{"member of a missing object", connectors.Config{TopicExpr: `payload.customer.id`}, `{}`, "config.topicExpr", "failed"},
		{"nil", connectors.Config{DedupeExpr: `payload.id`}, `{}`, "config.dedupeExpr", "nil"},
		{"empty string", connectors.Config{TopicExpr: `payload.type`}, `{"type":" "}`, "config.topicExpr", "empty"},
		{"a fraction", connectors.Config{DedupeExpr: `payload.amount`}, `{"amount":12.5}`, "config.dedupeExpr", "not an integer"},
		{"an object", connectors.Config{TopicExpr: `payload.customer`}, `{"customer":{"id":1}}`, "config.topicExpr", "an object"},
		{"a boolean", connectors.Config{TopicExpr: `payload.ok`}, `{"ok":true}`, "config.topicExpr", "a boolean"},
		{"topic longer than 200 bytes", connectors.Config{TopicExpr: `payload.s`}, `{"s":` + long(201) + `}`, "config.topicExpr", "more than 200"},
		{"dedupe key longer than 500 bytes", connectors.Config{DedupeExpr: `payload.s`}, `{"s":` + long(501) + `}`, "config.dedupeExpr", "more than 500"},
		{"concatenation past the string limit", connectors.Config{TopicExpr: `(payload.s + payload.s)[0:10]`}, `{"s":` + long(3000) + `}`, "config.topicExpr", "longer than 4096"},
		{"replace past the string limit", connectors.Config{TopicExpr: `replace(payload.s, "", "xx")[0:10]`}, `{"s":` + long(2000) + `}`, "config.topicExpr", "longer than 4096"},
		{"a function on a huge string", connectors.Config{TopicExpr: `lower(payload.s)[0:10]`}, `{"s":` + long(5000) + `}`, "config.topicExpr", "longer than 4096"},
		{"the memory budget", connectors.Config{TopicExpr: `string(len(map(1..1000000, #)))`}, `{}`, "config.topicExpr", "memory budget"},
		{"a payload nested too deep", connectors.Config{TopicExpr: `"t"`}, strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70), "config.topicExpr", "nests deeper"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.create(genericInput(tc.cfg))
			_, err := e.genericDelivery(c, tc.body, nil)
			var ke *connectors.KeyError
			if !errors.As(err, &ke) || ke.Field != tc.field || !strings.Contains(ke.Reason, tc.reason) {
				t.Fatalf("error %v, want a key error on %s saying %q", err, tc.field, tc.reason)
			}
			if ts := e.triggers(); len(ts) != 0 {
				t.Fatalf("stored %d triggers", len(ts))
			}
		})
	}
}

func TestConnectorKeyExpressionsAreCompiledWhenSaved(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		in     connectors.Input
		field  string
		reason string
	}{
		{"syntax error with its position", genericInput(connectors.Config{TopicExpr: `payload.type +`}), "config.topicExpr", "(line 1, column"},
		{"unknown name", genericInput(connectors.Config{DedupeExpr: `pyload.id`}), "config.dedupeExpr", "unknown name pyload"},
		{"a boolean result", genericInput(connectors.Config{TopicExpr: `payload.a == 1`}), "config.topicExpr", "must yield a string or an integer, not bool"},
		{"a function that is not offered", genericInput(connectors.Config{TopicExpr: `repeat("a", 9)`}), "config.topicExpr", "repeat"},
		{"the clock", genericInput(connectors.Config{TopicExpr: `string(now())`}), "config.topicExpr", "unknown name now"},
		{"an unknown name inside a call", genericInput(connectors.Config{TopicExpr: `upper(nosuch)`}), "config.topicExpr", "unknown name nosuch"},
		{"method calls", genericInput(connectors.Config{TopicExpr: `payload.type.Lower()`}), "config.topicExpr", "method calls"},
		{"the compiler's helpers", genericInput(connectors.Config{TopicExpr: `__concat("a", "b")`}), "config.topicExpr", "unknown name __concat"},
		{"$env", genericInput(connectors.Config{TopicExpr: `$env.payload`}), "config.topicExpr", "unknown name $env"},
		{"a computed pattern", genericInput(connectors.Config{TopicExpr: `payload.a matches payload.b ? "x" : "y"`}), "config.topicExpr", "constant pattern"},
		{"blank", genericInput(connectors.Config{DedupeExpr: `  `}), "config.dedupeExpr", "blank"},
		{"too long", genericInput(connectors.Config{DedupeExpr: strings.Repeat(" ", 1000) + "1"}), "config.dedupeExpr", "longer than 1000"},
		{"with a fixed topic", genericInput(connectors.Config{Topic: "t", TopicExpr: `"u"`}), "config.topicExpr", "config.topic"},
		{"on a shopify connector", connectors.Input{Name: "n", Kind: core.ConnectorShopify, Secrets: connectors.Secrets{Secrets: []string{"x"}}, Config: connectors.Config{DedupeExpr: `payload.id`}, Mapping: "m"}, "config.dedupeExpr", "generic connectors only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.intake.Create(t.Context(), e.ws, tc.in)
			var fe *core.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
				t.Fatalf("error %v, want a field error on %s saying %q", err, tc.field, tc.reason)
			}
		})
	}
	if cs, _, err := e.store.ListConnectors(t.Context(), e.ws, core.Page{Limit: 100}); err != nil || len(cs) != 0 {
		t.Fatalf("refused connectors stored: %d %v", len(cs), err)
	}
}

func TestUpdatedConnectorKeyExpressionIsUsedForTheNextDelivery(t *testing.T) {
	e := newEnv(t)
	c := e.create(genericInput(connectors.Config{TopicExpr: `"first"`}))
	if _, err := e.genericDelivery(c, `{"n":1}`, nil); err != nil {
		t.Fatal(err)
	}
	in := genericInput(connectors.Config{TopicExpr: `"second"`})
	in.Secrets = connectors.Secrets{}
	if _, err := e.intake.Update(t.Context(), e.ws, c.ID, in); err != nil {
		t.Fatal(err)
	}
	if _, err := e.genericDelivery(c, `{"n":2}`, nil); err != nil {
		t.Fatal(err)
	}
	ts := e.triggers()
	topics := map[string]bool{}
	for _, tr := range ts {
		topics[tr.Topic] = true
	}
	if len(ts) != 2 || !topics["first"] || !topics["second"] {
		t.Fatalf("triggers %+v, want topics first then second", ts)
	}
	// An update that breaks the expression is refused and changes nothing.
	bad := genericInput(connectors.Config{TopicExpr: `payload.`})
	bad.Secrets = connectors.Secrets{}
	var fe *core.FieldError
	if _, err := e.intake.Update(t.Context(), e.ws, c.ID, bad); !errors.As(err, &fe) || fe.Field != "config.topicExpr" {
		t.Fatalf("update with a broken expression: %v", err)
	}
	if _, err := e.genericDelivery(c, `{"n":3}`, nil); err != nil {
		t.Fatal(err)
	}
}

// Intake keeps connectors ready between deliveries; its own changes to a
// connector (a new secret, a delete) apply to the very next delivery.
func TestConnectorChangesApplyToTheNextDelivery(t *testing.T) {
	e := newEnv(t)
	c := e.create(connectors.Input{Name: "shop", Kind: core.ConnectorShopify, Secrets: connectors.Secrets{Secrets: []string{"first"}}, Mapping: "m"})
	receive := func(secret, id string) error {
		body := `{"id":1}`
		_, err := e.intake.Receive(t.Context(), c.ID, "POST", shopifyHeaders(secret, body, id), []byte(body))
		return err
	}
	if err := receive("first", "w1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.intake.Update(t.Context(), e.ws, c.ID, connectors.Input{Name: "shop", Kind: core.ConnectorShopify, Secrets: connectors.Secrets{Secrets: []string{"second"}}, Mapping: "m"}); err != nil {
		t.Fatal(err)
	}
	if err := receive("first", "w2"); !errors.Is(err, verify.ErrSignature) {
		t.Fatalf("old secret after the update: %v, want a signature error", err)
	}
	if err := receive("second", "w3"); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	if err := e.intake.Delete(t.Context(), e.ws, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := receive("second", "w4"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("after delete: %v, want not found", err)
	}
}

// slots is a LocalRunner with room for a number of runs.
type slots struct {
	room int
	ran  []string
	jobs []core.Job
}

func (s *slots) Reserve() bool {
	if s.room == 0 {
		return false
	}
	s.room--
	return true
}

func (s *slots) Release() { s.room++ }

func (s *slots) Run(j core.Job, _ *core.LoadedTrigger) {
	s.ran = append(s.ran, j.Kind+" "+j.Key)
	s.jobs = append(s.jobs, j)
	s.room++
}

func TestAcceptedTriggersRunHereWhileTheLocalRunnerHasRoom(t *testing.T) {
	e := newEnv(t)
	local := &slots{room: 2}
	e.intake.RunLocally(local)
	hub := e.hubspot()
	r, err := e.hubspotBatch(hub, 3)
	if err != nil || r.Accepted != 3 {
		t.Fatalf("batch: %+v %v", r, err)
	}
	// Two claimed and run here; the third waits for the relay.
	want := []string{core.JobKindTriggerApply + " " + r.TriggerIDs[0], core.JobKindTriggerApply + " " + r.TriggerIDs[1]}
	if fmt.Sprint(local.ran) != fmt.Sprint(want) {
		t.Errorf("run here: %v, want %v", local.ran, want)
	}
	if r.Queued != 1 {
		t.Errorf("Queued = %d, want 1", r.Queued)
	}
	pending, err := e.store.PendingJobs(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Key != r.TriggerIDs[2] {
		t.Errorf("pending jobs %+v, want only %s's", pending, r.TriggerIDs[2])
	}
	claimed, err := e.store.StaleJobs(t.Context(), time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 2 {
		t.Errorf("claimed (enqueued) jobs %+v, want the two run here", claimed)
	}
	// Each is handed over as written: started, with its ID.
	for i, j := range local.jobs {
		if i >= len(claimed) || j.ID != claimed[i].ID || j.Attempts != 1 || claimed[i].Attempts != 1 || j.WorkspaceID != claimed[i].WorkspaceID {
			t.Errorf("job handed over %+v, want the written claimed one, started", j)
		}
	}
	// A redelivery is all duplicates: its reservations are given back.
	local.ran = nil
	r, err = e.hubspotBatch(hub, 3)
	if err != nil || r.Duplicates != 3 || r.Queued != 0 {
		t.Fatalf("redelivery: %+v %v", r, err)
	}
	if len(local.ran) != 0 || local.room != 2 {
		t.Errorf("redelivery: ran %v, room %d; want nothing run and both slots free", local.ran, local.room)
	}
	// A write that fails gives them back too.
	_ = e.store.Close()
	if _, err := e.hubspotBatch(hub, 4); err == nil {
		t.Fatal("a delivery to a closed store was accepted")
	}
	if len(local.ran) != 0 || local.room != 2 {
		t.Errorf("failed write: ran %v, room %d; want nothing run and both slots free", local.ran, local.room)
	}
}
