package mappings

import (
	"context"
	"os"
	"testing"

	"github.com/passhub/passhub/core"
)

// A Shopify orders/paid body of realistic size (three line items,
// addresses, prices as strings).
const ordersPaidBody = `{
  "id": 820982911946154508, "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
  "app_id": null, "browser_ip": "216.191.105.146", "buyer_accepts_marketing": true, "cancel_reason": null,
  "cancelled_at": null, "cart_token": "68778783ad298f1c80c3bafcddeea02f", "checkout_id": 901414060,
  "confirmed": true, "contact_email": "jon@example.com", "created_at": "2025-02-12T16:20:51-05:00",
  "currency": "USD", "current_subtotal_price": "398.00", "current_total_discounts": "0.00",
  "current_total_price": "409.94", "current_total_tax": "11.94", "email": "jon@example.com",
  "financial_status": "paid", "fulfillment_status": null, "landing_site": "http://www.example.com?source=abc",
  "name": "#9999", "note": null, "number": 234, "order_number": 1234, "phone": "+557734881234",
  "presentment_currency": "USD", "processed_at": "2025-02-12T16:20:51-05:00", "source_name": "web",
  "subtotal_price": "398.00", "tags": "tag1, tag2", "taxes_included": false, "test": false,
  "total_discounts": "0.00", "total_line_items_price": "398.00", "total_price": "409.94",
  "total_tax": "11.94", "total_weight": 0, "updated_at": "2025-02-12T16:20:51-05:00",
  "billing_address": {"first_name": "Steve", "address1": "123 Shipping Street", "phone": "555-555-SHIP",
    "city": "Shippington", "zip": "40003", "province": "Kentucky", "country": "United States",
    "last_name": "Shipper", "address2": null, "company": "Shipping Company", "latitude": null,
    "longitude": null, "name": "Steve Shipper", "country_code": "US", "province_code": "KY"},
  "customer": {"id": 115310627314723954, "email": "john@example.com", "created_at": null, "updated_at": null,
    "first_name": "John", "last_name": "Smith", "state": "disabled", "note": null, "verified_email": true,
    "multipass_identifier": null, "tax_exempt": false, "phone": null, "currency": "USD",
    "tax_exemptions": [], "admin_graphql_api_id": "gid://shopify/Customer/115310627314723954",
    "default_address": {"id": 715243470612851245, "customer_id": 115310627314723954, "first_name": null,
      "last_name": null, "company": null, "address1": "123 Elm St.", "address2": null, "city": "Ottawa",
      "province": "Ontario", "country": "Canada", "zip": "K2H7A8", "phone": "123-123-1234",
      "name": "", "province_code": "ON", "country_code": "CA", "country_name": "Canada", "default": true}},
  "line_items": [
    {"id": 866550311766439020, "admin_graphql_api_id": "gid://shopify/LineItem/866550311766439020",
     "fulfillable_quantity": 1, "gift_card": false, "grams": 567, "name": "IPod Nano - 8GB", "price": "199.00",
     "product_exists": true, "product_id": 632910392, "quantity": 1, "requires_shipping": true,
     "sku": "IPOD2008PINK", "taxable": true, "title": "IPod Nano - 8GB", "total_discount": "0.00",
     "variant_id": 808950810, "variant_title": null, "vendor": null, "tax_lines": [], "discount_allocations": []},
    {"id": 141249953214522974, "admin_graphql_api_id": "gid://shopify/LineItem/141249953214522974",
     "fulfillable_quantity": 1, "gift_card": false, "grams": 567, "name": "IPod Nano - 8GB", "price": "199.00",
     "product_exists": true, "product_id": 632910392, "quantity": 1, "requires_shipping": true,
     "sku": "IPOD2008PINK", "taxable": true, "title": "IPod Nano - 8GB", "total_discount": "0.00",
     "variant_id": 808950810, "variant_title": null, "vendor": null, "tax_lines": [], "discount_allocations": []}
  ],
  "shipping_lines": [{"id": 271878346596884015, "code": null, "price": "0.00", "source": "shopify", "title": "Generic Shipping"}]
}`

// BenchmarkEvaluate measures the orders/paid rule of the Shopify example
// on a decoded body with an existing pass (lookup in memory).
func BenchmarkEvaluate(b *testing.B) {
	src, err := os.ReadFile("examples/shopify-loyalty.yaml")
	if err != nil {
		b.Fatal(err)
	}
	m, err := Load("shopify-loyalty.yaml", src, AnyTemplate)
	if err != nil {
		b.Fatal(err)
	}
	payload, err := DecodePayload([]byte(ordersPaidBody))
	if err != nil {
		b.Fatal(err)
	}
	pass := &core.Pass{ID: "pass_1", TemplateID: "loyalty", ExternalID: "115310627314723954",
		Data: map[string]any{"points": 120.0, "name": "John Smith"}, Lifecycle: core.LifecycleActive, Version: 4}
	lookup := func(context.Context, string, string) (*core.Pass, error) { return pass, nil }
	trigger := Trigger{Topic: "orders/paid", Source: "shopify", Payload: payload}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, err := m.Evaluate(ctx, trigger, lookup)
		if err != nil || len(out.Commands) != 1 {
			b.Fatalf("outcome %+v, error %v", out, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}
