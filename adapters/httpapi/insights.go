package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/core"
)

// installInsights answers GET /v1/insights/installs: per UTC hour or day,
// installs and uninstalls per platform and the installs active at the
// bucket's end, counted from the wallet events.
func (s *Server) installInsights(c echo.Context) error {
	q := core.InstallsQuery{Interval: core.Interval(c.QueryParam("interval")), TemplateID: c.QueryParam("templateId")}
	if q.Interval == "" {
		q.Interval = core.IntervalDay
	}
	if !q.Interval.Valid() {
		return badRequest(errBadParameter, "interval", "interval must be hour or day")
	}
	var err error
	if q.From, err = timeParam(c, "from"); err != nil {
		return err
	}
	if q.To, err = timeParam(c, "to"); err != nil {
		return err
	}
	out, err := s.svc.InstallInsights(c.Request().Context(), workspaceID(c), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
