package core

import (
	"encoding/base64"
	"errors"
	"regexp"
	"sort"
	"testing"
)

func validTemplate() Template {
	return Template{Name: "Loyalty", Style: StyleStoreCard, OrganizationName: "Acme", Description: "card"}
}

func TestTemplateValidateNamesTheField(t *testing.T) {
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nrest"))
	for _, tc := range []struct {
		name  string
		edit  func(*Template)
		field string // "" means valid
	}{
		{"minimal", func(*Template) {}, ""},
		{"missing name", func(t *Template) { t.Name = " " }, "name"},
		{"missing style", func(t *Template) { t.Style = "" }, "style"},
		{"unknown style", func(t *Template) { t.Style = "poster" }, "style"},
		{"boarding pass needs transit type", func(t *Template) { t.Style = StyleBoardingPass }, "transitType"},
		{"boarding pass with transit type", func(t *Template) { t.Style, t.TransitType = StyleBoardingPass, "PKTransitTypeAir" }, ""},
		{"transit type elsewhere", func(t *Template) { t.TransitType = "PKTransitTypeAir" }, "transitType"},
		{"gift card store card", func(t *Template) { t.GoogleClass = GoogleClassGiftCard }, ""},
		{"gift card coupon", func(t *Template) { t.Style, t.GoogleClass = StyleCoupon, GoogleClassGiftCard }, "googleClass"},
		{"unknown google class", func(t *Template) { t.GoogleClass = "flight" }, "googleClass"},
		{"bad colour", func(t *Template) { t.Colors.Background = "red" }, "colors.background"},
		{"rgb colour", func(t *Template) { t.Colors.Foreground = "rgb(1, 2, 3)" }, ""},
		{"field without key", func(t *Template) { t.Fields.Primary = []Field{{Label: "x"}} }, "fields.primary[0].key"},
		{"duplicate key across rows", func(t *Template) {
			t.Fields.Primary = []Field{{Key: "points"}}
			t.Fields.Back = []Field{{Key: "points"}}
		}, "fields.back[0].key"},
		{"change message without %@", func(t *Template) { t.Fields.Header = []Field{{Key: "p", ChangeMessage: "changed"}} }, "fields.header[0].changeMessage"},
		{"barcode format", func(t *Template) { t.Barcode = &Barcode{Format: "EAN13", Message: "x"} }, "barcode.format"},
		{"barcode message", func(t *Template) { t.Barcode = &Barcode{Format: BarcodeQR} }, "barcode.message"},
		{"barcode encoding", func(t *Template) { t.Barcode = &Barcode{Format: BarcodeAztec, Message: "x", Encoding: "latin9"} }, "barcode.encoding"},
		{"image name", func(t *Template) { t.Images = map[string]string{"banner": png} }, "images.banner"},
		{"image not base64", func(t *Template) { t.Images = map[string]string{"icon": "!!"} }, "images.icon"},
		{"image not PNG", func(t *Template) {
			t.Images = map[string]string{"icon@2x": base64.StdEncoding.EncodeToString([]byte("GIF89a"))}
		}, "images.icon@2x"},
		{"png image", func(t *Template) { t.Images = map[string]string{"icon": png, "logo@3x": png} }, ""},
		{"too many locations", func(t *Template) { t.Locations = make([]Location, MaxLocations+1) }, "locations"},
		{"latitude", func(t *Template) { t.Locations = []Location{{Latitude: 91}} }, "locations[0].latitude"},
		{"longitude", func(t *Template) { t.Locations = []Location{{Longitude: -181}} }, "locations[0].longitude"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tpl := validTemplate()
			tc.edit(&tpl)
			err := tpl.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a FieldError on %q", err, tc.field)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatal("a FieldError must be ErrInvalid")
			}
		})
	}
}

func TestNewIDIsOrderedUniqueAndURLSafe(t *testing.T) {
	re := regexp.MustCompile(`^pass_[0-9a-z]{26}$`)
	ids := make([]string, 10000)
	seen := map[string]bool{}
	for i := range ids {
		ids[i] = NewID(PrefixPass)
		if !re.MatchString(ids[i]) {
			t.Fatalf("id %q has the wrong shape", ids[i])
		}
		if seen[ids[i]] {
			t.Fatalf("id %q made twice", ids[i])
		}
		seen[ids[i]] = true
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids made in sequence do not sort in sequence")
	}
}

func TestDeriveWalletStatus(t *testing.T) {
	now := validTemplate().CreatedAt
	for _, tc := range []struct {
		apple, google bool
		want          WalletStatus
	}{{false, false, WalletNone}, {true, false, WalletApple}, {false, true, WalletGoogle}, {true, true, WalletBoth}} {
		p := Pass{}
		if tc.apple {
			p.AppleWalletInstalledAt = &now
		}
		if tc.google {
			p.GoogleWalletInstalledAt = &now
		}
		if got := p.DeriveWalletStatus(); got != tc.want {
			t.Errorf("apple=%v google=%v: %s, want %s", tc.apple, tc.google, got, tc.want)
		}
	}
}

func TestChangedKeys(t *testing.T) {
	before := map[string]any{"a": 1.0, "b": "x", "c": []any{1.0}}
	after := map[string]any{"a": 1.0, "b": "y", "d": true, "c": []any{1.0}}
	got := changedKeys(before, after)
	want := []string{"b", "d"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("changedKeys = %v, want %v", got, want)
	}
	if k := changedKeys(before, cloneData(before)); len(k) != 0 {
		t.Fatalf("a deep copy reports changes: %v", k)
	}
}
