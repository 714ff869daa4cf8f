package core

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestWebhookMatches(t *testing.T) {
	ev := Event{Type: EventInstalled, Data: EventData{TemplateID: "tpl_a"}}
	cases := []struct {
		name string
		sub  WebhookSubscription
		want bool
	}{
		{"exact", WebhookSubscription{Events: []string{"pass.installed"}}, true},
		{"other type", WebhookSubscription{Events: []string{"pass.updated"}}, false},
		{"namespace wildcard", WebhookSubscription{Events: []string{"pass.*"}}, true},
		{"other namespace", WebhookSubscription{Events: []string{"webhook.*"}}, false},
		{"everything", WebhookSubscription{Events: []string{"*"}}, true},
		{"one of several", WebhookSubscription{Events: []string{"pass.deleted", "pass.installed"}}, true},
		{"template filter", WebhookSubscription{Events: []string{"*"}, TemplateID: "tpl_a"}, true},
		{"other template", WebhookSubscription{Events: []string{"*"}, TemplateID: "tpl_b"}, false},
		{"disabled", WebhookSubscription{Events: []string{"*"}, Disabled: true}, false},
		{"no events", WebhookSubscription{}, false},
	}
	for _, tc := range cases {
		if got := tc.sub.Matches(ev); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !(WebhookSubscription{Events: []string{"pass.*"}}).Matches(Event{Type: EventRecordAdded}) {
		t.Error("pass.* does not match pass.record_added")
	}
	if (WebhookSubscription{Events: []string{"pass.*"}}).Matches(Event{Type: EventWebhookDisabled}) {
		t.Error("pass.* matches webhook.disabled")
	}
}

func TestValidWebhookEvent(t *testing.T) {
	for p, want := range map[string]bool{
		"pass.installed": true, "pass.*": true, "*": true, "webhook.disabled": true, "webhook.*": true,
		"pass.": false, "pass": false, "order.*": false, "pass.installed.*": false, "": false, "**": false, "pass.Installed": false,
	} {
		if got := ValidWebhookEvent(p); got != want {
			t.Errorf("ValidWebhookEvent(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestWebhookDeliveryID(t *testing.T) {
	a := WebhookDeliveryID("evt_1", "whk_1")
	if a != WebhookDeliveryID("evt_1", "whk_1") {
		t.Error("the same event and subscription give two IDs")
	}
	for _, other := range []string{WebhookDeliveryID("evt_2", "whk_1"), WebhookDeliveryID("evt_1", "whk_2"), WebhookDeliveryID("evt_1whk", "_1")} {
		if other == a {
			t.Errorf("%s names two messages", a)
		}
	}
	if !strings.HasPrefix(a, "msg_") || len(a) != len("msg_")+26 {
		t.Errorf("ID %q, want msg_ and 26 characters", a)
	}
	j := WebhookDeliverJob("ws_1", "whk_1", "evt_1", "", time.Unix(0, 0))
	r := WebhookDeliverJob("ws_1", "whk_1", "evt_1", WebhookReplaySuffix(time.Unix(0, 5)), time.Unix(0, 0))
	if j.Key != a || r.Key != a+"/replay-5" || j.Kind != JobKindWebhookDeliver || string(j.Payload) != `{"subscriptionId":"whk_1","eventId":"evt_1"}` {
		t.Errorf("jobs %+v and %+v", j, r)
	}
}

func TestWebhookPayload(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p := &Pass{ID: "pass_1", WorkspaceID: "ws_1", TemplateID: "tpl_1", ExternalID: "cust-42", Lifecycle: LifecycleActive, Version: 3,
		WalletStatus: WalletApple, AppleWalletInstalledAt: &at,
		Data: map[string]any{"points": 129, "tier": "gold", "address": map[string]any{"city": "Berlin", "zip": "10115"}}}
	ev := NewEvent(EventInstalled, p, at)
	ev.ID = "evt_1"

	plain, err := WebhookPayload(ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"evt_1","workspaceId":"ws_1","type":"pass.installed","occurredAt":"2025-03-01T12:00:00Z","data":{"passId":"pass_1","externalId":"cust-42","templateId":"tpl_1","lifecycle":"active","version":3,"walletStatus":"apple","appleWalletInstalledAt":"2025-03-01T12:00:00Z","googleWalletInstalledAt":null,"walletLastChangedAt":null,"fields":{"address":{"city":"Berlin","zip":"10115"},"points":129,"tier":"gold"}}}`
	if string(plain) != want {
		t.Errorf("payload\n got %s\nwant %s", plain, want)
	}

	s := func(v string) *string { return &v }
	mapped, err := WebhookPayload(ev, map[string]*string{
		"externalId":          s("customerId"),
		"passId":              s("id"),
		"walletStatus":        nil,
		"fields.points":       s("loyaltyPoints"),
		"fields.tier":         nil,
		"fields.address.city": s("town"),
		"fields":              s("custom"), // renamed after its members
		"fields.missing":      nil,         // absent: left alone
	})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(mapped, &got); err != nil {
		t.Fatal(err)
	}
	data := got["data"].(map[string]any)
	custom, _ := data["custom"].(map[string]any)
	switch {
	case data["customerId"] != "cust-42" || data["externalId"] != nil:
		t.Errorf("externalId not renamed: %v", data)
	case data["id"] != "pass_1" || data["passId"] != nil:
		t.Errorf("passId not renamed: %v", data)
	case func() bool { _, ok := data["walletStatus"]; return ok }():
		t.Errorf("walletStatus not removed: %v", data)
	case custom == nil || data["fields"] != nil:
		t.Errorf("fields not renamed to custom: %v", data)
	case custom["loyaltyPoints"] != 129.0 || custom["tier"] != nil || custom["address"].(map[string]any)["town"] != "Berlin":
		t.Errorf("pass fields mapped to %v", custom)
	case got["id"] != "evt_1" || got["type"] != "pass.installed":
		t.Errorf("envelope changed: %v", got)
	}
	if !strings.Contains(string(mapped), `"loyaltyPoints":129`) {
		t.Errorf("numbers re-encoded: %s", mapped)
	}
}
