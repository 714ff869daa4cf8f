package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/connectors"
	"github.com/passhub/passhub/connectors/verify"
	"github.com/passhub/passhub/core"
	"github.com/passhub/passhub/mappings"
)

// ConnectorsConfig is the inbound side: connectors, their hook URLs,
// triggers and mapping files.
type ConnectorsConfig struct {
	Intake *connectors.Intake
	Store  ConnectorsStore
}

// ConnectorsStore is what the connector routes read and write directly.
type ConnectorsStore interface {
	Trigger(ctx context.Context, workspaceID, id string) (core.Trigger, error)
	ListTriggers(ctx context.Context, workspaceID string, q core.TriggerQuery) ([]core.Trigger, string, error)
	ReplayTrigger(ctx context.Context, workspaceID, id, replay string, at time.Time) (core.Trigger, error)
	PutMapping(ctx context.Context, workspaceID, name, source string, at time.Time) (core.MappingFile, error)
	Mapping(ctx context.Context, workspaceID, name string) (core.MappingFile, error)
	ListMappings(ctx context.Context, workspaceID string) ([]core.MappingFile, error)
	ListTemplates(ctx context.Context, workspaceID string, page core.Page) ([]core.Template, string, error)
}

func (cfg *ConnectorsConfig) validate() error {
	if cfg.Intake == nil || cfg.Store == nil {
		return errors.New("Connectors needs Intake and Store")
	}
	return nil
}

// errHookAuth is a delivery whose signature (or timestamp) does not verify.
var errHookAuth = errors.New("webhook signature not verified")

// errHookKey is a verified delivery the connector's topicExpr or
// dedupeExpr cannot make a key of (a 400 naming the config field).
var errHookKey = errors.New("no topic or dedupe key")

func (s *Server) connectorRoutes(api, limited func(method, path string, h echo.HandlerFunc) route) []route {
	if s.cfg.Connectors == nil {
		return nil
	}
	return []route{
		api(http.MethodPost, "/v1/connectors", s.createConnector),
		api(http.MethodGet, "/v1/connectors", s.listConnectors),
		api(http.MethodGet, "/v1/connectors/{id}", s.getConnector),
		api(http.MethodPatch, "/v1/connectors/{id}", s.patchConnector),
		api(http.MethodDelete, "/v1/connectors/{id}", s.deleteConnector),
		api(http.MethodGet, "/v1/triggers", s.listTriggers),
		api(http.MethodGet, "/v1/triggers/{id}", s.getTrigger),
		api(http.MethodPost, "/v1/triggers/{id}/replay", s.replayTrigger),
		api(http.MethodPut, "/v1/mappings/{name}", s.putMapping),
		api(http.MethodGet, "/v1/mappings", s.listMappings),
		api(http.MethodGet, "/v1/mappings/{name}", s.getMapping),
		limited(http.MethodPost, "/hooks/{id}", s.receiveHook),
	}
}

// connectorView is a connector with its hook URL; secrets never appear.
type connectorView struct {
	core.Connector
	URL string `json:"url"`
}

func (s *Server) connectorView(c core.Connector) connectorView {
	return connectorView{Connector: c, URL: s.cfg.Connectors.Intake.URL(c)}
}

func (s *Server) createConnector(c echo.Context) error {
	var in connectors.Input
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	con, err := s.cfg.Connectors.Intake.Create(c.Request().Context(), workspaceID(c), in)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/connectors/"+con.ID)
	return c.JSON(http.StatusCreated, s.connectorView(con))
}

func (s *Server) listConnectors(c echo.Context) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	cs, next, err := s.cfg.Connectors.Intake.List(c.Request().Context(), workspaceID(c), page)
	if err != nil {
		return paramError(err, "cursor", "limit")
	}
	out := make([]connectorView, 0, len(cs))
	for _, con := range cs {
		out = append(out, s.connectorView(con))
	}
	return c.JSON(http.StatusOK, listOf(out, next))
}

func (s *Server) getConnector(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	con, err := s.cfg.Connectors.Intake.Get(c.Request().Context(), workspaceID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.connectorView(con))
}

// patchConnector replaces the settings given; name and mapping default to
// the current ones, and absent secrets keep the stored secrets.
func (s *Server) patchConnector(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cur, err := s.cfg.Connectors.Intake.Get(ctx, workspaceID(c), id)
	if err != nil {
		return err
	}
	in := connectors.Input{Name: cur.Name, Kind: cur.Kind, Mapping: cur.Mapping}
	if len(cur.Config) > 0 {
		if err := json.Unmarshal(cur.Config, &in.Config); err != nil {
			return fmt.Errorf("decoding connector config: %w", err)
		}
	}
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	if in.Kind != cur.Kind {
		return core.Invalid("kind", "cannot be changed; create another connector")
	}
	con, err := s.cfg.Connectors.Intake.Update(ctx, workspaceID(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.connectorView(con))
}

func (s *Server) deleteConnector(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Connectors.Intake.Delete(c.Request().Context(), workspaceID(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// receiveHook takes a delivery from a source system. The triggers are
// durable before the 2xx; mapping runs later on a worker, so the answer
// comes well inside Shopify's 5 s.
func (s *Server) receiveHook(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	r, err := s.cfg.Connectors.Intake.Receive(c.Request().Context(), id, c.Request().Method, c.Request().Header, body)
	var ke *connectors.KeyError
	switch {
	case errors.As(err, &ke):
		return badRequest(errHookKey, ke.Field, ke.Error())
	case errors.Is(err, verify.ErrSignature), errors.Is(err, verify.ErrStale):
		s.log.Warn("webhook refused", "connectorId", id, "err", err)
		return fmt.Errorf("%w: %w", errHookAuth, err)
	case errors.Is(err, verify.ErrMalformed):
		return badRequest(errMalformedJSON, "", err.Error())
	case err != nil:
		return err
	}
	// A trigger's job is written pending: an in-process relay hands it to
	// the queue now rather than at its next poll.
	if r.Queued > 0 {
		s.cfg.OnCommit()
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) listTriggers(c echo.Context) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	q := core.TriggerQuery{Page: page, ConnectorID: c.QueryParam("connectorId"), Status: core.TriggerStatus(c.QueryParam("status")), Topic: c.QueryParam("topic")}
	switch q.Status {
	case "", core.TriggerReceived, core.TriggerApplied, core.TriggerSkipped, core.TriggerFailed:
	default:
		return badRequest(errBadParameter, "status", "status must be received, applied, skipped or failed")
	}
	if q.Since, err = timeParam(c, "since"); err != nil {
		return err
	}
	ts, next, err := s.cfg.Connectors.Store.ListTriggers(c.Request().Context(), workspaceID(c), q)
	if err != nil {
		return paramError(err, "cursor", "limit")
	}
	return c.JSON(http.StatusOK, listOf(ts, next))
}

func (s *Server) getTrigger(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	t, err := s.cfg.Connectors.Store.Trigger(c.Request().Context(), workspaceID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

// replayTrigger maps a stored trigger again (after fixing its mapping).
func (s *Server) replayTrigger(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	t, err := s.cfg.Connectors.Store.ReplayTrigger(c.Request().Context(), workspaceID(c), id, core.NewID("replay"), storedTime(s.cfg.Now()))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, t)
}

type mappingBody struct {
	Source string `json:"source"`
}

var mappingNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// putMapping validates a mapping file against the workspace's templates
// and stores it as the next version; an invalid file replaces nothing.
func (s *Server) putMapping(c echo.Context) error {
	name, err := pathParam(c, "name")
	if err != nil {
		return err
	}
	if !mappingNameRE.MatchString(name) {
		return badRequest(errBadParameter, "name", "name must be 1 to 64 of a-z, 0-9, '.', '_', '-'")
	}
	var body mappingBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	ctx := c.Request().Context()
	resolve, err := connectors.TemplateResolver(ctx, s.cfg.Connectors.Store, workspaceID(c))
	if err != nil {
		return err
	}
	if _, err := mappings.Load(name+".yaml", []byte(body.Source), resolve); err != nil {
		var le *mappings.LoadError
		if errors.As(err, &le) && len(le.Problems) > 0 {
			return core.Invalid("source", "%s", le.Error())
		}
		return core.Invalid("source", "%v", err)
	}
	mf, err := s.cfg.Connectors.Store.PutMapping(ctx, workspaceID(c), name, body.Source, storedTime(s.cfg.Now()))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, mf)
}

func (s *Server) listMappings(c echo.Context) error {
	ms, err := s.cfg.Connectors.Store.ListMappings(c.Request().Context(), workspaceID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf(ms, ""))
}

func (s *Server) getMapping(c echo.Context) error {
	name, err := pathParam(c, "name")
	if err != nil {
		return err
	}
	mf, err := s.cfg.Connectors.Store.Mapping(c.Request().Context(), workspaceID(c), name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, mf)
}
