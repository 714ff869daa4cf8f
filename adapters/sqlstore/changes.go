package sqlstore

import (
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// A change-order cursor holds the last pass's change time (microseconds
// since the epoch) and ID; the "c" tells it from an ID-order cursor.

// ChangeCursorKey is what CutPage encodes into the cursor after a pass
// stamped at changedAt.
func ChangeCursorKey(changedAt time.Time, id string) string {
	return "c" + strconv.FormatInt(changedAt.UnixMicro(), 10) + ":" + id
}

// DecodeChangeCursor returns the change time and ID a change-order cursor
// holds, or core.Invalid("cursor", ...).
func DecodeChangeCursor(c string) (time.Time, string, error) {
	s, err := DecodeCursor(c)
	if err != nil {
		return time.Time{}, "", err
	}
	at, id, ok := strings.Cut(strings.TrimPrefix(s, "c"), ":")
	n, perr := strconv.ParseInt(at, 10, 64)
	if !strings.HasPrefix(s, "c") || !ok || perr != nil || id == "" {
		return time.Time{}, "", core.Invalid("cursor", "is not a cursor this API returned for changedSince")
	}
	return time.UnixMicro(n).UTC(), id, nil
}
