package verify

import (
	"crypto/sha256"
	"encoding/base64"
)

// Shopify headers (http.Header canonicalizes the names).
const (
	ShopifyHeaderHMAC        = "X-Shopify-Hmac-Sha256"
	ShopifyHeaderTopic       = "X-Shopify-Topic"
	ShopifyHeaderShopDomain  = "X-Shopify-Shop-Domain"
	ShopifyHeaderWebhookID   = "X-Shopify-Webhook-Id"
	ShopifyHeaderTriggeredAt = "X-Shopify-Triggered-At"
	ShopifyHeaderEventID     = "X-Shopify-Event-Id"
	ShopifyHeaderAPIVersion  = "X-Shopify-Api-Version"
)

// Shopify verifies Shopify webhooks: X-Shopify-Hmac-Sha256 is the base64
// HMAC-SHA256 of the raw body keyed with the app's client secret (or the
// store's notification signing key).
//
// A verified delivery must carry X-Shopify-Topic, X-Shopify-Shop-Domain and
// X-Shopify-Webhook-Id (Shopify always sends them; without them there is no
// topic or dedupe key), else ErrMalformed. X-Shopify-Triggered-At is
// optional. The body must be a JSON object.
type Shopify struct {
	// Secrets: the current secret and, while rotating, the previous one
	// (Shopify may sign with the old one for up to an hour).
	Secrets []string
}

// Validate reports an unusable configuration, naming the field.
func (s Shopify) Validate() error { return validateSecrets("secrets", s.Secrets, 2) }

// Verify implements Verifier.
func (s Shopify) Verify(r Request) (Result, error) {
	const kind = "shopify"
	if err := s.Validate(); err != nil {
		return Result{}, configErr(kind, err)
	}
	sig := r.Header.Get(ShopifyHeaderHMAC)
	if sig == "" {
		return Result{}, sigErr(kind, ShopifyHeaderHMAC+" is missing")
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return Result{}, sigErr(kind, ShopifyHeaderHMAC+" is not base64")
	}
	want := make([][]byte, len(s.Secrets))
	for i, secret := range s.Secrets {
		want[i] = hmacSum(sha256.New, []byte(secret), r.Body)
	}
	if !anyEqual(got, want) {
		return Result{}, sigErr(kind, ShopifyHeaderHMAC+" does not match")
	}

	topic := r.Header.Get(ShopifyHeaderTopic)
	shop := r.Header.Get(ShopifyHeaderShopDomain)
	id := r.Header.Get(ShopifyHeaderWebhookID)
	switch {
	case topic == "":
		return Result{}, malformed(kind, ShopifyHeaderTopic+" is missing")
	case shop == "":
		return Result{}, malformed(kind, ShopifyHeaderShopDomain+" is missing")
	case id == "":
		return Result{}, malformed(kind, ShopifyHeaderWebhookID+" is missing")
	}
	if !isObject(r.Body) {
		return Result{}, malformed(kind, "body is not a JSON object")
	}
	return Result{Scheme: "shopify", Events: []Event{{
		Topic:      topic,
		DedupeKey:  shop + ":" + id,
		OccurredAt: parseTime(r.Header.Get(ShopifyHeaderTriggeredAt)),
		Source:     shop,
		Payload:    r.Body,
	}}}, nil
}
