package sqlstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// NormWebhook is s as it reads back: times truncated, events never nil,
// an empty field map nil, sealed secrets never nil, and the disabling
// details empty while enabled.
func NormWebhook(s core.WebhookSubscription) core.WebhookSubscription {
	if s.Events == nil {
		s.Events = []string{}
	}
	if len(s.Fields) == 0 {
		s.Fields = nil
	}
	if s.SecretsSealed == nil {
		s.SecretsSealed = []byte{}
	}
	if !s.Disabled {
		s.DisabledAt, s.DisabledReason = nil, ""
	}
	s.DisabledAt = TruncTimePtr(s.DisabledAt)
	s.FailingSince = TruncTimePtr(s.FailingSince)
	s.CreatedAt = TruncTime(s.CreatedAt)
	s.UpdatedAt = TruncTime(s.UpdatedAt)
	return s
}

// EncodeWebhookEvents and EncodeWebhookFields are the JSON the events and
// fields columns hold (fields NULL when empty).
func EncodeWebhookEvents(events []string) ([]byte, error) {
	b, err := json.Marshal(events)
	if err != nil {
		return nil, fmt.Errorf("encoding webhook events: %w", err)
	}
	return b, nil
}

func EncodeWebhookFields(fields map[string]*string) ([]byte, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("encoding webhook fields: %w", err)
	}
	return b, nil
}

// DecodeWebhookColumns reads the events and fields columns into s.
func DecodeWebhookColumns(s *core.WebhookSubscription, events, fields []byte) error {
	if err := json.Unmarshal(events, &s.Events); err != nil {
		return fmt.Errorf("decoding events of webhook %s: %w", s.ID, err)
	}
	if s.Events == nil {
		s.Events = []string{}
	}
	if len(fields) > 0 {
		if err := json.Unmarshal(fields, &s.Fields); err != nil {
			return fmt.Errorf("decoding fields of webhook %s: %w", s.ID, err)
		}
	}
	if len(s.Fields) == 0 {
		s.Fields = nil
	}
	return nil
}

// NormWebhookDelivery is d as RecordWebhookAttempt stores it.
func NormWebhookDelivery(d core.WebhookDelivery, at time.Time) core.WebhookDelivery {
	if d.Status == "" {
		d.Status = core.WebhookPending
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = at
	}
	d.CreatedAt = TruncTime(d.CreatedAt)
	d.LastAttemptAt = TruncTimePtr(d.LastAttemptAt)
	d.NextAttemptAt = TruncTimePtr(d.NextAttemptAt)
	d.History = nil
	return d
}

// NormWebhookAttempt is a as it is stored: its time truncated, the body
// cut to core.MaxWebhookResponseBody bytes, text that PostgreSQL can keep
// (valid UTF-8 without NUL), latency in microseconds and headers never nil.
func NormWebhookAttempt(a core.WebhookAttempt) core.WebhookAttempt {
	a.At = TruncTime(a.At)
	if len(a.ResponseBody) > core.MaxWebhookResponseBody {
		a.ResponseBody = a.ResponseBody[:core.MaxWebhookResponseBody]
	}
	a.ResponseBody = storableText(a.ResponseBody)
	a.Error = storableText(a.Error)
	if a.RequestHeaders == nil {
		a.RequestHeaders = map[string]string{}
	}
	a.Latency = a.Latency.Truncate(time.Microsecond)
	return a
}

// storableText drops what a text column cannot hold: a response body is
// whatever the endpoint sent.
func storableText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// Delivery cursors carry the last row's creation time and ID: deliveries
// page newest first and their IDs (hashes) do not sort by time.

// WebhookDeliveryCursor is the cursor value of d.
func WebhookDeliveryCursor(d core.WebhookDelivery) string {
	return strconv.FormatInt(d.CreatedAt.UnixMicro(), 10) + ":" + d.ID
}

// DecodeWebhookDeliveryCursor returns the creation time (microseconds)
// and ID a delivery cursor holds.
func DecodeWebhookDeliveryCursor(c string) (int64, string, error) {
	s, err := DecodeCursor(c)
	if err != nil {
		return 0, "", err
	}
	ts, id, ok := strings.Cut(s, ":")
	n, perr := strconv.ParseInt(ts, 10, 64)
	if !ok || perr != nil || id == "" {
		return 0, "", core.Invalid("cursor", "is not a cursor this API returned")
	}
	return n, id, nil
}
