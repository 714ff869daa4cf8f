package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/core"
)

// listPassChanges answers GET /v1/passes?changedSince=T: the passes
// changed since T in change order, for a source system rebuilding its
// state (see core.PassChangeQuery). A pass changed during the walk comes
// again at the end with its new state.
func (s *Server) listPassChanges(c echo.Context, q core.PassQuery) error {
	since, err := timeParam(c, "changedSince")
	if err != nil {
		return err
	}
	ps, next, err := s.svc.ListPassChanges(c.Request().Context(), workspaceID(c), core.PassChangeQuery{PassQuery: q, ChangedSince: since})
	if err != nil {
		return paramError(err, "cursor", "limit")
	}
	for i := range ps {
		ps[i] = passView(ps[i])
	}
	return c.JSON(http.StatusOK, listOf(ps, next))
}

// PassView is a pass exactly as the API shows it, for exports that must
// match the API (passhub export passes).
func PassView(p core.Pass) core.Pass { return passView(p) }
