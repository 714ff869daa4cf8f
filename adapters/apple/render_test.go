package apple

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/apple/sample"
	"github.com/passhub/passhub/core"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

const testPublicURL = "https://passhub.example.com"

func testOptions() RenderOptions {
	return RenderOptions{PassTypeIdentifier: testPassTypeID, TeamIdentifier: testTeamID, PublicURL: testPublicURL}
}

func testTemplate(style core.Style) core.Template { return sample.Template(style) }

func testPass() core.Pass { return sample.Pass() }

func renderMap(t *testing.T, tpl core.Template, p core.Pass, opts RenderOptions) map[string]any {
	t.Helper()
	raw, err := Render(tpl, p, opts)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("pass.json is not JSON: %v", err)
	}
	return m
}

func TestRenderHasEveryRequiredKeyForEachStyle(t *testing.T) {
	for _, style := range core.Styles {
		t.Run(string(style), func(t *testing.T) {
			m := renderMap(t, testTemplate(style), testPass(), testOptions())
			want := map[string]any{
				"formatVersion":       float64(1),
				"passTypeIdentifier":  testPassTypeID,
				"teamIdentifier":      testTeamID,
				"serialNumber":        "pas_01HXYZ",
				"organizationName":    "Example Coffee",
				"description":         "Example loyalty card",
				"logoText":            "Example",
				"backgroundColor":     "rgb(30, 42, 59)",
				"foregroundColor":     "rgb(255, 255, 255)",
				"labelColor":          "rgb(255, 204, 0)",
				"webServiceURL":       testPublicURL + "/apple",
				"authenticationToken": "0123456789abcdef0123",
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %#v, want %#v", k, m[k], v)
				}
			}
			styles := 0
			for _, s := range core.Styles {
				if _, ok := m[string(s)]; ok {
					styles++
				}
			}
			if styles != 1 {
				t.Fatalf("pass.json has %d style keys, want exactly 1", styles)
			}
			st, ok := m[string(style)].(map[string]any)
			if !ok {
				t.Fatalf("style key %s missing", style)
			}
			for _, k := range []string{"headerFields", "primaryFields", "secondaryFields", "auxiliaryFields", "backFields"} {
				if _, ok := st[k].([]any); !ok {
					t.Errorf("%s.%s missing", style, k)
				}
			}
			tt, hasTransit := st["transitType"]
			if style == core.StyleBoardingPass {
				if tt != "PKTransitTypeTrain" {
					t.Errorf("boardingPass.transitType = %v, want PKTransitTypeTrain", tt)
				}
			} else if hasTransit {
				t.Errorf("%s has transitType", style)
			}
			if _, ok := m["voided"]; ok {
				t.Errorf("active pass is voided")
			}
			if _, ok := m["expirationDate"]; ok {
				t.Errorf("active pass has expirationDate")
			}
		})
	}
}

func TestRenderFieldsTakeDataThenStaticValue(t *testing.T) {
	m := renderMap(t, testTemplate(core.StyleStoreCard), testPass(), testOptions())
	st := m["storeCard"].(map[string]any)
	field := func(row string, i int) map[string]any { return st[row].([]any)[i].(map[string]any) }

	primary := field("primaryFields", 0)
	if primary["value"] != float64(1250) {
		t.Errorf("points = %#v, want the JSON number 1250", primary["value"])
	}
	for k, v := range map[string]string{"label": "Points", "changeMessage": "You now have %@ points", "numberStyle": "PKNumberStyleDecimal", "textAlignment": "PKTextAlignmentRight"} {
		if primary[k] != v {
			t.Errorf("primary %s = %#v, want %q", k, primary[k], v)
		}
	}
	if got := field("headerFields", 0)["value"]; got != "Gold" {
		t.Errorf("data should win over the static value: tier = %#v", got)
	}
	if got := field("secondaryFields", 0)["value"]; got != "Ada Lovelace" {
		t.Errorf("field with source reads that key: name = %#v", got)
	}
	bal := field("auxiliaryFields", 0)
	if bal["value"] != 12.5 || bal["currencyCode"] != "EUR" {
		t.Errorf("balance = %#v", bal)
	}
	since := field("auxiliaryFields", 1)
	if since["dateStyle"] != "PKDateStyleMedium" || since["timeStyle"] != "PKDateStyleNone" {
		t.Errorf("since = %#v", since)
	}
	if got := field("backFields", 0)["value"]; got != "Points expire after a year." {
		t.Errorf("static value is the fallback: terms = %#v", got)
	}
}

func TestRenderBarcodeSubstitutesPlaceholders(t *testing.T) {
	tests := []struct {
		name, message, altText   string
		wantMessage, wantAltText string
	}{
		{"pass and external id", "{{passId}}:{{externalId}}", "", "pas_01HXYZ:cust-42", ""},
		{"data keys, numbers and spaces", "M{{ data.points }}-{{data.fullName}}", "{{data.fullName}}", "M1250-Ada Lovelace", "Ada Lovelace"},
		{"missing data key is empty", "x{{data.nope}}y", "", "xy", ""},
		{"unknown placeholder stays", "{{secret}}", "", "{{secret}}", ""},
		{"no placeholders", "plain", "alt", "plain", "alt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := testTemplate(core.StyleCoupon)
			tpl.Barcode = &core.Barcode{Format: core.BarcodePDF417, Message: tt.message, AltText: tt.altText}
			m := renderMap(t, tpl, testPass(), testOptions())
			codes := m["barcodes"].([]any)
			if len(codes) != 1 {
				t.Fatalf("barcodes = %v", codes)
			}
			for _, bc := range []map[string]any{codes[0].(map[string]any), m["barcode"].(map[string]any)} {
				if bc["message"] != tt.wantMessage {
					t.Errorf("message = %#v, want %q", bc["message"], tt.wantMessage)
				}
				if alt, _ := bc["altText"].(string); alt != tt.wantAltText {
					t.Errorf("altText = %#v, want %q", bc["altText"], tt.wantAltText)
				}
				if bc["format"] != "PKBarcodeFormatPDF417" || bc["messageEncoding"] != "iso-8859-1" {
					t.Errorf("format/encoding = %v/%v", bc["format"], bc["messageEncoding"])
				}
			}
		})
	}
}

func TestRenderBarcodeFormats(t *testing.T) {
	tests := []struct {
		format, want string
		legacy       bool
	}{
		{core.BarcodeQR, "PKBarcodeFormatQR", true},
		{core.BarcodePDF417, "PKBarcodeFormatPDF417", true},
		{core.BarcodeAztec, "PKBarcodeFormatAztec", true},
		// The legacy barcode key does not allow Code128.
		{core.BarcodeCode128, "PKBarcodeFormatCode128", false},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			tpl := testTemplate(core.StyleGeneric)
			tpl.Barcode = &core.Barcode{Format: tt.format, Message: "m", Encoding: "utf-8"}
			m := renderMap(t, tpl, testPass(), testOptions())
			bc := m["barcodes"].([]any)[0].(map[string]any)
			if bc["format"] != tt.want || bc["messageEncoding"] != "utf-8" {
				t.Errorf("barcode = %v", bc)
			}
			if _, ok := m["barcode"]; ok != tt.legacy {
				t.Errorf("legacy barcode present = %v, want %v", ok, tt.legacy)
			}
		})
	}
}

func TestRenderLifecycle(t *testing.T) {
	tests := []struct {
		lifecycle   core.Lifecycle
		wantVoided  bool
		wantExpires string
	}{
		{core.LifecycleActive, false, ""},
		{core.LifecycleExpired, false, "2026-02-01T09:30:00Z"},
		{core.LifecycleVoided, true, ""},
		{core.LifecycleDeleted, true, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.lifecycle), func(t *testing.T) {
			p := testPass()
			p.Lifecycle = tt.lifecycle
			m := renderMap(t, testTemplate(core.StyleEventTicket), p, testOptions())
			voided, _ := m["voided"].(bool)
			if voided != tt.wantVoided {
				t.Errorf("voided = %v, want %v", voided, tt.wantVoided)
			}
			exp, _ := m["expirationDate"].(string)
			if exp != tt.wantExpires {
				t.Errorf("expirationDate = %q, want %q (the pass's UpdatedAt, already past)", exp, tt.wantExpires)
			}
		})
	}
}

func TestRenderRejectsShortAuthToken(t *testing.T) {
	for _, token := range []string{"", "short", "0123456789abcde"} {
		p := testPass()
		p.AuthToken = token
		_, err := Render(testTemplate(core.StyleStoreCard), p, testOptions())
		assertFieldError(t, err, "authToken", "16")
	}
	p := testPass()
	p.AuthToken = "0123456789abcdef" // exactly 16 is enough
	if _, err := Render(testTemplate(core.StyleStoreCard), p, testOptions()); err != nil {
		t.Errorf("16-character token rejected: %v", err)
	}
}

func TestRenderRequiresTransitTypeForBoardingPass(t *testing.T) {
	tpl := testTemplate(core.StyleBoardingPass)
	tpl.TransitType = ""
	_, err := Render(tpl, testPass(), testOptions())
	assertFieldError(t, err, "transitType", "boardingPass")
}

func TestRenderRelevance(t *testing.T) {
	at := time.Date(2026, 6, 1, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		data      map[string]any
		opts      func(*RenderOptions)
		wantDate  string
		wantDates []map[string]any
	}{
		{name: "none"},
		{
			name:      "data relevantDate",
			data:      map[string]any{"relevantDate": "2026-06-01T20:00:00+02:00"},
			wantDate:  "2026-06-01T20:00:00+02:00",
			wantDates: []map[string]any{{"date": "2026-06-01T20:00:00+02:00"}},
		},
		{
			name:      "data interval, relevantDate is its start",
			data:      map[string]any{"relevantStart": "2026-06-01T18:00:00Z", "relevantEnd": "2026-06-01T23:00:00Z"},
			wantDate:  "2026-06-01T18:00:00Z",
			wantDates: []map[string]any{{"startDate": "2026-06-01T18:00:00Z", "endDate": "2026-06-01T23:00:00Z"}},
		},
		{
			name: "options win over data",
			data: map[string]any{"relevantDate": "2020-01-01T00:00:00Z", "relevantStart": "2020-01-01T00:00:00Z"},
			opts: func(o *RenderOptions) {
				o.RelevantDate = at
				o.RelevantDates = []Interval{{Start: at, End: at.Add(time.Hour)}}
			},
			wantDate:  "2026-06-01T18:00:00Z",
			wantDates: []map[string]any{{"startDate": "2026-06-01T18:00:00Z", "endDate": "2026-06-01T19:00:00Z"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPass()
			for k, v := range tt.data {
				p.Data[k] = v
			}
			opts := testOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			m := renderMap(t, testTemplate(core.StyleEventTicket), p, opts)
			got, _ := m["relevantDate"].(string)
			if got != tt.wantDate {
				t.Errorf("relevantDate = %q, want %q", got, tt.wantDate)
			}
			gotDates, _ := json.Marshal(m["relevantDates"])
			wantDates, _ := json.Marshal(tt.wantDates)
			if tt.wantDates == nil {
				wantDates = []byte("null")
			}
			if !bytes.Equal(gotDates, wantDates) {
				t.Errorf("relevantDates = %s, want %s", gotDates, wantDates)
			}
		})
	}

	p := testPass()
	p.Data["relevantStart"] = "tomorrow"
	_, err := Render(testTemplate(core.StyleEventTicket), p, testOptions())
	assertFieldError(t, err, "data.relevantStart", "RFC 3339")
}

func TestRenderCapsLocationsAtTen(t *testing.T) {
	tpl := testTemplate(core.StyleStoreCard)
	tpl.Locations = nil
	for i := range 12 {
		tpl.Locations = append(tpl.Locations, core.Location{Latitude: float64(i), Longitude: float64(i)})
	}
	m := renderMap(t, tpl, testPass(), testOptions())
	if n := len(m["locations"].([]any)); n != 10 {
		t.Errorf("%d locations, want 10", n)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	first, err := Render(testTemplate(core.StyleStoreCard), testPass(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // map iteration order varies between runs
		again, err := Render(testTemplate(core.StyleStoreCard), testPass(), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("render differs:\n%s\n%s", first, again)
		}
	}
}

func TestRenderStoreCardGolden(t *testing.T) {
	got, err := Render(testTemplate(core.StyleStoreCard), testPass(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "storecard.pass.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("pass.json differs from %s (run with -update if intended):\n%s", path, got)
	}
}

func TestRenderPutsTheUpdateMessageOnTheLockScreen(t *testing.T) {
	type want struct {
		row, key, changeMessage string
	}
	tests := []struct {
		name    string
		message string
		changed []string
		want    []want
		// backMessage is the value of the message back field; empty means
		// there must be none.
		backMessage string
	}{
		{name: "no message keeps the template's changeMessage", changed: []string{"points"},
			want: []want{{"primaryFields", "points", "You now have %@ points"}}},
		{name: "message replaces the changed field's changeMessage", message: "You earned 50 points", changed: []string{"points"},
			want: []want{{"primaryFields", "points", "You earned 50 points"}}},
		{name: "a %@ the user wrote stays the value, other % are literal", message: "100% done: %@ points", changed: []string{"points"},
			want: []want{{"primaryFields", "points", "100%% done: %@ points"}}},
		{name: "only the first changed field alerts", message: "Welcome to Gold", changed: []string{"fullName", "tier"},
			want: []want{{"headerFields", "tier", "Welcome to Gold"}, {"secondaryFields", "name", ""}}},
		{name: "no displayed field changed: a back field carries it", message: "Thanks for visiting", changed: []string{"hidden"},
			want: []want{{"primaryFields", "points", "You now have %@ points"}}, backMessage: "Thanks for visiting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPass()
			p.Message, p.Changed = tc.message, tc.changed
			st := renderMap(t, testTemplate(core.StyleStoreCard), p, testOptions())["storeCard"].(map[string]any)
			find := func(row, key string) map[string]any {
				rows, _ := st[row].([]any)
				for _, f := range rows {
					if m := f.(map[string]any); m["key"] == key {
						return m
					}
				}
				return nil
			}
			for _, w := range tc.want {
				f := find(w.row, w.key)
				if f == nil {
					t.Fatalf("no %s field %q", w.row, w.key)
				}
				if got, _ := f["changeMessage"].(string); got != w.changeMessage {
					t.Errorf("%s.%s changeMessage = %q, want %q", w.row, w.key, got, w.changeMessage)
				}
			}
			back := find("backFields", MessageFieldKey)
			switch {
			case tc.backMessage == "" && back != nil:
				t.Errorf("unexpected message back field %v", back)
			case tc.backMessage != "" && (back == nil || back["value"] != tc.backMessage || back["changeMessage"] != "%@"):
				t.Errorf("message back field = %v, want value %q with changeMessage %%@", back, tc.backMessage)
			}
		})
	}
}
