package sqlstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// EncodeChanged is the JSON array the changed column holds; nil is "[]".
func EncodeChanged(keys []string) ([]byte, error) {
	if len(keys) == 0 {
		return []byte("[]"), nil
	}
	b, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("encoding changed keys: %w", err)
	}
	return b, nil
}

// DecodeChanged reads the changed column; an empty array is nil, as
// NormPass has it.
func DecodeChanged(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("decoding changed keys: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return keys, nil
}

// RegistrationTimes are the creation and update times a registration is
// written with: UpdatedAt, else CreatedAt, else now; a zero CreatedAt is
// the update time.
func RegistrationTimes(r core.Registration) (created, updated time.Time) {
	updated = r.UpdatedAt
	if updated.IsZero() {
		updated = r.CreatedAt
	}
	if updated.IsZero() {
		updated = time.Now()
	}
	created = r.CreatedAt
	if created.IsZero() {
		created = updated
	}
	return TruncTime(created), TruncTime(updated)
}

// NormAppleCredentials is c with its times truncated as the columns are;
// a zero UpdatedAt is now and a zero CreatedAt is UpdatedAt.
func NormAppleCredentials(c core.AppleCredentials) core.AppleCredentials {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = time.Now()
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = c.UpdatedAt
	}
	c.NotAfter = TruncTime(c.NotAfter)
	c.CreatedAt = TruncTime(c.CreatedAt)
	c.UpdatedAt = TruncTime(c.UpdatedAt)
	return c
}

// Touched is one registration a touch stamped: the device, its push token
// and the pass.
type Touched struct {
	DeviceLibraryID string
	PushToken       string
	PassID          string
	ExternalID      string
}

// PushTargets groups touched registrations into one target per distinct
// push token, in device ID order: a target is named by the first device
// with its token and lists each of the token's passes once, by pass ID.
func PushTargets(rows []Touched) []core.PushTarget {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b Touched) int {
		if c := strings.Compare(a.DeviceLibraryID, b.DeviceLibraryID); c != 0 {
			return c
		}
		return strings.Compare(a.PassID, b.PassID)
	})
	var out []core.PushTarget
	byToken := map[string]int{}
	seen := map[[2]string]bool{}
	for _, r := range rows {
		i, ok := byToken[r.PushToken]
		if !ok {
			i = len(out)
			byToken[r.PushToken] = i
			out = append(out, core.PushTarget{DeviceLibraryID: r.DeviceLibraryID, PushToken: r.PushToken})
		}
		if k := [2]string{r.PushToken, r.PassID}; !seen[k] {
			seen[k] = true
			out[i].Passes = append(out[i].Passes, core.PassRef{PassID: r.PassID, ExternalID: r.ExternalID})
		}
	}
	for i := range out {
		slices.SortFunc(out[i].Passes, func(a, b core.PassRef) int { return strings.Compare(a.PassID, b.PassID) })
	}
	return out
}
