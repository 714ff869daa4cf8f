package google

import (
	"strings"

	"github.com/passhub/passhub/core"
)

// ClassKind is a Google Wallet class/object pair. Its value is the prefix
// of the REST resources ("loyalty" → loyaltyClass, loyaltyObject) and of
// the save JWT payload keys ("loyalty" → loyaltyObjects).
type ClassKind string

const (
	KindLoyalty     ClassKind = "loyalty"
	KindOffer       ClassKind = "offer"
	KindEventTicket ClassKind = "eventTicket"
	KindGeneric     ClassKind = "generic"
	KindGiftCard    ClassKind = "giftCard"
)

// ClassKinds lists every kind this package writes.
var ClassKinds = []ClassKind{KindLoyalty, KindOffer, KindEventTicket, KindGeneric, KindGiftCard}

// Valid reports whether k is a kind this package writes.
func (k ClassKind) Valid() bool {
	for _, c := range ClassKinds {
		if c == k {
			return true
		}
	}
	return false
}

// ClassResource is the REST collection of k's classes ("loyaltyClass").
func (k ClassKind) ClassResource() string { return string(k) + "Class" }

// ObjectResource is the REST collection of k's objects ("loyaltyObject").
func (k ClassKind) ObjectResource() string { return string(k) + "Object" }

// ClassKindFor maps a template to a Google class kind:
//
//	storeCard    → loyalty
//	coupon       → offer
//	eventTicket  → eventTicket
//	generic      → generic
//	boardingPass → generic (Google's flight and transit classes need
//	               structured itinerary data passhub templates do not have)
//
// Gift cards have no Apple style of their own; a template can only become
// one once core.Template carries a Google class choice (proposed:
// "google": {"classType": "giftCard"}). Until then giftCard is reachable
// by passing KindGiftCard explicitly.
func ClassKindFor(t core.Template) ClassKind {
	if t.GoogleClass == core.GoogleClassGiftCard {
		return KindGiftCard
	}
	switch t.Style {
	case core.StyleStoreCard:
		return KindLoyalty
	case core.StyleCoupon:
		return KindOffer
	case core.StyleEventTicket:
		return KindEventTicket
	default: // generic, boardingPass and anything unknown
		return KindGeneric
	}
}

// Sanitize makes s a valid ID suffix: every character outside
// [A-Za-z0-9._-] becomes '_'. passhub IDs are already valid, so they pass
// unchanged.
func Sanitize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if idChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func idChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// ClassID is the Google class ID of a template: issuerID.templateID.
func ClassID(issuerID, templateID string) string { return issuerID + "." + Sanitize(templateID) }

// ObjectID is the Google object ID of a pass: issuerID.passID.
func ObjectID(issuerID, passID string) string { return issuerID + "." + Sanitize(passID) }
