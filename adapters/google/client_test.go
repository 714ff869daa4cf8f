package google_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/adapters/google/googletest"
	"github.com/passhub/passhub/core"
)

func TestClassKindFor(t *testing.T) {
	want := map[core.Style]google.ClassKind{
		core.StyleStoreCard:    google.KindLoyalty,
		core.StyleCoupon:       google.KindOffer,
		core.StyleEventTicket:  google.KindEventTicket,
		core.StyleGeneric:      google.KindGeneric,
		core.StyleBoardingPass: google.KindGeneric,
	}
	if len(want) != len(core.Styles) {
		t.Fatalf("table covers %d styles, core has %d", len(want), len(core.Styles))
	}
	for _, style := range core.Styles {
		if got := google.ClassKindFor(core.Template{Style: style}); got != want[style] {
			t.Errorf("ClassKindFor(%s) = %s, want %s", style, got, want[style])
		}
	}
	gift := core.Template{Style: core.StyleStoreCard, GoogleClass: core.GoogleClassGiftCard}
	if got := google.ClassKindFor(gift); got != google.KindGiftCard {
		t.Errorf("a storeCard marked giftCard is %s, want giftCard", got)
	}
}

func TestIDsAreSanitised(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pass_01hzx8m3q4", issuerID + ".pass_01hzx8m3q4"},
		{"a.b-c_D9", issuerID + ".a.b-c_D9"},
		{"order #42/ä b", issuerID + ".order__42___b"},
		{"", issuerID + "."},
	}
	for _, tt := range tests {
		if got := google.ObjectID(issuerID, tt.in); got != tt.want {
			t.Errorf("ObjectID(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := google.ClassID(issuerID, tt.in); got != tt.want {
			t.Errorf("ClassID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUpsertClassCreatesThenPatches(t *testing.T) {
	tests := []struct {
		kind     google.ClassKind
		style    core.Style
		required map[string]any // fields of the insert body beyond id/callback
	}{
		{google.KindLoyalty, core.StyleStoreCard, map[string]any{
			"issuerName": "Acme Coffee", "reviewStatus": "UNDER_REVIEW", "programName": "Acme Rewards",
			"programLogo.sourceUri.uri": classOpts().LogoURL, "hexBackgroundColor": "#102030",
		}},
		{google.KindOffer, core.StyleCoupon, map[string]any{
			"issuerName": "Acme Coffee", "reviewStatus": "UNDER_REVIEW", "title": "Acme Rewards",
			"provider": "Acme Coffee", "redemptionChannel": "BOTH", "hexBackgroundColor": "#102030",
		}},
		{google.KindEventTicket, core.StyleEventTicket, map[string]any{
			"issuerName": "Acme Coffee", "reviewStatus": "UNDER_REVIEW", "eventName.defaultValue.value": "Acme Rewards",
			"logo.sourceUri.uri": classOpts().LogoURL,
		}},
		{google.KindGiftCard, core.StyleStoreCard, map[string]any{
			"issuerName": "Acme Coffee", "reviewStatus": "UNDER_REVIEW", "merchantName": "Acme Coffee",
		}},
		{google.KindGeneric, core.StyleGeneric, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			e := newEnv(t, googletest.Options{})
			tpl := template(tt.style)
			classID := issuerID + ".tpl_01hzx8k2"
			must(t, e.client.UpsertClass(ctx(t), tt.kind, tpl, classOpts()))

			reqs := e.srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1 insert", len(reqs))
			}
			ins := reqs[0]
			if ins.Method != http.MethodPost || ins.Path != "/walletobjects/v1/"+string(tt.kind)+"Class" || ins.Status != 200 {
				t.Fatalf("insert = %s %s → %d", ins.Method, ins.Path, ins.Status)
			}
			if ins.Body["id"] != classID {
				t.Errorf("id = %v, want %s", ins.Body["id"], classID)
			}
			if got := get(ins.Body, "callbackOptions.url"); got != classOpts().CallbackURL {
				t.Errorf("callbackOptions.url = %v", got)
			}
			for path, want := range tt.required {
				if got := get(ins.Body, path); got != want {
					t.Errorf("%s = %v, want %v", path, got, want)
				}
			}
			if tt.kind == google.KindGeneric && ins.Body["issuerName"] != nil {
				t.Errorf("generic classes have no issuerName, sent %v", ins.Body["issuerName"])
			}

			// A second write patches: new colour, no callback any more.
			tpl.Colors.Background = "#FFAA00"
			opts := classOpts()
			opts.CallbackURL = ""
			must(t, e.client.UpsertClass(ctx(t), tt.kind, tpl, opts))
			reqs = e.srv.Requests()[1:]
			if len(reqs) != 2 || reqs[0].Method != http.MethodPost || reqs[0].Status != http.StatusConflict {
				t.Fatalf("second write: %+v, want insert answered 409 then patch", reqs)
			}
			p := reqs[1]
			if p.Method != http.MethodPatch || p.Path != "/walletobjects/v1/"+string(tt.kind)+"Class/"+classID || p.Status != 200 {
				t.Fatalf("patch = %s %s → %d", p.Method, p.Path, p.Status)
			}
			if _, ok := p.Body["callbackOptions"]; !ok || p.Body["callbackOptions"] != nil {
				t.Errorf("patch must null callbackOptions, body %s", p.RawBody)
			}
			stored, _ := e.srv.Class(string(tt.kind), classID)
			if stored["callbackOptions"] != nil {
				t.Errorf("stored callbackOptions = %v", stored["callbackOptions"])
			}
			if tt.kind != google.KindGeneric {
				if p.Body["hexBackgroundColor"] != "#ffaa00" || stored["hexBackgroundColor"] != "#ffaa00" {
					t.Errorf("colour: sent %v, stored %v", p.Body["hexBackgroundColor"], stored["hexBackgroundColor"])
				}
				if p.Body["reviewStatus"] != "UNDER_REVIEW" {
					t.Errorf("patch reviewStatus = %v; approved classes are updated UNDER_REVIEW", p.Body["reviewStatus"])
				}
			}
		})
	}
}

func TestUpsertClassRefusesWhatGoogleWould(t *testing.T) {
	e := newEnv(t, googletest.Options{})
	noOrg := template(core.StyleStoreCard)
	noOrg.OrganizationName = ""
	tests := []struct {
		name  string
		kind  google.ClassKind
		tpl   core.Template
		opts  google.ClassOptions
		field string
	}{
		{"loyalty without logo", google.KindLoyalty, template(core.StyleStoreCard), google.ClassOptions{}, "logoUrl"},
		{"logo over http", google.KindLoyalty, template(core.StyleStoreCard), google.ClassOptions{LogoURL: "http://x.example/logo.png"}, "logoUrl"},
		{"no organization name", google.KindOffer, noOrg, classOpts(), "organizationName"},
		{"relative callback", google.KindGeneric, template(core.StyleGeneric), google.ClassOptions{CallbackURL: "/google/callback"}, "callbackUrl"},
		{"unknown kind", google.ClassKind("flight"), template(core.StyleGeneric), classOpts(), "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.client.UpsertClass(ctx(t), tt.kind, tt.tpl, tt.opts)
			var fe *core.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %v, want invalid %s", err, tt.field)
			}
		})
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Fatalf("%d requests sent for invalid classes", n)
	}
}

// setupClass writes the class of kind for template(style).
func setupClass(t *testing.T, e *env, kind google.ClassKind, tpl core.Template) {
	t.Helper()
	must(t, e.client.UpsertClass(ctx(t), kind, tpl, classOpts()))
	e.srv.ResetRequests()
}

func TestUpsertObjectInsertsThenPatchesChanges(t *testing.T) {
	e := newEnv(t, googletest.Options{})
	tpl := template(core.StyleStoreCard)
	setupClass(t, e, google.KindLoyalty, tpl)
	p := pass()
	objectID := issuerID + ".pass_01hzx8m3q4"

	created, err := e.client.UpsertObject(ctx(t), google.KindLoyalty, tpl, p, google.ObjectOptions{})
	must(t, err)
	if !created {
		t.Fatal("first write: created = false")
	}
	reqs := e.srv.Requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/walletobjects/v1/loyaltyObject" {
		t.Fatalf("first write: %+v", reqs)
	}
	body := reqs[0].Body
	for path, want := range map[string]any{
		"id": objectID, "classId": issuerID + ".tpl_01hzx8k2", "state": "ACTIVE",
		"barcode.type": "QR_CODE", "barcode.value": "pass_01hzx8m3q4", "barcode.alternateText": "cust-42",
	} {
		if got := get(body, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	wantModules := []any{
		map[string]any{"id": "name", "header": "Member", "body": "Ada Lovelace"},
		map[string]any{"id": "tier", "header": "Tier", "body": "Bronze"},
		map[string]any{"id": "terms_text", "header": "Terms", "body": "No cash value"},
	}
	if !reflect.DeepEqual(body["textModulesData"], wantModules) {
		t.Errorf("textModulesData = %v\nwant %v", body["textModulesData"], wantModules)
	}
	if strings.Contains(string(reqs[0].RawBody), "null") {
		t.Errorf("insert sends nulls: %s", reqs[0].RawBody)
	}

	// The pass changes and the template drops its barcode.
	e.srv.ResetRequests()
	p.Data["name"] = "Ada King"
	p.Version++
	tpl.Barcode = nil
	created, err = e.client.UpsertObject(ctx(t), google.KindLoyalty, tpl, p, google.ObjectOptions{})
	must(t, err)
	if created {
		t.Fatal("second write: created = true")
	}
	reqs = e.srv.Requests()
	if len(reqs) != 2 || reqs[0].Status != http.StatusConflict || reqs[1].Method != http.MethodPatch ||
		reqs[1].Path != "/walletobjects/v1/loyaltyObject/"+objectID || reqs[1].Status != 200 {
		t.Fatalf("second write: %+v", reqs)
	}
	if v, ok := reqs[1].Body["barcode"]; !ok || v != nil {
		t.Errorf("patch must null the dropped barcode: %s", reqs[1].RawBody)
	}
	stored, _ := e.srv.Object("loyalty", objectID)
	if _, ok := stored["barcode"]; ok {
		t.Errorf("stored barcode %v after patch", stored["barcode"])
	}
	if got := get(stored["textModulesData"].([]any)[0].(map[string]any), "body"); got != "Ada King" {
		t.Errorf("stored name = %v", got)
	}
}

func TestObjectStateFollowsLifecycle(t *testing.T) {
	e := newEnv(t, googletest.Options{})
	tpl := template(core.StyleCoupon)
	setupClass(t, e, google.KindOffer, tpl)
	tests := []struct {
		lifecycle core.Lifecycle
		want      string
	}{
		{core.LifecycleActive, "ACTIVE"},
		{"", "ACTIVE"},
		{core.LifecycleExpired, "EXPIRED"},
		{core.LifecycleVoided, "INACTIVE"},
		{core.LifecycleDeleted, "INACTIVE"},
	}
	for _, tt := range tests {
		t.Run(string(tt.lifecycle), func(t *testing.T) {
			p := pass()
			p.Lifecycle = tt.lifecycle
			_, err := e.client.UpsertObject(ctx(t), google.KindOffer, tpl, p, google.ObjectOptions{})
			must(t, err)
			reqs := e.srv.Requests()
			last := reqs[len(reqs)-1]
			if last.Body["state"] != tt.want {
				t.Errorf("sent state %v, want %s", last.Body["state"], tt.want)
			}
			stored, _ := e.srv.Object("offer", issuerID+".pass_01hzx8m3q4")
			if stored["state"] != tt.want {
				t.Errorf("stored state %v, want %s", stored["state"], tt.want)
			}
			if google.StateFor(tt.lifecycle) != tt.want {
				t.Errorf("StateFor(%q) = %s", tt.lifecycle, google.StateFor(tt.lifecycle))
			}
		})
	}
}

func TestBarcodeMapping(t *testing.T) {
	e := newEnv(t, googletest.Options{})
	tests := []struct{ format, want string }{
		{core.BarcodeQR, "QR_CODE"},
		{core.BarcodePDF417, "PDF_417"},
		{core.BarcodeAztec, "AZTEC"},
		{core.BarcodeCode128, "CODE_128"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			tpl := template(core.StyleGeneric)
			tpl.ID = "tpl_" + tt.format
			tpl.Barcode = &core.Barcode{Format: tt.format, Message: "M-{{externalId}}-{{data.name}}", AltText: "#{{passId}}"}
			setupClass(t, e, google.KindGeneric, tpl)
			p := pass()
			p.ID = "pass_" + tt.format
			_, err := e.client.UpsertObject(ctx(t), google.KindGeneric, tpl, p, google.ObjectOptions{})
			must(t, err)
			got := e.srv.Requests()[0].Body["barcode"]
			want := map[string]any{"type": tt.want, "value": "M-cust-42-Ada Lovelace", "alternateText": "#pass_" + tt.format}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("barcode = %v, want %v", got, want)
			}
		})
	}
	if _, ok := google.BarcodeType("EAN13"); ok {
		t.Error("BarcodeType accepts an unknown format")
	}
}

func TestObjectBodiesPerKind(t *testing.T) {
	start := "2026-07-01T18:00:00Z"
	end := "2026-07-01T23:30:00+02:00"
	tests := []struct {
		name  string
		kind  google.ClassKind
		style core.Style
		edit  func(tpl *core.Template, p *core.Pass)
		want  map[string]any // dotted path → value; nil value = absent
	}{
		{"loyalty points as int", google.KindLoyalty, core.StyleStoreCard, func(tpl *core.Template, p *core.Pass) {
			tpl.Fields.Header = []core.Field{{Key: "points", Label: "Points"}}
			p.Data["points"] = float64(120)
		}, map[string]any{"loyaltyPoints.label": "Points", "loyaltyPoints.balance.int": float64(120)}},
		{"loyalty zero points", google.KindLoyalty, core.StyleStoreCard, func(tpl *core.Template, p *core.Pass) {
			tpl.Fields.Header = []core.Field{{Key: "points", Label: "Points", Source: "balance"}}
			p.Data["balance"] = 0
		}, map[string]any{"loyaltyPoints.balance.int": float64(0)}},
		{"loyalty points as string", google.KindLoyalty, core.StyleStoreCard, func(tpl *core.Template, p *core.Pass) {
			tpl.Fields.Header = []core.Field{{Key: "points", Label: "Stars"}}
			p.Data["points"] = "3 stars"
		}, map[string]any{"loyaltyPoints.balance.string": "3 stars"}},
		{"loyalty points as double", google.KindLoyalty, core.StyleStoreCard, func(tpl *core.Template, p *core.Pass) {
			tpl.Fields.Header = []core.Field{{Key: "points", Label: "Miles"}}
			p.Data["points"] = 12.5
		}, map[string]any{"loyaltyPoints.balance.double": 12.5}},
		{"no points field", google.KindLoyalty, core.StyleStoreCard, nil, map[string]any{"loyaltyPoints": nil}},
		{"generic header from first primary field", google.KindGeneric, core.StyleGeneric, nil, map[string]any{
			"cardTitle.defaultValue.value": "Acme Coffee", "header.defaultValue.value": "Ada Lovelace",
			"subheader.defaultValue.value": "Member", "hexBackgroundColor": "#102030",
		}},
		{"generic header falls back to the template name", google.KindGeneric, core.StyleGeneric, func(_ *core.Template, p *core.Pass) {
			delete(p.Data, "name")
		}, map[string]any{"header.defaultValue.value": "Acme Rewards", "subheader": nil}},
		{"gift card number from data", google.KindGiftCard, core.StyleStoreCard, func(_ *core.Template, p *core.Pass) {
			p.Data["cardNumber"] = "6006 4912"
		}, map[string]any{"cardNumber": "6006 4912"}},
		{"gift card number from external ID", google.KindGiftCard, core.StyleStoreCard, nil, map[string]any{"cardNumber": "cust-42"}},
		{"validity from relevantStart/End", google.KindEventTicket, core.StyleEventTicket, func(_ *core.Template, p *core.Pass) {
			p.Data["relevantStart"], p.Data["relevantEnd"] = start, end
		}, map[string]any{"validTimeInterval.start.date": start, "validTimeInterval.end.date": end}},
		{"locations", google.KindEventTicket, core.StyleEventTicket, func(tpl *core.Template, _ *core.Pass) {
			tpl.Locations = []core.Location{{Latitude: 48.85, Longitude: 2.35}}
		}, map[string]any{"merchantLocations": []any{map[string]any{"latitude": 48.85, "longitude": 2.35}}}},
		{"currency field", google.KindOffer, core.StyleCoupon, func(tpl *core.Template, p *core.Pass) {
			tpl.Fields.Primary = []core.Field{{Key: "value", Label: "Value", CurrencyCode: "EUR"}}
			p.Data["value"] = 12.5
		}, map[string]any{"textModulesData": []any{
			map[string]any{"id": "value", "header": "Value", "body": "12.50 EUR"},
			map[string]any{"id": "tier", "header": "Tier", "body": "Bronze"},
			map[string]any{"id": "terms_text", "header": "Terms", "body": "No cash value"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, googletest.Options{})
			tpl, p := template(tt.style), pass()
			if tt.edit != nil {
				tt.edit(&tpl, &p)
			}
			setupClass(t, e, tt.kind, tpl)
			_, err := e.client.UpsertObject(ctx(t), tt.kind, tpl, p, google.ObjectOptions{})
			must(t, err)
			body := e.srv.Requests()[0].Body
			for path, want := range tt.want {
				if got := get(body, path); !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			if tt.kind == google.KindLoyalty && body["loyaltyPoints"] != nil {
				for _, m := range body["textModulesData"].([]any) {
					if m.(map[string]any)["id"] == "points" {
						t.Error("points shown twice: as loyaltyPoints and as a text module")
					}
				}
			}
		})
	}
}

func TestUpsertObjectRefusesBadData(t *testing.T) {
	e := newEnv(t, googletest.Options{})
	tpl := template(core.StyleEventTicket)
	tests := []struct {
		name  string
		kind  google.ClassKind
		edit  func(p *core.Pass)
		field string
	}{
		{"bad relevantStart", google.KindEventTicket, func(p *core.Pass) { p.Data["relevantStart"] = "tomorrow" }, "data.relevantStart"},
		{"end before start", google.KindEventTicket, func(p *core.Pass) {
			p.Data["relevantStart"], p.Data["relevantEnd"] = "2026-07-02T00:00:00Z", "2026-07-01T00:00:00Z"
		}, "data.relevantEnd"},
		{"gift card without number", google.KindGiftCard, func(p *core.Pass) { p.ExternalID = "" }, "data.cardNumber"},
		{"no pass ID", google.KindEventTicket, func(p *core.Pass) { p.ID = "" }, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pass()
			tt.edit(&p)
			_, err := e.client.UpsertObject(ctx(t), tt.kind, tpl, p, google.ObjectOptions{})
			var fe *core.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %v, want invalid %s", err, tt.field)
			}
		})
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestAddMessageFallsBackToTextOnNotificationQuota(t *testing.T) {
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	e := newEnv(t, googletest.Options{Now: func() time.Time { return now }})
	tpl := template(core.StyleStoreCard)
	setupClass(t, e, google.KindLoyalty, tpl)
	_, err := e.client.UpsertObject(ctx(t), google.KindLoyalty, tpl, pass(), google.ObjectOptions{})
	must(t, err)
	objectID := e.client.ObjectID(pass().ID)
	path := "/walletobjects/v1/loyaltyObject/" + objectID + "/addMessage"
	e.srv.ResetRequests()

	for i := range 3 {
		typ, err := e.client.AddMessage(ctx(t), google.KindLoyalty, objectID, "Points", "You earned 10 points")
		must(t, err)
		if typ != google.MessageTextAndNotify {
			t.Fatalf("message %d sent as %s", i+1, typ)
		}
	}
	typ, err := e.client.AddMessage(ctx(t), google.KindLoyalty, objectID, "Points", "You earned 20 points")
	must(t, err)
	if typ != google.MessageText {
		t.Fatalf("4th message sent as %s, want TEXT after the quota", typ)
	}

	reqs := e.srv.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 3 notifies + refused notify + text", len(reqs))
	}
	notify := `{"message":{"header":"Points","body":"You earned 10 points","messageType":"TEXT_AND_NOTIFY"}}`
	for _, r := range reqs[:3] {
		if r.Method != http.MethodPost || r.Path != path || r.Status != 200 || !reflect.DeepEqual(jsonOf(t, r.RawBody), jsonOf(t, []byte(notify))) {
			t.Fatalf("notify request %s %s → %d %s", r.Method, r.Path, r.Status, r.RawBody)
		}
	}
	refused, text := reqs[3], reqs[4]
	wantRefused := `{"message":{"header":"Points","body":"You earned 20 points","messageType":"TEXT_AND_NOTIFY"}}`
	wantText := `{"message":{"header":"Points","body":"You earned 20 points","messageType":"TEXT"}}`
	if refused.Status != http.StatusForbidden || !reflect.DeepEqual(jsonOf(t, refused.RawBody), jsonOf(t, []byte(wantRefused))) {
		t.Fatalf("4th notify → %d %s", refused.Status, refused.RawBody)
	}
	if text.Path != path || text.Status != 200 || !reflect.DeepEqual(jsonOf(t, text.RawBody), jsonOf(t, []byte(wantText))) {
		t.Fatalf("fallback → %d %s", text.Status, text.RawBody)
	}
	stored, _ := e.srv.Object("loyalty", objectID)
	if msgs := stored["messages"].([]any); len(msgs) != 4 {
		t.Fatalf("stored %d messages, want 4", len(msgs))
	}

	// A day later, notifications are allowed again.
	now = now.Add(24*time.Hour + time.Second)
	typ, err = e.client.AddMessage(ctx(t), google.KindLoyalty, objectID, "Points", "New day")
	must(t, err)
	if typ != google.MessageTextAndNotify {
		t.Fatalf("next day sent as %s", typ)
	}
}

func TestAddMessageErrors(t *testing.T) {
	e := newEnv(t, googletest.Options{})
	tests := []struct {
		name     string
		objectID string
		body     string
		field    string
	}{
		{"other issuer", "999.pass_1", "hi", "objectId"},
		{"bare pass ID", "pass_1", "hi", "objectId"},
		{"bad suffix", issuerID + ".pass 1", "hi", "objectId"},
		{"empty body", issuerID + ".pass_1", " ", "message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.AddMessage(ctx(t), google.KindGeneric, tt.objectID, "h", tt.body)
			var fe *core.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %v, want invalid %s", err, tt.field)
			}
		})
	}
	// A missing object is Google's 404: permanent.
	_, err := e.client.AddMessage(ctx(t), google.KindGeneric, issuerID+".pass_missing", "h", "b")
	var ae *google.APIError
	if !errors.Is(err, core.ErrPermanent) || !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("missing object: %v", err)
	}
}

func TestHasUsers(t *testing.T) {
	e := newEnv(t, googletest.Options{})
	tpl := template(core.StyleEventTicket)
	setupClass(t, e, google.KindEventTicket, tpl)
	_, err := e.client.UpsertObject(ctx(t), google.KindEventTicket, tpl, pass(), google.ObjectOptions{})
	must(t, err)
	id := e.client.ObjectID(pass().ID)
	has, err := e.client.HasUsers(ctx(t), google.KindEventTicket, id)
	must(t, err)
	if has {
		t.Fatal("hasUsers before any save")
	}
	e.srv.SetHasUsers("eventTicket", id, true)
	has, err = e.client.HasUsers(ctx(t), google.KindEventTicket, id)
	must(t, err)
	if !has {
		t.Fatal("hasUsers false after a save")
	}
}
