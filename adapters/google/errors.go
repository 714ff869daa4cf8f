package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/passhub/passhub/core"
)

// APIError is an answer Google gave with an error status, from the Wallet
// API or the OAuth token endpoint. Reach it with errors.As; whether a
// retry can help is told by errors.Is(err, core.ErrPermanent) and
// *core.RetryAfterError, which wrap it.
type APIError struct {
	Status  int
	Message string
	// Reason is Google's error reason ("quotaExceeded", "invalid",
	// "invalid_grant"...), when it sent one.
	Reason string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("google wallet: %d %s", e.Status, http.StatusText(e.Status))
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Reasons of 403 answers that are rate limits, not refusals.
var rateLimitReasons = map[string]bool{
	"rateLimitExceeded":     true,
	"userRateLimitExceeded": true,
	"quotaExceeded":         true,
}

// classify turns what the Google client returned into passhub's error
// vocabulary:
//
//   - 429, 5xx and 403 rate-limit reasons: retryable — a
//     *core.RetryAfterError when Google sent Retry-After, else the plain
//     *APIError;
//   - other 4xx (validation, not found, bad credentials): core.Permanent
//     around the *APIError;
//   - transport failures and token endpoint 5xx: retryable as they are;
//   - context cancellation: unchanged.
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		ae := &APIError{Status: gerr.Code, Message: gerr.Message}
		for _, item := range gerr.Errors {
			if item.Reason != "" {
				ae.Reason = item.Reason
				break
			}
		}
		if ae.Message == "" {
			ae.Message = strings.TrimSpace(gerr.Body)
		}
		return byStatus(ae, gerr.Header)
	}
	var rerr *oauth2.RetrieveError
	if errors.As(err, &rerr) && rerr.Response != nil {
		ae := &APIError{Status: rerr.Response.StatusCode, Reason: rerr.ErrorCode, Message: rerr.ErrorDescription}
		if ae.Reason == "" && ae.Message == "" {
			// x/oauth2/jwt does not parse the body; Google answers
			// {"error": "...", "error_description": "..."}.
			var body struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			if json.Unmarshal(rerr.Body, &body) == nil {
				ae.Reason, ae.Message = body.Error, body.ErrorDescription
			} else {
				ae.Message = strings.TrimSpace(string(rerr.Body))
			}
		}
		return fmt.Errorf("fetching OAuth token: %w", byStatus(ae, rerr.Response.Header))
	}
	return err
}

func byStatus(ae *APIError, h http.Header) error {
	retryable := ae.Status == http.StatusTooManyRequests || ae.Status >= 500 ||
		ae.Status == http.StatusForbidden && rateLimitReasons[ae.Reason]
	if !retryable {
		return core.Permanent(ae)
	}
	if d, ok := retryAfter(h, time.Now()); ok {
		return &core.RetryAfterError{After: d, Err: ae}
	}
	return ae
}

// retryAfter reads Retry-After: delay-seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// isStatus reports whether err is Google's answer with status code.
func isStatus(err error, code int) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == code
}

// isNotifyQuota reports whether err is Google refusing a TEXT_AND_NOTIFY
// message because the pass had its notifications for the day (3 per 24 h).
// Google answers 403 with reason "quotaExceeded" and a message such as
// "Quota exceeded for issuer … when adding TEXT_AND_NOTIFY message to …".
func isNotifyQuota(err error) bool {
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != http.StatusForbidden && gerr.Code != http.StatusTooManyRequests {
		return false
	}
	for _, item := range gerr.Errors {
		if item.Reason == "quotaExceeded" {
			return true
		}
	}
	return strings.Contains(gerr.Message, "TEXT_AND_NOTIFY")
}
