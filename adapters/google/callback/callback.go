// Package callback verifies the save/delete callbacks Google Wallet posts to
// a class's callbackOptions.url.
//
// A callback body is a Google "PaymentMethodToken" with protocolVersion
// ECv2SigningOnly (the scheme Tink's PaymentMethodTokenRecipient verifies):
//
//	{"protocolVersion":"ECv2SigningOnly",
//	 "signature":"<b64 DER ECDSA by the intermediate key>",
//	 "intermediateSigningKey":{
//	   "signedKey":"{\"keyValue\":\"<b64 SPKI P-256>\",\"keyExpiration\":\"<ms>\"}",
//	   "signatures":["<b64 DER ECDSA by a root key>", ...]},
//	 "signedMessage":"{\"classId\":..,\"objectId\":..,\"eventType\":\"save|del\",\"expTimeMillis\":..,\"nonce\":..}"}
//
// Verification, in order (nothing in the body is trusted before its step):
//
//  1. protocolVersion is ECv2SigningOnly;
//  2. some unexpired ECv2SigningOnly root key from the keys URL verifies one
//     of intermediateSigningKey.signatures over
//     lv(sender) ‖ lv("ECv2SigningOnly") ‖ lv(signedKey);
//  3. signedKey.keyExpiration is in the future;
//  4. the intermediate key verifies signature over
//     lv(sender) ‖ lv(issuerID) ‖ lv("ECv2SigningOnly") ‖ lv(signedMessage);
//  5. expTimeMillis is in the future, eventType is save or del, classId and
//     objectId are under issuerID + ".", nonce is present.
//
// lv(x) is the 4-byte little-endian length of x followed by its UTF-8 bytes;
// signatures are ECDSA P-256 SHA-256, ASN.1 DER.
//
// Replays: a verified message stays valid until expTimeMillis and Google
// itself may deliver it more than once. Deduplicating on Message.Nonce is
// the caller's job.
package callback

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for Config.
const (
	// DefaultKeysURL serves Google's root signing keys for pass callbacks.
	DefaultKeysURL = "https://pay.google.com/gp/m/issuer/keys"
	// DefaultSenderID is the sender ID Google signs pass callbacks with.
	// Some newer Google pages say "GoogleWalletPasses"; real callbacks
	// verify with this one.
	DefaultSenderID = "GooglePayPasses"
	// DefaultMinRefresh is the least time between two fetches of the keys
	// caused by a signature no cached root key verifies.
	DefaultMinRefresh = time.Minute
	// DefaultHTTPTimeout bounds one fetch of the keys.
	DefaultHTTPTimeout = 10 * time.Second
	// DefaultKeysTTL is how long fetched keys are cached when the response
	// carries neither Cache-Control max-age nor Expires.
	DefaultKeysTTL = time.Hour
)

// ProtocolVersion is the only protocol version callbacks use.
const ProtocolVersion = "ECv2SigningOnly"

// Event types of a callback.
const (
	EventSave   = "save"
	EventDelete = "del"
)

var (
	// ErrInvalid means the callback itself is bad: malformed, not signed by
	// Google for this issuer, expired, or about objects of another issuer.
	// Answer 4xx; the error text says which check failed.
	ErrInvalid = errors.New("invalid google wallet callback")

	// ErrKeysUnavailable means Google's root keys could not be fetched (or
	// could not be refreshed when the cached ones did not verify), so the
	// callback could not be judged. Answer 5xx so Google retries.
	ErrKeysUnavailable = errors.New("google wallet root signing keys unavailable")
)

// Message is a verified callback.
type Message struct {
	ClassID   string
	ObjectID  string
	EventType string // EventSave or EventDelete
	ExpTime   time.Time
	// Nonce identifies the delivery; Google may deliver the same callback
	// more than once, and the caller deduplicates on Nonce.
	Nonce string
}

// Config configures a Verifier. The zero value is usable: every field has a
// default.
type Config struct {
	KeysURL    string           // default DefaultKeysURL
	SenderID   string           // default DefaultSenderID
	HTTPClient *http.Client     // default a client with a DefaultHTTPTimeout timeout
	Now        func() time.Time // default time.Now
	// MinRefresh: don't refetch the keys more often than this when no cached
	// root key verifies a callback (default DefaultMinRefresh). It is also
	// the shortest time fetched keys are cached.
	MinRefresh time.Duration
}

func (c Config) withDefaults() Config {
	if c.KeysURL == "" {
		c.KeysURL = DefaultKeysURL
	}
	if c.SenderID == "" {
		c.SenderID = DefaultSenderID
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MinRefresh <= 0 {
		c.MinRefresh = DefaultMinRefresh
	}
	return c
}

// Validate reports a configuration that cannot work. Empty fields are valid
// (they take their defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	u, err := url.Parse(c.KeysURL)
	if err != nil {
		return fmt.Errorf("callback: keys URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("callback: keys URL %q is not an absolute http(s) URL", c.KeysURL)
	}
	return nil
}

// Verifier verifies callbacks. It is safe for concurrent use; keep one per
// process so the root keys are fetched once and shared.
type Verifier struct {
	cfg  Config
	keys *keyStore
}

// NewVerifier returns a Verifier for cfg (see Config for the defaults).
func NewVerifier(cfg Config) *Verifier {
	cfg = cfg.withDefaults()
	return &Verifier{
		cfg: cfg,
		keys: &keyStore{
			url:        cfg.KeysURL,
			client:     cfg.HTTPClient,
			now:        cfg.Now,
			minRefresh: cfg.MinRefresh,
		},
	}
}

// Verify checks a callback body for issuerID and returns the verified
// message. Nothing in the body is trusted until verified.
//
// Errors wrap ErrInvalid when the callback is bad and ErrKeysUnavailable
// when Google's root keys could not be obtained; any other error is a
// programming error (an empty issuerID).
//
// Verify does not deduplicate: the caller must dedupe on Message.Nonce. It
// does not bound the body either: limit it before reading.
func (v *Verifier) Verify(ctx context.Context, issuerID string, body []byte) (Message, error) {
	if issuerID == "" {
		return Message{}, errors.New("callback: verify: issuer ID is required")
	}
	env, err := parseEnvelope(body)
	if err != nil {
		return Message{}, err
	}

	intermediate, err := v.verifyIntermediate(ctx, env)
	if err != nil {
		return Message{}, err
	}

	signed := lv(v.cfg.SenderID, issuerID, ProtocolVersion, env.signedMessage)
	if !verifySig(intermediate, signed, env.signature) {
		return Message{}, fmt.Errorf("%w: message signature does not verify with the intermediate key for issuer %q", ErrInvalid, issuerID)
	}

	return parseMessage([]byte(env.signedMessage), issuerID, v.cfg.Now())
}

// verifyIntermediate checks the root signatures on the intermediate signing
// key, then its expiry, and returns the key.
func (v *Verifier) verifyIntermediate(ctx context.Context, env envelope) (*ecdsa.PublicKey, error) {
	signed := lv(v.cfg.SenderID, ProtocolVersion, env.signedKey)

	set, staleErr := v.keys.current(ctx)
	if set == nil {
		return nil, staleErr
	}
	if !v.rootVerifies(set, signed, env.keySigs) {
		if staleErr != nil {
			// The cached keys are past their cache lifetime and could not be
			// refreshed: Google may have rotated them, so don't blame the callback.
			return nil, staleErr
		}
		// Google may have rotated its keys since they were cached.
		fresh, err := v.keys.refreshAfterMiss(ctx, set)
		if err != nil {
			return nil, err
		}
		if fresh == nil || !v.rootVerifies(fresh, signed, env.keySigs) {
			return nil, fmt.Errorf("%w: no root signing key verifies the intermediate signing key", ErrInvalid)
		}
	}

	var sk struct {
		KeyValue      string
		KeyExpiration millis
	}
	fields, err := objectFields([]byte(env.signedKey))
	if err != nil {
		return nil, fmt.Errorf("%w: intermediate signedKey: %v", ErrInvalid, err)
	}
	if err := stringField(fields, "keyValue", &sk.KeyValue); err != nil {
		return nil, fmt.Errorf("%w: intermediate signedKey: %v", ErrInvalid, err)
	}
	if err := millisField(fields, "keyExpiration", &sk.KeyExpiration); err != nil {
		return nil, fmt.Errorf("%w: intermediate signedKey: %v", ErrInvalid, err)
	}
	if exp := sk.KeyExpiration.time(); !exp.After(v.cfg.Now()) {
		return nil, fmt.Errorf("%w: intermediate signing key expired at %s", ErrInvalid, exp.UTC().Format(time.RFC3339))
	}
	pub, err := parseSPKI(sk.KeyValue)
	if err != nil {
		return nil, fmt.Errorf("%w: intermediate signing key: %v", ErrInvalid, err)
	}
	return pub, nil
}

func (v *Verifier) rootVerifies(set *keySet, signed []byte, sigs [][]byte) bool {
	now := v.cfg.Now()
	for _, k := range set.keys {
		if k.expires.After(now) {
			for _, sig := range sigs {
				if verifySig(k.pub, signed, sig) {
					return true
				}
			}
		}
	}
	return false
}

// envelope is the outer callback JSON, decoded but not yet trusted.
type envelope struct {
	signature     []byte
	signedKey     string
	keySigs       [][]byte
	signedMessage string
}

func parseEnvelope(body []byte) (envelope, error) {
	var env envelope
	bad := func(format string, a ...any) (envelope, error) {
		return envelope{}, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	top, err := objectFields(body)
	if err != nil {
		return bad("body: %v", err)
	}
	var version, sig string
	if err := stringField(top, "protocolVersion", &version); err != nil {
		return bad("%v", err)
	}
	if version != ProtocolVersion {
		return bad("protocolVersion %q, want %q", version, ProtocolVersion)
	}
	if err := stringField(top, "signature", &sig); err != nil {
		return bad("%v", err)
	}
	if env.signature, err = decodeB64(sig); err != nil {
		return bad("signature: %v", err)
	}
	if err := stringField(top, "signedMessage", &env.signedMessage); err != nil {
		return bad("%v", err)
	}
	raw, ok := top["intermediateSigningKey"]
	if !ok {
		return bad("intermediateSigningKey is missing")
	}
	isk, err := objectFields(raw)
	if err != nil {
		return bad("intermediateSigningKey: %v", err)
	}
	if err := stringField(isk, "signedKey", &env.signedKey); err != nil {
		return bad("intermediateSigningKey: %v", err)
	}
	var sigs []string
	if rawSigs, ok := isk["signatures"]; !ok {
		return bad("intermediateSigningKey.signatures is missing")
	} else if err := json.Unmarshal(rawSigs, &sigs); err != nil {
		return bad("intermediateSigningKey.signatures is not a list of strings")
	}
	if len(sigs) == 0 {
		return bad("intermediateSigningKey.signatures is empty")
	}
	for i, s := range sigs {
		b, err := decodeB64(s)
		if err != nil {
			return bad("intermediateSigningKey.signatures[%d]: %v", i, err)
		}
		env.keySigs = append(env.keySigs, b)
	}
	return env, nil
}

// parseMessage parses and checks a signedMessage whose signature has been
// verified.
func parseMessage(b []byte, issuerID string, now time.Time) (Message, error) {
	bad := func(format string, a ...any) (Message, error) {
		return Message{}, fmt.Errorf("%w: signedMessage: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	f, err := objectFields(b)
	if err != nil {
		return bad("%v", err)
	}
	var m Message
	var exp millis
	for _, s := range []struct {
		name string
		dst  *string
	}{{"classId", &m.ClassID}, {"objectId", &m.ObjectID}, {"eventType", &m.EventType}, {"nonce", &m.Nonce}} {
		if err := stringField(f, s.name, s.dst); err != nil {
			return bad("%v", err)
		}
	}
	if err := millisField(f, "expTimeMillis", &exp); err != nil {
		return bad("%v", err)
	}
	m.ExpTime = exp.time()
	if !m.ExpTime.After(now) {
		return bad("expired at %s", m.ExpTime.UTC().Format(time.RFC3339))
	}
	if m.EventType != EventSave && m.EventType != EventDelete {
		return bad("unknown eventType %q", m.EventType)
	}
	prefix := issuerID + "."
	if len(m.ClassID) <= len(prefix) || !strings.HasPrefix(m.ClassID, prefix) {
		return bad("classId %q is not under issuer %q", m.ClassID, issuerID)
	}
	if len(m.ObjectID) <= len(prefix) || !strings.HasPrefix(m.ObjectID, prefix) {
		return bad("objectId %q is not under issuer %q", m.ObjectID, issuerID)
	}
	return m, nil
}

// lv concatenates each part prefixed with its 4-byte little-endian length.
func lv(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += 4 + len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(p)))
		out = append(out, p...)
	}
	return out
}

func verifySig(pub *ecdsa.PublicKey, signed, sig []byte) bool {
	h := sha256.Sum256(signed)
	return ecdsa.VerifyASN1(pub, h[:], sig)
}

// parseSPKI parses a base64 X.509 SubjectPublicKeyInfo holding a P-256 key.
func parseSPKI(s string) (*ecdsa.PublicKey, error) {
	der, err := decodeB64(s)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not an X.509 SubjectPublicKeyInfo: %v", err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return pub, nil
}

// decodeB64 decodes standard base64, padded or not.
func decodeB64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("not base64")
	}
	return b, nil
}

// objectFields decodes a JSON object into its fields, matching names
// exactly (encoding/json's struct decoding is case-insensitive).
func objectFields(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// stringField reads a required non-empty string field.
func stringField(f map[string]json.RawMessage, name string, dst *string) error {
	raw, ok := f[name]
	if !ok {
		return fmt.Errorf("%s is missing", name)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s is not a string", name)
	}
	if *dst == "" {
		return fmt.Errorf("%s is empty", name)
	}
	return nil
}

// millisField reads a required millisecond timestamp given as a JSON string
// or number.
func millisField(f map[string]json.RawMessage, name string, dst *millis) error {
	raw, ok := f[name]
	if !ok || bytes.Equal(raw, []byte("null")) {
		return fmt.Errorf("%s is missing", name)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}

// millis is a Unix time in milliseconds, encoded as a JSON string ("123")
// or number (123).
type millis int64

func (m *millis) UnmarshalJSON(b []byte) error {
	s := string(b)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		// A JSON number may come as 1.7e12; accept it when it is integral.
		f, ferr := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if ferr != nil || f != float64(int64(f)) {
			return fmt.Errorf("%q is not a time in milliseconds", s)
		}
		n = int64(f)
	}
	*m = millis(n)
	return nil
}

func (m millis) time() time.Time { return time.UnixMilli(int64(m)) }
