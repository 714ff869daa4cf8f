package sharepage

import (
	"fmt"
	"html"
	"strconv"
	"strings"

	"rsc.io/qr"
)

// quietZone is the number of light modules around the symbol required by
// ISO/IEC 18004 for reliable scanning.
const quietZone = 4

// QRSVG returns an inline <svg> element rendering text as a QR code
// (error-correction level M).
//
// The SVG is sized by its viewBox only (one user unit per module, including
// a 4-module quiet zone), so CSS controls its displayed size. It paints a
// white background (the quiet zone must stay light even under a dark page
// theme) and draws every dark module in a single <path>, merging horizontal
// runs to keep the markup compact. shape-rendering="crispEdges" avoids
// anti-aliasing seams between modules. It carries role="img" and an
// aria-label for assistive technology, and contains no scripts, external
// references or inline style attributes, so it works under
// `default-src 'none'`.
func QRSVG(text string) (string, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("sharepage: encode QR code: %w", err)
	}
	n := code.Size
	dim := n + 2*quietZone

	var path strings.Builder
	for y := 0; y < n; y++ {
		for x := 0; x < n; {
			if !code.Black(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < n && code.Black(x+run, y) {
				run++
			}
			// Move to the run's top-left corner, then trace its outline.
			path.WriteByte('M')
			path.WriteString(strconv.Itoa(x + quietZone))
			path.WriteByte(' ')
			path.WriteString(strconv.Itoa(y + quietZone))
			path.WriteByte('h')
			path.WriteString(strconv.Itoa(run))
			path.WriteString("v1h-")
			path.WriteString(strconv.Itoa(run))
			path.WriteByte('z')
			x += run
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="%s">`,
		dim, dim, html.EscapeString("QR code for "+text))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`, dim, dim)
	b.WriteString(`<path fill="#000" d="`)
	b.WriteString(path.String())
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}
