package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	"github.com/passhub/passhub/core"
)

// SquareHeaderSignature carries Square's HMAC-SHA256 signature. (The
// legacy HMAC-SHA1 x-square-signature is not accepted.)
const SquareHeaderSignature = "X-Square-Hmacsha256-Signature"

// Square verifies Square webhooks: x-square-hmacsha256-signature is the
// base64 HMAC-SHA256, keyed with the subscription's signature key, of the
// notification URL followed by the raw body.
//
// The verified body must be a JSON object with type and event_id (the
// dedupe key); merchant_id and created_at are read when present. An empty
// body is refused (ErrMalformed) even when its signature matches.
type Square struct {
	SignatureKey string
	// NotificationURL is the URL as registered in the Square subscription,
	// when it differs from Request.URL. It must match byte for byte.
	NotificationURL string
}

// Validate reports an unusable configuration, naming the field.
func (s Square) Validate() error {
	if s.SignatureKey == "" {
		return core.Invalid("signatureKey", "is required")
	}
	return validateOptionalURL("notificationUrl", s.NotificationURL)
}

// Verify implements Verifier.
func (s Square) Verify(r Request) (Result, error) {
	const kind = "square"
	if err := s.Validate(); err != nil {
		return Result{}, configErr(kind, err)
	}
	u := s.NotificationURL
	if u == "" {
		u = r.URL
	}
	if u == "" {
		return Result{}, configErr(kind, core.Invalid("notificationUrl", "is required when the request has no URL"))
	}
	sig := r.Header.Get(SquareHeaderSignature)
	if sig == "" {
		return Result{}, sigErr(kind, SquareHeaderSignature+" is missing")
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return Result{}, sigErr(kind, SquareHeaderSignature+" is not base64")
	}
	want := hmacSum(sha256.New, []byte(s.SignatureKey), []byte(u), r.Body)
	if !anyEqual(got, [][]byte{want}) {
		return Result{}, sigErr(kind, SquareHeaderSignature+" does not match")
	}

	if !isObject(r.Body) {
		return Result{}, malformed(kind, "body is not a JSON object")
	}
	var env struct {
		MerchantID string `json:"merchant_id"`
		Type       string `json:"type"`
		EventID    string `json:"event_id"`
		CreatedAt  string `json:"created_at"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		return Result{}, malformed(kind, "envelope fields have the wrong types")
	}
	switch {
	case env.Type == "":
		return Result{}, malformed(kind, "type is missing")
	case env.EventID == "":
		return Result{}, malformed(kind, "event_id is missing")
	}
	return Result{Scheme: "square", Events: []Event{{
		Topic:      env.Type,
		DedupeKey:  env.EventID,
		OccurredAt: parseTime(env.CreatedAt),
		Source:     env.MerchantID,
		Payload:    r.Body,
	}}}, nil
}
