package google

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/passhub/passhub/core"
)

// JobSync writes one pass to Google Wallet: its class (when the template
// or the credentials changed), its object, and the event's message.
const JobSync = "google.sync"

// JobClass writes a template's class after the template changed, so
// Google shows the new design without waiting for a pass to change.
const JobClass = "google.class"

// Sealer encrypts secrets at rest (the master-key box). context binds a
// sealed value to where it belongs, so it cannot be moved elsewhere.
type Sealer interface {
	Seal(plaintext []byte, context string) []byte
	Open(sealed []byte, context string) ([]byte, error)
}

// WalletStore is what the Wallet needs of the store.
type WalletStore interface {
	PutGoogleCredentials(ctx context.Context, c core.GoogleCredentials) error
	GoogleCredentials(ctx context.Context, workspaceID string) (core.GoogleCredentials, error)
	DeleteGoogleCredentials(ctx context.Context, workspaceID string) error
	Pass(ctx context.Context, workspaceID, id string) (core.Pass, error)
	Template(ctx context.Context, workspaceID, id string) (core.Template, error)
	AppendPushLogs(ctx context.Context, logs []core.PushLog) error
}

// WalletConfig configures a Wallet; zero values take defaults.
type WalletConfig struct {
	// BaseURL is the Wallet API root (default DefaultBaseURL;
	// PASSHUB_GOOGLE_API_URL).
	BaseURL string
	// HTTPClient carries API and token requests (default: 30 s timeout).
	HTTPClient *http.Client
	// PublicURL is passhub's public URL: Google posts callbacks to
	// PublicURL+"/google/callbacks" and fetches class logos from
	// PublicURL+"/google/images/{workspaceId}/{templateId}/{image}.png".
	// Empty: no callbacks and no logos.
	PublicURL string
	// Origins are the web origins allowed to show a save button (the
	// save JWT's origins); none for plain links.
	Origins []string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Validate checks the configuration.
func (c WalletConfig) Validate() error {
	if err := (ClientConfig{BaseURL: c.BaseURL}).Validate(); err != nil {
		return err
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return core.Invalid("publicUrl", "must be an absolute http(s) URL")
		}
	}
	return nil
}

// Wallet is the Google Wallet side of passhub: it keeps a workspace's
// issuer credentials (the service account key sealed), writes classes and
// objects as passes change (event consumer and handler of JobSync), and
// makes save links.
//
// It holds per process: one parsed key and one *Client per uploaded
// credential (the client keeps the OAuth token), and, per template, the
// template version last written as a class with which credential, so a
// class is written once per template version rather than once per pass.
type Wallet struct {
	store  WalletStore
	box    Sealer
	cfg    WalletConfig
	client ClientConfig
	now    func() time.Time
	log    *slog.Logger

	mu       sync.Mutex
	accounts map[string]*account // by workspace
	classes  map[classKey]*classState
	// enabled keeps whether a workspace has credentials for a second:
	// every pass change asks. An upload or delete through this process is
	// seen at once, through another within the second.
	enabled *core.Recent[string, bool]
}

// account is one uploaded credential, parsed.
type account struct {
	issuerID  string
	updatedAt time.Time
	sa        *ServiceAccount
	client    *Client
}

func (a *account) matches(rec core.GoogleCredentials) bool {
	return a.issuerID == rec.IssuerID && a.updatedAt.Equal(rec.UpdatedAt)
}

type classKey struct{ workspaceID, templateID string }

// classState serialises the class writes of one template and remembers
// the last one that succeeded.
type classState struct {
	mu      sync.Mutex
	written bool
	kind    ClassKind
	version int64
	issuer  string
	creds   time.Time
}

// NewWallet returns a Wallet over store, sealing keys with box.
func NewWallet(store WalletStore, box Sealer, cfg WalletConfig) *Wallet {
	w := &Wallet{
		store:    store,
		box:      box,
		cfg:      cfg,
		client:   ClientConfig{BaseURL: cfg.BaseURL, HTTPClient: cfg.HTTPClient},
		now:      cfg.Now,
		log:      cfg.Log,
		accounts: map[string]*account{},
		classes:  map[classKey]*classState{},
		enabled:  core.NewRecent[string, bool](time.Second, cfg.Now),
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return w
}

func keyContext(workspaceID string) string { return "google-key:" + workspaceID }

// Upload is the credentials a workspace uploads. ServiceAccount is the
// JSON key as the Google Cloud console gives it: the object itself, or a
// JSON string holding it.
type Upload struct {
	IssuerID       string          `json:"issuerId"`
	ServiceAccount json.RawMessage `json:"serviceAccount"`
}

// CredentialInfo is what the API shows of stored credentials: never the
// key.
type CredentialInfo struct {
	IssuerID     string    `json:"issuerId"`
	ClientEmail  string    `json:"clientEmail"`
	PrivateKeyID string    `json:"privateKeyId"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// Save validates an upload and stores it, the whole key file sealed. An
// issuer ID another workspace holds is a *core.ConflictError on
// "issuerId".
func (w *Wallet) Save(ctx context.Context, workspaceID string, u Upload) (CredentialInfo, error) {
	issuer := strings.TrimSpace(u.IssuerID)
	if issuer == "" || strings.Trim(issuer, "0123456789") != "" {
		return CredentialInfo{}, core.Invalid("issuerId", "must be Google's numeric issuer ID")
	}
	keyJSON, err := uploadedKey(u.ServiceAccount)
	if err != nil {
		return CredentialInfo{}, err
	}
	sa, err := ParseServiceAccount(keyJSON)
	if err != nil {
		return CredentialInfo{}, err
	}
	now := w.now().UTC().Truncate(time.Microsecond)
	rec := core.GoogleCredentials{
		WorkspaceID: workspaceID,
		IssuerID:    issuer,
		ClientEmail: sa.ClientEmail,
		KeySealed:   w.box.Seal(keyJSON, keyContext(workspaceID)),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if err := w.store.PutGoogleCredentials(ctx, rec); err != nil {
		return CredentialInfo{}, fmt.Errorf("storing Google credentials: %w", err)
	}
	w.enabled.Forget(workspaceID)
	if rec, err = w.store.GoogleCredentials(ctx, workspaceID); err != nil {
		return CredentialInfo{}, fmt.Errorf("reloading Google credentials: %w", err)
	}
	if _, err := w.account(rec, sa); err != nil {
		return CredentialInfo{}, err
	}
	return infoOf(rec, sa), nil
}

// uploadedKey unwraps the key file from an upload: a JSON object,
// or a JSON string holding one.
func uploadedKey(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, core.Invalid("serviceAccount", "is required (the JSON key of a service account)")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, core.Invalid("serviceAccount", "is not a JSON string or object: %v", err)
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, core.Invalid("serviceAccount", "must be the JSON key object (or a string holding it)")
	}
	return raw, nil
}

// Info describes the workspace's stored credentials (ErrNotFound).
func (w *Wallet) Info(ctx context.Context, workspaceID string) (CredentialInfo, error) {
	rec, err := w.store.GoogleCredentials(ctx, workspaceID)
	if err != nil {
		return CredentialInfo{}, err
	}
	acc, err := w.account(rec, nil)
	if err != nil {
		return CredentialInfo{}, err
	}
	return infoOf(rec, acc.sa), nil
}

// Enabled reports whether the workspace has Google credentials: one
// store read, no key unsealed.
func (w *Wallet) Enabled(ctx context.Context, workspaceID string) (bool, error) {
	_, err := w.enabled.Get(ctx, workspaceID, func(ctx context.Context) (bool, error) {
		_, err := w.store.GoogleCredentials(ctx, workspaceID)
		return err == nil, err
	})
	if errors.Is(err, core.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("loading Google credentials: %w", err)
	}
	return true, nil
}

// Delete removes the workspace's credentials (ErrNotFound when absent).
// Objects and classes already at Google stay there.
func (w *Wallet) Delete(ctx context.Context, workspaceID string) error {
	if err := w.store.DeleteGoogleCredentials(ctx, workspaceID); err != nil {
		return err
	}
	w.enabled.Forget(workspaceID)
	w.mu.Lock()
	delete(w.accounts, workspaceID)
	for k := range w.classes {
		if k.workspaceID == workspaceID {
			delete(w.classes, k)
		}
	}
	w.mu.Unlock()
	return nil
}

func infoOf(rec core.GoogleCredentials, sa *ServiceAccount) CredentialInfo {
	return CredentialInfo{
		IssuerID:     rec.IssuerID,
		ClientEmail:  rec.ClientEmail,
		PrivateKeyID: sa.PrivateKeyID,
		CreatedAt:    rec.CreatedAt,
		UpdatedAt:    rec.UpdatedAt,
	}
}

// account returns the parsed form and client of a stored credential,
// unsealing and parsing once per upload; sa, when the caller has just
// parsed the key, spares that.
func (w *Wallet) account(rec core.GoogleCredentials, sa *ServiceAccount) (*account, error) {
	w.mu.Lock()
	acc, ok := w.accounts[rec.WorkspaceID]
	w.mu.Unlock()
	if ok && acc.matches(rec) {
		return acc, nil
	}
	if sa == nil {
		keyJSON, err := w.box.Open(rec.KeySealed, keyContext(rec.WorkspaceID))
		if err != nil {
			return nil, fmt.Errorf("unsealing the Google service account key of %s: %w", rec.WorkspaceID, err)
		}
		if sa, err = ParseServiceAccount(keyJSON); err != nil {
			return nil, fmt.Errorf("parsing the stored Google service account key of %s: %w", rec.WorkspaceID, err)
		}
	}
	client, err := NewClient(rec.IssuerID, sa, w.client)
	if err != nil {
		return nil, fmt.Errorf("Google Wallet client of %s: %w", rec.WorkspaceID, err)
	}
	acc = &account{issuerID: rec.IssuerID, updatedAt: rec.UpdatedAt, sa: sa, client: client}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Another caller may have built one meanwhile: keep one client (one
	// token cache) per credential.
	if cur, ok := w.accounts[rec.WorkspaceID]; ok && cur.matches(rec) {
		return cur, nil
	}
	w.accounts[rec.WorkspaceID] = acc
	return acc, nil
}

// credentials loads the workspace's credentials and their account.
func (w *Wallet) credentials(ctx context.Context, workspaceID string) (*account, core.GoogleCredentials, error) {
	rec, err := w.store.GoogleCredentials(ctx, workspaceID)
	if err != nil {
		return nil, rec, err
	}
	acc, err := w.account(rec, nil)
	return acc, rec, err
}

// logoNames are the template images tried, in order, as the class logo.
var logoNames = []string{"logo", "logo@2x", "logo@3x", "icon@3x", "icon@2x", "icon"}

// LogoURL is where Google fetches the template's logo: the first of its
// logo or icon images, served under PublicURL. It is empty when the
// template has neither, or PublicURL is not https (Google fetches from
// public https URLs only).
func (w *Wallet) LogoURL(t core.Template) string {
	if !strings.HasPrefix(w.cfg.PublicURL, "https://") {
		return ""
	}
	for _, name := range logoNames {
		if _, ok := t.Images[name]; ok {
			return w.cfg.PublicURL + "/google/images/" + url.PathEscape(t.WorkspaceID) + "/" + url.PathEscape(t.ID) + "/" + url.PathEscape(name) + ".png"
		}
	}
	return ""
}

// CallbackURL is where Google posts save and delete callbacks (empty
// without PublicURL).
func (w *Wallet) CallbackURL() string {
	if w.cfg.PublicURL == "" {
		return ""
	}
	return w.cfg.PublicURL + "/google/callbacks"
}

// ensureClass writes the template's class unless this process already
// wrote this version (or a later one) with these credentials.
func (w *Wallet) ensureClass(ctx context.Context, acc *account, kind ClassKind, t core.Template) error {
	key := classKey{t.WorkspaceID, t.ID}
	w.mu.Lock()
	st, ok := w.classes[key]
	if !ok {
		st = &classState{}
		w.classes[key] = st
	}
	w.mu.Unlock()

	st.mu.Lock()
	defer st.mu.Unlock()
	if st.written && st.kind == kind && st.issuer == acc.issuerID && st.creds.Equal(acc.updatedAt) && st.version >= t.Version {
		return nil
	}
	err := acc.client.UpsertClass(ctx, kind, t, ClassOptions{CallbackURL: w.CallbackURL(), LogoURL: w.LogoURL(t)})
	if err != nil {
		return err
	}
	st.written, st.kind, st.version, st.issuer, st.creds = true, kind, t.Version, acc.issuerID, acc.updatedAt
	return nil
}

type classPayload struct {
	TemplateID string `json:"templateId"`
}

// ClassJob is the job that writes template t's class; nil when the
// workspace has no Google credentials. Its key carries the template
// version, so one edit makes one job.
func (w *Wallet) ClassJob(ctx context.Context, t core.Template) (*core.Job, error) {
	if ok, err := w.Enabled(ctx, t.WorkspaceID); !ok || err != nil {
		return nil, err
	}
	payload, err := json.Marshal(classPayload{TemplateID: t.ID})
	if err != nil {
		return nil, fmt.Errorf("encoding class job: %w", err)
	}
	return &core.Job{
		WorkspaceID: t.WorkspaceID, Kind: JobClass, Key: fmt.Sprintf("%s@%d", t.ID, t.Version),
		Payload: payload, State: core.JobPending, CreatedAt: w.now(),
	}, nil
}

func (w *Wallet) syncClass(ctx context.Context, j core.Job) error {
	var in classPayload
	if err := json.Unmarshal(j.Payload, &in); err != nil || in.TemplateID == "" {
		return core.Permanent(fmt.Errorf("google class job %d: bad payload", j.ID))
	}
	acc, _, err := w.credentials(ctx, j.WorkspaceID)
	if errors.Is(err, core.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	t, err := w.store.Template(ctx, j.WorkspaceID, in.TemplateID)
	if errors.Is(err, core.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("loading template %s: %w", in.TemplateID, err)
	}
	if err := w.ensureClass(ctx, acc, ClassKindFor(t), t); err != nil {
		if errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrPermanent) {
			err = core.Permanent(err)
		}
		return fmt.Errorf("google class of template %s: %w", t.ID, err)
	}
	return nil
}

// SaveURL is the "Add to Google Wallet" link of pass p. The save JWT
// references the object by ID, so the class and the object are written
// first, synchronously. Without Google credentials it is a
// *core.ConflictError on "credentials".
func (w *Wallet) SaveURL(ctx context.Context, p core.Pass) (string, error) {
	acc, _, err := w.credentials(ctx, p.WorkspaceID)
	if errors.Is(err, core.ErrNotFound) {
		return "", &core.ConflictError{Field: "credentials", Reason: "the workspace has no Google Wallet credentials; PUT /v1/credentials/google first"}
	}
	if err != nil {
		return "", err
	}
	t, err := w.store.Template(ctx, p.WorkspaceID, p.TemplateID)
	if err != nil {
		return "", fmt.Errorf("loading template %s: %w", p.TemplateID, err)
	}
	kind := ClassKindFor(t)
	if err := w.ensureClass(ctx, acc, kind, t); err != nil {
		return "", err
	}
	if _, err := acc.client.UpsertObject(ctx, kind, t, p, ObjectOptions{LogoURL: w.LogoURL(t)}); err != nil {
		return "", err
	}
	return SaveURL(acc.sa, kind, acc.client.ObjectID(p.ID), w.cfg.Origins, w.now())
}

// syncPayload is a JobSync job's payload.
type syncPayload struct {
	PassID  string `json:"passId"`
	Message string `json:"message,omitempty"`
}

// JobsFor answers a pass change with one JobSync job, when the workspace
// has Google credentials.
func (w *Wallet) JobsFor(ctx context.Context, ev core.Event) ([]core.Job, error) {
	switch ev.Type {
	case core.EventRecordAdded, core.EventUpdated, core.EventExpired, core.EventVoided, core.EventDeleted:
	default:
		return nil, nil
	}
	if ok, err := w.Enabled(ctx, ev.WorkspaceID); !ok || err != nil {
		return nil, err
	}
	payload, err := json.Marshal(syncPayload{PassID: ev.Data.PassID, Message: ev.Data.Message})
	if err != nil {
		return nil, fmt.Errorf("encoding Google sync payload: %w", err)
	}
	return []core.Job{{Kind: JobSync, Key: ev.ID, Payload: payload}}, nil
}

// HandleJob runs a JobSync job: it writes the pass as it is now (a job of
// an older event writes the current state too, which is idempotent), and
// adds the event's message. Each write is logged in the push log. A
// failure retrying can fix returns the error for the queue to retry; one
// it cannot (Google's 4xx, a template Google refuses) returns it wrapped
// in core.Permanent, so the job ends failed.
func (w *Wallet) HandleJob(ctx context.Context, j core.Job) ([]core.Job, error) {
	if j.Kind == JobClass {
		return nil, w.syncClass(ctx, j)
	}
	if j.Kind != JobSync {
		return nil, core.Permanent(fmt.Errorf("google wallet: unknown job kind %q", j.Kind))
	}
	var in syncPayload
	if err := json.Unmarshal(j.Payload, &in); err != nil || in.PassID == "" {
		return nil, core.Permanent(fmt.Errorf("google sync job %d: bad payload", j.ID))
	}
	acc, _, err := w.credentials(ctx, j.WorkspaceID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil // credentials removed since: nothing to write
	}
	if err != nil {
		return nil, err
	}
	p, err := w.store.Pass(ctx, j.WorkspaceID, in.PassID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading pass %s: %w", in.PassID, err)
	}
	t, err := w.store.Template(ctx, j.WorkspaceID, p.TemplateID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil // template deleted: no class to write under
	}
	if err != nil {
		return nil, fmt.Errorf("loading template %s: %w", p.TemplateID, err)
	}
	kind := ClassKindFor(t)
	var logs []core.PushLog
	finish := func(err error) ([]core.Job, error) {
		if ctx.Err() != nil && err != nil {
			return nil, err // shutting down: the retry will log
		}
		if lerr := w.store.AppendPushLogs(ctx, logs); lerr != nil {
			return nil, errors.Join(err, fmt.Errorf("writing push log: %w", lerr))
		}
		if err != nil {
			if !errors.Is(err, core.ErrPermanent) && errors.Is(err, core.ErrInvalid) {
				err = core.Permanent(err)
			}
			w.log.Warn("google sync failed", "workspace", j.WorkspaceID, "pass", p.ID, "job", j.ID,
				"permanent", errors.Is(err, core.ErrPermanent), "err", err)
			return nil, fmt.Errorf("google sync of pass %s: %w", p.ID, err)
		}
		return nil, nil
	}

	start := time.Now()
	err = w.ensureClass(ctx, acc, kind, t)
	if err == nil {
		_, err = acc.client.UpsertObject(ctx, kind, t, p, ObjectOptions{LogoURL: w.LogoURL(t)})
	}
	logs = append(logs, w.pushLog(j, p, err, "", time.Since(start)))
	if err != nil || in.Message == "" {
		return finish(err)
	}

	header := t.Description
	if header == "" {
		header = t.OrganizationName
	}
	start = time.Now()
	typ, err := acc.client.AddMessage(ctx, kind, acc.client.ObjectID(p.ID), header, in.Message)
	note := "message " + string(typ)
	if typ == MessageText {
		note += " (notification quota used)"
	}
	logs = append(logs, w.pushLog(j, p, err, note, time.Since(start)))
	return finish(err)
}

// pushLog is the log row of one write; ok rows carry note as reason.
func (w *Wallet) pushLog(j core.Job, p core.Pass, err error, note string, latency time.Duration) core.PushLog {
	l := core.PushLog{
		WorkspaceID: j.WorkspaceID,
		At:          w.now().UTC().Truncate(time.Microsecond),
		Platform:    core.PlatformGoogle,
		PassID:      p.ID,
		ExternalID:  p.ExternalID,
		Status:      core.PushOK,
		HTTPStatus:  http.StatusOK,
		Reason:      note,
		LatencyMS:   latency.Milliseconds(),
		JobID:       j.ID,
	}
	if err == nil {
		return l
	}
	l.HTTPStatus, l.Reason = 0, err.Error()
	var ae *APIError
	if errors.As(err, &ae) {
		l.HTTPStatus = ae.Status
		if ae.Message != "" {
			l.Reason = ae.Message
		}
	}
	l.Status = core.PushRetry
	if errors.Is(err, core.ErrPermanent) || errors.Is(err, core.ErrInvalid) {
		l.Status = core.PushFailed
	}
	return l
}
