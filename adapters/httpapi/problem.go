package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/core"
)

// ContentTypeProblem is the media type of every error answer (RFC 9457).
const ContentTypeProblem = "application/problem+json"

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Field names the offending input: a JSON path into the body
	// ("fields.primary[0].key") or a query parameter or header name.
	Field  string         `json:"field,omitempty"`
	Errors []ProblemError `json:"errors,omitempty"`
}

// ProblemError is one offending field.
type ProblemError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Faults of the request itself, as opposed to domain errors from core.
// problemFor turns each into a status; code that detects one only says
// which it is.
var (
	errMalformedJSON         = errors.New("malformed JSON")
	errUnknownField          = errors.New("unknown field")
	errReadOnlyField         = errors.New("read-only field")
	errWrongType             = errors.New("wrong JSON type")
	errBadParameter          = errors.New("invalid parameter")
	errBodyTooLarge          = errors.New("request body too large")
	errUnsupportedMediaType  = errors.New("unsupported media type")
	errBadIdempotencyKey     = errors.New("invalid idempotency key")
	errIdempotencyKeyReused  = errors.New("idempotency key reused")
	errIdempotencyInProgress = errors.New("idempotency key in progress")
	errNotReady              = errors.New("not ready")
)

// requestError is a request fault of some kind (one of the errors above)
// naming the field it concerns.
type requestError struct {
	kind   error
	field  string
	detail string
}

func (e *requestError) Error() string {
	if e.field == "" {
		return e.detail
	}
	return e.field + ": " + e.detail
}
func (e *requestError) Unwrap() error { return e.kind }

func badRequest(kind error, field, detail string) error {
	return &requestError{kind: kind, field: field, detail: detail}
}

// problemFor is the one place that decides the HTTP answer to an error.
// Anything it does not recognise is a 500 whose detail says nothing about
// the cause.
func problemFor(err error) Problem {
	var (
		re   *requestError
		fe   *core.FieldError
		ce   *core.ConflictError
		he   *echo.HTTPError
		mbe  *http.MaxBytesError
		gae  *google.APIError
		code int
		typ  string
	)
	p := Problem{Detail: err.Error()}
	switch {
	case errors.As(err, &mbe):
		code, typ, p.Detail = http.StatusRequestEntityTooLarge, "body-too-large", "the request body is larger than the server accepts"
	case errors.Is(err, errPassAuth):
		code, typ, p.Detail = http.StatusUnauthorized, "unauthorized", "a valid Authorization: ApplePass <authenticationToken> for this pass is required"
	case errors.As(err, &gae):
		code, typ, p.Detail = http.StatusBadGateway, "upstream-error", fmt.Sprintf("Google Wallet answered %d: %s", gae.Status, gae.Message)
	case errors.Is(err, errHookAuth):
		code, typ, p.Detail = http.StatusUnauthorized, "unauthorized", "the delivery's signature or timestamp does not verify with this connector's secrets"
	case errors.Is(err, errCallbackAuth):
		code, typ, p.Detail = http.StatusUnauthorized, "unauthorized", "the callback's signature does not verify for an issuer this server serves"
	case errors.Is(err, errKeysUnavailable):
		code, typ, p.Detail = http.StatusServiceUnavailable, "keys-unavailable", "Google's signing keys could not be fetched; retry later"
	case errors.Is(err, errGone):
		code, typ, p.Detail = http.StatusGone, "gone", "no longer available: the link was revoked or the pass deleted"
	case errors.As(err, &re):
		p.Field, p.Detail = re.field, re.detail
		switch re.kind {
		case errMalformedJSON:
			code, typ = http.StatusBadRequest, "malformed-json"
		case errUnknownField:
			code, typ = http.StatusBadRequest, "unknown-field"
		case errReadOnlyField:
			code, typ = http.StatusBadRequest, "read-only-field"
		case errWrongType:
			code, typ = http.StatusBadRequest, "wrong-type"
		case errBadParameter:
			code, typ = http.StatusBadRequest, "invalid-parameter"
		case errBodyTooLarge:
			code, typ = http.StatusRequestEntityTooLarge, "body-too-large"
		case errBadIdempotencyKey:
			code, typ = http.StatusBadRequest, "invalid-idempotency-key"
		case errUnsupportedMediaType:
			code, typ = http.StatusUnsupportedMediaType, "unsupported-media-type"
		case errIdempotencyKeyReused:
			code, typ = http.StatusUnprocessableEntity, "idempotency-key-reused"
		case errIdempotencyInProgress:
			code, typ = http.StatusConflict, "idempotency-key-in-progress"
		case errNotReady:
			code, typ = http.StatusServiceUnavailable, "not-ready"
		default:
			code, typ = http.StatusBadRequest, "bad-request"
		}
	case errors.As(err, &fe):
		code, typ = http.StatusUnprocessableEntity, "validation-failed"
		p.Field, p.Detail = fe.Field, fe.Field+" "+fe.Reason
	case errors.Is(err, core.ErrInvalid):
		code, typ = http.StatusUnprocessableEntity, "validation-failed"
	case errors.As(err, &ce):
		code, typ = http.StatusConflict, "conflict"
		p.Field, p.Detail = ce.Field, ce.Reason
		if ce.Field != "" {
			p.Detail = ce.Field + ": " + ce.Reason
		}
	case errors.Is(err, core.ErrConflict):
		code, typ = http.StatusConflict, "conflict"
	case errors.Is(err, core.ErrNotFound):
		code, typ, p.Detail = http.StatusNotFound, "not-found", "no such resource in this workspace"
	case errors.Is(err, core.ErrUnauthorized):
		code, typ, p.Detail = http.StatusUnauthorized, "unauthorized", "a valid API key is required: Authorization: Bearer <key>"
	case errors.Is(err, core.ErrForbidden):
		code, typ, p.Detail = http.StatusForbidden, "forbidden", "this API key's role may not do this"
	case errors.As(err, &he) && he.Code == http.StatusNotFound:
		code, typ, p.Detail = http.StatusNotFound, "route-not-found", "no such route"
	case errors.As(err, &he) && he.Code == http.StatusMethodNotAllowed:
		code, typ, p.Detail = http.StatusMethodNotAllowed, "method-not-allowed", "the route does not support this method"
	case errors.As(err, &he) && he.Code < 500:
		code, typ, p.Detail = he.Code, "http-error", http.StatusText(he.Code)
	case errors.Is(err, context.DeadlineExceeded):
		code, typ, p.Detail = http.StatusServiceUnavailable, "timeout", "the request took too long; retry later"
	default:
		code, typ, p.Detail = http.StatusInternalServerError, "internal", "an internal error occurred; it has been logged with the request ID"
	}
	p.Status, p.Type, p.Title = code, problemTypePrefix+typ, http.StatusText(code)
	if p.Field != "" {
		p.Errors = []ProblemError{{Field: p.Field, Detail: p.Detail}}
	}
	return p
}

// problemTypePrefix makes problem types absolute URIs without pretending
// they can be fetched; the OpenAPI document lists them.
const problemTypePrefix = "urn:passhub:problem:"

// handleError is echo's error handler: every error a handler or middleware
// returns becomes a problem document here.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		s.log.LogAttrs(c.Request().Context(), slog.LevelWarn, "error after response started",
			slog.String("request_id", requestID(c)), slog.String("error", err.Error()))
		return
	}
	p := problemFor(err)
	if p.Status >= 500 {
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(c)), slog.String("route", routeOf(c)), slog.String("error", err.Error()))
	}
	if p.Status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="passhub"`)
	}
	writeProblem(c, p)
}

func writeProblem(c echo.Context, p Problem) {
	b, err := json.Marshal(p)
	if err != nil { // cannot happen: Problem is plain data
		b = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"encoding problem"}`)
	}
	c.Response().Header().Set(echo.HeaderContentType, ContentTypeProblem)
	c.Response().WriteHeader(p.Status)
	_, _ = c.Response().Write(b)
}
