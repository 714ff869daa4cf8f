// Package httpapi is passhub's REST API v1 (echo): templates, passes and
// events of the workspace an API key belongs to, plus health, readiness,
// metrics and the OpenAPI document.
//
// Choices worth knowing:
//   - DELETE /v1/passes/{id} (and by external ID) answers 200 with the pass,
//     lifecycle "deleted": a deleted pass stays readable and deleting it
//     again answers the same. DELETE /v1/templates/{id} answers 204.
//   - Errors the JSON decoder finds (syntax, unknown or read-only field,
//     wrong type) are 400; domain validation (a missing or bad value) is
//     422. Both name the field.
//   - Query parameter problems are 400 naming the parameter.
//   - An idempotent replay carries the first answer's status, Content-Type
//     and body; other headers (Location) are not replayed.
package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/passhub/passhub/adapters/httpapi/openapi"
	"github.com/passhub/passhub/core"
)

// Route is one registered method and path. Path is the OpenAPI path
// template ("/v1/passes/{id}"), also the route label of metrics and logs.
type Route struct {
	Method string
	Path   string
}

// route is a Route with its handler. api routes are under /v1:
// authenticated, role-checked, body-limited and idempotent on writes.
type route struct {
	Route
	api bool
	// limited routes get only the body limit (the PassKit web service:
	// devices authenticate per pass, not with API keys).
	limited bool
	handler echo.HandlerFunc
}

// Server is the REST API.
type Server struct {
	cfg     Config
	svc     *core.Service
	log     *slog.Logger
	echo    *echo.Echo
	metrics *metrics
	openapi []byte
	routes  []Route
}

// New builds the API from cfg (defaults applied, then validated).
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating httpapi config: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	doc, err := openapiDocument(cfg.Version)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{cfg: cfg, svc: cfg.Service, log: cfg.Logger, echo: e, metrics: m, openapi: doc}
	e.HTTPErrorHandler = s.handleError
	e.Pre(escapedPaths)
	e.Use(s.observe, s.recoverPanics)
	apiMiddleware := []echo.MiddlewareFunc{s.limitBody, s.authenticate, s.requireJSON, s.idempotent, s.notifyCommit}
	for _, r := range s.table() {
		mw := []echo.MiddlewareFunc{labelRoute(r.Path)}
		switch {
		case r.api:
			mw = append(mw, apiMiddleware...)
		case r.limited:
			mw = append(mw, s.limitBody)
		}
		e.Add(r.Method, echoPath(r.Path), r.handler, mw...)
		s.routes = append(s.routes, r.Route)
	}
	return s, nil
}

// Handler is the API as an http.Handler (the echo instance).
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists every registered route.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// table is the route table: every public path of the API.
func (s *Server) table() []route {
	api := func(method, path string, h echo.HandlerFunc) route {
		return route{Route: Route{method, path}, api: true, handler: h}
	}
	open := func(method, path string, h echo.HandlerFunc) route {
		return route{Route: Route{method, path}, handler: h}
	}
	passkit := func(method, path string, h echo.HandlerFunc) route {
		return route{Route: Route{method, path}, limited: true, handler: h}
	}
	routes := []route{
		open(http.MethodGet, "/healthz", s.healthz),
		open(http.MethodGet, "/readyz", s.readyz),
		open(http.MethodGet, "/metrics", echo.WrapHandler(promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))),
		open(http.MethodGet, "/openapi.json", s.openapiJSON),

		api(http.MethodGet, "/v1/me", s.me),

		api(http.MethodPost, "/v1/templates", s.createTemplate),
		api(http.MethodGet, "/v1/templates", s.listTemplates),
		api(http.MethodGet, "/v1/templates/{id}", s.getTemplate),
		api(http.MethodPatch, "/v1/templates/{id}", s.patchTemplate),
		api(http.MethodDelete, "/v1/templates/{id}", s.deleteTemplate),

		api(http.MethodPost, "/v1/passes", s.createPass),
		api(http.MethodGet, "/v1/passes", s.listPasses),
		api(http.MethodGet, "/v1/passes/{id}", s.getPass),
		api(http.MethodPatch, "/v1/passes/{id}", s.patchPass),
		api(http.MethodDelete, "/v1/passes/{id}", s.deletePass),

		api(http.MethodGet, "/v1/templates/{templateId}/passes/{externalId}", s.getPassByExternalID),
		api(http.MethodPut, "/v1/templates/{templateId}/passes/{externalId}", s.putPassByExternalID),
		api(http.MethodPatch, "/v1/templates/{templateId}/passes/{externalId}", s.patchPassByExternalID),
		api(http.MethodDelete, "/v1/templates/{templateId}/passes/{externalId}", s.deletePassByExternalID),

		api(http.MethodGet, "/v1/events", s.listEvents),
		api(http.MethodGet, "/v1/insights/installs", s.installInsights),
	}
	routes = append(routes, s.appleRoutes(api, open, passkit)...)
	routes = append(routes, s.googleRoutes(api, open, passkit)...)
	routes = append(routes, s.webhookRoutes(api)...)
	return append(routes, s.connectorRoutes(api, passkit)...)
}

// echoPath turns "/v1/passes/{id}" into echo's "/v1/passes/:id".
func echoPath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
			parts[i] = ":" + part[1:len(part)-1]
		}
	}
	return strings.Join(parts, "/")
}

// openapiDocument is the embedded document with info.version set; parsing
// it here also guarantees the served document is valid JSON.
func openapiDocument(version string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		return nil, fmt.Errorf("parsing embedded OpenAPI document: %w", err)
	}
	if info, ok := doc["info"].(map[string]any); ok {
		info["version"] = version
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding OpenAPI document: %w", err)
	}
	return b, nil
}

func (s *Server) openapiJSON(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", s.openapi)
}
