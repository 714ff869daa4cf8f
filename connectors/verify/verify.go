// Package verify authenticates inbound webhook deliveries from the source
// systems passhub listens to (Shopify, HubSpot, Square, and generic senders
// signing with an HMAC, with Standard Webhooks, or with an API key) and
// extracts from each verified delivery what the connector needs to store a
// trigger: topic, dedupe key, when it happened, who sent it, and the payload.
//
// Every verifier follows the same order, whatever the input:
//
//  1. check its configuration (a misconfigured verifier accepts nothing:
//     an empty HMAC key would let anyone sign);
//  2. authenticate the exact bytes received (constant-time comparisons),
//     without parsing anything of the body;
//  3. only then check the timestamp window (where the scheme has one) and
//     decode the body, which must be JSON of the expected shape.
//
// Errors wrap ErrSignature or ErrStale (answer 401), ErrMalformed (400) or
// ErrConfig (500); HTTPStatus maps them. No verifier panics on any input.
//
// The caller bounds the body size before reading it, and deduplicates on
// Event.DedupeKey (scoped to its connector).
package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// Errors a Verify returns, wrapped with the reason.
var (
	// ErrSignature: the signature (or API key) is missing, malformed or
	// wrong. Answer 401.
	ErrSignature = errors.New("bad or missing signature")
	// ErrStale: the request is authentic but its signed timestamp is
	// outside the allowed window (a replay, or a badly skewed clock).
	// Answer 401.
	ErrStale = errors.New("request timestamp outside the allowed window")
	// ErrMalformed: the request is authentic but its body (or a required
	// header) is not what the source system sends. Answer 400.
	ErrMalformed = errors.New("body is not valid JSON of the expected shape")
	// ErrConfig: the verifier's configuration is unusable (no secret, bad
	// option); nothing can verify until it is fixed. Answer 500. It does
	// not wrap core.ErrInvalid, so it is never mistaken for a client error.
	ErrConfig = errors.New("verifier misconfigured")
)

// Request is what a verifier sees: exactly the bytes and headers received.
type Request struct {
	// Method is the HTTP method (HubSpot signs it); empty means POST.
	Method string
	// URL is the connector's public URL as configured (what the source
	// system was told to call, scheme and query included). HubSpot and
	// Square sign it; their config may override it.
	URL    string
	Header http.Header
	// Body is the raw body, unparsed. Event.Payload aliases it.
	Body []byte
	// Now is the time to check timestamps against; zero means time.Now().
	Now time.Time
}

// Verifier authenticates one kind of delivery. Implementations are plain
// values, safe for concurrent use.
type Verifier interface {
	Verify(r Request) (Result, error)
}

// Result is what a verified request yields.
type Result struct {
	// Scheme names the signature scheme that verified it ("shopify",
	// "hubspot-v3", "hubspot-v2", "hubspot-v1", "square", "hmac-sha256",
	// "hmac-sha1", "hmac-sha512", "standard-webhooks-v1", "api-key").
	Scheme string
	// Events holds one event per trigger to store, in body order: one per
	// array element for HubSpot (a batch of up to 100), exactly one for
	// every other kind. Never empty when err is nil.
	Events []Event
}

// Event is one trigger's worth of a verified delivery.
type Event struct {
	// Topic is Shopify's X-Shopify-Topic, HubSpot's subscriptionType,
	// Square's type, or the generic connector's configured topic (header
	// or fixed). Empty only for a generic connector that sets neither: the
	// caller then evaluates its own expression over Payload.
	Topic string
	// DedupeKey identifies the event across retries:
	//   shopify  shop domain + ":" + X-Shopify-Webhook-Id
	//   hubspot  portalId:subscriptionType:objectId:eventId:occurredAt:propertyName
	//   square   event_id
	//   generic  the DedupeHeader value (Standard Webhooks: webhook-id by
	//            default); empty when not configured or absent, and the
	//            caller evaluates its own expression over Payload.
	DedupeKey string
	// OccurredAt is when the source says it happened (Shopify
	// X-Shopify-Triggered-At, HubSpot occurredAt, Square created_at); zero
	// when unknown or unparseable.
	OccurredAt time.Time
	// Source is who sent it: the Shopify shop domain, the HubSpot portalId,
	// the Square merchant_id; empty for generic connectors.
	Source string
	// Payload is the event's raw JSON: the HubSpot array element, or the
	// whole body for every other kind.
	Payload json.RawMessage
}

// HTTPStatus maps a Verify error to the status to answer with: 200 for
// nil, 401 for ErrSignature and ErrStale, 400 for ErrMalformed, 500 for
// anything else.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrSignature), errors.Is(err, ErrStale):
		return http.StatusUnauthorized
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func now(r Request) time.Time {
	if r.Now.IsZero() {
		return time.Now()
	}
	return r.Now
}

func configErr(kind string, err error) error {
	// %v, not %w: the field error wraps core.ErrInvalid, which the HTTP
	// layer maps to a client error; a broken connector is a server error.
	return fmt.Errorf("%w: %s: %v", ErrConfig, kind, err)
}

func sigErr(kind, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrSignature, kind, reason)
}

func malformed(kind, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, kind, reason)
}

func stale(kind, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrStale, kind, reason)
}

func hmacSum(newHash func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(newHash, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// anyEqual compares got with every candidate in constant time (for a given
// number of candidates) and reports whether one matched.
func anyEqual(got []byte, candidates [][]byte) bool {
	ok := false
	for _, c := range candidates {
		if hmac.Equal(got, c) {
			ok = true
		}
	}
	return ok
}

// decodeBase64 accepts standard base64, padded or not (senders differ),
// and the URL-safe alphabet.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}

// isObject reports whether body is a JSON object.
func isObject(body []byte) bool {
	if !json.Valid(body) {
		return false
	}
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c == '{'
	}
	return false
}

// allDigits reports whether s is 1 to 18 ASCII digits: no sign, no space,
// and it fits an int64.
func allDigits(s string) bool {
	if len(s) == 0 || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validateSecrets(field string, secrets []string, max int) error {
	if len(secrets) == 0 {
		return core.Invalid(field, "at least one is required")
	}
	if len(secrets) > max {
		return core.Invalid(field, "at most %d (the current one and, during rotation, the previous one)", max)
	}
	for i, s := range secrets {
		if s == "" {
			return core.Invalid(indexed(field, i), "is empty")
		}
	}
	return nil
}

func indexed(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}

func validateOptionalURL(field, u string) error {
	if u == "" {
		return nil
	}
	if !(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) || len(u) <= len("https://") {
		return core.Invalid(field, "must be an absolute http(s) URL")
	}
	return nil
}

func algorithm(name string) (func() hash.Hash, bool) {
	switch name {
	case "", "sha256":
		return sha256.New, true
	case "sha1":
		return sha1.New, true
	case "sha512":
		return sha512.New, true
	}
	return nil, false
}
