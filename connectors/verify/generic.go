package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/passhub/passhub/core"
)

// Fields says where a generic connector's topic and dedupe key come from.
// Headers are read only after the request verified. Where a field is empty
// (nothing configured, or the header absent) the caller evaluates its own
// expression over the payload.
type Fields struct {
	// TopicHeader names a header holding the topic; it wins over Topic
	// when present.
	TopicHeader string
	// Topic is a fixed topic.
	Topic string
	// DedupeHeader names a header holding the dedupe key (Standard
	// Webhooks: default "webhook-id").
	DedupeHeader string
}

func (f Fields) validate() error {
	if f.TopicHeader != "" && !validHeaderName(f.TopicHeader) {
		return core.Invalid("topicHeader", "is not a header name")
	}
	if f.DedupeHeader != "" && !validHeaderName(f.DedupeHeader) {
		return core.Invalid("dedupeHeader", "is not a header name")
	}
	return nil
}

func (f Fields) event(r Request) Event {
	e := Event{Topic: f.Topic, Payload: r.Body}
	if f.TopicHeader != "" {
		if t := r.Header.Get(f.TopicHeader); t != "" {
			e.Topic = t
		}
	}
	if f.DedupeHeader != "" {
		e.DedupeKey = r.Header.Get(f.DedupeHeader)
	}
	return e
}

// HMAC defaults.
const (
	HMACDefaultHeader = "X-Signature"
)

// HMAC verifies a generic sender that signs the raw body with
// HMAC(Algorithm, secret) and sends it in Header, encoded (hex or base64),
// after an optional Prefix: GitHub's X-Hub-Signature-256 is
// {Header: "X-Hub-Signature-256", Prefix: "sha256=", Encoding: "hex"}.
// The verified body must be valid JSON.
type HMAC struct {
	// Secrets: the current secret and, while rotating, the previous one.
	Secrets []string
	// Header: default "X-Signature".
	Header string
	// Encoding: "hex" (default, either case) or "base64" (standard or
	// URL-safe alphabet, padded or not).
	Encoding string
	// Prefix before the encoded MAC, e.g. "sha256=" (matched ignoring
	// case); when set it is required.
	Prefix string
	// Algorithm: "sha256" (default), "sha1" or "sha512".
	Algorithm string
	Fields
}

// Validate reports an unusable configuration, naming the field.
func (h HMAC) Validate() error {
	if err := validateSecrets("secrets", h.Secrets, 2); err != nil {
		return err
	}
	if h.Header != "" && !validHeaderName(h.Header) {
		return core.Invalid("header", "is not a header name")
	}
	switch h.Encoding {
	case "", "hex", "base64":
	default:
		return core.Invalid("encoding", "must be hex or base64, not %q", h.Encoding)
	}
	if _, ok := algorithm(h.Algorithm); !ok {
		return core.Invalid("algorithm", "must be sha256, sha1 or sha512, not %q", h.Algorithm)
	}
	return h.Fields.validate()
}

// Verify implements Verifier.
func (h HMAC) Verify(r Request) (Result, error) {
	const kind = "hmac"
	if err := h.Validate(); err != nil {
		return Result{}, configErr(kind, err)
	}
	header := h.Header
	if header == "" {
		header = HMACDefaultHeader
	}
	sig := r.Header.Get(header)
	if sig == "" {
		return Result{}, sigErr(kind, header+" is missing")
	}
	if h.Prefix != "" {
		if len(sig) < len(h.Prefix) || !strings.EqualFold(sig[:len(h.Prefix)], h.Prefix) {
			return Result{}, sigErr(kind, header+" lacks the prefix "+h.Prefix)
		}
		sig = sig[len(h.Prefix):]
	}
	var got []byte
	var err error
	if h.Encoding == "base64" {
		got, err = decodeBase64(sig)
	} else {
		got, err = hex.DecodeString(strings.TrimSpace(sig))
	}
	if err != nil {
		return Result{}, sigErr(kind, header+" is not "+h.encoding())
	}
	newHash, _ := algorithm(h.Algorithm)
	want := make([][]byte, len(h.Secrets))
	for i, secret := range h.Secrets {
		want[i] = hmacSum(newHash, []byte(secret), r.Body)
	}
	if !anyEqual(got, want) {
		return Result{}, sigErr(kind, header+" does not match")
	}
	if !json.Valid(r.Body) {
		return Result{}, malformed(kind, "body is not JSON")
	}
	alg := h.Algorithm
	if alg == "" {
		alg = "sha256"
	}
	return Result{Scheme: "hmac-" + alg, Events: []Event{h.Fields.event(r)}}, nil
}

func (h HMAC) encoding() string {
	if h.Encoding == "" {
		return "hex"
	}
	return h.Encoding
}

// APIKey defaults and limits.
const (
	APIKeyDefaultHeader = "X-Api-Key"
	APIKeyMinLength     = 16
)

// APIKey authenticates a generic sender by a shared key in a header (after
// an optional Prefix such as "Bearer "). It proves who sent the request,
// not that the body is intact: prefer HMAC or StandardWebhooks when the
// sender can sign. The verified body must be valid JSON.
type APIKey struct {
	// Header: default "X-Api-Key".
	Header string
	// Prefix before the key, e.g. "Bearer " for Authorization (matched
	// ignoring case); when set it is required.
	Prefix string
	// Keys: the current key and, while rotating, the previous one; each at
	// least 16 characters.
	Keys []string
	Fields
}

// Validate reports an unusable configuration, naming the field.
func (a APIKey) Validate() error {
	if err := validateSecrets("keys", a.Keys, 2); err != nil {
		return err
	}
	for i, k := range a.Keys {
		if len(k) < APIKeyMinLength {
			return core.Invalid(indexed("keys", i), "must be at least %d characters", APIKeyMinLength)
		}
	}
	if a.Header != "" && !validHeaderName(a.Header) {
		return core.Invalid("header", "is not a header name")
	}
	return a.Fields.validate()
}

// Verify implements Verifier.
func (a APIKey) Verify(r Request) (Result, error) {
	const kind = "api-key"
	if err := a.Validate(); err != nil {
		return Result{}, configErr(kind, err)
	}
	header := a.Header
	if header == "" {
		header = APIKeyDefaultHeader
	}
	got := r.Header.Get(header)
	if got == "" {
		return Result{}, sigErr(kind, header+" is missing")
	}
	if a.Prefix != "" {
		if len(got) < len(a.Prefix) || !strings.EqualFold(got[:len(a.Prefix)], a.Prefix) {
			return Result{}, sigErr(kind, header+" lacks the prefix "+a.Prefix)
		}
		got = got[len(a.Prefix):]
	}
	// Compare digests so neither the keys' lengths nor their content leak
	// through timing.
	gotSum := sha256.Sum256([]byte(got))
	ok := 0
	for _, k := range a.Keys {
		keySum := sha256.Sum256([]byte(k))
		ok |= subtle.ConstantTimeCompare(gotSum[:], keySum[:])
	}
	if ok != 1 {
		return Result{}, sigErr(kind, header+" does not match")
	}
	if !json.Valid(r.Body) {
		return Result{}, malformed(kind, "body is not JSON")
	}
	return Result{Scheme: "api-key", Events: []Event{a.Fields.event(r)}}, nil
}
