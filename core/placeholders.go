package core

import (
	"regexp"
	"strings"
)

var placeholderRE = regexp.MustCompile(`\{\{\s*(passId|externalId|data\.[^{}\s]+)\s*\}\}`)

// Substitute fills the placeholders a template may use in barcode
// messages and texts — {{passId}}, {{externalId}} and {{data.KEY}} — for
// pass p. text turns a data value into the wallet's text (each wallet
// formats times its own way); a missing key becomes the empty string.
func (p Pass) Substitute(s string, text func(any) string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		name := placeholderRE.FindStringSubmatch(m)[1]
		switch name {
		case "passId":
			return p.ID
		case "externalId":
			return p.ExternalID
		}
		v, ok := p.Data[strings.TrimPrefix(name, "data.")]
		if !ok || v == nil {
			return ""
		}
		return text(v)
	})
}
