package callback_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/google/callback"
)

// BenchmarkVerifyCallback measures the verification of a Google Wallet
// save callback (ECv2SigningOnly: an ECDSA P-256 signature by a root key
// over the intermediate key, then one by the intermediate key over the
// message), with the root keys already fetched and cached, as they are
// between refreshes. "valid" is a callback as Google signs it;
// "bad-signature" has its signed message changed after signing, so the
// root signature verifies and the message signature does not: both
// ECDSA verifications run. The setup checks both outcomes first.
//
// Metric: verifications/s (one goroutine).
func BenchmarkVerifyCallback(b *testing.B) {
	const issuer = "3388000000000000001"
	s := callback.NewTestSigner()
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		_, _ = w.Write(s.KeysJSON(time.Now().Add(30 * 24 * time.Hour)))
	}))
	b.Cleanup(keys.Close)
	v := callback.NewVerifier(callback.Config{KeysURL: keys.URL, HTTPClient: keys.Client()})
	m := callback.Message{
		ClassID: issuer + ".loyalty-gold", ObjectID: issuer + ".pass-42", EventType: callback.EventSave,
		ExpTime: time.Now().Add(time.Hour), Nonce: "0cfe3927-7ce2-4471-bc27-c819c2910901",
	}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		body []byte
		want error
	}{
		{"valid", s.Sign(issuer, m), nil},
		{"bad-signature", s.Sign(issuer, m, callback.TamperSignedMessage()), callback.ErrInvalid},
	} {
		b.Run(c.name, func(b *testing.B) {
			check := func(got callback.Message, err error) error {
				switch {
				case c.want == nil && err != nil:
					return fmt.Errorf("valid callback rejected: %w", err)
				case c.want == nil && got.Nonce != m.Nonce:
					return fmt.Errorf("verified message %+v, want nonce %q", got, m.Nonce)
				case c.want != nil && !errors.Is(err, c.want):
					return fmt.Errorf("error %v, want %v", err, c.want)
				}
				return nil
			}
			// Also fetches the root keys, outside the timer.
			if err := check(v.Verify(ctx, issuer, c.body)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := check(v.Verify(ctx, issuer, c.body)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
		})
	}
}
