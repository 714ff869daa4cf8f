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

func TestHubSpotBatchIsOneTriggerPerEvent(t *testing.T) {
	e := newEnv(t)
	hub := e.create(connectors.Input{Name: "hub", Kind: core.ConnectorHubSpot, Secrets: connectors.Secrets{ClientSecret: "hub-secret"}, Mapping: "m"})
	body := "["
	for i := range 3 {
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
	r, err := e.intake.Receive(t.Context(), hub.ID, "POST", h, []byte(body))
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
