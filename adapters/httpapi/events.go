package httpapi

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/core"
)

// listEvents pages the workspace's events, newest first.
func (s *Server) listEvents(c echo.Context) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	q := core.EventQuery{Page: page, Type: core.EventType(c.QueryParam("type"))}
	if q.Type != "" && !q.Type.Valid() {
		return badRequest(errBadParameter, "type", "type is not an event type")
	}
	if q.Since, err = timeParam(c, "since"); err != nil {
		return err
	}
	evs, next, err := s.svc.ListEvents(c.Request().Context(), workspaceID(c), q)
	if err != nil {
		return paramError(err, "cursor", "limit")
	}
	return c.JSON(http.StatusOK, listOf(evs, next))
}

// meView tells a client which workspace and role its key has.
type meView struct {
	WorkspaceID   string    `json:"workspaceId"`
	WorkspaceName string    `json:"workspaceName"`
	Role          core.Role `json:"role"`
	KeyID         string    `json:"keyId"`
}

// me is also what Zapier and Make call to test a connection, so it stays
// one cheap lookup.
func (s *Server) me(c echo.Context) error {
	k := apiKey(c)
	ws, err := s.cfg.Service.Workspace(c.Request().Context(), k.WorkspaceID)
	if err != nil {
		return fmt.Errorf("loading workspace: %w", err)
	}
	return c.JSON(http.StatusOK, meView{WorkspaceID: k.WorkspaceID, WorkspaceName: ws.Name, Role: k.Role, KeyID: k.ID})
}
