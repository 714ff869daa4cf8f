package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/passhub/passhub/adapters/apple"
	"github.com/passhub/passhub/adapters/sharepage"
	"github.com/passhub/passhub/core"
)

// ContentTypePKPass is the media type of a signed pass.
const ContentTypePKPass = "application/vnd.apple.pkpass"

// AppleConfig is the Apple Wallet side of the API: credentials, pass
// downloads, share links, the push log and the PassKit web service.
type AppleConfig struct {
	PassKit *core.PassKit
	Issuer  *apple.Issuer
	Pusher  *apple.Pusher
	Store   AppleStore
	// PublicURL is passhub's public base URL (share links are under it).
	PublicURL string
}

// AppleStore is what the Apple routes read directly.
type AppleStore interface {
	core.PushLogStore
	core.ShareLinkStore
	PassRegistrations(ctx context.Context, workspaceID, passID string) ([]core.Registration, error)
}

func (cfg *AppleConfig) validate() error {
	if cfg.PassKit == nil || cfg.Issuer == nil || cfg.Pusher == nil || cfg.Store == nil {
		return errors.New("Apple needs PassKit, Issuer, Pusher and Store")
	}
	if cfg.PublicURL == "" {
		return errors.New("Apple.PublicURL is required")
	}
	return nil
}

// errPassAuth is a PassKit request without a valid ApplePass token (or for
// a pass this server does not know: the answer is the same).
var errPassAuth = errors.New("ApplePass authentication failed")

// errGone is a share link that was revoked.
var errGone = errors.New("gone")

// appleRoutes are the Apple routes; none without Apple configured.
func (s *Server) appleRoutes(api, open, passkit func(method, path string, h echo.HandlerFunc) route) []route {
	if s.cfg.Apple == nil {
		return nil
	}
	return []route{
		api(http.MethodPut, "/v1/credentials/apple", s.putAppleCredentials),
		api(http.MethodGet, "/v1/credentials/apple", s.getAppleCredentials),
		api(http.MethodDelete, "/v1/credentials/apple", s.deleteAppleCredentials),
		api(http.MethodGet, "/v1/passes/{id}/pkpass", s.downloadPass),
		api(http.MethodGet, "/v1/passes/{id}/registrations", s.listRegistrations),
		api(http.MethodPost, "/v1/passes/{id}/share-links", s.createShareLink),
		api(http.MethodGet, "/v1/passes/{id}/share-links", s.listShareLinks),
		api(http.MethodDelete, "/v1/passes/{id}/share-links/{linkId}", s.revokeShareLink),
		api(http.MethodPost, "/v1/templates/{id}/push", s.pushTemplate),
		api(http.MethodGet, "/v1/push-logs", s.listPushLogs),

		open(http.MethodGet, "/p/{token}", s.sharePage),
		open(http.MethodGet, "/p/{token}/pass.pkpass", s.sharedPass),

		passkit(http.MethodPost, "/apple/v1/devices/{deviceLibraryIdentifier}/registrations/{passTypeIdentifier}/{serialNumber}", s.appleRegister),
		passkit(http.MethodDelete, "/apple/v1/devices/{deviceLibraryIdentifier}/registrations/{passTypeIdentifier}/{serialNumber}", s.appleUnregister),
		passkit(http.MethodGet, "/apple/v1/devices/{deviceLibraryIdentifier}/registrations/{passTypeIdentifier}", s.appleSerials),
		passkit(http.MethodGet, "/apple/v1/passes/{passTypeIdentifier}/{serialNumber}", s.applePass),
		passkit(http.MethodPost, "/apple/v1/log", s.appleLog),
	}
}

// --- credentials ---

type appleCredentialsBody struct {
	PassTypeIdentifier string `json:"passTypeIdentifier"`
	TeamIdentifier     string `json:"teamIdentifier"`
	Certificate        string `json:"certificate"`
	PrivateKey         string `json:"privateKey"`
	P12                string `json:"p12"`
	P12Password        string `json:"p12Password"`
	WWDRCertificate    string `json:"wwdrCertificate"`
}

func requireAdmin(c echo.Context) error {
	if apiKey(c).Role != core.RoleAdmin {
		return core.ErrForbidden
	}
	return nil
}

func (s *Server) putAppleCredentials(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	var body appleCredentialsBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	info, err := s.cfg.Apple.Issuer.Save(c.Request().Context(), workspaceID(c), apple.Upload(body))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, info)
}

func (s *Server) getAppleCredentials(c echo.Context) error {
	info, err := s.cfg.Apple.Issuer.Info(c.Request().Context(), workspaceID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, info)
}

func (s *Server) deleteAppleCredentials(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if err := s.cfg.Apple.Issuer.Delete(c.Request().Context(), workspaceID(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// --- downloads ---

// packagePass signs the current version of a pass of workspace ws.
func (s *Server) packagePass(ctx context.Context, p core.Pass) ([]byte, time.Time, error) {
	t, err := s.svc.Template(ctx, p.WorkspaceID, p.TemplateID)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("loading template of pass %s: %w", p.ID, err)
	}
	_, rec, err := s.cfg.Apple.Issuer.Credentials(ctx, p.WorkspaceID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, time.Time{}, &core.ConflictError{Field: "credentials", Reason: "the workspace has no Apple credentials; PUT /v1/credentials/apple first"}
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	b, err := s.cfg.Apple.Issuer.Package(rec, t, p)
	if err != nil {
		return nil, time.Time{}, err
	}
	return b, core.LastModified(p, t), nil
}

// pathPass loads the pass named by the path's {id} in the key's workspace.
func (s *Server) pathPass(c echo.Context) (core.Pass, error) {
	id, err := pathParam(c, "id")
	if err != nil {
		return core.Pass{}, err
	}
	return s.svc.Pass(c.Request().Context(), workspaceID(c), id)
}

func pkpass(c echo.Context, b []byte) error {
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="pass.pkpass"`)
	return c.Blob(http.StatusOK, ContentTypePKPass, b)
}

func (s *Server) downloadPass(c echo.Context) error {
	p, err := s.pathPass(c)
	if err != nil {
		return err
	}
	b, _, err := s.packagePass(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return pkpass(c, b)
}

// registrationView shows a device registration without its push token.
type registrationView struct {
	DeviceLibraryIdentifier string    `json:"deviceLibraryIdentifier"`
	PassTypeIdentifier      string    `json:"passTypeIdentifier"`
	PushTokenHash           string    `json:"pushTokenHash"`
	CreatedAt               time.Time `json:"createdAt"`
	UpdatedAt               time.Time `json:"updatedAt"`
}

func (s *Server) listRegistrations(c echo.Context) error {
	p, err := s.pathPass(c)
	if err != nil {
		return err
	}
	regs, err := s.cfg.Apple.Store.PassRegistrations(c.Request().Context(), p.WorkspaceID, p.ID)
	if err != nil {
		return err
	}
	out := make([]registrationView, 0, len(regs))
	for _, r := range regs {
		out = append(out, registrationView{r.DeviceLibraryID, r.PassTypeIdentifier, apple.TokenHash(r.PushToken), r.CreatedAt, r.UpdatedAt})
	}
	return c.JSON(http.StatusOK, listOf(out, ""))
}

// --- share links ---

// shareLinkView is a share link with its public URLs.
type shareLinkView struct {
	core.ShareLink
	URL       string `json:"url"`
	PKPassURL string `json:"pkpassUrl"`
}

func (s *Server) shareLinkView(l core.ShareLink) shareLinkView {
	base := strings.TrimRight(s.cfg.Apple.PublicURL, "/") + "/p/" + l.Token
	return shareLinkView{ShareLink: l, URL: base, PKPassURL: base + "/pass.pkpass"}
}

func (s *Server) createShareLink(c echo.Context) error {
	p, err := s.pathPass(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if p.Lifecycle == core.LifecycleDeleted {
		return &core.ConflictError{Field: "lifecycle", Reason: "the pass is deleted and cannot be shared"}
	}
	l := core.ShareLink{
		ID: core.NewID(core.PrefixShareLink), WorkspaceID: p.WorkspaceID, PassID: p.ID,
		Token: core.RandomToken(20), // 160 random bits, 32 characters CreatedAt: storedTime(s.cfg.Now()),
	}
	if err := s.cfg.Apple.Store.CreateShareLink(ctx, l); err != nil {
		return err
	}
	v := s.shareLinkView(l)
	c.Response().Header().Set(echo.HeaderLocation, "/v1/passes/"+p.ID+"/share-links")
	return c.JSON(http.StatusCreated, v)
}

func (s *Server) listShareLinks(c echo.Context) error {
	p, err := s.pathPass(c)
	if err != nil {
		return err
	}
	links, err := s.cfg.Apple.Store.ListShareLinks(c.Request().Context(), p.WorkspaceID, p.ID)
	if err != nil {
		return err
	}
	out := make([]shareLinkView, 0, len(links))
	for _, l := range links {
		out = append(out, s.shareLinkView(l))
	}
	return c.JSON(http.StatusOK, listOf(out, ""))
}

// revokeShareLink answers 200 with the link, revokedAt set; revoking again
// answers the same.
func (s *Server) revokeShareLink(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	linkID, err := pathParam(c, "linkId")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	l, err := s.cfg.Apple.Store.ShareLink(ctx, workspaceID(c), linkID)
	if err != nil {
		return err
	}
	if l.PassID != id {
		return fmt.Errorf("share link %s of pass %s: %w", linkID, id, core.ErrNotFound)
	}
	l, err = s.cfg.Apple.Store.RevokeShareLink(ctx, workspaceID(c), linkID, storedTime(s.cfg.Now()))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.shareLinkView(l))
}

// sharedLink resolves a public token to its pass; revoked is errGone.
func (s *Server) sharedLink(c echo.Context) (core.Pass, error) {
	token, err := pathParam(c, "token")
	if err != nil {
		return core.Pass{}, err
	}
	ctx := c.Request().Context()
	l, err := s.cfg.Apple.Store.ShareLinkByToken(ctx, token)
	if err != nil {
		return core.Pass{}, err
	}
	if l.RevokedAt != nil {
		return core.Pass{}, errGone
	}
	p, err := s.svc.Pass(ctx, l.WorkspaceID, l.PassID)
	if err != nil {
		return core.Pass{}, err
	}
	if p.Lifecycle == core.LifecycleDeleted {
		return core.Pass{}, errGone
	}
	return p, nil
}

// sharePage is the public page of a share link: "Add to Apple Wallet" (and
// Google, when configured) chosen by user agent, with a QR code of itself
// for desktop visitors.
func (s *Server) sharePage(c echo.Context) error {
	p, err := s.sharedLink(c)
	if err != nil {
		return err
	}
	t, err := s.svc.Template(c.Request().Context(), p.WorkspaceID, p.TemplateID)
	if err != nil {
		return fmt.Errorf("loading template of pass %s: %w", p.ID, err)
	}
	token, _ := pathParam(c, "token")
	page := strings.TrimRight(s.cfg.Apple.PublicURL, "/") + "/p/" + url.PathEscape(token)
	googleURL := ""
	if s.cfg.Google != nil {
		// The button shows when the workspace can issue Google passes.
		ok, err := s.cfg.Google.Wallet.Enabled(c.Request().Context(), p.WorkspaceID)
		if err != nil {
			return err
		}
		if ok {
			googleURL = page + "/google"
		}
	}
	var buf bytes.Buffer
	err = sharepage.Render(&buf, sharepage.Page{
		Title: t.Description, Organization: t.OrganizationName, PassURL: page + "/pass.pkpass", PageURL: page,
		GoogleURL: googleURL, BackgroundColor: t.Colors.Background, ForegroundColor: t.Colors.Foreground,
	}, sharepage.DetectPlatform(c.Request().UserAgent()))
	if err != nil {
		return fmt.Errorf("rendering share page: %w", err)
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex")
	h.Set(echo.HeaderCacheControl, "no-store")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

func (s *Server) sharedPass(c echo.Context) error {
	p, err := s.sharedLink(c)
	if err != nil {
		return err
	}
	b, _, err := s.packagePass(c.Request().Context(), p)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return pkpass(c, b)
}

// --- pushes ---

type pushStarted struct {
	TemplateID string `json:"templateId"`
	Key        string `json:"key"`
}

func (s *Server) pushTemplate(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.svc.Template(ctx, workspaceID(c), id); err != nil {
		return err
	}
	key, err := s.cfg.Apple.Pusher.StartTemplatePush(ctx, workspaceID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, pushStarted{TemplateID: id, Key: key})
}

func (s *Server) listPushLogs(c echo.Context) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	q := core.PushLogQuery{Page: page, PassID: c.QueryParam("passId"), Platform: core.Platform(c.QueryParam("platform")), Status: core.PushStatus(c.QueryParam("status"))}
	if q.Platform != "" && q.Platform != core.PlatformApple && q.Platform != core.PlatformGoogle {
		return badRequest(errBadParameter, "platform", "platform must be apple or google")
	}
	if q.Status != "" && !q.Status.Valid() {
		return badRequest(errBadParameter, "status", "status must be ok, retry, failed, dropped or cancelled")
	}
	if q.Since, err = timeParam(c, "since"); err != nil {
		return err
	}
	logs, next, err := s.cfg.Apple.Store.ListPushLogs(c.Request().Context(), workspaceID(c), q)
	if err != nil {
		return paramError(err, "cursor", "limit")
	}
	return c.JSON(http.StatusOK, listOf(logs, next))
}

// --- the PassKit web service ---

// applePassToken reads "Authorization: ApplePass <token>".
func applePassToken(c echo.Context) string {
	scheme, token, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	if !ok || scheme != "ApplePass" {
		return ""
	}
	return strings.TrimSpace(token)
}

// passAuthError makes an unauthorized answer the PassKit kind.
func passAuthError(err error) error {
	if errors.Is(err, core.ErrUnauthorized) {
		return errPassAuth
	}
	return err
}

func (s *Server) appleRegister(c echo.Context) error {
	device, passType, serial, err := passkitParams(c)
	if err != nil {
		return err
	}
	var body struct {
		PushToken string `json:"pushToken"`
	}
	// Lenient: devices may add keys in future iOS versions.
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return badRequest(errMalformedJSON, "pushToken", "the body must be a JSON object with pushToken")
	}
	created, err := s.cfg.Apple.PassKit.Register(c.Request().Context(), device, passType, serial, applePassToken(c), body.PushToken)
	if err != nil {
		return passAuthError(err)
	}
	if created {
		return c.NoContent(http.StatusCreated)
	}
	return c.NoContent(http.StatusOK)
}

func (s *Server) appleUnregister(c echo.Context) error {
	device, passType, serial, err := passkitParams(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Apple.PassKit.Unregister(c.Request().Context(), device, passType, serial, applePassToken(c)); err != nil {
		return passAuthError(err)
	}
	return c.NoContent(http.StatusOK)
}

type serialsView struct {
	SerialNumbers []string `json:"serialNumbers"`
	LastUpdated   string   `json:"lastUpdated"`
}

func (s *Server) appleSerials(c echo.Context) error {
	device, err := pathParam(c, "deviceLibraryIdentifier")
	if err != nil {
		return err
	}
	passType, err := pathParam(c, "passTypeIdentifier")
	if err != nil {
		return err
	}
	serials, last, err := s.cfg.Apple.PassKit.UpdatedSerials(c.Request().Context(), device, passType, c.QueryParam("passesUpdatedSince"))
	if err != nil {
		return err
	}
	if len(serials) == 0 {
		return c.NoContent(http.StatusNoContent)
	}
	return c.JSON(http.StatusOK, serialsView{SerialNumbers: serials, LastUpdated: last})
}

func (s *Server) applePass(c echo.Context) error {
	passType, err := pathParam(c, "passTypeIdentifier")
	if err != nil {
		return err
	}
	serial, err := pathParam(c, "serialNumber")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, rec, err := s.cfg.Apple.PassKit.Authorize(ctx, passType, serial, applePassToken(c))
	if err != nil {
		return passAuthError(err)
	}
	t, err := s.cfg.Apple.PassKit.Template(ctx, p.WorkspaceID, p.TemplateID)
	if errors.Is(err, core.ErrNotFound) {
		// The template went after all its passes were deleted: the device
		// holds the final (voided) version or can no longer get one.
		if modified, _ := lastModified(p.UpdatedAt, s.cfg.Now()); notModified(c, modified) {
			return c.NoContent(http.StatusNotModified)
		}
		return errGone
	}
	if err != nil {
		return fmt.Errorf("loading template of pass %s: %w", p.ID, err)
	}
	modified, sent := lastModified(core.LastModified(p, t), s.cfg.Now())
	h := c.Response().Header()
	h.Set(echo.HeaderLastModified, sent.Format(http.TimeFormat))
	if notModified(c, modified) {
		return c.NoContent(http.StatusNotModified)
	}
	b, err := s.cfg.Apple.Issuer.Package(rec, t, p)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, ContentTypePKPass, b)
}

// lastModified turns a microsecond modification time into HTTP's
// one-second resolution without ever causing a false 304. modified is u
// rounded up to the second: If-Modified-Since at or after it means the
// device has this version. sent is the header value: the rounded-up
// second once it has passed, else u rounded down (the device then asks
// again and gets a 200 it can cache properly) — sending a second that has
// not yet ended would let a change later in that second look unmodified.
func lastModified(u, now time.Time) (modified, sent time.Time) {
	floor := u.Truncate(time.Second)
	modified = floor
	if !u.Equal(floor) {
		modified = floor.Add(time.Second)
	}
	if now.After(modified) {
		return modified, modified
	}
	return modified, floor
}

// notModified reports whether the request's If-Modified-Since is at or
// after modified (the device holds this version).
func notModified(c echo.Context, modified time.Time) bool {
	ims, err := http.ParseTime(c.Request().Header.Get(echo.HeaderIfModifiedSince))
	return err == nil && !ims.Before(modified)
}

type logBody struct {
	Logs []string `json:"logs"`
}

// maxDeviceLogs bounds what one log request may write.
const maxDeviceLogs = 100

func (s *Server) appleLog(c echo.Context) error {
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	var body logBody
	if err := json.Unmarshal(raw, &body); err != nil {
		return badRequest(errMalformedJSON, "logs", "the body must be a JSON object with logs")
	}
	for i, msg := range body.Logs {
		if i == maxDeviceLogs {
			s.log.Warn("apple device log truncated", "dropped", len(body.Logs)-maxDeviceLogs)
			break
		}
		s.log.Warn("apple device log", "message", truncate(msg, 1024))
	}
	return c.NoContent(http.StatusOK)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func passkitParams(c echo.Context) (device, passType, serial string, err error) {
	if device, err = pathParam(c, "deviceLibraryIdentifier"); err != nil {
		return
	}
	if passType, err = pathParam(c, "passTypeIdentifier"); err != nil {
		return
	}
	serial, err = pathParam(c, "serialNumber")
	return
}
