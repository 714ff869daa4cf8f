package apple

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/passhub/passhub/core"
)

// MinAuthTokenLen is Apple's lower bound for authenticationToken.
const MinAuthTokenLen = 16

// Data keys that make a pass relevant at a time (see RenderOptions).
const (
	DataRelevantDate  = "relevantDate"
	DataRelevantStart = "relevantStart"
	DataRelevantEnd   = "relevantEnd"
)

// RenderOptions carry what pass.json needs beyond the template and pass.
//
// Relevance: RelevantDate and RelevantDates, when set, win over the pass
// data. Otherwise the data keys relevantDate (one instant) and
// relevantStart/relevantEnd (one interval; end optional) are read, as
// RFC 3339 strings or time.Time. Both the deprecated relevantDate (for
// devices before iOS 18) and relevantDates are written: relevantDate is the
// explicit date or else the first interval's start.
type RenderOptions struct {
	PassTypeIdentifier string
	TeamIdentifier     string
	// PublicURL is passhub's public base URL; the web service lives at
	// PublicURL + "/apple".
	PublicURL     string
	RelevantDate  time.Time
	RelevantDates []Interval
}

// Interval is a relevance window; End may be zero.
type Interval struct {
	Start time.Time
	End   time.Time
}

// Options returns the render options these credentials imply.
func (c *Credentials) Options(publicURL string) RenderOptions {
	return RenderOptions{PassTypeIdentifier: c.PassTypeIdentifier, TeamIdentifier: c.TeamIdentifier, PublicURL: publicURL}
}

// passJSON is pass.json. Struct order fixes key order, so the output is
// deterministic.
type passJSON struct {
	FormatVersion       int             `json:"formatVersion"`
	PassTypeIdentifier  string          `json:"passTypeIdentifier"`
	TeamIdentifier      string          `json:"teamIdentifier"`
	SerialNumber        string          `json:"serialNumber"`
	OrganizationName    string          `json:"organizationName"`
	Description         string          `json:"description"`
	LogoText            string          `json:"logoText,omitempty"`
	BackgroundColor     string          `json:"backgroundColor,omitempty"`
	ForegroundColor     string          `json:"foregroundColor,omitempty"`
	LabelColor          string          `json:"labelColor,omitempty"`
	WebServiceURL       string          `json:"webServiceURL"`
	AuthenticationToken string          `json:"authenticationToken"`
	Barcodes            []barcodeJSON   `json:"barcodes,omitempty"`
	Barcode             *barcodeJSON    `json:"barcode,omitempty"`
	Locations           []locationJSON  `json:"locations,omitempty"`
	RelevantDate        string          `json:"relevantDate,omitempty"`
	RelevantDates       []relevantEntry `json:"relevantDates,omitempty"`
	ExpirationDate      string          `json:"expirationDate,omitempty"`
	Voided              bool            `json:"voided,omitempty"`
	BoardingPass        *structureJSON  `json:"boardingPass,omitempty"`
	Coupon              *structureJSON  `json:"coupon,omitempty"`
	EventTicket         *structureJSON  `json:"eventTicket,omitempty"`
	Generic             *structureJSON  `json:"generic,omitempty"`
	StoreCard           *structureJSON  `json:"storeCard,omitempty"`
}

type structureJSON struct {
	TransitType     string      `json:"transitType,omitempty"`
	HeaderFields    []fieldJSON `json:"headerFields,omitempty"`
	PrimaryFields   []fieldJSON `json:"primaryFields,omitempty"`
	SecondaryFields []fieldJSON `json:"secondaryFields,omitempty"`
	AuxiliaryFields []fieldJSON `json:"auxiliaryFields,omitempty"`
	BackFields      []fieldJSON `json:"backFields,omitempty"`
}

type fieldJSON struct {
	Key           string `json:"key"`
	Label         string `json:"label,omitempty"`
	Value         any    `json:"value"`
	ChangeMessage string `json:"changeMessage,omitempty"`
	TextAlignment string `json:"textAlignment,omitempty"`
	DateStyle     string `json:"dateStyle,omitempty"`
	TimeStyle     string `json:"timeStyle,omitempty"`
	NumberStyle   string `json:"numberStyle,omitempty"`
	CurrencyCode  string `json:"currencyCode,omitempty"`
}

type barcodeJSON struct {
	Format          string `json:"format"`
	Message         string `json:"message"`
	MessageEncoding string `json:"messageEncoding"`
	AltText         string `json:"altText,omitempty"`
}

type locationJSON struct {
	Latitude     float64  `json:"latitude"`
	Longitude    float64  `json:"longitude"`
	Altitude     *float64 `json:"altitude,omitempty"`
	RelevantText string   `json:"relevantText,omitempty"`
}

type relevantEntry struct {
	Date      string `json:"date,omitempty"`
	StartDate string `json:"startDate,omitempty"`
	EndDate   string `json:"endDate,omitempty"`
}

var barcodeFormats = map[string]string{
	core.BarcodeQR:      "PKBarcodeFormatQR",
	core.BarcodePDF417:  "PKBarcodeFormatPDF417",
	core.BarcodeAztec:   "PKBarcodeFormatAztec",
	core.BarcodeCode128: "PKBarcodeFormatCode128",
}

// Render produces pass.json for pass p of template t. The same inputs
// always give the same bytes, so unchanged passes hash the same.
func Render(t core.Template, p core.Pass, opts RenderOptions) ([]byte, error) {
	if opts.PassTypeIdentifier == "" || opts.TeamIdentifier == "" {
		return nil, fmt.Errorf("rendering pass: pass type and team identifiers are required")
	}
	if opts.PublicURL == "" {
		return nil, fmt.Errorf("rendering pass: public URL is required")
	}
	// Apple only sends the token back; a short one is guessable.
	if len(p.AuthToken) < MinAuthTokenLen {
		return nil, core.Invalid("authToken", "must be at least %d characters (Apple's minimum)", MinAuthTokenLen)
	}
	if p.ID == "" {
		return nil, core.Invalid("id", "is required (it is the serialNumber)")
	}
	out := passJSON{
		FormatVersion:       1,
		PassTypeIdentifier:  opts.PassTypeIdentifier,
		TeamIdentifier:      opts.TeamIdentifier,
		SerialNumber:        p.ID,
		OrganizationName:    t.OrganizationName,
		Description:         t.Description,
		LogoText:            t.LogoText,
		BackgroundColor:     appleColor(t.Colors.Background),
		ForegroundColor:     appleColor(t.Colors.Foreground),
		LabelColor:          appleColor(t.Colors.Label),
		WebServiceURL:       strings.TrimRight(opts.PublicURL, "/") + "/apple",
		AuthenticationToken: p.AuthToken,
	}
	if out.OrganizationName == "" {
		return nil, core.Invalid("organizationName", "is required by Apple")
	}
	if out.Description == "" {
		return nil, core.Invalid("description", "is required by Apple")
	}

	st := &structureJSON{
		HeaderFields:    renderFields(t.Fields.Header, p.Data),
		PrimaryFields:   renderFields(t.Fields.Primary, p.Data),
		SecondaryFields: renderFields(t.Fields.Secondary, p.Data),
		AuxiliaryFields: renderFields(t.Fields.Auxiliary, p.Data),
		BackFields:      renderFields(t.Fields.Back, p.Data),
	}
	applyMessage(st, t.Fields, p)
	switch t.Style {
	case core.StyleBoardingPass:
		if t.TransitType == "" {
			return nil, core.Invalid("transitType", "is required for boardingPass")
		}
		st.TransitType = t.TransitType
		out.BoardingPass = st
	case core.StyleCoupon:
		out.Coupon = st
	case core.StyleEventTicket:
		out.EventTicket = st
	case core.StyleGeneric:
		out.Generic = st
	case core.StyleStoreCard:
		out.StoreCard = st
	default:
		return nil, core.Invalid("style", "%q is not an Apple pass style", t.Style)
	}

	if b := t.Barcode; b != nil {
		format, ok := barcodeFormats[b.Format]
		if !ok {
			return nil, core.Invalid("barcode.format", "%q is not one of QR, PDF417, Aztec, Code128", b.Format)
		}
		enc := b.Encoding
		if enc == "" {
			enc = "iso-8859-1"
		}
		bc := barcodeJSON{
			Format:          format,
			Message:         p.Substitute(b.Message, stringify),
			MessageEncoding: enc,
			AltText:         p.Substitute(b.AltText, stringify),
		}
		out.Barcodes = []barcodeJSON{bc}
		// The legacy key (before iOS 9) does not allow Code128; older
		// devices then show no barcode rather than reject the pass.
		if b.Format != core.BarcodeCode128 {
			out.Barcode = &bc
		}
	}

	for i, l := range t.Locations {
		if i == core.MaxLocations {
			break // Apple ignores the rest
		}
		out.Locations = append(out.Locations, locationJSON(l))
	}

	if err := renderRelevance(&out, p.Data, opts); err != nil {
		return nil, err
	}

	switch p.Lifecycle {
	case core.LifecycleExpired:
		// A date in the past makes Wallet show the pass as expired.
		out.ExpirationDate = formatTime(p.UpdatedAt)
	case core.LifecycleVoided, core.LifecycleDeleted:
		out.Voided = true
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encoding pass.json: %w", err)
	}
	return buf.Bytes(), nil
}

func renderFields(fields []core.Field, data map[string]any) []fieldJSON {
	if len(fields) == 0 {
		return nil
	}
	out := make([]fieldJSON, 0, len(fields))
	for _, f := range fields {
		var value any = f.Value
		if v, ok := data[f.DataKey()]; ok && v != nil {
			value = fieldValue(v)
		}
		out = append(out, fieldJSON{
			Key:           f.Key,
			Label:         f.Label,
			Value:         value,
			ChangeMessage: f.ChangeMessage,
			TextAlignment: f.TextAlignment,
			DateStyle:     f.DateStyle,
			TimeStyle:     f.TimeStyle,
			NumberStyle:   f.NumberStyle,
			CurrencyCode:  f.CurrencyCode,
		})
	}
	return out
}

// MessageFieldKey is the back field that carries an update's message when
// none of the fields it changed is on the pass.
const MessageFieldKey = "passhub_message"

// applyMessage puts the message of the change that made this version on
// the lock screen. Wallet alerts when a field's value changes and that
// field has a changeMessage, so the message becomes the changeMessage of
// the first displayed field whose data changed, and the other changed
// fields stay quiet (one alert, the one asked for). When no displayed
// field changed, a back field whose value is the message announces itself
// with "%@".
func applyMessage(st *structureJSON, layout core.FieldLayout, p core.Pass) {
	if p.Message == "" {
		return
	}
	changed := make(map[string]bool, len(p.Changed))
	for _, k := range p.Changed {
		changed[k] = true
	}
	groups := []struct {
		tpl []core.Field
		out []fieldJSON
	}{
		{layout.Header, st.HeaderFields}, {layout.Primary, st.PrimaryFields}, {layout.Secondary, st.SecondaryFields},
		{layout.Auxiliary, st.AuxiliaryFields}, {layout.Back, st.BackFields},
	}
	placed := false
	for _, g := range groups {
		for i, f := range g.tpl {
			if !changed[f.DataKey()] {
				continue
			}
			if placed {
				g.out[i].ChangeMessage = ""
				continue
			}
			g.out[i].ChangeMessage = changeMessageFormat(p.Message)
			placed = true
		}
	}
	if !placed {
		st.BackFields = append(st.BackFields, fieldJSON{Key: MessageFieldKey, Label: "Update", Value: p.Message, ChangeMessage: "%@"})
	}
}

// changeMessageFormat makes user text safe as a format string: a "%@" the
// user wrote stays the new value; every other % is literal.
func changeMessageFormat(msg string) string {
	parts := strings.Split(msg, "%@")
	for i, part := range parts {
		parts[i] = strings.ReplaceAll(part, "%", "%%")
	}
	return strings.Join(parts, "%@")
}

// fieldValue keeps numbers as JSON numbers (Apple formats them with
// numberStyle/currencyCode) and turns everything else into a string,
// the only other type Apple accepts.
func fieldValue(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return stringify(v)
		}
		return x
	case float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		return x
	default:
		return stringify(v)
	}
}

func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return formatTime(x)
	case fmt.Stringer:
		return x.String()
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	default:
		return fmt.Sprint(x)
	}
}

func renderRelevance(out *passJSON, data map[string]any, opts RenderOptions) error {
	date := opts.RelevantDate
	if date.IsZero() {
		d, err := dataTime(data, DataRelevantDate)
		if err != nil {
			return err
		}
		date = d
	}
	intervals := opts.RelevantDates
	if len(intervals) == 0 {
		start, err := dataTime(data, DataRelevantStart)
		if err != nil {
			return err
		}
		end, err := dataTime(data, DataRelevantEnd)
		if err != nil {
			return err
		}
		if start.IsZero() && !end.IsZero() {
			return core.Invalid("data."+DataRelevantStart, "is required with %s", DataRelevantEnd)
		}
		if !start.IsZero() {
			intervals = []Interval{{Start: start, End: end}}
		}
	}
	for i, iv := range intervals {
		if iv.Start.IsZero() {
			return core.Invalid(fmt.Sprintf("relevantDates[%d].startDate", i), "is required")
		}
		if !iv.End.IsZero() && iv.End.Before(iv.Start) {
			return core.Invalid(fmt.Sprintf("relevantDates[%d].endDate", i), "is before startDate")
		}
		out.RelevantDates = append(out.RelevantDates, relevantEntry{StartDate: formatTime(iv.Start), EndDate: formatTime(iv.End)})
	}
	if !date.IsZero() && len(intervals) == 0 {
		out.RelevantDates = []relevantEntry{{Date: formatTime(date)}}
	}
	// Devices before iOS 18 read only relevantDate.
	if date.IsZero() && len(intervals) > 0 {
		date = intervals[0].Start
	}
	out.RelevantDate = formatTime(date)
	return nil
}

func dataTime(data map[string]any, key string) (time.Time, error) {
	switch v := data[key].(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return v, nil
	case string:
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, core.Invalid("data."+key, "must be an RFC 3339 timestamp with hours and minutes")
		}
		return t, nil
	default:
		return time.Time{}, core.Invalid("data."+key, "must be an RFC 3339 timestamp string")
	}
}

// formatTime is W3C/ISO 8601 with seconds, as Apple asks; zero is empty.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

var hexColorRE = regexp.MustCompile(`^#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})$`)

// appleColor converts #rrggbb to the rgb(r, g, b) form Apple documents.
func appleColor(c string) string {
	m := hexColorRE.FindStringSubmatch(c)
	if m == nil {
		return c
	}
	var rgb [3]uint64
	for i := range rgb {
		rgb[i], _ = strconv.ParseUint(m[i+1], 16, 8)
	}
	return fmt.Sprintf("rgb(%d, %d, %d)", rgb[0], rgb[1], rgb[2])
}
