package httpapi

import (
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
	WorkspaceID string    `json:"workspaceId"`
	Role        core.Role `json:"role"`
	KeyID       string    `json:"keyId"`
}

func (s *Server) me(c echo.Context) error {
	k := apiKey(c)
	return c.JSON(http.StatusOK, meView{WorkspaceID: k.WorkspaceID, Role: k.Role, KeyID: k.ID})
}
