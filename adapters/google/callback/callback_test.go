package callback

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const issuer = "3388000000000000001"

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// keysServer serves a keys document and counts fetches.
type keysServer struct {
	*httptest.Server
	fetches atomic.Int32

	mu           sync.Mutex
	body         []byte
	status       int
	cacheControl string
	header       http.Header
	delay        time.Duration
}

func newKeysServer(t *testing.T, body []byte) *keysServer {
	t.Helper()
	ks := &keysServer{body: body, status: http.StatusOK, cacheControl: "public, max-age=3600"}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		body, status, cc, hdr, delay := ks.body, ks.status, ks.cacheControl, ks.header, ks.delay
		ks.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keysServer) set(f func(ks *keysServer)) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	f(ks)
}

func newTestVerifier(ks *keysServer, clk *clock) *Verifier {
	return NewVerifier(Config{KeysURL: ks.URL, HTTPClient: ks.Client(), Now: clk.Now})
}

func msg(event string, exp time.Time) Message {
	return Message{
		ClassID:   issuer + ".loyalty-gold",
		ObjectID:  issuer + ".pass-42",
		EventType: event,
		ExpTime:   exp,
		Nonce:     "0cfe3927-7ce2-4471-bc27-c819c2910901",
	}
}

func TestVerify(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	base := NewTestSigner()
	base.IntermediateExpiry = now.Add(24 * time.Hour)
	other := NewTestSigner()
	ks := newKeysServer(t, base.KeysJSON(now.Add(30*24*time.Hour)))
	exp := now.Add(time.Hour)

	tests := []struct {
		name     string
		modify   func(s *TestSigner) // applied to a copy of base
		signFor  string              // issuer the message is signed for; default issuer
		msg      Message
		opts     []SignOption
		body     []byte // used instead of signing when set
		wantErr  string // substring of the error; "" means success
		wantMsg  Message
		verifyAs string // issuer passed to Verify; default issuer
	}{
		{name: "save verifies", msg: msg(EventSave, exp), wantMsg: msg(EventSave, exp)},
		{name: "del verifies", msg: msg(EventDelete, exp), wantMsg: msg(EventDelete, exp)},
		{name: "expTimeMillis as string verifies", msg: msg(EventSave, exp), opts: []SignOption{ExpTimeAsString()}, wantMsg: msg(EventSave, exp)},
		{name: "expTimeMillis as number verifies", msg: msg(EventSave, exp), wantMsg: msg(EventSave, exp)},
		{name: "intermediate keyExpiration as number verifies", msg: msg(EventSave, exp), opts: []SignOption{KeyExpirationAsNumber()}, wantMsg: msg(EventSave, exp)},
		{name: "one good root signature among others is enough", msg: msg(EventSave, exp), opts: []SignOption{AlsoSignedBy(other.Root)}, wantMsg: msg(EventSave, exp)},

		{name: "tampered signedMessage", msg: msg(EventSave, exp), opts: []SignOption{TamperSignedMessage()}, wantErr: "message signature does not verify"},
		{name: "tampered signedKey", msg: msg(EventSave, exp), opts: []SignOption{TamperSignedKey()}, wantErr: "no root signing key verifies"},
		{name: "signed by another root", modify: func(s *TestSigner) { s.Root = other.Root }, msg: msg(EventSave, exp), wantErr: "no root signing key verifies"},
		// The intermediate key travels in the callback, certified by the root:
		// any intermediate key the root signed is good.
		{name: "another intermediate certified by the root verifies", modify: func(s *TestSigner) { s.Intermediate = other.Intermediate }, msg: msg(EventSave, exp), wantMsg: msg(EventSave, exp)},
		{name: "signed for another issuer", signFor: "3388000000000000002", msg: msg(EventSave, exp), wantErr: "message signature does not verify"},
		{name: "verified as another issuer", verifyAs: "3388000000000000002", msg: msg(EventSave, exp), wantErr: "message signature does not verify"},
		{name: "other sender ID", modify: func(s *TestSigner) { s.SenderID = "GoogleWalletPasses" }, msg: msg(EventSave, exp), wantErr: "no root signing key verifies"},
		{name: "classId not under issuer", msg: func() Message { m := msg(EventSave, exp); m.ClassID = "3388000000000000002.loyalty-gold"; return m }(), wantErr: "classId"},
		{name: "objectId not under issuer", msg: func() Message { m := msg(EventSave, exp); m.ObjectID = "3388000000000000002.pass-42"; return m }(), wantErr: "objectId"},
		{name: "objectId issuer prefix without dot", msg: func() Message { m := msg(EventSave, exp); m.ObjectID = issuer + "9.pass-42"; return m }(), wantErr: "objectId"},
		{name: "objectId with empty suffix", msg: func() Message { m := msg(EventSave, exp); m.ObjectID = issuer + "."; return m }(), wantErr: "objectId"},
		{name: "expired intermediate key", modify: func(s *TestSigner) { s.IntermediateExpiry = now.Add(-time.Second) }, msg: msg(EventSave, exp), wantErr: "intermediate signing key expired"},
		{name: "expired message", msg: msg(EventSave, now.Add(-time.Millisecond)), wantErr: "expired"},
		{name: "message expiring now", msg: msg(EventSave, now), wantErr: "expired"},
		{name: "unknown eventType", msg: msg("activate", exp), wantErr: `unknown eventType "activate"`},
		{name: "empty nonce", msg: func() Message { m := msg(EventSave, exp); m.Nonce = ""; return m }(), wantErr: "nonce is empty"},
		{name: "missing expTimeMillis", opts: []SignOption{RawSignedMessage(`{"classId":"` + issuer + `.c","objectId":"` + issuer + `.o","eventType":"save","nonce":"n"}`)}, wantErr: "expTimeMillis is missing"},
		{name: "malformed expTimeMillis", opts: []SignOption{RawSignedMessage(`{"classId":"` + issuer + `.c","objectId":"` + issuer + `.o","eventType":"save","nonce":"n","expTimeMillis":"soon"}`)}, wantErr: "expTimeMillis"},
		{name: "signedMessage not JSON", opts: []SignOption{RawSignedMessage(`save please`)}, wantErr: "not a JSON object"},
		{name: "field names are case-sensitive", opts: []SignOption{RawSignedMessage(`{"ClassId":"` + issuer + `.c","objectId":"` + issuer + `.o","eventType":"save","nonce":"n","expTimeMillis":` + itoa(exp.UnixMilli()) + `}`)}, wantErr: "classId is missing"},
		{name: "wrong protocolVersion", msg: msg(EventSave, exp), opts: []SignOption{WithProtocolVersion("ECv2")}, wantErr: `protocolVersion "ECv2"`},
		{name: "body not JSON", body: []byte("not json"), wantErr: "not a JSON object"},
		{name: "body empty", body: []byte(""), wantErr: "not a JSON object"},
		{name: "body missing intermediateSigningKey", body: []byte(`{"protocolVersion":"ECv2SigningOnly","signature":"MEUCIQ==","signedMessage":"{}"}`), wantErr: "intermediateSigningKey is missing"},
		{name: "body with empty signatures", body: []byte(`{"protocolVersion":"ECv2SigningOnly","signature":"MEUCIQ==","signedMessage":"{}","intermediateSigningKey":{"signedKey":"{}","signatures":[]}}`), wantErr: "signatures is empty"},
		{name: "body with non-base64 signature", body: []byte(`{"protocolVersion":"ECv2SigningOnly","signature":"!!","signedMessage":"{}","intermediateSigningKey":{"signedKey":"{}","signatures":["MEUCIQ=="]}}`), wantErr: "signature: not base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := *base
			if tc.modify != nil {
				tc.modify(&s)
			}
			body := tc.body
			if body == nil {
				signFor := tc.signFor
				if signFor == "" {
					signFor = issuer
				}
				body = s.Sign(signFor, tc.msg, tc.opts...)
			}
			verifyAs := tc.verifyAs
			if verifyAs == "" {
				verifyAs = issuer
			}
			got, err := newTestVerifier(ks, clk).Verify(context.Background(), verifyAs, body)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.ClassID != tc.wantMsg.ClassID || got.ObjectID != tc.wantMsg.ObjectID ||
					got.EventType != tc.wantMsg.EventType || got.Nonce != tc.wantMsg.Nonce ||
					got.ExpTime.UnixMilli() != tc.wantMsg.ExpTime.UnixMilli() {
					t.Fatalf("Verify = %+v, want %+v", got, tc.wantMsg)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify error = %v, want ErrInvalid", err)
			}
			if errors.Is(err, ErrKeysUnavailable) {
				t.Fatalf("Verify error = %v, is also ErrKeysUnavailable", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Verify error = %q, want it to mention %q", err, tc.wantErr)
			}
			if got != (Message{}) {
				t.Fatalf("Verify returned %+v with an error", got)
			}
		})
	}
}

func TestVerifyEmptyIssuerIsAProgrammingError(t *testing.T) {
	clk := newClock()
	s := NewTestSigner()
	ks := newKeysServer(t, s.KeysJSON(clk.Now().Add(time.Hour)))
	_, err := newTestVerifier(ks, clk).Verify(context.Background(), "", s.Sign(issuer, msg(EventSave, time.Time{})))
	if err == nil || errors.Is(err, ErrInvalid) || errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Verify with empty issuer: %v, want a plain error", err)
	}
	if ks.fetches.Load() != 0 {
		t.Fatalf("fetched keys for an empty issuer")
	}
}

func TestMalformedBodyDoesNotFetchKeys(t *testing.T) {
	clk := newClock()
	s := NewTestSigner()
	ks := newKeysServer(t, s.KeysJSON(clk.Now().Add(time.Hour)))
	v := newTestVerifier(ks, clk)
	for _, body := range [][]byte{
		[]byte("{"),
		s.Sign(issuer, msg(EventSave, time.Time{}), WithProtocolVersion("ECv1")),
	} {
		if _, err := v.Verify(context.Background(), issuer, body); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Verify: %v, want ErrInvalid", err)
		}
	}
	if n := ks.fetches.Load(); n != 0 {
		t.Fatalf("keys fetched %d times for bodies rejected before any signature check", n)
	}
}

func TestLengthValueIsLittleEndian(t *testing.T) {
	got := lv("ab", "")
	want := []byte{2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0}
	if string(got) != string(want) {
		t.Fatalf("lv = %v, want %v", got, want)
	}
}

// TestRealGoogleCallback checks the wire format against a callback Google
// really sent (see testdata/README.md). Google's production root keys are not
// available offline, so the root signature is not checked; the message
// signature, made by the intermediate key the callback carries, is.
func TestRealGoogleCallback(t *testing.T) {
	body, err := os.ReadFile("testdata/real_activate_callback.json")
	if err != nil {
		t.Fatal(err)
	}
	const realIssuer = "3388000000022335801"

	env, err := parseEnvelope(body)
	if err != nil {
		t.Fatalf("parseEnvelope: %v", err)
	}
	fields, err := objectFields([]byte(env.signedKey))
	if err != nil {
		t.Fatal(err)
	}
	var keyValue string
	var keyExp millis
	if err := stringField(fields, "keyValue", &keyValue); err != nil {
		t.Fatal(err)
	}
	if err := millisField(fields, "keyExpiration", &keyExp); err != nil {
		t.Fatal(err)
	}
	if keyExp != 1723850860000 {
		t.Fatalf("keyExpiration = %d", keyExp)
	}
	intermediate, err := parseSPKI(keyValue) // keyValue is a base64 SPKI, not a raw point
	if err != nil {
		t.Fatalf("intermediate keyValue: %v", err)
	}

	beLV := func(parts ...string) []byte {
		var out []byte
		for _, p := range parts {
			out = binary.BigEndian.AppendUint32(out, uint32(len(p)))
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		signed []byte
		want   bool
	}{
		{"GooglePayPasses, little-endian", lv("GooglePayPasses", realIssuer, ProtocolVersion, env.signedMessage), true},
		{"GoogleWalletPasses", lv("GoogleWalletPasses", realIssuer, ProtocolVersion, env.signedMessage), false},
		{"big-endian lengths", beLV("GooglePayPasses", realIssuer, ProtocolVersion, env.signedMessage), false},
		{"other issuer", lv("GooglePayPasses", "3388000000022335802", ProtocolVersion, env.signedMessage), false},
	} {
		if got := verifySig(intermediate, tc.signed, env.signature); got != tc.want {
			t.Errorf("%s: message signature verifies = %v, want %v", tc.name, got, tc.want)
		}
	}

	// expTimeMillis comes as a JSON number in real traffic. This callback is an
	// "activate" event, which Verify does not accept.
	at := time.UnixMilli(1723181833549 - 1000)
	if _, err := parseMessage([]byte(env.signedMessage), realIssuer, at); !errors.Is(err, ErrInvalid) {
		t.Fatalf("parseMessage(activate): %v, want ErrInvalid", err)
	}
	f, _ := objectFields([]byte(env.signedMessage))
	var exp millis
	if err := millisField(f, "expTimeMillis", &exp); err != nil || exp != 1723181833549 {
		t.Fatalf("expTimeMillis = %d, %v", exp, err)
	}
}

func TestTestSignerKeysJSONIsTheDocumentedFormat(t *testing.T) {
	s := NewTestSigner()
	exp := time.UnixMilli(2154841200000)
	keys, err := parseRootKeys(s.KeysJSON(exp), time.UnixMilli(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !keys[0].pub.Equal(&s.Root.PublicKey) || !keys[0].expires.Equal(exp) {
		t.Fatalf("parsed %+v", keys)
	}
	if want := `"keyExpiration":"2154841200000"`; !strings.Contains(string(s.KeysJSON(exp)), want) {
		t.Fatalf("KeysJSON = %s, want keyExpiration as a string", s.KeysJSON(exp))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
