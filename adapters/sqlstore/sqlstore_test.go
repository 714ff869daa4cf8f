package sqlstore

import (
	"errors"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/passhub/passhub/core"
)

func TestPageLimit(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{-1, DefaultLimit},
		{0, DefaultLimit},
		{1, 1},
		{DefaultLimit + 1, DefaultLimit + 1},
		{MaxLimit, MaxLimit},
		{MaxLimit + 1, MaxLimit},
	} {
		if got := PageLimit(tc.in); got != tc.want {
			t.Errorf("PageLimit(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestCursors(t *testing.T) {
	for _, id := range []string{"a", "tpl_01HZX", "42", "with/slash+plus=eq"} {
		c := EncodeCursor(id)
		got, err := DecodeCursor(c)
		if err != nil || got != id {
			t.Errorf("DecodeCursor(EncodeCursor(%q)) = %q, %v", id, got, err)
		}
	}
	// The format is part of the API: unpadded URL-safe base64.
	if c := EncodeCursor("42"); c != "NDI" {
		t.Errorf("EncodeCursor(\"42\") = %q, want \"NDI\"", c)
	}
	if n, err := DecodeSeqCursor(EncodeCursor("42")); err != nil || n != 42 {
		t.Errorf("DecodeSeqCursor = %d, %v; want 42", n, err)
	}

	for _, tc := range []struct {
		name, cursor string
		seq          bool
	}{
		{"empty", "", false},
		{"not base64", "!!!", false},
		{"padded", "NDI=", false},
		{"empty seq", "", true},
		{"seq not a number", EncodeCursor("abc"), true},
		{"seq not base64", "!!!", true},
	} {
		var err error
		if tc.seq {
			_, err = DecodeSeqCursor(tc.cursor)
		} else {
			_, err = DecodeCursor(tc.cursor)
		}
		var fe *core.FieldError
		if !errors.Is(err, core.ErrInvalid) || !errors.As(err, &fe) || fe.Field != "cursor" {
			t.Errorf("%s: err = %v, want core.Invalid(\"cursor\", ...)", tc.name, err)
		}
	}
}

func TestMigrations(t *testing.T) {
	ms, err := Migrations(fstest.MapFS{
		"migrations/0002_more.sql": {Data: []byte("B")},
		"migrations/0001_init.sql": {Data: []byte("A")},
		"migrations/README":        {Data: []byte("ignored")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0] != (Migration{1, "0001_init.sql", "A"}) || ms[1] != (Migration{2, "0002_more.sql", "B"}) {
		t.Errorf("Migrations = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no version": {"migrations/init.sql": {}},
		"duplicate":  {"migrations/1_a.sql": {}, "migrations/01_b.sql": {}},
	} {
		if _, err := Migrations(fsys); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPushTargets(t *testing.T) {
	got := PushTargets([]Touched{
		{DeviceLibraryID: "d3", PushToken: "shared", PassID: "p2", ExternalID: "e2"},
		{DeviceLibraryID: "d1", PushToken: "shared", PassID: "p2", ExternalID: "e2"},
		{DeviceLibraryID: "d2", PushToken: "own", PassID: "p1", ExternalID: "e1"},
		{DeviceLibraryID: "d1", PushToken: "shared", PassID: "p1", ExternalID: "e1"},
		{DeviceLibraryID: "d3", PushToken: "shared", PassID: "p3", ExternalID: "e3"},
	})
	want := []core.PushTarget{
		{DeviceLibraryID: "d1", PushToken: "shared", Passes: []core.PassRef{{PassID: "p1", ExternalID: "e1"}, {PassID: "p2", ExternalID: "e2"}, {PassID: "p3", ExternalID: "e3"}}},
		{DeviceLibraryID: "d2", PushToken: "own", Passes: []core.PassRef{{PassID: "p1", ExternalID: "e1"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PushTargets = %+v, want %+v", got, want)
	}
	if got := PushTargets(nil); len(got) != 0 {
		t.Errorf("PushTargets(nil) = %+v", got)
	}
}

func TestChangedKeys(t *testing.T) {
	for _, keys := range [][]string{nil, {}} {
		b, err := EncodeChanged(keys)
		if err != nil || string(b) != "[]" {
			t.Errorf("EncodeChanged(%#v) = %s, %v; want []", keys, b, err)
		}
		if p := NormPass(core.Pass{Changed: keys}); p.Changed != nil {
			t.Errorf("NormPass kept Changed %#v", p.Changed)
		}
	}
	for _, in := range []string{"", "[]", "null"} {
		if got, err := DecodeChanged([]byte(in)); err != nil || got != nil {
			t.Errorf("DecodeChanged(%q) = %#v, %v; want nil", in, got, err)
		}
	}
	b, _ := EncodeChanged([]string{"a", "b"})
	if got, err := DecodeChanged(b); err != nil || !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("round trip = %#v, %v", got, err)
	}
	if _, err := DecodeChanged([]byte("{")); err == nil {
		t.Error("DecodeChanged of bad JSON: no error")
	}
}

func TestApplyPassChangeCopiesChanged(t *testing.T) {
	before := core.Pass{ID: "p", Data: map[string]any{}, Changed: []string{"a"}}
	p, _, _, changed, err := ApplyPassChange(before, func(p *core.Pass) ([]core.Event, error) {
		p.Changed[0] = "b"
		return nil, nil
	})
	if err != nil || !changed || before.Changed[0] != "a" || p.Changed[0] != "b" {
		t.Errorf("in-place change: changed %v, before %v, after %v, err %v", changed, before.Changed, p.Changed, err)
	}
	_, _, _, changed, _ = ApplyPassChange(before, func(*core.Pass) ([]core.Event, error) { return nil, nil })
	if changed {
		t.Error("no-op reported a change")
	}
}
