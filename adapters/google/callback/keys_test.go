package callback

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

func mustVerify(t *testing.T, v *Verifier, body []byte) {
	t.Helper()
	if _, err := v.Verify(context.Background(), issuer, body); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func mustBeInvalid(t *testing.T, v *Verifier, body []byte) {
	t.Helper()
	_, err := v.Verify(context.Background(), issuer, body)
	if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Verify: %v, want ErrInvalid", err)
	}
}

func mustBeUnavailable(t *testing.T, v *Verifier, body []byte) {
	t.Helper()
	_, err := v.Verify(context.Background(), issuer, body)
	if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrInvalid) {
		t.Fatalf("Verify: %v, want ErrKeysUnavailable and not ErrInvalid", err)
	}
}

func wantFetches(t *testing.T, ks *keysServer, want int32) {
	t.Helper()
	if got := ks.fetches.Load(); got != want {
		t.Fatalf("keys fetched %d times, want %d", got, want)
	}
}

func TestUnknownRootIsInvalidAfterOneRefetch(t *testing.T) {
	clk := newClock()
	google, stranger := NewTestSigner(), NewTestSigner()
	ks := newKeysServer(t, google.KeysJSON(clk.Now().Add(30*24*time.Hour)))
	v := newTestVerifier(ks, clk)

	mustVerify(t, v, google.Sign(issuer, msg(EventSave, time.Time{})))
	wantFetches(t, ks, 1)

	clk.Advance(2 * time.Minute) // past MinRefresh, within max-age
	mustBeInvalid(t, v, stranger.Sign(issuer, msg(EventSave, time.Time{})))
	wantFetches(t, ks, 2) // one refetch in case Google rotated its keys

	mustBeInvalid(t, v, stranger.Sign(issuer, msg(EventSave, time.Time{})))
	clk.Advance(59 * time.Second)
	mustBeInvalid(t, v, stranger.Sign(issuer, msg(EventSave, time.Time{})))
	wantFetches(t, ks, 2) // rate-limited by MinRefresh

	clk.Advance(2 * time.Second)
	mustBeInvalid(t, v, stranger.Sign(issuer, msg(EventSave, time.Time{})))
	wantFetches(t, ks, 3)
}

func TestUnknownRootRightAfterAFetchDoesNotRefetch(t *testing.T) {
	clk := newClock()
	google, stranger := NewTestSigner(), NewTestSigner()
	ks := newKeysServer(t, google.KeysJSON(clk.Now().Add(time.Hour)))
	v := newTestVerifier(ks, clk)

	mustBeInvalid(t, v, stranger.Sign(issuer, msg(EventSave, time.Time{})))
	wantFetches(t, ks, 1) // the keys were just fetched: no point fetching again
}

func TestRootKeyRotation(t *testing.T) {
	clk := newClock()
	oldRoot, newRoot := NewTestSigner(), NewTestSigner()
	far := clk.Now().Add(30 * 24 * time.Hour)
	ks := newKeysServer(t, oldRoot.KeysJSON(far))
	v := newTestVerifier(ks, clk)

	mustVerify(t, v, oldRoot.Sign(issuer, msg(EventSave, time.Time{})))

	// Google rotates: the keys URL now serves only the new root, while our
	// cached copy is still within its max-age.
	ks.set(func(ks *keysServer) { ks.body = newRoot.KeysJSON(far) })
	clk.Advance(5 * time.Minute)
	mustVerify(t, v, newRoot.Sign(issuer, msg(EventSave, time.Time{})))
	wantFetches(t, ks, 2)
	mustVerify(t, v, newRoot.Sign(issuer, msg(EventDelete, time.Time{})))
	wantFetches(t, ks, 2)

	// The old root is gone from the refreshed keys.
	mustBeInvalid(t, v, oldRoot.Sign(issuer, msg(EventSave, time.Time{})))
}

func TestRootKeyOverlapDuringRotation(t *testing.T) {
	clk := newClock()
	a, b := NewTestSigner(), NewTestSigner()
	far := clk.Now().Add(24 * time.Hour)
	ks := newKeysServer(t, KeysDocument(
		KeyEntry(&a.Root.PublicKey, ProtocolVersion, far),
		KeyEntry(&b.Root.PublicKey, ProtocolVersion, far),
	))
	v := newTestVerifier(ks, clk)
	mustVerify(t, v, a.Sign(issuer, msg(EventSave, time.Time{})))
	mustVerify(t, v, b.Sign(issuer, msg(EventSave, time.Time{})))
	wantFetches(t, ks, 1)
}

func TestRootKeysThatMustBeIgnored(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	signer, valid := NewTestSigner(), NewTestSigner()
	validEntry := KeyEntry(&valid.Root.PublicKey, ProtocolVersion, now.Add(time.Hour))

	tests := []struct {
		name  string
		entry map[string]string // the signer's root as published
	}{
		{"expired root key", KeyEntry(&signer.Root.PublicKey, ProtocolVersion, now.Add(-time.Second))},
		{"root key expiring now", KeyEntry(&signer.Root.PublicKey, ProtocolVersion, now)},
		{"root key for ECv2", KeyEntry(&signer.Root.PublicKey, "ECv2", now.Add(time.Hour))},
		{"root key for ECv1", KeyEntry(&signer.Root.PublicKey, "ECv1", now.Add(time.Hour))},
		// Tink requires keyExpiration for every protocol but ECv1.
		{"root key without keyExpiration", KeyEntry(&signer.Root.PublicKey, ProtocolVersion, time.Time{})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Beside a usable key, the ignored key verifies nothing.
			ks := newKeysServer(t, KeysDocument(tc.entry, validEntry))
			v := newTestVerifier(ks, clk)
			mustBeInvalid(t, v, signer.Sign(issuer, msg(EventSave, time.Time{})))
			mustVerify(t, v, valid.Sign(issuer, msg(EventSave, time.Time{})))

			// Alone, it leaves no usable key: the keys are unavailable, and
			// the callback is not blamed.
			ks2 := newKeysServer(t, KeysDocument(tc.entry))
			mustBeUnavailable(t, newTestVerifier(ks2, clk), signer.Sign(issuer, msg(EventSave, time.Time{})))
		})
	}
}

func TestRootKeyExpiringWhileCached(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	a, b := NewTestSigner(), NewTestSigner()
	ks := newKeysServer(t, KeysDocument(
		KeyEntry(&a.Root.PublicKey, ProtocolVersion, now.Add(10*time.Minute)),
		KeyEntry(&b.Root.PublicKey, ProtocolVersion, now.Add(24*time.Hour)),
	))
	v := newTestVerifier(ks, clk)
	mustVerify(t, v, a.Sign(issuer, msg(EventSave, time.Time{})))

	clk.Advance(11 * time.Minute) // cache still fresh (max-age 1 h), key a expired
	mustBeInvalid(t, v, a.Sign(issuer, msg(EventSave, clk.Now().Add(time.Hour))))
	mustVerify(t, v, b.Sign(issuer, msg(EventSave, clk.Now().Add(time.Hour))))
}

func TestKeysUnavailable(t *testing.T) {
	clk := newClock()
	s := NewTestSigner()
	body := s.Sign(issuer, msg(EventSave, time.Time{}))

	t.Run("server error", func(t *testing.T) {
		ks := newKeysServer(t, []byte("oops"))
		ks.set(func(ks *keysServer) { ks.status = http.StatusServiceUnavailable })
		mustBeUnavailable(t, newTestVerifier(ks, clk), body)
	})
	t.Run("connection refused", func(t *testing.T) {
		ks := newKeysServer(t, nil)
		ks.Close()
		mustBeUnavailable(t, newTestVerifier(ks, clk), body)
	})
	t.Run("not a keys document", func(t *testing.T) {
		ks := newKeysServer(t, []byte("<html>captive portal</html>"))
		mustBeUnavailable(t, newTestVerifier(ks, clk), body)
	})
	t.Run("empty keys document", func(t *testing.T) {
		ks := newKeysServer(t, []byte(`{"keys":[]}`))
		mustBeUnavailable(t, newTestVerifier(ks, clk), body)
	})
	t.Run("caller gives up while waiting", func(t *testing.T) {
		ks := newKeysServer(t, s.KeysJSON(clk.Now().Add(time.Hour)))
		ks.set(func(ks *keysServer) { ks.delay = 200 * time.Millisecond })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_, err := newTestVerifier(ks, clk).Verify(ctx, issuer, body)
		if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrInvalid) {
			t.Fatalf("Verify: %v, want ErrKeysUnavailable wrapping the deadline", err)
		}
	})
	t.Run("failed fetch is not cached", func(t *testing.T) {
		ks := newKeysServer(t, s.KeysJSON(clk.Now().Add(time.Hour)))
		ks.set(func(ks *keysServer) { ks.status = http.StatusInternalServerError })
		v := newTestVerifier(ks, clk)
		mustBeUnavailable(t, v, body)
		ks.set(func(ks *keysServer) { ks.status = http.StatusOK })
		mustVerify(t, v, body)
	})
}

func TestStaleKeysWhenRefreshFails(t *testing.T) {
	clk := newClock()
	google, stranger := NewTestSigner(), NewTestSigner()
	ks := newKeysServer(t, google.KeysJSON(clk.Now().Add(30*24*time.Hour)))
	v := newTestVerifier(ks, clk)
	mustVerify(t, v, google.Sign(issuer, msg(EventSave, time.Time{})))

	ks.set(func(ks *keysServer) { ks.status = http.StatusBadGateway })
	clk.Advance(2 * time.Hour) // cache lifetime over; refetch fails

	// The old keys still verify a callback they signed...
	mustVerify(t, v, google.Sign(issuer, msg(EventSave, clk.Now().Add(time.Hour))))
	// ...but one they don't verify may be signed by a rotated key we could
	// not fetch: answer "try again", not "invalid".
	mustBeUnavailable(t, v, stranger.Sign(issuer, msg(EventSave, clk.Now().Add(time.Hour))))
	wantFetches(t, ks, 2) // the failed fetch is not retried before MinRefresh

	clk.Advance(2 * time.Minute)
	ks.set(func(ks *keysServer) { ks.status = http.StatusOK })
	mustVerify(t, v, google.Sign(issuer, msg(EventSave, clk.Now().Add(time.Hour))))
	wantFetches(t, ks, 3)
	mustBeInvalid(t, v, stranger.Sign(issuer, msg(EventSave, clk.Now().Add(time.Hour))))
}

func TestKeyCacheLifetime(t *testing.T) {
	tests := []struct {
		name     string
		cc       string
		header   http.Header
		lifetime time.Duration
	}{
		{name: "max-age", cc: "public, max-age=300", lifetime: 300 * time.Second},
		{name: "max-age less Age", cc: "max-age=600", header: http.Header{"Age": {"120"}}, lifetime: 480 * time.Second},
		{name: "Expires", header: http.Header{"Expires": {time.Now().Add(400 * time.Second).UTC().Format(http.TimeFormat)}}, lifetime: 400 * time.Second},
		{name: "no cache headers", lifetime: time.Hour},
		{name: "max-age below MinRefresh", cc: "max-age=5", lifetime: time.Minute},
		{name: "no-cache", cc: "no-cache", lifetime: time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			s := NewTestSigner()
			ks := newKeysServer(t, s.KeysJSON(clk.Now().Add(30*24*time.Hour)))
			ks.set(func(ks *keysServer) { ks.cacheControl, ks.header = tc.cc, tc.header })
			v := newTestVerifier(ks, clk)
			start := clk.Now()
			sign := func() []byte { return s.Sign(issuer, msg(EventSave, clk.Now().Add(time.Hour))) }

			mustVerify(t, v, sign())
			wantFetches(t, ks, 1)
			// Expires has one-second resolution: stay a second clear of the edge.
			clk.Advance(tc.lifetime - 2*time.Second)
			mustVerify(t, v, sign())
			wantFetches(t, ks, 1)
			clk.Set(start.Add(tc.lifetime + time.Second))
			mustVerify(t, v, sign())
			wantFetches(t, ks, 2)
		})
	}
}

func TestCacheTTL(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	date := now.Add(-time.Minute).Format(http.TimeFormat)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"none", http.Header{}, DefaultKeysTTL},
		{"max-age", http.Header{"Cache-Control": {"public, max-age=86400"}}, 24 * time.Hour},
		{"max-age with spaces and case", http.Header{"Cache-Control": {" Max-Age = 60 "}}, time.Minute},
		{"max-age quoted", http.Header{"Cache-Control": {`max-age="60"`}}, time.Minute},
		{"max-age less Age", http.Header{"Cache-Control": {"max-age=60"}, "Age": {"20"}}, 40 * time.Second},
		{"Age beyond max-age", http.Header{"Cache-Control": {"max-age=60"}, "Age": {"90"}}, 0},
		{"bad max-age", http.Header{"Cache-Control": {"max-age=soon"}}, 0},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, 0},
		{"max-age wins over Expires", http.Header{"Cache-Control": {"max-age=60"}, "Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, time.Minute},
		{"Expires against Date", http.Header{"Date": {date}, "Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, time.Hour + time.Minute},
		{"Expires against now", http.Header{"Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, time.Hour},
		{"Expires in the past", http.Header{"Expires": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0},
		{"bad Expires", http.Header{"Expires": {"0"}}, 0},
		{"other directives only", http.Header{"Cache-Control": {"public, must-revalidate"}}, DefaultKeysTTL},
	}
	for _, tc := range tests {
		if got := cacheTTL(tc.header, now); got != tc.want {
			t.Errorf("%s: cacheTTL = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseRootKeys(t *testing.T) {
	now := time.Now()
	s := NewTestSigner()
	spki := spkiB64(&s.Root.PublicKey)
	future := itoa(now.Add(time.Hour).UnixMilli())

	keys, err := parseRootKeys([]byte(`{"keys":[
		{"keyValue":"`+spki+`","protocolVersion":"ECv2SigningOnly","keyExpiration":`+future+`},
		{"keyValue":"not base64!","protocolVersion":"ECv2SigningOnly","keyExpiration":"`+future+`"},
		{"keyValue":"AAAA","protocolVersion":"ECv2SigningOnly","keyExpiration":"`+future+`"},
		{"keyValue":"`+spki+`","protocolVersion":"ECv2SigningOnly","keyExpiration":"never"},
		{"keyValue":"`+spki+`","protocolVersion":"ECv1"}
	]}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !keys[0].pub.Equal(&s.Root.PublicKey) {
		t.Fatalf("parsed %d keys, want the one with a numeric keyExpiration", len(keys))
	}

	for _, doc := range []string{`{"keys":[]}`, `{}`, `[]`, `{"keys":"x"}`} {
		if _, err := parseRootKeys([]byte(doc), now); err == nil {
			t.Errorf("parseRootKeys(%s) succeeded", doc)
		}
	}
}

func TestConcurrentVerifyFetchesOnce(t *testing.T) {
	clk := newClock()
	s := NewTestSigner()
	ks := newKeysServer(t, s.KeysJSON(clk.Now().Add(24*time.Hour)))
	ks.set(func(ks *keysServer) { ks.delay = 50 * time.Millisecond })
	v := newTestVerifier(ks, clk)

	const n = 32
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = s.Sign(issuer, msg(EventSave, time.Time{}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), issuer, bodies[i]); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Verify: %v", err)
	}
	wantFetches(t, ks, 1)
}

func TestConcurrentMissesRefetchOnce(t *testing.T) {
	clk := newClock()
	oldRoot, newRoot := NewTestSigner(), NewTestSigner()
	far := clk.Now().Add(24 * time.Hour)
	ks := newKeysServer(t, oldRoot.KeysJSON(far))
	v := newTestVerifier(ks, clk)
	mustVerify(t, v, oldRoot.Sign(issuer, msg(EventSave, time.Time{})))

	ks.set(func(ks *keysServer) {
		ks.body = newRoot.KeysJSON(far)
		ks.delay = 50 * time.Millisecond
	})
	clk.Advance(2 * time.Minute)

	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		body := newRoot.Sign(issuer, msg(EventSave, time.Time{}))
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), issuer, body); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Verify: %v", err)
	}
	wantFetches(t, ks, 2)
}

func TestConfig(t *testing.T) {
	c := Config{}.withDefaults()
	if c.KeysURL != DefaultKeysURL || c.SenderID != DefaultSenderID || c.MinRefresh != DefaultMinRefresh ||
		c.HTTPClient == nil || c.HTTPClient.Timeout != DefaultHTTPTimeout || c.Now == nil {
		t.Fatalf("defaults: %+v", c)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	for _, u := range []string{"pay.google.com/gp/m/issuer/keys", "ftp://x/keys", "https://", "::"} {
		if err := (Config{KeysURL: u}).Validate(); err == nil {
			t.Errorf("Validate(%q) succeeded", u)
		}
	}
}

func TestSenderIDIsConfigurable(t *testing.T) {
	clk := newClock()
	s := NewTestSigner()
	s.SenderID = "GoogleWalletPasses"
	ks := newKeysServer(t, s.KeysJSON(clk.Now().Add(time.Hour)))
	v := NewVerifier(Config{KeysURL: ks.URL, HTTPClient: ks.Client(), Now: clk.Now, SenderID: "GoogleWalletPasses"})
	mustVerify(t, v, s.Sign(issuer, msg(EventSave, time.Time{})))
	mustBeInvalid(t, newTestVerifier(ks, clk), s.Sign(issuer, msg(EventSave, time.Time{})))
}
