package core

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Style is a pass design family; it maps to an Apple pass style and a
// Google Wallet class type.
type Style string

const (
	StyleStoreCard    Style = "storeCard"
	StyleEventTicket  Style = "eventTicket"
	StyleCoupon       Style = "coupon"
	StyleGeneric      Style = "generic"
	StyleBoardingPass Style = "boardingPass"
)

// Styles lists every style.
var Styles = []Style{StyleStoreCard, StyleEventTicket, StyleCoupon, StyleGeneric, StyleBoardingPass}

// Valid reports whether s is a known style.
func (s Style) Valid() bool {
	for _, k := range Styles {
		if k == s {
			return true
		}
	}
	return false
}

// Template is a pass design in a workspace.
type Template struct {
	ID               string      `json:"id"`
	WorkspaceID      string      `json:"workspaceId"`
	Name             string      `json:"name"`
	Style            Style       `json:"style"`
	Description      string      `json:"description"`
	OrganizationName string      `json:"organizationName"`
	LogoText         string      `json:"logoText,omitempty"`
	Colors           Colors      `json:"colors"`
	Fields           FieldLayout `json:"fields"`
	Barcode          *Barcode    `json:"barcode,omitempty"`
	// Images maps an image name (icon, icon@2x, logo@3x, strip, ...) to
	// base64 PNG bytes.
	Images    map[string]string `json:"images,omitempty"`
	Locations []Location        `json:"locations,omitempty"`
	// TransitType is required by boardingPass (Apple PKTransitType*).
	TransitType string `json:"transitType,omitempty"`
	// GoogleClass overrides the Google Wallet class type the style implies;
	// only "giftCard" (for storeCard or generic templates) for now.
	GoogleClass string    `json:"googleClass,omitempty"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Colors are CSS-style rgb(r, g, b) or #rrggbb strings.
type Colors struct {
	Background string `json:"background,omitempty"`
	Foreground string `json:"foreground,omitempty"`
	Label      string `json:"label,omitempty"`
}

// FieldLayout places fields on the pass front and back.
type FieldLayout struct {
	Header    []Field `json:"header,omitempty"`
	Primary   []Field `json:"primary,omitempty"`
	Secondary []Field `json:"secondary,omitempty"`
	Auxiliary []Field `json:"auxiliary,omitempty"`
	Back      []Field `json:"back,omitempty"`
}

// Field is one labelled value on the pass. Its value comes from the pass
// data key Source (default: Key), falling back to the static Value.
type Field struct {
	Key    string `json:"key"`
	Label  string `json:"label,omitempty"`
	Source string `json:"source,omitempty"`
	Value  string `json:"value,omitempty"`
	// ChangeMessage is shown on the lock screen when the value changes;
	// it must contain %@, which Apple replaces with the new value.
	ChangeMessage string `json:"changeMessage,omitempty"`
	TextAlignment string `json:"textAlignment,omitempty"`
	DateStyle     string `json:"dateStyle,omitempty"`
	TimeStyle     string `json:"timeStyle,omitempty"`
	NumberStyle   string `json:"numberStyle,omitempty"`
	CurrencyCode  string `json:"currencyCode,omitempty"`
}

// GoogleClassGiftCard makes a template a Google Wallet gift card.
const GoogleClassGiftCard = "giftCard"

// DataKey is the pass data key this field reads.
func (f Field) DataKey() string {
	if f.Source != "" {
		return f.Source
	}
	return f.Key
}

// Barcode formats.
const (
	BarcodeQR      = "QR"
	BarcodePDF417  = "PDF417"
	BarcodeAztec   = "Aztec"
	BarcodeCode128 = "Code128"
)

// Barcode is the pass barcode. Message and AltText may contain
// placeholders {{passId}}, {{externalId}} and {{data.KEY}}.
type Barcode struct {
	Format   string `json:"format"`
	Message  string `json:"message"`
	AltText  string `json:"altText,omitempty"`
	Encoding string `json:"encoding,omitempty"`
}

// Location makes a pass relevant near a place.
type Location struct {
	Latitude     float64  `json:"latitude"`
	Longitude    float64  `json:"longitude"`
	Altitude     *float64 `json:"altitude,omitempty"`
	RelevantText string   `json:"relevantText,omitempty"`
}

// Limits that follow the wallet specifications.
const (
	MaxLocations   = 10 // Apple shows at most ten locations
	MaxNameLen     = 200
	MaxFieldsInRow = 10
	MaxImageBytes  = 1 << 20
)

// ImageNames are the image names a template may carry (Apple's set;
// Google renders from logo and hero images derived from them).
var ImageNames = func() map[string]bool {
	m := map[string]bool{}
	for _, base := range []string{"icon", "logo", "strip", "thumbnail", "background", "footer"} {
		m[base] = true
		m[base+"@2x"] = true
		m[base+"@3x"] = true
	}
	return m
}()

var (
	fieldKeyRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	colorRE    = regexp.MustCompile(`^(#[0-9a-fA-F]{6}|rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\))$`)
	pngMagic   = []byte("\x89PNG\r\n\x1a\n")
)

var transitTypes = map[string]bool{
	"PKTransitTypeAir": true, "PKTransitTypeBoat": true, "PKTransitTypeBus": true,
	"PKTransitTypeGeneric": true, "PKTransitTypeTrain": true,
}

// Validate checks a template and names the first offending field.
func (t *Template) Validate() error {
	if strings.TrimSpace(t.Name) == "" {
		return Invalid("name", "is required")
	}
	if len(t.Name) > MaxNameLen {
		return Invalid("name", "is longer than %d characters", MaxNameLen)
	}
	if t.Style == "" {
		return Invalid("style", "is required")
	}
	if !t.Style.Valid() {
		return Invalid("style", "must be one of storeCard, eventTicket, coupon, generic, boardingPass")
	}
	if t.Style == StyleBoardingPass {
		if t.TransitType == "" {
			return Invalid("transitType", "is required for boardingPass")
		}
		if !transitTypes[t.TransitType] {
			return Invalid("transitType", "must be one of PKTransitTypeAir, PKTransitTypeBoat, PKTransitTypeBus, PKTransitTypeGeneric, PKTransitTypeTrain")
		}
	} else if t.TransitType != "" {
		return Invalid("transitType", "is only allowed for boardingPass")
	}
	switch t.GoogleClass {
	case "":
	case GoogleClassGiftCard:
		if t.Style != StyleStoreCard && t.Style != StyleGeneric {
			return Invalid("googleClass", "giftCard is only allowed for storeCard and generic templates")
		}
	default:
		return Invalid("googleClass", "must be giftCard or absent")
	}
	for name, c := range map[string]string{"colors.background": t.Colors.Background, "colors.foreground": t.Colors.Foreground, "colors.label": t.Colors.Label} {
		if c != "" && !colorRE.MatchString(c) {
			return Invalid(name, "must be #rrggbb or rgb(r, g, b)")
		}
	}
	if err := t.Fields.validate(); err != nil {
		return err
	}
	if b := t.Barcode; b != nil {
		switch b.Format {
		case BarcodeQR, BarcodePDF417, BarcodeAztec, BarcodeCode128:
		case "":
			return Invalid("barcode.format", "is required")
		default:
			return Invalid("barcode.format", "must be one of QR, PDF417, Aztec, Code128")
		}
		if b.Message == "" {
			return Invalid("barcode.message", "is required")
		}
		if b.Encoding != "" && b.Encoding != "iso-8859-1" && b.Encoding != "utf-8" {
			return Invalid("barcode.encoding", "must be iso-8859-1 or utf-8")
		}
	}
	for name, data := range t.Images {
		field := "images." + name
		if !ImageNames[name] {
			return Invalid(field, "is not an image name (icon, logo, strip, thumbnail, background, footer, each with optional @2x/@3x)")
		}
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return Invalid(field, "must be base64")
		}
		if len(raw) > MaxImageBytes {
			return Invalid(field, "is larger than %d bytes", MaxImageBytes)
		}
		if !bytes.HasPrefix(raw, pngMagic) {
			return Invalid(field, "must be a PNG image")
		}
	}
	if len(t.Locations) > MaxLocations {
		return Invalid("locations", "has more than %d entries (Apple's limit)", MaxLocations)
	}
	for i, l := range t.Locations {
		if l.Latitude < -90 || l.Latitude > 90 {
			return Invalid(fmt.Sprintf("locations[%d].latitude", i), "must be between -90 and 90")
		}
		if l.Longitude < -180 || l.Longitude > 180 {
			return Invalid(fmt.Sprintf("locations[%d].longitude", i), "must be between -180 and 180")
		}
	}
	return nil
}

func (l FieldLayout) validate() error {
	seen := map[string]string{}
	rows := []struct {
		name   string
		fields []Field
	}{{"header", l.Header}, {"primary", l.Primary}, {"secondary", l.Secondary}, {"auxiliary", l.Auxiliary}, {"back", l.Back}}
	for _, row := range rows {
		if len(row.fields) > MaxFieldsInRow {
			return Invalid("fields."+row.name, "has more than %d fields", MaxFieldsInRow)
		}
		for i, f := range row.fields {
			path := fmt.Sprintf("fields.%s[%d]", row.name, i)
			if !fieldKeyRE.MatchString(f.Key) {
				return Invalid(path+".key", "is required and may hold only letters, digits, '_', '.' and '-' (at most 64)")
			}
			if prev, dup := seen[f.Key]; dup {
				return Invalid(path+".key", "%q is already used by %s (keys are unique across the pass)", f.Key, prev)
			}
			seen[f.Key] = path
			if f.ChangeMessage != "" && !strings.Contains(f.ChangeMessage, "%@") {
				return Invalid(path+".changeMessage", "must contain %%@, the placeholder for the new value")
			}
		}
	}
	return nil
}
