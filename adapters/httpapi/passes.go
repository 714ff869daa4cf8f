package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/core"
)

type createPassBody struct {
	TemplateID string         `json:"templateId"`
	ExternalID string         `json:"externalId"`
	Data       map[string]any `json:"data"`
	Lifecycle  core.Lifecycle `json:"lifecycle"`
}

// putPassBody replaces a pass found by template and external ID, which
// come from the path.
type putPassBody struct {
	Data      map[string]any `json:"data"`
	Lifecycle core.Lifecycle `json:"lifecycle"`
}

// patchPassBody changes a pass: data keys merge, a null value removes one.
type patchPassBody struct {
	Data      map[string]any `json:"data"`
	Lifecycle core.Lifecycle `json:"lifecycle"`
	Message   string         `json:"message"`
}

// passView is how a pass is answered: data is always an object, and
// times have the stores' precision, so the answer to a write equals what
// a later GET answers.
func passView(p core.Pass) core.Pass {
	if p.Data == nil {
		p.Data = map[string]any{}
	}
	p.CreatedAt, p.UpdatedAt = storedTime(p.CreatedAt), storedTime(p.UpdatedAt)
	p.AppleWalletInstalledAt = storedTimePtr(p.AppleWalletInstalledAt)
	p.GoogleWalletInstalledAt = storedTimePtr(p.GoogleWalletInstalledAt)
	p.WalletLastChangedAt = storedTimePtr(p.WalletLastChangedAt)
	return p
}

// storedTime is t at the precision the stores keep (microseconds).
func storedTime(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

func storedTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := storedTime(*t)
	return &v
}

func passLocation(p core.Pass) string { return "/v1/passes/" + p.ID }

func (s *Server) createPass(c echo.Context) error {
	var body createPassBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	p, err := s.svc.CreatePass(c.Request().Context(), workspaceID(c), core.PassInput{TemplateID: body.TemplateID, ExternalID: body.ExternalID, Data: body.Data, Lifecycle: body.Lifecycle})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, passLocation(p))
	return c.JSON(http.StatusCreated, passView(p))
}

func (s *Server) listPasses(c echo.Context) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	q := core.PassQuery{
		Page:         page,
		TemplateID:   c.QueryParam("templateId"),
		WalletStatus: core.WalletStatus(c.QueryParam("walletStatus")),
		Lifecycle:    core.Lifecycle(c.QueryParam("lifecycle")),
	}
	if q.WalletStatus != "" && !q.WalletStatus.Valid() {
		return badRequest(errBadParameter, "walletStatus", "walletStatus must be none, apple, google or both")
	}
	if q.Lifecycle != "" && !q.Lifecycle.Valid() {
		return badRequest(errBadParameter, "lifecycle", "lifecycle must be active, expired, voided or deleted")
	}
	if q.UpdatedSince, err = timeParam(c, "updatedSince"); err != nil {
		return err
	}
	if c.QueryParams().Has("changedSince") {
		return s.listPassChanges(c, q)
	}
	ps, next, err := s.svc.ListPasses(c.Request().Context(), workspaceID(c), q)
	if err != nil {
		return paramError(err, "cursor", "limit")
	}
	for i := range ps {
		ps[i] = passView(ps[i])
	}
	return c.JSON(http.StatusOK, listOf(ps, next))
}

func (s *Server) getPass(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	p, err := s.svc.Pass(c.Request().Context(), workspaceID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, passView(p))
}

func (s *Server) patchPass(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	return s.updatePass(c, id)
}

// updatePass decodes a patch body and applies it to pass id.
func (s *Server) updatePass(c echo.Context, id string) error {
	var body patchPassBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	p, err := s.svc.UpdatePass(c.Request().Context(), workspaceID(c), id, core.PassPatch{Data: body.Data, Lifecycle: body.Lifecycle, Message: body.Message})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, passView(p))
}

func (s *Server) deletePass(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	p, err := s.svc.DeletePass(c.Request().Context(), workspaceID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, passView(p))
}

// externalRef reads the template and external ID of the by-external-ID
// routes.
func externalRef(c echo.Context) (templateID, externalID string, err error) {
	if templateID, err = pathParam(c, "templateId"); err != nil {
		return "", "", err
	}
	if externalID, err = pathParam(c, "externalId"); err != nil {
		return "", "", err
	}
	return templateID, externalID, nil
}

// passByExternalID finds the pass a by-external-ID route names.
func (s *Server) passByExternalID(c echo.Context) (core.Pass, error) {
	tid, ext, err := externalRef(c)
	if err != nil {
		return core.Pass{}, err
	}
	return s.svc.PassByExternalID(c.Request().Context(), workspaceID(c), tid, ext)
}

func (s *Server) getPassByExternalID(c echo.Context) error {
	p, err := s.passByExternalID(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, passView(p))
}

// putPassByExternalID creates (201) or replaces (200) the pass of a
// template with a source system's ID.
func (s *Server) putPassByExternalID(c echo.Context) error {
	tid, ext, err := externalRef(c)
	if err != nil {
		return err
	}
	var body putPassBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	ctx, ws := c.Request().Context(), workspaceID(c)
	// The template is named by the path, so a missing one is 404, not
	// the 422 the service gives for a body field.
	if _, err := s.svc.Template(ctx, ws, tid); err != nil {
		return err
	}
	p, created, err := s.svc.PutPass(ctx, ws, core.PassInput{TemplateID: tid, ExternalID: ext, Data: body.Data, Lifecycle: body.Lifecycle})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Location", passLocation(p))
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, passLocation(p))
	}
	return c.JSON(status, passView(p))
}

func (s *Server) patchPassByExternalID(c echo.Context) error {
	p, err := s.passByExternalID(c)
	if err != nil {
		return err
	}
	return s.updatePass(c, p.ID)
}

func (s *Server) deletePassByExternalID(c echo.Context) error {
	p, err := s.passByExternalID(c)
	if err != nil {
		return err
	}
	p, err = s.svc.DeletePass(c.Request().Context(), workspaceID(c), p.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, passView(p))
}
