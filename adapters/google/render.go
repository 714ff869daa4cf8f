package google

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	wo "google.golang.org/api/walletobjects/v1"

	"github.com/passhub/passhub/core"
)

// Data keys read from the pass data (the same ones the Apple renderer
// reads for relevance).
const (
	DataRelevantStart = "relevantStart"
	DataRelevantEnd   = "relevantEnd"
	// DataCardNumber is the gift card number (Google requires one); the
	// pass's external ID is used without it.
	DataCardNumber = "cardNumber"
)

// PointsFieldKey is the template field whose value becomes a loyalty
// object's loyaltyPoints (instead of a text module).
const PointsFieldKey = "points"

// Object states.
const (
	StateActive   = "ACTIVE"
	StateExpired  = "EXPIRED"
	StateInactive = "INACTIVE"
)

// ReviewStatus is what classes are written with: Google approves
// UNDER_REVIEW classes automatically, and asks that updates of approved
// classes keep sending it (DRAFT classes cannot hold objects).
const ReviewStatus = "UNDER_REVIEW"

// RedemptionChannel is the offer classes' required redemptionChannel.
const RedemptionChannel = "BOTH"

// StateFor maps a pass lifecycle to a Google object state.
func StateFor(l core.Lifecycle) string {
	switch l {
	case core.LifecycleExpired:
		return StateExpired
	case core.LifecycleVoided, core.LifecycleDeleted:
		return StateInactive
	}
	return StateActive
}

var barcodeTypes = map[string]string{
	core.BarcodeQR:      "QR_CODE",
	core.BarcodePDF417:  "PDF_417",
	core.BarcodeAztec:   "AZTEC",
	core.BarcodeCode128: "CODE_128",
}

// BarcodeType maps a template barcode format to Google's barcode type.
func BarcodeType(format string) (string, bool) {
	t, ok := barcodeTypes[format]
	return t, ok
}

// ClassOptions carry what a class needs beyond the template.
type ClassOptions struct {
	// CallbackURL receives Google's save/delete callbacks
	// (callbackOptions.url); HTTPS in production. Empty: no callbacks.
	CallbackURL string
	// LogoURL is a public HTTPS image Google fetches for the class logo.
	// Required for loyalty classes (programLogo). passhub serves
	// PublicURL + "/google/images/{templateId}/logo.png" for this.
	LogoURL string
}

// ObjectOptions carry what an object needs beyond the template and pass.
type ObjectOptions struct {
	// LogoURL is a public HTTPS image for generic objects (their class
	// has no logo); ignored by the other kinds.
	LogoURL string
}

// classBody is the class resource for kind, and the fields to null on a
// patch because the template no longer sets them.
func classBody(kind ClassKind, id string, t core.Template, opts ClassOptions) (any, []string, error) {
	if t.Name == "" {
		return nil, nil, core.Invalid("name", "is required")
	}
	if kind != KindGeneric && t.OrganizationName == "" {
		return nil, nil, core.Invalid("organizationName", "is required by Google (issuerName)")
	}
	if opts.CallbackURL != "" {
		if err := checkPublicURL(opts.CallbackURL, false); err != nil {
			return nil, nil, core.Invalid("callbackUrl", "%v", err)
		}
	}
	var logo *wo.Image
	if opts.LogoURL != "" {
		if err := checkPublicURL(opts.LogoURL, true); err != nil {
			return nil, nil, core.Invalid("logoUrl", "%v", err)
		}
		logo = image(opts.LogoURL, t.OrganizationName)
	}
	var callback *wo.CallbackOptions
	if opts.CallbackURL != "" {
		callback = &wo.CallbackOptions{Url: opts.CallbackURL}
	}
	color := hexColor(t.Colors.Background)
	var nulls []string
	if callback == nil {
		nulls = append(nulls, "CallbackOptions")
	}
	if color == "" && kind != KindGeneric {
		nulls = append(nulls, "HexBackgroundColor")
	}

	switch kind {
	case KindLoyalty:
		if logo == nil {
			return nil, nil, core.Invalid("logoUrl", "is required by Google for loyalty classes (programLogo)")
		}
		return &wo.LoyaltyClass{
			Id: id, IssuerName: t.OrganizationName, ReviewStatus: ReviewStatus,
			ProgramName: t.Name, ProgramLogo: logo,
			HexBackgroundColor: color, CallbackOptions: callback,
		}, nulls, nil
	case KindOffer:
		if logo == nil {
			nulls = append(nulls, "TitleImage")
		}
		return &wo.OfferClass{
			Id: id, IssuerName: t.OrganizationName, ReviewStatus: ReviewStatus,
			Title: t.Name, Provider: t.OrganizationName, RedemptionChannel: RedemptionChannel,
			Details: t.Description, TitleImage: logo,
			HexBackgroundColor: color, CallbackOptions: callback,
		}, nulls, nil
	case KindEventTicket:
		if logo == nil {
			nulls = append(nulls, "Logo")
		}
		return &wo.EventTicketClass{
			Id: id, IssuerName: t.OrganizationName, ReviewStatus: ReviewStatus,
			EventName: localized(t.Name), Logo: logo,
			HexBackgroundColor: color, CallbackOptions: callback,
		}, nulls, nil
	case KindGiftCard:
		if logo == nil {
			nulls = append(nulls, "ProgramLogo")
		}
		return &wo.GiftCardClass{
			Id: id, IssuerName: t.OrganizationName, ReviewStatus: ReviewStatus,
			MerchantName: t.OrganizationName, ProgramLogo: logo,
			HexBackgroundColor: color, CallbackOptions: callback,
		}, nulls, nil
	case KindGeneric:
		// A generic class holds only shared settings; the card's look is
		// on the object.
		return &wo.GenericClass{Id: id, CallbackOptions: callback}, nulls, nil
	}
	return nil, nil, core.Invalid("kind", "%q is not a Google class kind", kind)
}

// objectBody is the object resource for kind, and the fields to null on a
// patch because this version of the pass no longer sets them.
func objectBody(kind ClassKind, id, classID string, t core.Template, p core.Pass, opts ObjectOptions) (any, []string, error) {
	if p.ID == "" {
		return nil, nil, core.Invalid("id", "is required (it is the object ID)")
	}
	state := StateFor(p.Lifecycle)
	var nulls []string

	barcode, err := renderBarcode(t.Barcode, p)
	if err != nil {
		return nil, nil, err
	}
	if barcode == nil {
		nulls = append(nulls, "Barcode")
	}
	validity, err := renderValidity(p.Data)
	if err != nil {
		return nil, nil, err
	}
	if validity == nil {
		nulls = append(nulls, "ValidTimeInterval")
	}

	// Fields that a kind shows elsewhere than in the text modules.
	skip := map[string]bool{}
	var points *wo.LoyaltyPoints
	if kind == KindLoyalty {
		if f, ok := findField(t.Fields, PointsFieldKey); ok {
			skip[f.Key] = true
			points = renderPoints(f, p.Data)
		}
		if points == nil {
			nulls = append(nulls, "LoyaltyPoints")
		}
	}
	var header, subheader string
	if kind == KindGeneric {
		header = t.Name
		if len(t.Fields.Primary) > 0 {
			f := t.Fields.Primary[0]
			if v := fieldText(f, p.Data); v != "" {
				header, subheader = v, f.Label
				skip[f.Key] = true
			}
		}
		if subheader == "" {
			nulls = append(nulls, "Subheader")
		}
	}
	modules := renderModules(t.Fields, p.Data, skip)
	if len(modules) == 0 {
		nulls = append(nulls, "TextModulesData")
	}
	var locations []*wo.MerchantLocation
	for i, l := range t.Locations {
		if i == core.MaxLocations {
			break // Google rejects more than ten
		}
		locations = append(locations, &wo.MerchantLocation{Latitude: l.Latitude, Longitude: l.Longitude})
	}
	if len(locations) == 0 {
		nulls = append(nulls, "MerchantLocations")
	}

	switch kind {
	case KindLoyalty:
		return &wo.LoyaltyObject{
			Id: id, ClassId: classID, State: state, Barcode: barcode,
			TextModulesData: modules, MerchantLocations: locations,
			ValidTimeInterval: validity, LoyaltyPoints: points,
		}, nulls, nil
	case KindOffer:
		return &wo.OfferObject{
			Id: id, ClassId: classID, State: state, Barcode: barcode,
			TextModulesData: modules, MerchantLocations: locations, ValidTimeInterval: validity,
		}, nulls, nil
	case KindEventTicket:
		return &wo.EventTicketObject{
			Id: id, ClassId: classID, State: state, Barcode: barcode,
			TextModulesData: modules, MerchantLocations: locations, ValidTimeInterval: validity,
		}, nulls, nil
	case KindGiftCard:
		number := stringify(p.Data[DataCardNumber])
		if number == "" {
			number = p.ExternalID
		}
		if number == "" {
			return nil, nil, core.Invalid("data."+DataCardNumber, "is required by Google for gift cards (or an externalId)")
		}
		return &wo.GiftCardObject{
			Id: id, ClassId: classID, State: state, Barcode: barcode, CardNumber: number,
			TextModulesData: modules, MerchantLocations: locations, ValidTimeInterval: validity,
		}, nulls, nil
	case KindGeneric:
		cardTitle := t.OrganizationName
		if cardTitle == "" {
			cardTitle = t.Name
		}
		obj := &wo.GenericObject{
			Id: id, ClassId: classID, State: state, Barcode: barcode,
			CardTitle: localized(cardTitle), Header: localized(header),
			HexBackgroundColor: hexColor(t.Colors.Background),
			TextModulesData:    modules, MerchantLocations: locations, ValidTimeInterval: validity,
		}
		if subheader != "" {
			obj.Subheader = localized(subheader)
		}
		if obj.HexBackgroundColor == "" {
			nulls = append(nulls, "HexBackgroundColor")
		}
		if opts.LogoURL != "" {
			if err := checkPublicURL(opts.LogoURL, true); err != nil {
				return nil, nil, core.Invalid("logoUrl", "%v", err)
			}
			obj.Logo = image(opts.LogoURL, cardTitle)
		} else {
			nulls = append(nulls, "Logo")
		}
		return obj, nulls, nil
	}
	return nil, nil, core.Invalid("kind", "%q is not a Google class kind", kind)
}

func renderBarcode(b *core.Barcode, p core.Pass) (*wo.Barcode, error) {
	if b == nil {
		return nil, nil
	}
	typ, ok := BarcodeType(b.Format)
	if !ok {
		return nil, core.Invalid("barcode.format", "%q is not one of QR, PDF417, Aztec, Code128", b.Format)
	}
	return &wo.Barcode{
		Type:          typ,
		Value:         p.Substitute(b.Message, stringify),
		AlternateText: p.Substitute(b.AltText, stringify),
	}, nil
}

func renderValidity(data map[string]any) (*wo.TimeInterval, error) {
	start, err := dataTime(data, DataRelevantStart)
	if err != nil {
		return nil, err
	}
	end, err := dataTime(data, DataRelevantEnd)
	if err != nil {
		return nil, err
	}
	if start.IsZero() && end.IsZero() {
		return nil, nil
	}
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		return nil, core.Invalid("data."+DataRelevantEnd, "is before %s", DataRelevantStart)
	}
	iv := &wo.TimeInterval{}
	if !start.IsZero() {
		iv.Start = &wo.DateTime{Date: start.Format(time.RFC3339)}
	}
	if !end.IsZero() {
		iv.End = &wo.DateTime{Date: end.Format(time.RFC3339)}
	}
	return iv, nil
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
			return time.Time{}, core.Invalid("data."+key, "must be an RFC 3339 timestamp")
		}
		return t, nil
	}
	return time.Time{}, core.Invalid("data."+key, "must be an RFC 3339 timestamp string")
}

func findField(l core.FieldLayout, key string) (core.Field, bool) {
	for _, row := range [][]core.Field{l.Header, l.Primary, l.Secondary, l.Auxiliary, l.Back} {
		for _, f := range row {
			if f.Key == key {
				return f, true
			}
		}
	}
	return core.Field{}, false
}

// renderPoints is the loyalty balance: an int for whole numbers, a double
// for other numbers, else the text.
func renderPoints(f core.Field, data map[string]any) *wo.LoyaltyPoints {
	v, ok := data[f.DataKey()]
	if !ok || v == nil {
		if f.Value == "" {
			return nil
		}
		v = f.Value
	}
	bal := &wo.LoyaltyPointsBalance{}
	if n, ok := number(v); ok {
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			bal.Int = int64(n)
			bal.ForceSendFields = []string{"Int"} // a zero balance is a balance
		} else {
			bal.Double = n
		}
	} else {
		bal.String = stringify(v)
	}
	return &wo.LoyaltyPoints{Label: f.Label, Balance: bal}
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// renderModules turns the template fields, front rows then back, into
// text modules; fields without a value are left out.
func renderModules(l core.FieldLayout, data map[string]any, skip map[string]bool) []*wo.TextModuleData {
	var out []*wo.TextModuleData
	for _, row := range [][]core.Field{l.Header, l.Primary, l.Secondary, l.Auxiliary, l.Back} {
		for _, f := range row {
			if skip[f.Key] {
				continue
			}
			body := fieldText(f, data)
			if body == "" {
				continue
			}
			out = append(out, &wo.TextModuleData{Id: moduleID(f.Key), Header: f.Label, Body: body})
		}
	}
	return out
}

// moduleID is a text module ID: Google allows [A-Za-z0-9_-] (no dots).
func moduleID(key string) string {
	return strings.ReplaceAll(Sanitize(key), ".", "_")
}

// fieldText is a field's value as Google shows it: the pass data value,
// else the template's static value. Numbers with a currency get two
// decimals and the currency code, since Google does not format them the
// way Apple does with currencyCode.
func fieldText(f core.Field, data map[string]any) string {
	v, ok := data[f.DataKey()]
	if !ok || v == nil {
		return f.Value
	}
	if f.CurrencyCode != "" {
		if n, ok := number(v); ok {
			return strconv.FormatFloat(n, 'f', 2, 64) + " " + f.CurrencyCode
		}
	}
	return stringify(v)
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
		return x.Format(time.RFC3339)
	case fmt.Stringer:
		return x.String()
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
	return fmt.Sprint(v)
}

func localized(s string) *wo.LocalizedString {
	return &wo.LocalizedString{DefaultValue: &wo.TranslatedString{Language: "en-US", Value: s}}
}

func image(uri, description string) *wo.Image {
	img := &wo.Image{SourceUri: &wo.ImageUri{Uri: uri}}
	if description != "" {
		img.ContentDescription = localized(description)
	}
	return img
}

var rgbRE = regexp.MustCompile(`^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$`)

// hexColor converts a template colour to the #rrggbb Google takes.
func hexColor(c string) string {
	if len(c) == 7 && c[0] == '#' {
		return strings.ToLower(c)
	}
	m := rgbRE.FindStringSubmatch(c)
	if m == nil {
		return ""
	}
	var rgb [3]uint64
	for i := range rgb {
		rgb[i], _ = strconv.ParseUint(m[i+1], 10, 16)
		rgb[i] = min(rgb[i], 255)
	}
	return fmt.Sprintf("#%02x%02x%02x", rgb[0], rgb[1], rgb[2])
}

// checkPublicURL accepts absolute http(s) URLs (https only for images:
// Google fetches them only over https).
func checkPublicURL(raw string, httpsOnly bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("must be an absolute URL")
	}
	if u.Scheme == "https" || u.Scheme == "http" && !httpsOnly {
		return nil
	}
	if httpsOnly {
		return fmt.Errorf("must be a public https URL")
	}
	return fmt.Errorf("must be an http(s) URL")
}
