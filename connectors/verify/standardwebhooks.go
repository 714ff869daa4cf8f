package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// Standard Webhooks headers, defaults and limits
// (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md).
const (
	StandardHeaderID        = "Webhook-Id"
	StandardHeaderTimestamp = "Webhook-Timestamp"
	StandardHeaderSignature = "Webhook-Signature"

	StandardDefaultTolerance = 5 * time.Minute
	// StandardMinSecretBytes is the spec's minimum secret size.
	StandardMinSecretBytes = 24
)

// StandardWebhooks verifies a sender following the Standard Webhooks
// specification: webhook-signature is a space-separated list of
// "v1,<base64 HMAC-SHA256(key, webhook-id + "." + webhook-timestamp + "." +
// body)>" where key is the base64-decoded secret after "whsec_". Entries
// of other versions ("v1a" asymmetric, unknown ones) are ignored; one
// matching v1 entry verifies. webhook-timestamp (Unix seconds) must be
// within Tolerance of now, either way; webhook-id must not contain a '.'
// (the spec forbids it). The verified body must be valid JSON. The dedupe
// key is webhook-id unless DedupeHeader names another.
type StandardWebhooks struct {
	// Secrets: "whsec_<base64>" (the prefix may be omitted, as the
	// reference libraries allow), decoding to at least 24 bytes; the
	// current secret and, while rotating, the previous one.
	Secrets []string
	// Tolerance: default 5 minutes.
	Tolerance time.Duration
	Fields
}

// Validate reports an unusable configuration, naming the field.
func (s StandardWebhooks) Validate() error {
	if _, err := s.keys(); err != nil {
		return err
	}
	if s.Tolerance < 0 {
		return core.Invalid("tolerance", "must not be negative")
	}
	return s.Fields.validate()
}

func (s StandardWebhooks) keys() ([][]byte, error) {
	if err := validateSecrets("secrets", s.Secrets, 2); err != nil {
		return nil, err
	}
	keys := make([][]byte, len(s.Secrets))
	for i, secret := range s.Secrets {
		k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			return nil, core.Invalid(indexed("secrets", i), "is not whsec_ followed by base64")
		}
		if len(k) < StandardMinSecretBytes {
			return nil, core.Invalid(indexed("secrets", i), "decodes to %d bytes (at least %d)", len(k), StandardMinSecretBytes)
		}
		keys[i] = k
	}
	return keys, nil
}

// Verify implements Verifier.
func (s StandardWebhooks) Verify(r Request) (Result, error) {
	const kind = "standard-webhooks"
	if err := s.Validate(); err != nil {
		return Result{}, configErr(kind, err)
	}
	keys, _ := s.keys()
	id := r.Header.Get(StandardHeaderID)
	ts := r.Header.Get(StandardHeaderTimestamp)
	sigs := strings.Join(r.Header.Values(StandardHeaderSignature), " ")
	switch {
	case id == "":
		return Result{}, sigErr(kind, "webhook-id is missing")
	case strings.Contains(id, "."):
		// The spec forbids it: with a dot in the id, "id.ts.body" could be
		// re-split into another id, timestamp and body.
		return Result{}, sigErr(kind, "webhook-id contains a '.'")
	case !allDigits(ts):
		return Result{}, sigErr(kind, "webhook-timestamp is missing or not Unix seconds")
	case strings.TrimSpace(sigs) == "":
		return Result{}, sigErr(kind, "webhook-signature is missing")
	}
	want := make([][]byte, len(keys))
	for i, k := range keys {
		want[i] = hmacSum(sha256.New, k, []byte(id), []byte("."), []byte(ts), []byte("."), r.Body)
	}
	ok := false
	for _, entry := range strings.Fields(sigs) {
		version, sig, found := strings.Cut(entry, ",")
		if !found || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		if anyEqual(got, want) {
			ok = true
		}
	}
	if !ok {
		return Result{}, sigErr(kind, "no v1 entry of webhook-signature matches")
	}

	sec, _ := strconv.ParseInt(ts, 10, 64) // allDigits: ≤ 18 digits
	tolerance := s.Tolerance
	if tolerance == 0 {
		tolerance = StandardDefaultTolerance
	}
	at, now := time.Unix(sec, 0), now(r)
	// Abs, not -d: Sub saturates, and -minDuration is still negative.
	if d := now.Sub(at); d.Abs() > tolerance {
		return Result{}, stale(kind, fmt.Sprintf("webhook-timestamp is %s from now (max %s)", d.Abs().Round(time.Second), tolerance))
	}
	if !json.Valid(r.Body) {
		return Result{}, malformed(kind, "body is not JSON")
	}
	f := s.Fields
	if f.DedupeHeader == "" {
		f.DedupeHeader = StandardHeaderID
	}
	return Result{Scheme: "standard-webhooks-v1", Events: []Event{f.event(r)}}, nil
}
