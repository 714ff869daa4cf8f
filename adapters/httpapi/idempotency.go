package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/core"
)

// Idempotency headers.
const (
	HeaderIdempotencyKey      = "Idempotency-Key"
	HeaderIdempotentReplayed  = "Idempotent-Replayed"
	maxIdempotencyKeyLen      = 255
	idempotencyPersistTimeout = 5 * time.Second
)

// idempotent makes a write carrying an Idempotency-Key happen at most once
// per workspace and key: the first answer is stored and replayed to
// retries; a different request with the same key is refused (422); a
// retry while the first is still running is refused (409); a 5xx answer
// releases the key so a retry runs again.
func (s *Server) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		key := req.Header.Get(HeaderIdempotencyKey)
		if s.cfg.Idempotency == nil || key == "" || !isWrite(req.Method) {
			return next(c)
		}
		if !validIdempotencyKey(key) {
			return badRequest(errBadIdempotencyKey, HeaderIdempotencyKey,
				fmt.Sprintf("%s must be 1 to %d printable ASCII characters", HeaderIdempotencyKey, maxIdempotencyKeyLen))
		}
		body, err := readBody(c)
		if err != nil {
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))

		ws := workspaceID(c)
		now := s.cfg.Now()
		rec := core.IdempotencyRecord{
			WorkspaceID: ws,
			Key:         key,
			Fingerprint: fingerprint(req.Method, req.URL.EscapedPath(), body),
			CreatedAt:   now,
		}
		store := s.cfg.Idempotency
		existing, ok, err := store.ReserveIdempotencyKey(req.Context(), rec, now.Add(-IdempotencyTTL), now.Add(-idempotencyStaleAfter))
		if err != nil {
			return fmt.Errorf("reserving idempotency key: %w", err)
		}
		if !ok {
			switch {
			case existing.Fingerprint != rec.Fingerprint:
				return badRequest(errIdempotencyKeyReused, HeaderIdempotencyKey,
					"this Idempotency-Key was used for a different request (method, path or body)")
			case !existing.Done:
				return badRequest(errIdempotencyInProgress, HeaderIdempotencyKey,
					"a request with this Idempotency-Key is still in progress; retry later")
			}
			h := c.Response().Header()
			h.Set(HeaderIdempotentReplayed, "true")
			if existing.ContentType != "" {
				h.Set(echo.HeaderContentType, existing.ContentType)
			}
			c.Response().WriteHeader(existing.Status)
			_, err := c.Response().Write(existing.Body)
			return err
		}

		// We hold the claim: run the request, capturing its answer. The
		// claim is settled (completed or released) whatever happens, even
		// on panic, and not with the request's context, which dies when
		// the client hangs up.
		bg, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), idempotencyPersistTimeout)
		defer cancel()
		settled := false
		defer func() {
			if !settled {
				s.releaseIdempotencyKey(bg, c, ws, key)
			}
		}()
		orig := c.Response().Writer
		capture := &captureWriter{ResponseWriter: orig}
		c.Response().Writer = capture
		if err := next(c); err != nil {
			c.Error(err) // render now: the answer is what we store
		}
		c.Response().Writer = orig

		status := c.Response().Status
		if status >= 500 {
			return nil // the deferred release lets a retry run
		}
		rec.Done = true
		rec.Status = status
		rec.ContentType = c.Response().Header().Get(echo.HeaderContentType)
		rec.Body = capture.body.Bytes()
		if err := store.CompleteIdempotencyKey(bg, rec); err != nil {
			// The answer is already sent. Keep the claim (retries get 409
			// until it goes stale) rather than release it and risk running
			// the write twice.
			s.log.Error("completing idempotency key", "request_id", requestID(c), "error", err.Error())
		}
		settled = true
		return nil
	}
}

func (s *Server) releaseIdempotencyKey(ctx context.Context, c echo.Context, ws, key string) {
	if err := s.cfg.Idempotency.ReleaseIdempotencyKey(ctx, ws, key); err != nil {
		s.log.Error("releasing idempotency key", "request_id", requestID(c), "error", err.Error())
	}
}

func validIdempotencyKey(k string) bool {
	if len(k) > maxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// fingerprint identifies a request for idempotency: method, path and the
// SHA-256 of the body.
func fingerprint(method, path string, body []byte) string {
	sum := sha256.Sum256(body)
	return method + " " + path + " " + hex.EncodeToString(sum[:])
}

// captureWriter passes the answer through and keeps a copy of the body.
type captureWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
