package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The fuzz targets share one property: Verify never panics, returns either
// a well-formed result or one of the package's errors, accepts a correctly
// signed request's signature, and once a request's signature is accepted,
// flipping one bit of its body makes it fail with ErrSignature.

// signatureAccepted reports whether err says the credentials were good
// (success, or a later stage failed).
func signatureAccepted(err error) bool {
	return err == nil || errors.Is(err, ErrStale) || errors.Is(err, ErrMalformed)
}

func checkOutcome(t *testing.T, res Result, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrStale) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrConfig) {
			t.Fatalf("error %v wraps none of the package's errors", err)
		}
		return
	}
	if res.Scheme == "" || len(res.Events) == 0 || len(res.Events) > HubSpotMaxEvents {
		t.Fatalf("result %+v", res)
	}
	for _, e := range res.Events {
		if !json.Valid(e.Payload) {
			t.Fatalf("payload %q is not JSON", e.Payload)
		}
	}
}

// tamper returns body with one bit flipped (a byte appended to an empty
// body).
func tamper(body []byte, at uint) []byte {
	if len(body) == 0 {
		return []byte{byte(at)}
	}
	b := append([]byte(nil), body...)
	b[at%uint(len(b))] ^= 1
	return b
}

// mustRejectTampered re-verifies r with a tampered body.
func mustRejectTampered(t *testing.T, v Verifier, r Request, at uint) {
	t.Helper()
	r.Body = tamper(r.Body, at)
	res, err := v.Verify(r)
	checkOutcome(t, res, err)
	if !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered body %q verified: %+v, %v", r.Body, res, err)
	}
}

func macBytes(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func FuzzShopify(f *testing.F) {
	f.Add(shopifySecret, []byte(shopifyBody), false, shopifyHMAC, "products/create", "shop1.myshopify.io", "123456789", uint(3))
	f.Add(shopifySecret, []byte(shopifyBody), true, "", "orders/paid", "s.myshopify.com", "1", uint(0))
	f.Add("k", []byte(`[1]`), true, "", "t", "s", "i", uint(1))
	f.Add("k", []byte{}, true, "", "", "", "", uint(0))
	f.Add("", []byte(`{}`), false, "not base64", "t", "s", "i", uint(0))
	f.Fuzz(func(t *testing.T, secret string, body []byte, sign bool, sig, topic, shop, id string, at uint) {
		v := Shopify{Secrets: []string{secret}}
		if sign {
			sig = base64.StdEncoding.EncodeToString(macBytes([]byte(secret), string(body)))
		}
		r := Request{Header: http.Header{
			"X-Shopify-Hmac-Sha256":  {sig},
			"X-Shopify-Topic":        {topic},
			"X-Shopify-Shop-Domain":  {shop},
			"X-Shopify-Webhook-Id":   {id},
			"X-Shopify-Triggered-At": {topic},
		}, Body: body}
		res, err := v.Verify(r)
		checkOutcome(t, res, err)
		if secret == "" {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("empty secret: %v", err)
			}
			return
		}
		if sign && !signatureAccepted(err) {
			t.Fatalf("signed request refused: %v", err)
		}
		if signatureAccepted(err) {
			mustRejectTampered(t, v, r, at)
		}
	})
}

func FuzzHubSpot(f *testing.F) {
	f.Add(hubspotSecret, hubspotURL, "POST", []byte(hubspotBody), hubspotTs, uint8(0), false, false, hubspotV3, int64(1000), uint(5))
	f.Add(hubspotSecret, hubspotEncodedURL, "POST", []byte(hubspotBody), hubspotTs, uint8(0), true, false, "", int64(0), uint(0))
	f.Add(hubspotSecret, hubspotURL, "POST", []byte(hubspotBody), "", uint8(1), false, true, hubspotV1Docs, int64(0), uint(9))
	f.Add(hubspotSecret, hubspotURL, "GET", []byte{}, "", uint8(2), false, true, hubspotV2GetDocs, int64(0), uint(0))
	f.Add("s", "https://x/%3a%2C?%", "", []byte(`[{"eventId":1}]`), "1", uint8(0), true, false, "", int64(-1)<<40, uint(1))
	f.Add("s", "u", "POST", []byte(`[`), "x", uint8(2), true, true, "", int64(1)<<62, uint(2))
	f.Fuzz(func(t *testing.T, secret, url, method string, body []byte, ts string, version uint8, sign, allow bool, sig string, skewMs int64, at uint) {
		v := HubSpot{ClientSecret: secret, AllowV1V2: allow}
		m := method
		if m == "" {
			m = "POST"
		}
		h := http.Header{}
		legacy := version%3 != 0
		if !legacy {
			if sign {
				sig = base64.StdEncoding.EncodeToString(macBytes([]byte(secret), m, hubspotURI(url), string(body), ts))
			}
			h.Set(HubSpotHeaderSignatureV3, sig)
			h.Set(HubSpotHeaderTimestamp, ts)
		} else {
			ver, src := "v1", secret+string(body)
			if version%3 == 2 {
				ver, src = "v2", secret+m+url+string(body)
			}
			if sign {
				s := sha256.Sum256([]byte(src))
				sig = hex.EncodeToString(s[:])
			}
			h.Set(HubSpotHeaderSignature, sig)
			h.Set(HubSpotHeaderSignatureVersion, ver)
		}
		now := time.UnixMilli(1564113660000)
		if ms, err := strconv.ParseInt(ts, 10, 64); err == nil {
			now = time.UnixMilli(ms).Add(time.Duration(skewMs) * time.Millisecond)
		}
		r := Request{Method: method, URL: url, Header: h, Body: body, Now: now}
		res, err := v.Verify(r)
		checkOutcome(t, res, err)
		if secret == "" || url == "" {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("config: %v", err)
			}
			return
		}
		shouldAccept := sign && sig != "" && ((!legacy && allDigits(ts)) || (legacy && allow))
		if shouldAccept && !signatureAccepted(err) {
			t.Fatalf("signed request refused: %v", err)
		}
		if signatureAccepted(err) {
			mustRejectTampered(t, v, r, at)
		}
	})
}

func FuzzSquare(f *testing.F) {
	f.Add(squareKey, squareURL, []byte(squareBody), false, squareSig, uint(7))
	f.Add(squareKey, squareURL, []byte{}, false, squareEmptySig, uint(0))
	f.Add("k", "https://h/x", []byte(`{"type":"a","event_id":"b"}`), true, "", uint(3))
	f.Add("k", "", []byte(`{}`), true, "", uint(0))
	f.Fuzz(func(t *testing.T, key, url string, body []byte, sign bool, sig string, at uint) {
		v := Square{SignatureKey: key}
		if sign {
			sig = base64.StdEncoding.EncodeToString(macBytes([]byte(key), url, string(body)))
		}
		r := Request{URL: url, Header: http.Header{"X-Square-Hmacsha256-Signature": {sig}}, Body: body}
		res, err := v.Verify(r)
		checkOutcome(t, res, err)
		if key == "" || url == "" {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("config: %v", err)
			}
			return
		}
		if sign && !signatureAccepted(err) {
			t.Fatalf("signed request refused: %v", err)
		}
		if signatureAccepted(err) {
			mustRejectTampered(t, v, r, at)
		}
	})
}

func FuzzGeneric(f *testing.F) {
	f.Add(githubSecret, []byte("Hello, World!"), uint8(0), uint8(0), "sha256=", false, githubSig, "", uint(1))
	f.Add(githubSecret, []byte(genericBody), uint8(0), uint8(1), "", false, genericB64, "", uint(0))
	f.Add(githubSecret, []byte(genericBody), uint8(2), uint8(1), "", true, "", githubSecret, uint(4))
	f.Add("pk_live_0123456789abcdef", []byte(`{}`), uint8(1), uint8(0), "Bearer ", true, "", "pk_live_0123456789abcdef", uint(0))
	f.Add("s", []byte{}, uint8(1), uint8(0), "sha1=", true, "", "s", uint(0))
	f.Fuzz(func(t *testing.T, secret string, body []byte, alg, enc uint8, prefix string, sign bool, sig, key string, at uint) {
		// HMAC.
		algName := []string{"sha256", "sha1", "sha512"}[alg%3]
		encName := []string{"hex", "base64"}[enc%2]
		v := HMAC{Secrets: []string{secret}, Prefix: prefix, Algorithm: algName, Encoding: encName}
		if sign {
			newHash, _ := algorithm(algName)
			mac := hmacSum(newHash, []byte(secret), body)
			if encName == "hex" {
				sig = prefix + hex.EncodeToString(mac)
			} else {
				sig = prefix + base64.StdEncoding.EncodeToString(mac)
			}
		}
		r := Request{Header: http.Header{"X-Signature": {sig}}, Body: body}
		res, err := v.Verify(r)
		checkOutcome(t, res, err)
		switch {
		case secret == "":
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("empty secret: %v", err)
			}
		default:
			if sign && !signatureAccepted(err) {
				t.Fatalf("signed request refused: %v", err)
			}
			if signatureAccepted(err) {
				mustRejectTampered(t, v, r, at)
			}
		}

		// APIKey: only the configured key is accepted (it does not sign
		// the body, so there is no tampering property).
		a := APIKey{Keys: []string{secret}, Prefix: prefix}
		r = Request{Header: http.Header{"X-Api-Key": {prefix + key}}, Body: body}
		res, err = a.Verify(r)
		checkOutcome(t, res, err)
		if len(secret) < APIKeyMinLength {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("short key: %v", err)
			}
			return
		}
		if signatureAccepted(err) != (key == secret) {
			t.Fatalf("key %q against %q: %v", key, secret, err)
		}
	})
}

func FuzzStandardWebhooks(f *testing.F) {
	key, _ := base64.StdEncoding.DecodeString(swSecret[len("whsec_"):])
	f.Add(key, swID, swTs, []byte(swBody), false, swSig, int64(0), uint(2))
	f.Add(key, swID, swTs, []byte(swBody), true, swBogus+" v1a,xyz v2,", int64(299), uint(0))
	f.Add(key, "msg.1", "1", []byte(`1`), true, "", int64(-400), uint(0))
	f.Add([]byte("short"), swID, swTs, []byte(swBody), true, "", int64(0), uint(0))
	f.Add(key, swID, "999999999999999999", []byte(`{}`), true, "v1,", int64(0), uint(1))
	f.Fuzz(func(t *testing.T, key []byte, id, ts string, body []byte, sign bool, sigs string, skew int64, at uint) {
		v := StandardWebhooks{Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString(key)}}
		if sign {
			sigs += " v1," + base64.StdEncoding.EncodeToString(macBytes(key, id, ".", ts, ".", string(body)))
		}
		now := swAt
		if sec, err := strconv.ParseInt(ts, 10, 64); err == nil {
			now = time.Unix(sec, 0).Add(time.Duration(skew) * time.Second)
		}
		r := Request{Header: http.Header{
			"Webhook-Id":        {id},
			"Webhook-Timestamp": {ts},
			"Webhook-Signature": {sigs},
		}, Body: body, Now: now}
		res, err := v.Verify(r)
		checkOutcome(t, res, err)
		if len(key) < StandardMinSecretBytes {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("short key: %v", err)
			}
			return
		}
		if sign && id != "" && !containsDot(id) && allDigits(ts) && !signatureAccepted(err) {
			t.Fatalf("signed request refused: %v", err)
		}
		if signatureAccepted(err) {
			mustRejectTampered(t, v, r, at)
		}
	})
}

func containsDot(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return true
		}
	}
	return false
}
