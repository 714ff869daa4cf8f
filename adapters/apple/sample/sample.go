// Package sample is the pass the apple tests, benchmarks and the
// passkit-generator comparison all render: one definition, so a golden
// file checks every use of it.
package sample

import (
	"time"

	"github.com/passhub/passhub/core"
)

// Template is a store card (or another style) using every field feature:
// labels, change messages, number, currency and date styles, a barcode
// with placeholders and a location.
func Template(style core.Style) core.Template {
	t := core.Template{
		ID:               "tpl_1",
		Name:             "Loyalty",
		Style:            style,
		Description:      "Example loyalty card",
		OrganizationName: "Example Coffee",
		LogoText:         "Example",
		Colors:           core.Colors{Background: "#1e2a3b", Foreground: "rgb(255, 255, 255)", Label: "#ffcc00"},
		Fields: core.FieldLayout{
			Header:    []core.Field{{Key: "tier", Label: "Tier", Value: "Bronze"}},
			Primary:   []core.Field{{Key: "points", Label: "Points", ChangeMessage: "You now have %@ points", NumberStyle: "PKNumberStyleDecimal", TextAlignment: "PKTextAlignmentRight"}},
			Secondary: []core.Field{{Key: "name", Label: "Member", Source: "fullName"}},
			Auxiliary: []core.Field{{Key: "balance", Label: "Balance", CurrencyCode: "EUR"}, {Key: "since", Label: "Since", DateStyle: "PKDateStyleMedium", TimeStyle: "PKDateStyleNone"}},
			Back:      []core.Field{{Key: "terms", Label: "Terms", Value: "Points expire after a year."}},
		},
		Barcode:   &core.Barcode{Format: core.BarcodeQR, Message: "{{passId}}:{{externalId}}", AltText: "{{data.fullName}}"},
		Locations: []core.Location{{Latitude: 52.52, Longitude: 13.405, RelevantText: "Coffee nearby"}},
		Version:   3,
	}
	if style == core.StyleBoardingPass {
		t.TransitType = "PKTransitTypeTrain"
	}
	return t
}

// Pass is a pass of Template with data for every field.
func Pass() core.Pass {
	return core.Pass{
		ID:         "pas_01HXYZ",
		TemplateID: "tpl_1",
		ExternalID: "cust-42",
		Data: map[string]any{
			"points":   float64(1250),
			"fullName": "Ada Lovelace",
			"balance":  12.5,
			"since":    "2024-05-01T10:00:00Z",
			"tier":     "Gold",
		},
		Lifecycle: core.LifecycleActive,
		Version:   7,
		AuthToken: "0123456789abcdef0123",
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(2026, 2, 1, 9, 30, 0, 0, time.UTC),
	}
}
