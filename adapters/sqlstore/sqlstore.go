// Package sqlstore holds what the SQL store adapters share: paging,
// cursors, time normalisation and migration files.
package sqlstore

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// Page sizes: what a caller that gives none gets, and the most it gets.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// PageLimit is the page size for a requested limit n: DefaultLimit when n
// is not positive, at most MaxLimit.
func PageLimit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

// Cursors are opaque to callers: base64 of the last row's ID (or seq).

// EncodeCursor turns the last row's ID (or seq) into a cursor.
func EncodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// DecodeCursor returns the ID a cursor holds, or core.Invalid("cursor", ...).
func DecodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 {
		return "", core.Invalid("cursor", "is not a cursor this API returned")
	}
	return string(b), nil
}

// DecodeSeqCursor returns the sequence number a cursor holds, or
// core.Invalid("cursor", ...).
func DecodeSeqCursor(c string) (int64, error) {
	s, err := DecodeCursor(c)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, core.Invalid("cursor", "is not a cursor this API returned")
	}
	return n, nil
}

// TruncTime is t as the stores keep it: microsecond precision, UTC.
func TruncTime(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// TruncTimePtr is TruncTime for an optional time; nil stays nil.
func TruncTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := TruncTime(*t)
	return &v
}

// NormTemplate is t with its times truncated as the columns are.
func NormTemplate(t core.Template) core.Template {
	t.CreatedAt = TruncTime(t.CreatedAt)
	t.UpdatedAt = TruncTime(t.UpdatedAt)
	return t
}

// NormPass is p as it reads back: times truncated, data never nil, and
// Changed nil when it lists no key (nil and empty read back alike).
func NormPass(p core.Pass) core.Pass {
	if p.Data == nil {
		p.Data = map[string]any{}
	}
	if len(p.Changed) == 0 {
		p.Changed = nil
	}
	if len(p.Source.Times) == 0 {
		p.Source.Times = nil
	}
	if len(p.Source.Recent) == 0 {
		p.Source.Recent = nil
	}
	p.AppleWalletInstalledAt = TruncTimePtr(p.AppleWalletInstalledAt)
	p.GoogleWalletInstalledAt = TruncTimePtr(p.GoogleWalletInstalledAt)
	p.WalletLastChangedAt = TruncTimePtr(p.WalletLastChangedAt)
	p.CreatedAt = TruncTime(p.CreatedAt)
	p.UpdatedAt = TruncTime(p.UpdatedAt)
	return p
}

// EncodeSource encodes a pass's source state for its column.
func EncodeSource(s core.SourceState) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encoding source state: %w", err)
	}
	return b, nil
}

// DecodeSource decodes the source state column.
func DecodeSource(b []byte) (core.SourceState, error) {
	var s core.SourceState
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decoding source state: %w", err)
	}
	for k, t := range s.Times {
		s.Times[k] = t.UTC()
	}
	if len(s.Times) == 0 {
		s.Times = nil
	}
	if len(s.Recent) == 0 {
		s.Recent = nil
	}
	return s, nil
}

// NormEventData truncates the snapshot's times as the columns are.
func NormEventData(d core.EventData) core.EventData {
	d.AppleWalletInstalledAt = TruncTimePtr(d.AppleWalletInstalledAt)
	d.GoogleWalletInstalledAt = TruncTimePtr(d.GoogleWalletInstalledAt)
	d.WalletLastChangedAt = TruncTimePtr(d.WalletLastChangedAt)
	return d
}

// Migration is one schema migration file.
type Migration struct {
	Version int
	Name    string // file name, e.g. "0001_init.sql"
	SQL     string
}

// Migrations reads fsys's migrations/*.sql, whose names must start with a
// version number and '_', and returns them in version order. Two files
// with the same version are an error.
func Migrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	var out []Migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a version number and '_'", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", base, err)
		}
		out = append(out, Migration{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// CutPage takes a list read with LIMIT limit+1 and returns at most limit
// items, plus the cursor of the last one when the extra row shows that
// more follow ("" on the last page).
func CutPage[T any](items []T, limit int, cursorOf func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, EncodeCursor(cursorOf(items[limit-1]))
}

// ApplyPassChange runs fn on a copy of before and settles the result the
// way both stores need it: identity and creation restored, times
// normalised, and data as it reads back from JSON (numbers float64), with
// its encoding for the data column. changed is false when fn produced no
// events and left the pass as it was, so nothing needs writing.
func ApplyPassChange(before core.Pass, fn func(*core.Pass) ([]core.Event, error)) (p core.Pass, data []byte, events []core.Event, changed bool, err error) {
	p = before
	// fn gets its own copy of the data, so comparing with before is sound
	// whatever fn does to the map.
	if p.Data, _, err = roundTripData(before.Data); err != nil {
		return core.Pass{}, nil, nil, false, err
	}
	p.Changed = slices.Clone(before.Changed)
	p.Source = before.Source.Clone()
	if events, err = fn(&p); err != nil {
		return core.Pass{}, nil, nil, false, err
	}
	p.ID, p.WorkspaceID, p.TemplateID, p.ExternalID = before.ID, before.WorkspaceID, before.TemplateID, before.ExternalID
	p.AuthToken, p.CreatedAt = before.AuthToken, before.CreatedAt
	p = NormPass(p)
	if p.Data, data, err = roundTripData(p.Data); err != nil {
		return core.Pass{}, nil, nil, false, err
	}
	return p, data, events, len(events) > 0 || !reflect.DeepEqual(before, p), nil
}

// roundTripData encodes pass data and decodes it again: a deep copy in
// exactly the shape a read gives.
func roundTripData(m map[string]any) (map[string]any, []byte, error) {
	if m == nil {
		m = map[string]any{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding pass data: %w", err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, nil, fmt.Errorf("decoding pass data: %w", err)
	}
	return out, b, nil
}
