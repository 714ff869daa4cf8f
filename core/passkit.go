package core

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// PassKit holds the use cases of Apple's PassKit web service: devices
// registering for a pass's updates, asking which passes changed, and
// fetching the latest pass.
type PassKit struct {
	store PassKitStore
	now   func() time.Time
}

// PassKitStore is what the web service needs of the store.
type PassKitStore interface {
	AppleCredentialsByPassType(ctx context.Context, passTypeIdentifier string) (AppleCredentials, error)
	Pass(ctx context.Context, workspaceID, id string) (Pass, error)
	Template(ctx context.Context, workspaceID, id string) (Template, error)
	RegisterDevice(ctx context.Context, r Registration, onFirst func(*Pass) ([]Event, error)) (bool, error)
	UnregisterDevice(ctx context.Context, workspaceID, deviceLibraryID, passTypeIdentifier, passID string, onLast func(*Pass) ([]Event, error)) error
	UpdatedSerials(ctx context.Context, deviceLibraryID, passTypeIdentifier string, since int64) ([]string, int64, error)
}

// NewPassKit returns the web service use cases over store.
func NewPassKit(store PassKitStore) *PassKit {
	return &PassKit{store: store, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Limits on what devices send.
const (
	MaxDeviceLibraryIDLen = 255
	MaxPushTokenLen       = 200
)

// dummyToken is compared against when the pass is unknown, so an unknown
// serial costs the same as a wrong token.
var dummyToken = []byte(RandomToken(20))

// Authorize resolves a pass by pass type and serial number and checks the
// device's authentication token in constant time. An unknown pass type,
// unknown pass or wrong token are all ErrUnauthorized: the answer never
// says which.
func (k *PassKit) Authorize(ctx context.Context, passTypeIdentifier, serial, token string) (Pass, AppleCredentials, error) {
	creds, err := k.store.AppleCredentialsByPassType(ctx, passTypeIdentifier)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Pass{}, AppleCredentials{}, fmt.Errorf("loading credentials of %s: %w", passTypeIdentifier, err)
	}
	var p Pass
	want := dummyToken
	if err == nil {
		p, err = k.store.Pass(ctx, creds.WorkspaceID, serial)
		switch {
		case err == nil:
			want = []byte(p.AuthToken)
		case !errors.Is(err, ErrNotFound):
			return Pass{}, AppleCredentials{}, fmt.Errorf("loading pass %s: %w", serial, err)
		}
	}
	ok := subtle.ConstantTimeCompare([]byte(token), want) == 1
	if !ok || p.ID == "" || token == "" {
		return Pass{}, AppleCredentials{}, ErrUnauthorized
	}
	return p, creds, nil
}

// Register records that a device holds a pass and wants its updates at
// pushToken. created is false when it was registered already (the push
// token is refreshed). The pass's first registration emits
// pass.installed (platform apple).
func (k *PassKit) Register(ctx context.Context, deviceLibraryID, passTypeIdentifier, serial, token, pushToken string) (created bool, err error) {
	p, _, err := k.Authorize(ctx, passTypeIdentifier, serial, token)
	if err != nil {
		return false, err
	}
	if err := validateDeviceLibraryID(deviceLibraryID); err != nil {
		return false, err
	}
	if err := validatePushToken(pushToken); err != nil {
		return false, err
	}
	now := k.now()
	r := Registration{
		DeviceLibraryID: deviceLibraryID, PassTypeIdentifier: passTypeIdentifier, PassID: p.ID,
		WorkspaceID: p.WorkspaceID, PushToken: pushToken, CreatedAt: now, UpdatedAt: now,
	}
	created, err = k.store.RegisterDevice(ctx, r, func(p *Pass) ([]Event, error) {
		return MarkInstalled(p, PlatformApple, now), nil
	})
	if err != nil {
		return false, fmt.Errorf("registering device for pass %s: %w", p.ID, err)
	}
	return created, nil
}

// Unregister removes a device's registration; the pass's last one emits
// pass.uninstalled (platform apple). A registration that does not exist is
// already gone: that is success.
func (k *PassKit) Unregister(ctx context.Context, deviceLibraryID, passTypeIdentifier, serial, token string) error {
	p, _, err := k.Authorize(ctx, passTypeIdentifier, serial, token)
	if err != nil {
		return err
	}
	now := k.now()
	err = k.store.UnregisterDevice(ctx, p.WorkspaceID, deviceLibraryID, passTypeIdentifier, p.ID, func(p *Pass) ([]Event, error) {
		return MarkUninstalled(p, PlatformApple, now), nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("unregistering device from pass %s: %w", p.ID, err)
	}
	return nil
}

// UpdatedSerials answers "which of this device's passes changed since
// tag": the serial numbers and the tag to send next time. No tag (or one
// this server never issued) lists every pass the device holds.
func (k *PassKit) UpdatedSerials(ctx context.Context, deviceLibraryID, passTypeIdentifier, since string) ([]string, string, error) {
	tag, err := strconv.ParseInt(since, 10, 64)
	if err != nil || tag < 0 {
		tag = 0
	}
	serials, last, err := k.store.UpdatedSerials(ctx, deviceLibraryID, passTypeIdentifier, tag)
	if err != nil {
		return nil, "", fmt.Errorf("reading updated serials: %w", err)
	}
	return serials, strconv.FormatInt(last, 10), nil
}

// Template returns the template a pass is drawn with.
func (k *PassKit) Template(ctx context.Context, workspaceID, id string) (Template, error) {
	return k.store.Template(ctx, workspaceID, id)
}

// LastModified is when what a device sees of the pass last changed: the
// pass or its template, whichever is later.
func LastModified(p Pass, t Template) time.Time {
	if t.UpdatedAt.After(p.UpdatedAt) {
		return t.UpdatedAt
	}
	return p.UpdatedAt
}

func validateDeviceLibraryID(id string) error {
	if id == "" || len(id) > MaxDeviceLibraryIDLen {
		return Invalid("deviceLibraryIdentifier", "must be 1 to %d characters", MaxDeviceLibraryIDLen)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f {
			return Invalid("deviceLibraryIdentifier", "must not contain spaces or control characters")
		}
	}
	return nil
}

func validatePushToken(tok string) error {
	if tok == "" {
		return Invalid("pushToken", "is required")
	}
	if len(tok) > MaxPushTokenLen {
		return Invalid("pushToken", "is longer than %d characters", MaxPushTokenLen)
	}
	for _, r := range tok {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return Invalid("pushToken", "must be hexadecimal")
		}
	}
	return nil
}
