package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// HubSpot headers.
const (
	HubSpotHeaderSignatureV3      = "X-HubSpot-Signature-v3"
	HubSpotHeaderTimestamp        = "X-HubSpot-Request-Timestamp"
	HubSpotHeaderSignature        = "X-HubSpot-Signature"
	HubSpotHeaderSignatureVersion = "X-HubSpot-Signature-Version"
)

// HubSpot defaults and limits.
const (
	HubSpotDefaultMaxAge  = 5 * time.Minute
	HubSpotDefaultMaxSkew = time.Minute
	HubSpotMaxEvents      = 100
)

// HubSpot verifies HubSpot webhooks.
//
// v3 (always accepted): X-HubSpot-Signature-v3 is the base64 HMAC-SHA256,
// keyed with the app's client secret, of method + URI + raw body +
// X-HubSpot-Request-Timestamp (Unix milliseconds, exactly as sent), where
// the URI has HubSpot's twelve percent-encodings decoded (see hubspotURI).
// The timestamp must be at most MaxAge old and at most MaxSkew in the
// future.
//
// v1 (hex SHA-256 of secret + body) and v2 (hex SHA-256 of secret + method
// + URI + body, URI as is), named by X-HubSpot-Signature-Version, are
// accepted only with AllowV1V2 and only when no v3 signature is present:
// they carry no timestamp, so a captured request replays forever.
//
// The verified body must be a JSON array of 1 to 100 event objects, each
// with eventId, portalId, occurredAt and subscriptionType; each becomes one
// Event.
type HubSpot struct {
	ClientSecret string
	AllowV1V2    bool
	// MaxAge: how old a v3 timestamp may be (default 5 minutes, HubSpot's
	// documented window).
	MaxAge time.Duration
	// MaxSkew: how far in the future a v3 timestamp may be (clock skew;
	// default 1 minute).
	MaxSkew time.Duration
	// TargetURL is the URL as registered in the HubSpot app's webhook
	// settings, when it differs from Request.URL (a proxy rewrites it).
	TargetURL string
}

// Validate reports an unusable configuration, naming the field.
func (h HubSpot) Validate() error {
	switch {
	case h.ClientSecret == "":
		return core.Invalid("clientSecret", "is required")
	case h.MaxAge < 0:
		return core.Invalid("maxAge", "must not be negative")
	case h.MaxSkew < 0:
		return core.Invalid("maxSkew", "must not be negative")
	}
	return validateOptionalURL("targetUrl", h.TargetURL)
}

// Verify implements Verifier.
func (h HubSpot) Verify(r Request) (Result, error) {
	const kind = "hubspot"
	if err := h.Validate(); err != nil {
		return Result{}, configErr(kind, err)
	}
	uri := h.TargetURL
	if uri == "" {
		uri = r.URL
	}
	if uri == "" {
		return Result{}, configErr(kind, core.Invalid("targetUrl", "is required when the request has no URL"))
	}
	method := r.Method
	if method == "" {
		method = "POST"
	}

	var scheme string
	switch {
	case r.Header.Get(HubSpotHeaderSignatureV3) != "":
		if err := h.verifyV3(r, method, uri); err != nil {
			return Result{}, err
		}
		scheme = "hubspot-v3"
	case !h.AllowV1V2:
		return Result{}, sigErr(kind, HubSpotHeaderSignatureV3+" is missing (v1 and v2 signatures are not allowed)")
	default:
		var err error
		if scheme, err = h.verifyLegacy(r, method, uri); err != nil {
			return Result{}, err
		}
	}

	events, err := hubspotEvents(r.Body)
	if err != nil {
		return Result{}, err
	}
	return Result{Scheme: scheme, Events: events}, nil
}

func (h HubSpot) verifyV3(r Request, method, uri string) error {
	const kind = "hubspot"
	ts := r.Header.Get(HubSpotHeaderTimestamp)
	if !allDigits(ts) {
		// Digits only: the timestamp is concatenated right after the body,
		// so a sign or a space would let bytes move across the boundary.
		return sigErr(kind, HubSpotHeaderTimestamp+" is missing or not Unix milliseconds")
	}
	got, err := base64.StdEncoding.DecodeString(r.Header.Get(HubSpotHeaderSignatureV3))
	if err != nil {
		return sigErr(kind, HubSpotHeaderSignatureV3+" is not base64")
	}
	want := hmacSum(sha256.New, []byte(h.ClientSecret), []byte(method), []byte(hubspotURI(uri)), r.Body, []byte(ts))
	if !anyEqual(got, [][]byte{want}) {
		return sigErr(kind, HubSpotHeaderSignatureV3+" does not match")
	}

	ms, _ := strconv.ParseInt(ts, 10, 64) // allDigits: ≤ 18 digits
	at, now := time.UnixMilli(ms), now(r)
	maxAge, maxSkew := h.MaxAge, h.MaxSkew
	if maxAge == 0 {
		maxAge = HubSpotDefaultMaxAge
	}
	if maxSkew == 0 {
		maxSkew = HubSpotDefaultMaxSkew
	}
	if age := now.Sub(at); age > maxAge {
		return stale(kind, fmt.Sprintf("signed %s ago (max %s)", age.Round(time.Second), maxAge))
	}
	if ahead := at.Sub(now); ahead > maxSkew {
		return stale(kind, fmt.Sprintf("signed %s in the future (max %s)", ahead.Round(time.Second), maxSkew))
	}
	return nil
}

func (h HubSpot) verifyLegacy(r Request, method, uri string) (string, error) {
	const kind = "hubspot"
	sig := r.Header.Get(HubSpotHeaderSignature)
	if sig == "" {
		return "", sigErr(kind, "no "+HubSpotHeaderSignatureV3+" or "+HubSpotHeaderSignature)
	}
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return "", sigErr(kind, HubSpotHeaderSignature+" is not hex")
	}
	s := sha256.New()
	s.Write([]byte(h.ClientSecret))
	var scheme string
	switch v := r.Header.Get(HubSpotHeaderSignatureVersion); v {
	case "v1":
		scheme = "hubspot-v1"
	case "v2":
		scheme = "hubspot-v2"
		s.Write([]byte(method))
		s.Write([]byte(uri))
	default:
		return "", sigErr(kind, fmt.Sprintf("%s %q is not v1 or v2", HubSpotHeaderSignatureVersion, v))
	}
	s.Write(r.Body)
	if !anyEqual(got, [][]byte{s.Sum(nil)}) {
		return "", sigErr(kind, HubSpotHeaderSignature+" does not match")
	}
	return scheme, nil
}

// hubspotDecoded is the table of percent-encodings HubSpot decodes in the
// request URI before signing v3 ("Validate the v3 request signature",
// developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests;
// the same twelve in every independent implementation checked):
// %3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 ) %2A * %2C , %3B ;
// Everything else (%20, %26, %3D, UTF-8 bytes, ...) stays encoded. HubSpot's
// SDKs do not decode at all: they expect the caller to pass the decoded URI.
var hubspotDecoded = map[string]byte{
	"3A": ':', "2F": '/', "3F": '?', "40": '@', "21": '!', "24": '$',
	"27": '\'', "28": '(', "29": ')', "2A": '*', "2C": ',', "3B": ';',
}

// hubspotURI decodes the listed percent-encodings in one left-to-right
// pass (so "%253A" stays "%253A"), hex digits in either case.
func hubspotURI(u string) string {
	if !strings.Contains(u, "%") {
		return u
	}
	var b strings.Builder
	b.Grow(len(u))
	for i := 0; i < len(u); i++ {
		if u[i] == '%' && i+2 < len(u) {
			if c, ok := hubspotDecoded[strings.ToUpper(u[i+1:i+3])]; ok {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(u[i])
	}
	return b.String()
}

// hubspotEvent is the part of a webhook event the verifier reads; ids are
// kept raw (numbers in HubSpot's payloads, beyond float64 precision).
type hubspotEvent struct {
	EventID          json.RawMessage `json:"eventId"`
	PortalID         json.RawMessage `json:"portalId"`
	OccurredAt       json.RawMessage `json:"occurredAt"`
	SubscriptionType string          `json:"subscriptionType"`
	ObjectID         json.RawMessage `json:"objectId"`
	FromObjectID     json.RawMessage `json:"fromObjectId"`
	ToObjectID       json.RawMessage `json:"toObjectId"`
	PropertyName     string          `json:"propertyName"`
}

func hubspotEvents(body []byte) ([]Event, error) {
	const kind = "hubspot"
	// Valid first (no trailing data), then stream the elements so a huge
	// array is refused at element 101 instead of being decoded whole.
	if !json.Valid(body) {
		return nil, malformed(kind, "body is not JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, malformed(kind, "body is not a JSON array")
	}
	var raw []json.RawMessage
	for dec.More() {
		if len(raw) == HubSpotMaxEvents {
			return nil, malformed(kind, fmt.Sprintf("body has more than %d events", HubSpotMaxEvents))
		}
		var el json.RawMessage
		if err := dec.Decode(&el); err != nil {
			return nil, malformed(kind, "body is not a JSON array")
		}
		raw = append(raw, el)
	}
	if len(raw) == 0 {
		return nil, malformed(kind, "body has no events")
	}
	events := make([]Event, len(raw))
	for i, el := range raw {
		var e hubspotEvent
		if !isObject(el) || json.Unmarshal(el, &e) != nil {
			return nil, malformed(kind, fmt.Sprintf("event %d is not an event object", i))
		}
		eventID, portalID, occurred := jsonID(e.EventID), jsonID(e.PortalID), jsonID(e.OccurredAt)
		ms, err := strconv.ParseInt(occurred, 10, 64)
		switch {
		case eventID == "":
			return nil, malformed(kind, fmt.Sprintf("event %d has no eventId", i))
		case portalID == "":
			return nil, malformed(kind, fmt.Sprintf("event %d has no portalId", i))
		case e.SubscriptionType == "":
			return nil, malformed(kind, fmt.Sprintf("event %d has no subscriptionType", i))
		case err != nil:
			return nil, malformed(kind, fmt.Sprintf("event %d has no occurredAt in Unix milliseconds", i))
		}
		objectID := jsonID(e.ObjectID)
		if objectID == "" && (len(e.FromObjectID) > 0 || len(e.ToObjectID) > 0) {
			// Association changes name two objects instead of one.
			objectID = jsonID(e.FromObjectID) + "-" + jsonID(e.ToObjectID)
		}
		events[i] = Event{
			Topic:      e.SubscriptionType,
			DedupeKey:  strings.Join([]string{portalID, e.SubscriptionType, objectID, eventID, occurred, e.PropertyName}, ":"),
			OccurredAt: time.UnixMilli(ms),
			Source:     portalID,
			Payload:    el,
		}
	}
	return events, nil
}

// jsonID renders a JSON number or string as text; anything else is "".
func jsonID(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '-' || (c >= '0' && c <= '9'):
		return string(raw)
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return ""
}
