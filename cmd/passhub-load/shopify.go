package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

// shopifyScenario fires Shopify customers/create deliveries at a shopify
// connector whose mapping is the example loyalty mapping, so every
// accepted delivery also becomes a trigger.apply job that issues a pass —
// the work a real shop's sign-ups cause.
type shopifyScenario struct {
	mappingFile string
	secret      string
	shop        string
	hookURL     string
	runID       string // keeps webhook IDs distinct across processes too
}

func newShopifyScenario(o options) scenario {
	return &shopifyScenario{
		mappingFile: o.MappingFile,
		secret:      "shpss_load_" + randomHex(16),
		shop:        "load-test.myshopify.com",
		runID:       randomHex(4),
	}
}

func (s *shopifyScenario) Figure() string {
	return "signed Shopify webhooks accepted/s (durable, PostgreSQL)"
}

// Setup creates the template the mapping issues, the mapping and the
// connector, through the admin API as a user would.
func (s *shopifyScenario) Setup(ctx context.Context, h *hub) error {
	src, err := os.ReadFile(s.mappingFile)
	if err != nil {
		return fmt.Errorf("reading the mapping file (run from the module root or pass -mapping-file): %w", err)
	}
	if _, err := h.api(ctx, http.MethodPost, "/v1/templates", map[string]any{
		"name": "loyalty", "style": "storeCard", "organizationName": "Acme", "description": "Acme loyalty card",
		"fields": map[string]any{
			"primary":   []any{map[string]any{"key": "points", "label": "Points"}},
			"secondary": []any{map[string]any{"key": "name", "label": "Member"}, map[string]any{"key": "memberSince", "label": "Since"}},
		},
	}, http.StatusCreated); err != nil {
		return fmt.Errorf("creating the template: %w", err)
	}
	if _, err := h.api(ctx, http.MethodPut, "/v1/mappings/shopify-loyalty", map[string]any{"source": string(src)}, http.StatusOK); err != nil {
		return fmt.Errorf("storing the mapping: %w", err)
	}
	con, err := h.api(ctx, http.MethodPost, "/v1/connectors", map[string]any{
		"name": "shop", "kind": "shopify", "mapping": "shopify-loyalty",
		"secrets": map[string]any{"secrets": []string{s.secret}},
	}, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("creating the connector: %w", err)
	}
	u, _ := con["url"].(string)
	if u == "" {
		return fmt.Errorf("the connector has no url: %v", con)
	}
	s.hookURL = u
	return nil
}

// Request is delivery seq: a new customer with its own ID and webhook ID,
// signed as Shopify signs (base64 HMAC-SHA256 of the raw body).
func (s *shopifyScenario) Request(seq int64) (*http.Request, error) {
	now := time.Now().UTC()
	body := customerCreated(706405506930370084+seq, now)
	req, err := http.NewRequest(http.MethodPost, s.hookURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	id := s.runID + "-" + strconv.FormatInt(seq, 10)
	req.Header = http.Header{
		"Content-Type":           {"application/json"},
		"User-Agent":             {"Shopify-Captain-Hook"},
		"X-Shopify-Hmac-Sha256":  {signShopify(s.secret, body)},
		"X-Shopify-Topic":        {"customers/create"},
		"X-Shopify-Shop-Domain":  {s.shop},
		"X-Shopify-Api-Version":  {"2025-10"},
		"X-Shopify-Webhook-Id":   {"b54557e4-" + id},
		"X-Shopify-Event-Id":     {"e0d2c0a1-" + id},
		"X-Shopify-Triggered-At": {now.Format(time.RFC3339Nano)},
	}
	return req, nil
}

// Check counts the stored triggers straight in PostgreSQL: durable means
// every 2xx is a committed row, and distinct webhook IDs mean no
// duplicates, so the table holds exactly the accepted count. It also
// reports how far the workers got mapping them.
func (s *shopifyScenario) Check(ctx context.Context, h *hub, accepted int64) (map[string]int64, error) {
	rows, err := h.DB.Query(ctx, `SELECT status, count(*) FROM triggers GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("counting triggers: %w", err)
	}
	defer rows.Close()
	byStatus := map[string]int64{}
	var total int64
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("counting triggers: %w", err)
		}
		byStatus["triggers."+st] = n
		total += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting triggers: %w", err)
	}
	if total != accepted {
		return byStatus, fmt.Errorf("the triggers table holds %d rows, but %d deliveries were answered 2xx", total, accepted)
	}
	return byStatus, nil
}

// signShopify is X-Shopify-Hmac-Sha256 for body.
func signShopify(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// customerCreated is a customers/create body as Shopify's REST webhooks
// send it (about 1.5 KB), for customer id at time at.
func customerCreated(id int64, at time.Time) []byte {
	ts := at.Format("2006-01-02T15:04:05-07:00")
	n := strconv.FormatInt(id%100000, 10)
	return fmt.Appendf(nil, `{"id":%[1]d,"email":"customer%[2]s@example.com","created_at":%[3]q,"updated_at":%[3]q,`+
		`"first_name":"Ada%[2]s","last_name":"Lovelace","orders_count":0,"state":"enabled","total_spent":"0.00","last_order_id":null,`+
		`"note":"Signed up at the spring pop-up store","verified_email":true,"multipass_identifier":null,"tax_exempt":false,`+
		`"tags":"loyalty, newsletter, pop-up","last_order_name":null,"currency":"EUR","phone":"+3361234%[4]s",`+
		`"addresses":[{"id":%[5]d,"customer_id":%[1]d,"first_name":"Ada%[2]s","last_name":"Lovelace","company":null,`+
		`"address1":"12 Rue de la Paix","address2":"Apt. 4","city":"Paris","province":null,"country":"France","zip":"75002",`+
		`"phone":"+3361234%[4]s","name":"Ada%[2]s Lovelace","province_code":null,"country_code":"FR","country_name":"France","default":true}],`+
		`"tax_exemptions":[],"email_marketing_consent":{"state":"subscribed","opt_in_level":"confirmed_opt_in","consent_updated_at":%[3]q},`+
		`"sms_marketing_consent":{"state":"not_subscribed","opt_in_level":"single_opt_in","consent_updated_at":null,"consent_collected_from":"SHOPIFY"},`+
		`"admin_graphql_api_id":"gid:\/\/shopify\/Customer\/%[1]d",`+
		`"default_address":{"id":%[5]d,"customer_id":%[1]d,"first_name":"Ada%[2]s","last_name":"Lovelace","company":null,`+
		`"address1":"12 Rue de la Paix","address2":"Apt. 4","city":"Paris","province":null,"country":"France","zip":"75002",`+
		`"phone":"+3361234%[4]s","name":"Ada%[2]s Lovelace","province_code":null,"country_code":"FR","country_name":"France","default":true}}`,
		id, n, ts, fmt.Sprintf("%05d", id%100000), id+1000000000)
}
