package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/adapters/google/callback"
	"github.com/passhub/passhub/core"
)

// GoogleConfig is the Google Wallet side of the API: credentials, save
// links, template images for Google's servers, and the signed callbacks.
type GoogleConfig struct {
	Wallet   *google.Wallet
	Verifier *callback.Verifier
	Store    GoogleStore
}

// GoogleStore is what the Google routes read and write directly.
type GoogleStore interface {
	GoogleCredentialsByIssuer(ctx context.Context, issuerID string) (core.GoogleCredentials, error)
	ApplyGoogleCallback(ctx context.Context, cb core.GoogleCallback, fn func(*core.Pass) ([]core.Event, error)) (bool, error)
	CreateJobs(ctx context.Context, jobs []core.Job) (int, error)
}

func (cfg *GoogleConfig) validate() error {
	if cfg.Wallet == nil || cfg.Verifier == nil || cfg.Store == nil {
		return errors.New("Google needs Wallet, Verifier and Store")
	}
	return nil
}

// errCallbackAuth is a Google callback whose signature chain does not
// verify (or names an issuer this server does not serve).
var errCallbackAuth = errors.New("google callback not verified")

// errKeysUnavailable: Google's signing keys could not be fetched, so the
// callback can be neither trusted nor refused; Google retries a 503.
var errKeysUnavailable = errors.New("google signing keys unavailable")

// maxCallbackBytes bounds a callback body (they are a few KB).
const maxCallbackBytes = 64 << 10

func (s *Server) googleRoutes(api, open, limited func(method, path string, h echo.HandlerFunc) route) []route {
	if s.cfg.Google == nil {
		return nil
	}
	routes := []route{
		api(http.MethodPut, "/v1/credentials/google", s.putGoogleCredentials),
		api(http.MethodGet, "/v1/credentials/google", s.getGoogleCredentials),
		api(http.MethodDelete, "/v1/credentials/google", s.deleteGoogleCredentials),
		api(http.MethodGet, "/v1/passes/{id}/google", s.googleSaveLink),
		limited(http.MethodPost, "/google/callbacks", s.googleCallback),
		open(http.MethodGet, "/google/images/{workspaceId}/{templateId}/{image}", s.googleImage),
	}
	if s.cfg.Apple != nil {
		// The share page lives with the Apple routes; its Google button
		// goes through here.
		routes = append(routes, open(http.MethodGet, "/p/{token}/google", s.sharedGoogle))
	}
	return routes
}

func (s *Server) putGoogleCredentials(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	var body google.Upload
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	info, err := s.cfg.Google.Wallet.Save(c.Request().Context(), workspaceID(c), body)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, info)
}

func (s *Server) getGoogleCredentials(c echo.Context) error {
	info, err := s.cfg.Google.Wallet.Info(c.Request().Context(), workspaceID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, info)
}

func (s *Server) deleteGoogleCredentials(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if err := s.cfg.Google.Wallet.Delete(c.Request().Context(), workspaceID(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type saveLinkView struct {
	PassID  string `json:"passId"`
	SaveURL string `json:"saveUrl"`
}

func (s *Server) googleSaveLink(c echo.Context) error {
	p, err := s.pathPass(c)
	if err != nil {
		return err
	}
	if p.Lifecycle == core.LifecycleDeleted {
		return &core.ConflictError{Field: "lifecycle", Reason: "the pass is deleted and cannot be saved"}
	}
	u, err := s.cfg.Google.Wallet.SaveURL(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, saveLinkView{PassID: p.ID, SaveURL: u})
}

// sharedGoogle sends a share page visitor on to Google's save page.
func (s *Server) sharedGoogle(c echo.Context) error {
	p, err := s.sharedLink(c)
	if err != nil {
		return err
	}
	u, err := s.cfg.Google.Wallet.SaveURL(c.Request().Context(), p)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.Redirect(http.StatusFound, u)
}

// googleImage serves a template image to Google's servers, which fetch
// class logos by URL.
func (s *Server) googleImage(c echo.Context) error {
	ws, err := pathParam(c, "workspaceId")
	if err != nil {
		return err
	}
	tplID, err := pathParam(c, "templateId")
	if err != nil {
		return err
	}
	image, err := pathParam(c, "image")
	if err != nil {
		return err
	}
	name, ok := strings.CutSuffix(image, ".png")
	if !ok {
		return fmt.Errorf("image %q: %w", image, core.ErrNotFound)
	}
	t, err := s.svc.Template(c.Request().Context(), ws, tplID)
	if err != nil {
		return err
	}
	b64, ok := t.Images[name]
	if !ok {
		return fmt.Errorf("image %q of template %s: %w", name, tplID, core.ErrNotFound)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("decoding image %q of template %s: %w", name, tplID, err)
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	return c.Blob(http.StatusOK, "image/png", raw)
}

// googleCallback takes a save or delete callback. Nothing in it is
// trusted before the signature chain verifies for the issuer its IDs
// name; a replayed nonce or an older event changes nothing.
func (s *Server) googleCallback(c echo.Context) error {
	ctx := c.Request().Context()
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, maxCallbackBytes)
	body, err := readBody(c)
	if err != nil {
		return err
	}
	// The issuer is read from the unverified body only to choose whose
	// credentials to verify against; the signature covers it.
	issuer, err := callbackIssuer(body)
	if err != nil {
		return errCallbackAuth
	}
	creds, err := s.cfg.Google.Store.GoogleCredentialsByIssuer(ctx, issuer)
	if errors.Is(err, core.ErrNotFound) {
		return errCallbackAuth
	}
	if err != nil {
		return err
	}
	msg, err := s.cfg.Google.Verifier.Verify(ctx, issuer, body)
	switch {
	case errors.Is(err, callback.ErrInvalid):
		s.log.Warn("google callback refused", "issuerId", issuer, "err", err)
		return errCallbackAuth
	case errors.Is(err, callback.ErrKeysUnavailable):
		return fmt.Errorf("%w: %w", errKeysUnavailable, err)
	case err != nil:
		return err
	}
	passID := strings.TrimPrefix(msg.ObjectID, issuer+".")
	now := storedTime(s.cfg.Now())
	saved := msg.EventType == callback.EventSave
	cb := core.GoogleCallback{WorkspaceID: creds.WorkspaceID, PassID: passID, Saved: saved, At: msg.ExpTime, Nonce: msg.Nonce}
	applied, err := s.cfg.Google.Store.ApplyGoogleCallback(ctx, cb, func(p *core.Pass) ([]core.Event, error) {
		if saved {
			return core.MarkInstalled(p, core.PlatformGoogle, now), nil
		}
		return core.MarkUninstalled(p, core.PlatformGoogle, now), nil
	})
	if errors.Is(err, core.ErrReplayed) {
		s.log.Warn("google callback replayed", "objectId", msg.ObjectID, "event", msg.EventType)
		return errCallbackAuth
	}
	if err != nil {
		return err
	}
	if !applied {
		s.log.Info("google callback superseded by a later one", "objectId", msg.ObjectID, "event", msg.EventType)
	}
	return c.NoContent(http.StatusOK)
}

// callbackIssuer reads the issuer ID prefix of the callback's class ID.
func callbackIssuer(body []byte) (string, error) {
	var env struct {
		SignedMessage string `json:"signedMessage"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return "", err
	}
	var m struct {
		ClassID string `json:"classId"`
	}
	if err := json.Unmarshal([]byte(env.SignedMessage), &m); err != nil {
		return "", err
	}
	issuer, _, ok := strings.Cut(m.ClassID, ".")
	if !ok || issuer == "" {
		return "", errors.New("no issuer in classId")
	}
	return issuer, nil
}
