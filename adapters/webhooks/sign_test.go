package webhooks_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/webhooks"
	"github.com/passhub/passhub/adapters/webhooks/webhookstest"
)

func mustKey(t *testing.T, secret string) []byte {
	t.Helper()
	k, err := webhooks.SecretKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The vector of the Standard Webhooks reference libraries.
func TestSignMatchesTheSpecificationVector(t *testing.T) {
	key := mustKey(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	got := webhooks.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`), [][]byte{key})
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	// The test receiver's verifier accepts the vector too (and so checks
	// what the delivery tests rely on).
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if err := webhookstest.Verify([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, h, []byte(`{"test": 2432232314}`), time.Unix(1614265330, 0), webhookstest.DefaultTolerance); err != nil {
		t.Fatalf("Verify of the specification vector: %v", err)
	}
}

func TestSignOneEntryPerKeyForRotation(t *testing.T) {
	current, previous := webhooks.NewSecret(), webhooks.NewSecret()
	at := time.Now()
	body := []byte(`{"type":"pass.updated"}`)
	sig := webhooks.Sign("msg_1", at, body, [][]byte{mustKey(t, current), mustKey(t, previous)})
	entries := strings.Split(sig, " ")
	if len(entries) != 2 || !strings.HasPrefix(entries[0], "v1,") || !strings.HasPrefix(entries[1], "v1,") {
		t.Fatalf("signature header %q, want two space-separated v1 entries", sig)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", sig)
	for name, secrets := range map[string][]string{"current": {current}, "previous": {previous}} {
		if err := webhookstest.Verify(secrets, h, body, at, webhookstest.DefaultTolerance); err != nil {
			t.Errorf("a receiver holding only the %s secret: %v", name, err)
		}
	}
	if err := webhookstest.Verify([]string{webhooks.NewSecret()}, h, body, at, webhookstest.DefaultTolerance); err == nil {
		t.Error("a receiver holding another secret verified the message")
	}
	tampered := append([]byte(nil), body...)
	tampered[2] = 'T'
	if err := webhookstest.Verify([]string{current}, h, tampered, at, webhookstest.DefaultTolerance); err == nil {
		t.Error("a changed body verified")
	}
	if err := webhookstest.Verify([]string{current}, h, body, at.Add(6*time.Minute), webhookstest.DefaultTolerance); err == nil {
		t.Error("a message 6 minutes old verified with a 5-minute tolerance")
	}
}
