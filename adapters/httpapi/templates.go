package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/core"
)

// templateBody is the writable part of a template: what POST accepts and
// what a PATCH may change. Identity, version and timestamps are the
// server's.
type templateBody struct {
	Name             string            `json:"name"`
	Style            core.Style        `json:"style"`
	Description      string            `json:"description"`
	OrganizationName string            `json:"organizationName"`
	LogoText         string            `json:"logoText"`
	Colors           core.Colors       `json:"colors"`
	Fields           core.FieldLayout  `json:"fields"`
	Barcode          *core.Barcode     `json:"barcode"`
	Images           map[string]string `json:"images"`
	Locations        []core.Location   `json:"locations"`
	TransitType      string            `json:"transitType"`
	GoogleClass      string            `json:"googleClass"`
}

func (b templateBody) applyTo(t *core.Template) {
	t.Name, t.Style, t.Description, t.OrganizationName = b.Name, b.Style, b.Description, b.OrganizationName
	t.LogoText, t.Colors, t.Fields, t.Barcode = b.LogoText, b.Colors, b.Fields, b.Barcode
	t.Images, t.Locations, t.TransitType, t.GoogleClass = b.Images, b.Locations, b.TransitType, b.GoogleClass
}

func (s *Server) createTemplate(c echo.Context) error {
	var body templateBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	var t core.Template
	body.applyTo(&t)
	t, err := s.svc.CreateTemplate(c.Request().Context(), workspaceID(c), t)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/templates/"+t.ID)
	return c.JSON(http.StatusCreated, templateView(t))
}

func (s *Server) listTemplates(c echo.Context) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	ts, next, err := s.svc.ListTemplates(c.Request().Context(), workspaceID(c), page)
	if err != nil {
		return paramError(err, "cursor", "limit")
	}
	for i := range ts {
		ts[i] = templateView(ts[i])
	}
	return c.JSON(http.StatusOK, listOf(ts, next))
}

func (s *Server) getTemplate(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	t, err := s.svc.Template(c.Request().Context(), workspaceID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, templateView(t))
}

// patchTemplate applies a JSON Merge Patch to the template's JSON document
// and decodes the result as strictly as a POST, inside the store's update
// so concurrent patches do not lose each other's changes.
func (s *Server) patchTemplate(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	var patch any
	if err := decodeStrict(raw, &patch); err != nil {
		return err
	}
	obj, ok := patch.(map[string]any)
	if !ok {
		return badRequest(errWrongType, "", "the merge patch must be a JSON object")
	}
	for k := range obj {
		if readOnlyFields[k] {
			return badRequest(errReadOnlyField, k, k+" is read-only")
		}
	}
	t, err := s.svc.UpdateTemplate(c.Request().Context(), workspaceID(c), id, func(t *core.Template) error {
		cur, err := toJSONObject(t)
		if err != nil {
			return err
		}
		merged := mergePatch(cur, obj).(map[string]any)
		for k := range readOnlyFields {
			delete(merged, k)
		}
		b, err := json.Marshal(merged)
		if err != nil {
			return fmt.Errorf("encoding patched template: %w", err)
		}
		var body templateBody
		if err := decodeStrict(b, &body); err != nil {
			return err
		}
		body.applyTo(t)
		return nil
	})
	if err != nil {
		return err
	}
	s.templateChanged(c.Request().Context(), t)
	return c.JSON(http.StatusOK, templateView(t))
}

// templateChanged has the Google class rewritten now rather than at the
// next change of one of the template's passes. That later sync rewrites
// it anyway, so a failure here only delays the new design: it is logged,
// not answered.
func (s *Server) templateChanged(ctx context.Context, t core.Template) {
	if s.cfg.Google == nil {
		return
	}
	j, err := s.cfg.Google.Wallet.ClassJob(ctx, t)
	if err == nil && j != nil {
		_, err = s.cfg.Google.Store.CreateJobs(ctx, []core.Job{*j})
	}
	if err != nil {
		s.log.Warn("could not queue the Google class update", "templateId", t.ID, "err", err)
	}
}

// templateView is how a template is answered (see passView).
func templateView(t core.Template) core.Template {
	t.CreatedAt, t.UpdatedAt = storedTime(t.CreatedAt), storedTime(t.UpdatedAt)
	return t
}

func toJSONObject(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding template: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding template: %w", err)
	}
	return m, nil
}

func (s *Server) deleteTemplate(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.svc.DeleteTemplate(c.Request().Context(), workspaceID(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
