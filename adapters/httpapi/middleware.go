package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/core"
)

// Keys of values the middleware leaves in the echo context.
const (
	ctxRequestID = "httpapi.requestID"
	ctxRoute     = "httpapi.route"
	ctxAPIKey    = "httpapi.apiKey"
)

// unmatchedRoute labels requests no route matched (404, 405), so that
// scanners cannot blow up metric cardinality with made-up paths.
const unmatchedRoute = "unmatched"

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

func routeOf(c echo.Context) string {
	if r, ok := c.Get(ctxRoute).(string); ok {
		return r
	}
	return unmatchedRoute
}

// apiKey is the key authenticate resolved; handlers behind it always have one.
func apiKey(c echo.Context) core.APIKey {
	k, _ := c.Get(ctxAPIKey).(core.APIKey)
	return k
}

func workspaceID(c echo.Context) string { return apiKey(c).WorkspaceID }

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// escapedPaths makes the router always see the escaped path, so that path
// parameters are uniformly escaped and pathParam can unescape them: an
// external ID may hold '/', '%' or spaces.
func escapedPaths(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		u.RawPath = u.EscapedPath()
		return next(c)
	}
}

// pathParam is a path parameter, unescaped.
func pathParam(c echo.Context, name string) (string, error) {
	v, err := url.PathUnescape(c.Param(name))
	if err != nil {
		return "", badRequest(errBadParameter, name, name+" is not a valid path segment")
	}
	return v, nil
}

// labelRoute records which route matched, for logs and metrics.
func labelRoute(path string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(ctxRoute, path)
			return next(c)
		}
	}
}

var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// observe gives the request an ID, renders any error into the answer so
// the final status is known, then logs one line and records metrics.
// Never logged: headers (Authorization), the path (external IDs may be
// personal data), bodies.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		id := req.Header.Get(echo.HeaderXRequestID)
		if !saneRequestID.MatchString(id) {
			id = core.RandomToken(12)
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)

		if err := next(c); err != nil {
			c.Error(err)
		}

		status, route, latency := c.Response().Status, routeOf(c), time.Since(start)
		s.metrics.observe(req.Method, route, status, latency)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{
			slog.String("request_id", id),
			slog.String("method", req.Method),
			slog.String("route", route),
			slog.Int("status", status),
			// Milliseconds as a number: what log queries want (slog.Duration is ns).
			slog.Float64("latency_ms", float64(latency.Microseconds())/1000),
		}
		if ws := workspaceID(c); ws != "" {
			attrs = append(attrs, slog.String("workspace_id", ws))
		}
		s.log.LogAttrs(req.Context(), level, "http request", attrs...)
		return nil
	}
}

// recoverPanics turns a panic into a 500 so one bad request cannot take
// the process down.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic serving request", "request_id", requestID(c), "route", routeOf(c),
					"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// limitBody refuses bodies over MaxBytesBody: by Content-Length at once,
// and by a limited reader for chunked bodies.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > s.cfg.MaxBodyBytes {
			return badRequest(errBodyTooLarge, "", fmt.Sprintf("the request body is larger than %d bytes", s.cfg.MaxBodyBytes))
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, s.cfg.MaxBodyBytes)
		return next(c)
	}
}

// authenticate resolves the bearer API key and refuses writes to viewers.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secret, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			return core.ErrUnauthorized
		}
		key, err := s.svc.Authenticate(c.Request().Context(), secret)
		if err != nil {
			if errors.Is(err, core.ErrUnauthorized) {
				return err
			}
			return fmt.Errorf("authenticating: %w", err)
		}
		c.Set(ctxAPIKey, key)
		if isWrite(c.Request().Method) && !key.Role.CanWrite() {
			return core.ErrForbidden
		}
		return next(c)
	}
}

func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// requireJSON refuses bodies that do not say they are JSON. A POST with
// no body at all (an action such as "push" or "create a share link")
// needs no Content-Type.
func (s *Server) requireJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method == http.MethodPost && req.ContentLength == 0 && len(req.TransferEncoding) == 0 {
			return next(c)
		}
		switch req.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			if ct := c.Request().Header.Get(echo.HeaderContentType); !isJSONMediaType(ct) {
				return badRequest(errUnsupportedMediaType, "Content-Type",
					fmt.Sprintf("Content-Type must be application/json (or a +json type), not %q", ct))
			}
		}
		return next(c)
	}
}

// notifyCommit calls OnCommit after a successful write, so an in-process
// relay wakes up now rather than at its next poll.
func (s *Server) notifyCommit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil && isWrite(c.Request().Method) && c.Response().Status < 300 {
			s.cfg.OnCommit()
		}
		return err
	}
}
