package sqlstore

import "strings"

// Qualified prefixes each of a comma-separated column list with table
// alias a ("id, name" → "t.id, t.name"), for joins.
func Qualified(a, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = a + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// ScanWith is a row whose Scan fills extra destinations after the ones
// it is given: a scan function written for a table's columns reads a
// join's extra columns too.
type ScanWith struct {
	Row   interface{ Scan(dest ...any) error }
	Extra []any
}

// Scan scans dest and then the extra destinations.
func (s ScanWith) Scan(dest ...any) error { return s.Row.Scan(append(dest, s.Extra...)...) }
