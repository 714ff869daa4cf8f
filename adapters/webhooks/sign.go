package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers of every message.
const (
	// HeaderID is the message ID: the same on every attempt and replay of
	// one message, the receiver's idempotency key.
	HeaderID = "webhook-id"
	// HeaderTimestamp is the attempt's time in Unix seconds.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature is one "v1,<signature>" per signing key, separated
	// by spaces (two during a secret rotation).
	HeaderSignature = "webhook-signature"
)

// Sign returns the webhook-signature header of a message: for each key,
// "v1," and the base64 HMAC-SHA256 of "<msgID>.<unix seconds>.<body>",
// joined by single spaces. Keys are the decoded secrets (SecretKey), the
// current one first.
func Sign(msgID string, at time.Time, body []byte, keys [][]byte) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	var b strings.Builder
	for i, key := range keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(msgID))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}
