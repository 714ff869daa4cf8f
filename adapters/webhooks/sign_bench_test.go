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

// signBenchEvent is a pass.updated message body of about 1 KB, in the
// shape GET /v1/events shows an event (README, "Webhooks").
func signBenchEvent() []byte {
	return []byte(`{"id":"evt_01JQ3Z6R0YV6X1KQ2M3N4P5R6S","type":"pass.updated","occurredAt":"2026-03-14T09:26:53.123456Z",` +
		`"workspaceId":"wsp_01JQ3Z4W8C0B2D4F6H8J0K2M4N","data":{"passId":"pass_01JQ3Z6QZX8W6V4T2R0P8N6M4K",` +
		`"externalId":"115310627314723954","templateId":"tpl_01JQ3Z5A1B3C5D7E9F1G3H5J7K","platform":"apple","lifecycle":"active",` +
		`"version":7,"walletStatus":"installed","appleWalletInstalledAt":"2026-02-02T17:04:11Z","googleWalletInstalledAt":null,` +
		`"walletLastChangedAt":"2026-03-14T09:26:53.101Z","walletLastEvent":"pass.updated",` +
		`"fields":{"points":1240,"tier":"Gold","name":"Jon Smith","memberSince":"2024-05-18","nextReward":"Free coffee at 1,500 points",` +
		`"store":"Paris – Rue de la Paix","lastPurchase":"409.94 EUR","email":"jon@example.com"},` +
		`"message":"You earned 398 points with order #1234. Thank you for shopping with Acme Roasters!",` +
		`"changed":["fields.points","fields.lastPurchase","message"]}}`)
}

// BenchmarkSign measures the webhook-signature header of one message,
// as every delivery attempt computes it: "one-secret" normally, and
// "rotation" with the two entries sent while an old secret overlaps the
// new one. The setup checks the header with the test receiver's
// verifier, so the benchmark cannot measure a signer receivers refuse.
//
// Metric: signatures/s (one goroutine).
func BenchmarkSign(b *testing.B) {
	body := signBenchEvent()
	at := time.Now()
	secrets := []string{webhooks.NewSecret(), webhooks.NewSecret()}
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		k, err := webhooks.SecretKey(s)
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = k
	}
	for _, c := range []struct {
		name string
		keys [][]byte
	}{{"one-secret", keys[:1]}, {"rotation", keys}} {
		b.Run(c.name, func(b *testing.B) {
			const msgID = "msg_2mWzqfTJ7VbS4qQ8pXcN1eYd"
			sig := webhooks.Sign(msgID, at, body, c.keys)
			if n := len(strings.Fields(sig)); n != len(c.keys) {
				b.Fatalf("signature header %q has %d entries, want %d", sig, n, len(c.keys))
			}
			h := http.Header{}
			h.Set(webhooks.HeaderID, msgID)
			h.Set(webhooks.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
			h.Set(webhooks.HeaderSignature, sig)
			for _, s := range secrets[:len(c.keys)] {
				if err := webhookstest.Verify([]string{s}, h, body, at, webhookstest.DefaultTolerance); err != nil {
					b.Fatalf("a receiver holding one of the secrets refused the signature: %v", err)
				}
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				// b.Loop keeps the result alive: the call is not optimised away.
				webhooks.Sign(msgID, at, body, c.keys)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
		})
	}
}
