package apple

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"sync"
	"time"

	"github.com/passhub/passhub/core"
)

// Sealer encrypts secrets at rest (the master-key box). context binds a
// sealed value to where it belongs, so it cannot be moved elsewhere.
type Sealer interface {
	Seal(plaintext []byte, context string) []byte
	Open(sealed []byte, context string) ([]byte, error)
}

// CredentialStore is what the issuer needs of the store.
type CredentialStore interface {
	PutAppleCredentials(ctx context.Context, c core.AppleCredentials) error
	AppleCredentials(ctx context.Context, workspaceID string) (core.AppleCredentials, error)
	DeleteAppleCredentials(ctx context.Context, workspaceID string) error
}

// Issuer turns stored credentials, templates and passes into signed
// .pkpass files. It keeps parsed credentials (one key parse per upload,
// not per pass) and rendered files (one render per pass version).
type Issuer struct {
	store     CredentialStore
	box       Sealer
	publicURL string
	cache     *Cache
	now       func() time.Time

	mu     sync.Mutex
	parsed map[string]parsedCreds // by workspace
	// records keeps each workspace's stored record for a second: every
	// push job needs it, and a burst reads it once. An upload through this
	// process is seen at once, through another within the second.
	records *core.Recent[string, core.AppleCredentials]
}

// credentialsTTL is how long a stored credentials record is reused.
const credentialsTTL = time.Second

type parsedCreds struct {
	updatedAt time.Time
	creds     *Credentials
}

// NewIssuer returns an issuer; cacheSize bounds the rendered-file cache.
func NewIssuer(store CredentialStore, box Sealer, publicURL string, cacheSize int) *Issuer {
	return &Issuer{store: store, box: box, publicURL: publicURL, cache: NewCache(cacheSize), now: time.Now, parsed: map[string]parsedCreds{},
		records: core.NewRecent[string, core.AppleCredentials](credentialsTTL, nil)}
}

func keyContext(workspaceID string) string { return "apple-key:" + workspaceID }

// CredentialInfo is what the API shows of stored credentials: never the key.
type CredentialInfo struct {
	PassTypeIdentifier string    `json:"passTypeIdentifier"`
	TeamIdentifier     string    `json:"teamIdentifier"`
	Certificate        Info      `json:"certificate"`
	WWDRCertificate    Info      `json:"wwdrCertificate"`
	CreatedAt          time.Time `json:"createdAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
}

// Save validates an upload and stores it, the private key sealed.
func (i *Issuer) Save(ctx context.Context, workspaceID string, u Upload) (CredentialInfo, error) {
	now := i.now().UTC().Truncate(time.Microsecond)
	creds, err := ParseUpload(u, now)
	if err != nil {
		return CredentialInfo{}, err
	}
	keyPEM, err := KeyPEM(creds)
	if err != nil {
		return CredentialInfo{}, fmt.Errorf("encoding private key: %w", err)
	}
	rec := core.AppleCredentials{
		WorkspaceID:        workspaceID,
		PassTypeIdentifier: creds.PassTypeIdentifier,
		TeamIdentifier:     creds.TeamIdentifier,
		CertificatePEM:     string(encodeCertPEM(creds.Certificate)),
		WWDRPEM:            string(encodeCertPEM(creds.WWDR)),
		KeySealed:          i.box.Seal(keyPEM, keyContext(workspaceID)),
		NotAfter:           creds.Certificate.NotAfter.UTC(),
		CreatedAt:          now,
		UpdatedAt:          now,
	}
	if err := i.store.PutAppleCredentials(ctx, rec); err != nil {
		return CredentialInfo{}, fmt.Errorf("storing Apple credentials: %w", err)
	}
	i.records.Forget(workspaceID)
	rec, err = i.store.AppleCredentials(ctx, workspaceID)
	if err != nil {
		return CredentialInfo{}, fmt.Errorf("reloading Apple credentials: %w", err)
	}
	i.remember(rec, creds)
	return infoOf(rec, creds), nil
}

// Info describes the workspace's stored credentials (ErrNotFound).
func (i *Issuer) Info(ctx context.Context, workspaceID string) (CredentialInfo, error) {
	rec, err := i.store.AppleCredentials(ctx, workspaceID)
	if err != nil {
		return CredentialInfo{}, err
	}
	creds, err := i.Parsed(rec)
	if err != nil {
		return CredentialInfo{}, err
	}
	return infoOf(rec, creds), nil
}

// Delete removes the workspace's credentials.
func (i *Issuer) Delete(ctx context.Context, workspaceID string) error {
	if err := i.store.DeleteAppleCredentials(ctx, workspaceID); err != nil {
		return err
	}
	i.records.Forget(workspaceID)
	i.mu.Lock()
	delete(i.parsed, workspaceID)
	i.mu.Unlock()
	return nil
}

// Credentials loads (or reuses, see records) and parses the workspace's
// credentials.
func (i *Issuer) Credentials(ctx context.Context, workspaceID string) (*Credentials, core.AppleCredentials, error) {
	rec, err := i.records.Get(ctx, workspaceID, func(ctx context.Context) (core.AppleCredentials, error) {
		return i.store.AppleCredentials(ctx, workspaceID)
	})
	if err != nil {
		return nil, core.AppleCredentials{}, fmt.Errorf("loading Apple credentials: %w", err)
	}
	creds, err := i.Parsed(rec)
	return creds, rec, err
}

// Parsed returns the parsed form of a stored record, parsing (and
// unsealing the key) once per upload.
func (i *Issuer) Parsed(rec core.AppleCredentials) (*Credentials, error) {
	i.mu.Lock()
	pc, ok := i.parsed[rec.WorkspaceID]
	i.mu.Unlock()
	if ok && pc.updatedAt.Equal(rec.UpdatedAt) {
		return pc.creds, nil
	}
	keyPEM, err := i.box.Open(rec.KeySealed, keyContext(rec.WorkspaceID))
	if err != nil {
		return nil, fmt.Errorf("unsealing the Apple private key of %s: %w", rec.WorkspaceID, err)
	}
	creds, err := parseCredentials([]byte(rec.CertificatePEM), keyPEM, []byte(rec.WWDRPEM), rec.PassTypeIdentifier, rec.TeamIdentifier)
	if err != nil {
		return nil, fmt.Errorf("parsing stored Apple credentials of %s: %w", rec.WorkspaceID, err)
	}
	i.remember(rec, creds)
	return creds, nil
}

func (i *Issuer) remember(rec core.AppleCredentials, creds *Credentials) {
	i.mu.Lock()
	i.parsed[rec.WorkspaceID] = parsedCreds{updatedAt: rec.UpdatedAt, creds: creds}
	i.mu.Unlock()
}

// Package renders (or takes from the cache) and signs pass p of template
// t with the stored credentials rec. The archive is stamped with the
// pass's last modification, so only the signature differs between two
// downloads of one version.
func (i *Issuer) Package(rec core.AppleCredentials, t core.Template, p core.Pass) ([]byte, error) {
	creds, err := i.Parsed(rec)
	if err != nil {
		return nil, err
	}
	key := CacheKey{PassID: p.ID, Version: p.Version, TemplateVersion: t.Version, Credentials: rec.UpdatedAt.UnixMicro()}
	files, ok := i.cache.Get(key)
	if !ok {
		passJSON, err := Render(t, p, creds.Options(i.publicURL))
		if err != nil {
			return nil, fmt.Errorf("rendering pass %s: %w", p.ID, err)
		}
		images, err := DecodeImages(t.Images)
		if err != nil {
			return nil, fmt.Errorf("decoding images of template %s: %w", t.ID, err)
		}
		files, err = BuildFiles(passJSON, images)
		if err != nil {
			return nil, fmt.Errorf("building pass %s: %w", p.ID, err)
		}
		i.cache.Add(key, files)
	}
	sig, err := files.Sign(creds, i.now())
	if err != nil {
		return nil, err
	}
	return files.Zip(sig, core.LastModified(p, t))
}

func infoOf(rec core.AppleCredentials, creds *Credentials) CredentialInfo {
	return CredentialInfo{
		PassTypeIdentifier: rec.PassTypeIdentifier,
		TeamIdentifier:     rec.TeamIdentifier,
		Certificate:        CertificateInfo(creds.Certificate),
		WWDRCertificate:    CertificateInfo(creds.WWDR),
		CreatedAt:          rec.CreatedAt,
		UpdatedAt:          rec.UpdatedAt,
	}
}

func encodeCertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
