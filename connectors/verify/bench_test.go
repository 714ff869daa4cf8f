package verify

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchAt is the clock of every benchmark request: timestamps are signed
// a few seconds before it, inside every scheme's window.
var benchAt = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

const (
	benchURL          = "https://passhub.example/hooks/con_01JQ3Z6R0YV6X1KQ2M3N4P5R6S"
	benchHMACSecret   = "shpss_0123456789abcdef0123456789abcdef"
	benchSecretOther  = "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"
	benchAPIKey       = "pk_live_0123456789abcdef0123"
	benchWebhookID    = "msg_2mWzqfTJ7VbS4qQ8pXcN1eYd"
	benchTargetBytes  = 2048
	benchHubSpotBatch = 6 // events of ~330 bytes: a ~2 KB batch
)

// benchBody is a JSON object of about 2 KB in the shape of a Square or
// Shopify delivery (type, event_id, merchant_id, created_at, then the
// resource), padded with line items to size.
func benchBody() []byte {
	var items []string
	for i := 0; ; i++ {
		items = append(items, fmt.Sprintf(`{"id":%d,"sku":"LOYALTY-%04d","title":"Coffee beans, 1 kg","quantity":%d,"price":"24.90","taxable":true,"vendor":"Acme Roasters"}`,
			866550311766439020+i, i, 1+i%3))
		body := fmt.Sprintf(`{"merchant_id":"MLEFBHHSJGVHD","type":"order.updated","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f",`+
			`"created_at":"2026-03-14T09:26:50.123456Z","data":{"type":"order","id":"gid://shopify/Order/820982911946154508",`+
			`"object":{"email":"jon@example.com","currency":"EUR","total_price":"409.94","customer":{"id":115310627314723954,"first_name":"Jon","last_name":"Smith"},`+
			`"line_items":[%s]}}}`, strings.Join(items, ","))
		if len(body) >= benchTargetBytes {
			return []byte(body)
		}
	}
}

// benchHubSpotBody is a v3 batch of benchHubSpotBatch property changes.
func benchHubSpotBody() []byte {
	parts := make([]string, benchHubSpotBatch)
	for i := range parts {
		parts[i] = hubspotEventJSON(i)
	}
	return []byte("[" + strings.Join(parts, ",") + "]")
}

// badSig returns sig (base64) with its first byte changed: still valid
// base64 of the right length, so the verifier computes the MAC and
// compares, the cost an attacker can impose.
func badSig(sig string) string {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		panic(err)
	}
	raw[0] ^= 0xff
	return base64.StdEncoding.EncodeToString(raw)
}

type benchCase struct {
	name string
	v    Verifier
	r    Request
	// events is how many events a valid request yields.
	events int
}

// benchCases are the verifiers as connectors configure them, each with a
// correctly signed request and the same request with a bad signature.
func benchCases() []struct{ ok, bad benchCase } {
	body := benchBody()
	hsBody := benchHubSpotBody()
	ts := strconv.FormatInt(benchAt.Add(-3*time.Second).Unix(), 10)
	tsMillis := strconv.FormatInt(benchAt.Add(-3*time.Second).UnixMilli(), 10)
	swRotated := []string{swSecret2, swSecret}

	shopify := func(sig string) Request {
		r := shopifyRequest(string(body), sig)
		r.Now = benchAt
		return r
	}
	hubspot := func(sig string) Request {
		return hubspotV3Request(benchURL, string(hsBody), tsMillis, sig, benchAt)
	}
	square := func(sig string) Request {
		return Request{Method: "POST", URL: benchURL, Header: hdr(SquareHeaderSignature, sig), Body: body, Now: benchAt}
	}
	standard := func(sig string) Request {
		return swRequest(benchWebhookID, ts, sig, string(body), benchAt)
	}
	hmacReq := func(sig string) Request {
		return Request{Method: "POST", URL: benchURL, Header: hdr("X-Hub-Signature-256", sig, "X-Event", "order.updated"), Body: body, Now: benchAt}
	}
	apiKeyReq := func(key string) Request {
		return Request{Method: "POST", URL: benchURL, Header: hdr("Authorization", "Bearer "+key), Body: body, Now: benchAt}
	}

	shopifySig := b64mac(benchHMACSecret, string(body))
	hubspotSig := b64mac(hubspotSecret, "POST", benchURL, string(hsBody), tsMillis)
	squareSig := b64mac(squareKey, benchURL, string(body))
	swSig := "v1," + b64macKey(swSecret, benchWebhookID+"."+ts+"."+string(body))
	hmacRaw, _ := base64.StdEncoding.DecodeString(b64mac(benchHMACSecret, string(body)))
	hmacSig := fmt.Sprintf("sha256=%x", hmacRaw)
	hmacBad := []byte(hmacSig)
	hmacBad[len("sha256=")] ^= 1 // another hex digit

	shopifyV := Shopify{Secrets: []string{benchHMACSecret}}
	hubspotV := HubSpot{ClientSecret: hubspotSecret}
	squareV := Square{SignatureKey: squareKey}
	standardV := StandardWebhooks{Secrets: []string{swSecret}}
	standardRotatingV := StandardWebhooks{Secrets: swRotated}
	hmacV := HMAC{Secrets: []string{benchHMACSecret}, Header: "X-Hub-Signature-256", Prefix: "sha256=", Encoding: "hex", Fields: Fields{TopicHeader: "X-Event"}}
	apiKeyV := APIKey{Header: "Authorization", Prefix: "Bearer ", Keys: []string{benchAPIKey}}

	return []struct{ ok, bad benchCase }{
		{benchCase{"shopify", shopifyV, shopify(shopifySig), 1}, benchCase{"shopify", shopifyV, shopify(badSig(shopifySig)), 0}},
		{benchCase{"shopify-rotation", Shopify{Secrets: []string{benchSecretOther, benchHMACSecret}}, shopify(shopifySig), 1},
			benchCase{"shopify-rotation", Shopify{Secrets: []string{benchSecretOther, benchHMACSecret}}, shopify(badSig(shopifySig)), 0}},
		{benchCase{"hubspot-v3", hubspotV, hubspot(hubspotSig), benchHubSpotBatch}, benchCase{"hubspot-v3", hubspotV, hubspot(badSig(hubspotSig)), 0}},
		{benchCase{"square", squareV, square(squareSig), 1}, benchCase{"square", squareV, square(badSig(squareSig)), 0}},
		{benchCase{"standard-webhooks", standardV, standard(swSig), 1}, benchCase{"standard-webhooks", standardV, standard("v1," + badSig(swSig[3:])), 0}},
		{benchCase{"standard-webhooks-rotation", standardRotatingV, standard(swSig), 1},
			benchCase{"standard-webhooks-rotation", standardRotatingV, standard("v1," + badSig(swSig[3:])), 0}},
		{benchCase{"hmac-sha256-hex", hmacV, hmacReq(hmacSig), 1}, benchCase{"hmac-sha256-hex", hmacV, hmacReq(string(hmacBad)), 0}},
		{benchCase{"api-key", apiKeyV, apiKeyReq(benchAPIKey), 1}, benchCase{"api-key", apiKeyV, apiKeyReq(benchAPIKey[:len(benchAPIKey)-1] + "X"), 0}},
	}
}

// BenchmarkVerify measures each verifier on a ~2 KB body (HubSpot: a
// batch of 6 events of the same total size), through Verify as the
// connector calls it: configuration check, signature, timestamp window,
// body decoding. "valid" is a correctly signed delivery; "bad-signature"
// the same delivery with a wrong signature of the right shape, which
// costs the MAC and is what a forger makes passhub spend. The setup
// checks both outcomes first, so neither can silently measure the other
// path. "-rotation" cases hold two secrets, as during a secret rotation.
//
// Metric: verifications/s (one goroutine).
func BenchmarkVerify(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.ok.name+"/valid", func(b *testing.B) { benchVerify(b, c.ok, nil) })
		b.Run(c.bad.name+"/bad-signature", func(b *testing.B) { benchVerify(b, c.bad, ErrSignature) })
	}
}

func benchVerify(b *testing.B, c benchCase, want error) {
	check := func(res Result, err error) error {
		switch {
		case want == nil && err != nil:
			return fmt.Errorf("%s: valid request rejected: %w", c.name, err)
		case want == nil && len(res.Events) != c.events:
			return fmt.Errorf("%s: %d events, want %d", c.name, len(res.Events), c.events)
		case want != nil && !errors.Is(err, want):
			return fmt.Errorf("%s: error %v, want %v", c.name, err, want)
		}
		return nil
	}
	if err := check(c.v.Verify(c.r)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(c.r.Body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := check(c.v.Verify(c.r)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}
