package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/adapters/webhooks"
	"github.com/passhub/passhub/core"
)

// WebhooksConfig serves outbound webhook subscriptions (also Zapier's REST
// Hooks subscribe and unsubscribe), their delivery log and replays.
type WebhooksConfig struct {
	Manager *webhooks.Manager
}

func (cfg *WebhooksConfig) validate() error {
	if cfg.Manager == nil {
		return errors.New("Webhooks needs Manager")
	}
	return nil
}

// webhookRoutes are admin-only: a subscription decides where workspace
// data is sent, and its answers carry signing secrets.
func (s *Server) webhookRoutes(api func(method, path string, h echo.HandlerFunc) route) []route {
	if s.cfg.Webhooks == nil {
		return nil
	}
	admin := func(method, path string, h echo.HandlerFunc) route {
		return api(method, path, func(c echo.Context) error {
			if err := requireAdmin(c); err != nil {
				return err
			}
			return h(c)
		})
	}
	return []route{
		admin(http.MethodPost, "/v1/webhooks", s.createWebhook),
		admin(http.MethodGet, "/v1/webhooks", s.listWebhooks),
		admin(http.MethodGet, "/v1/webhooks/{id}", s.getWebhook),
		admin(http.MethodPatch, "/v1/webhooks/{id}", s.patchWebhook),
		admin(http.MethodDelete, "/v1/webhooks/{id}", s.deleteWebhook),
		admin(http.MethodPost, "/v1/webhooks/{id}/rotate-secret", s.rotateWebhookSecret),
		admin(http.MethodGet, "/v1/webhooks/{id}/deliveries", s.listWebhookDeliveries),
		admin(http.MethodPost, "/v1/webhooks/{id}/replay", s.replayWebhook),
		admin(http.MethodGet, "/v1/deliveries/{id}", s.getWebhookDelivery),
		admin(http.MethodPost, "/v1/deliveries/{id}/replay", s.replayWebhookDelivery),
	}
}

// webhookView is a subscription as the API shows it: the secret only in
// the answers to create and rotate-secret.
type webhookView struct {
	core.WebhookSubscription
	Secret                  string     `json:"secret,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt,omitempty"`
}

// attemptView shows an attempt's latency in milliseconds.
type attemptView struct {
	core.WebhookAttempt
	LatencyMS float64 `json:"latencyMs"`
}

// deliveryView is a delivery with its attempts (History shadows the
// embedded one, to show latencies).
type deliveryView struct {
	core.WebhookDelivery
	History []attemptView `json:"history"`
}

func newDeliveryView(d core.WebhookDelivery) deliveryView {
	v := deliveryView{WebhookDelivery: d, History: make([]attemptView, 0, len(d.History))}
	for _, a := range d.History {
		v.History = append(v.History, attemptView{WebhookAttempt: a, LatencyMS: float64(a.Latency.Microseconds()) / 1000})
	}
	return v
}

// replayAnswer says which deliveries will be sent again.
type replayAnswer struct {
	Replayed    int      `json:"replayed"`
	DeliveryIDs []string `json:"deliveryIds"`
}

func (s *Server) createWebhook(c echo.Context) error {
	var in webhooks.Input
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	created, err := s.cfg.Webhooks.Manager.Create(c.Request().Context(), workspaceID(c), in)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/webhooks/"+created.Subscription.ID)
	return c.JSON(http.StatusCreated, webhookView{WebhookSubscription: created.Subscription, Secret: created.Secret})
}

func (s *Server) listWebhooks(c echo.Context) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	subs, next, err := s.cfg.Webhooks.Manager.List(c.Request().Context(), workspaceID(c), page)
	if err != nil {
		return paramError(err, "cursor", "limit")
	}
	return c.JSON(http.StatusOK, listOf(subs, next))
}

func (s *Server) getWebhook(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	sub, err := s.cfg.Webhooks.Manager.Get(c.Request().Context(), workspaceID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sub)
}

// patchWebhook changes the members given; "fields" replaces the whole
// map, "disabled": false re-enables a subscription.
func (s *Server) patchWebhook(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	var p webhooks.Patch
	if err := decodeBody(c, &p); err != nil {
		return err
	}
	sub, err := s.cfg.Webhooks.Manager.Update(c.Request().Context(), workspaceID(c), id, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sub)
}

// deleteWebhook is also Zapier's unsubscribe.
func (s *Server) deleteWebhook(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Webhooks.Manager.Delete(c.Request().Context(), workspaceID(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type rotateBody struct {
	// Overlap is a duration string ("24h", "90m", "0s") or a number of
	// seconds.
	Overlap json.RawMessage `json:"overlap"`
}

// parseOverlap reads the overlap member; nil means the default.
func parseOverlap(raw json.RawMessage) (*time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		d, err := time.ParseDuration(str)
		if err != nil {
			return nil, core.Invalid("overlap", "must be a duration such as \"24h\" or \"90m\", or a number of seconds")
		}
		return &d, nil
	}
	secs, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || secs < 0 || secs > int64(webhooks.MaxRotationOverlap/time.Second) {
		return nil, core.Invalid("overlap", "must be a duration such as \"24h\" or a whole number of seconds from 0 to %d", int64(webhooks.MaxRotationOverlap/time.Second))
	}
	d := time.Duration(secs) * time.Second
	return &d, nil
}

// rotateWebhookSecret makes a new secret; the body is optional.
func (s *Server) rotateWebhookSecret(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	var body rotateBody
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := decodeStrict(raw, &body); err != nil {
			return err
		}
	}
	overlap, err := parseOverlap(body.Overlap)
	if err != nil {
		return err
	}
	r, err := s.cfg.Webhooks.Manager.RotateSecret(c.Request().Context(), workspaceID(c), id, overlap)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, webhookView{WebhookSubscription: r.Subscription, Secret: r.Secret, PreviousSecretExpiresAt: &r.PreviousExpiresAt})
}

func (s *Server) listWebhookDeliveries(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	q := core.WebhookDeliveryQuery{Page: page, Status: core.WebhookDeliveryStatus(c.QueryParam("status")), WithHistory: true}
	if q.Status != "" && !q.Status.Valid() {
		return badRequest(errBadParameter, "status", "status must be pending, succeeded or failed")
	}
	if q.Since, err = timeParam(c, "since"); err != nil {
		return err
	}
	ds, next, err := s.cfg.Webhooks.Manager.Deliveries(c.Request().Context(), workspaceID(c), id, q)
	if err != nil {
		return paramError(err, "cursor", "limit")
	}
	out := make([]deliveryView, 0, len(ds))
	for _, d := range ds {
		out = append(out, newDeliveryView(d))
	}
	return c.JSON(http.StatusOK, listOf(out, next))
}

func (s *Server) getWebhookDelivery(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	d, err := s.cfg.Webhooks.Manager.Delivery(c.Request().Context(), workspaceID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newDeliveryView(d))
}

// replayWebhook re-sends every delivery of the subscription that failed
// for good since the given time.
func (s *Server) replayWebhook(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	since, err := timeParam(c, "since")
	if err != nil {
		return err
	}
	if since.IsZero() {
		return badRequest(errBadParameter, "since", "since is required: an RFC 3339 timestamp such as 2025-01-31T12:00:00Z")
	}
	ids, err := s.cfg.Webhooks.Manager.ReplayFailed(c.Request().Context(), workspaceID(c), id, since)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, replayAnswer{Replayed: len(ids), DeliveryIDs: ids})
}

func (s *Server) replayWebhookDelivery(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	d, err := s.cfg.Webhooks.Manager.Replay(c.Request().Context(), workspaceID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, replayAnswer{Replayed: 1, DeliveryIDs: []string{d.ID}})
}
