package sharepage

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"rsc.io/qr"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestDetectPlatform(t *testing.T) {
	tests := []struct {
		name string
		ua   string
		want Platform
	}{
		{"iPhone Safari", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", Apple},
		{"iPhone Chrome", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1", Apple},
		{"iPod Safari", "Mozilla/5.0 (iPod touch; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1", Apple},
		{"iPad mobile UA", "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1", Apple},
		// iPadOS 13+ default "desktop website" UA is identical to macOS
		// Safari; both support passes, so both are Apple.
		{"iPadOS desktop mode / macOS Safari", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", Apple},
		{"macOS Chrome", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", Other},
		{"macOS Firefox", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0", Other},
		{"macOS Edge", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", Other},
		{"Android Chrome", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", Google},
		{"Android Samsung Internet", "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", Google},
		{"Android Firefox", "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0", Google},
		{"Windows Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", Other},
		{"Windows Edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", Other},
		{"Windows Phone (mimics Android and iPhone)", "Mozilla/5.0 (Mobile; Windows Phone 8.1; Android 4.0; ARM; Trident/7.0; Touch; rv:11.0; IEMobile/11.0; NOKIA; Lumia 635) like iPhone OS 7_0_3 Mac OS X AppleWebKit/537 (KHTML, like Gecko) Mobile Safari/537", Other},
		{"Linux Firefox", "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", Other},
		{"curl", "curl/8.5.0", Other},
		{"empty", "", Other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DetectPlatform(tt.ua); got != tt.want {
				t.Errorf("DetectPlatform(%q) = %v, want %v", tt.ua, got, tt.want)
			}
		})
	}
}

func goldenPage() Page {
	return Page{
		Title:           "Summer Festival 2025",
		Organization:    "Acme Events",
		PassURL:         "https://passhub.example/p/tok123/pass.pkpass",
		GoogleURL:       "https://pay.google.com/gp/v/save/eyJhbGciOi.test",
		PageURL:         "https://passhub.example/p/tok123",
		BackgroundColor: "rgb(12, 74, 110)",
		ForegroundColor: "#fff",
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name     string
		platform Platform
	}{
		{"apple", Apple},
		{"google", Google},
		{"other", Other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, goldenPage(), tt.platform); err != nil {
				t.Fatalf("Render: %v", err)
			}
			path := filepath.Join("testdata", tt.name+".golden.html")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("output differs from %s (run go test -update to regenerate)\ngot:\n%s", path, buf.String())
			}
			assertSelfContained(t, buf.String())
		})
	}
}

// assertSelfContained checks the page needs nothing the CSP
// "default-src 'none'; style-src 'unsafe-inline'; img-src data:" forbids.
func assertSelfContained(t *testing.T, out string) {
	t.Helper()
	lower := strings.ToLower(out)
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "<object", "<embed", " style=", " src=", "url(", "@import", " on"} {
		if bad == " on" {
			if regexp.MustCompile(`\son[a-z]+=`).MatchString(lower) {
				t.Errorf("output contains an inline event handler")
			}
			continue
		}
		if strings.Contains(lower, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
	for _, must := range []string{`<html lang="en">`, `<meta name="viewport" content="width=device-width, initial-scale=1">`, "<title>", "<style>", `<meta charset="utf-8">`} {
		if !strings.Contains(out, must) {
			t.Errorf("output lacks %q", must)
		}
	}
	if strings.Count(lower, "<style") != 1 {
		t.Errorf("want exactly one <style> block")
	}
}

func render(t *testing.T, p Page, pl Platform) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, p, pl); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.String()
}

func TestRenderPlatformLayout(t *testing.T) {
	const appleBtn, googleBtn = ">Add to Apple Wallet</a>", ">Add to Google Wallet</a>"
	noGoogle := goldenPage()
	noGoogle.GoogleURL = ""
	noQR := goldenPage()
	noQR.PageURL = ""

	tests := []struct {
		name     string
		page     Page
		platform Platform
		check    func(t *testing.T, out string)
	}{
		{"apple: apple button first, google folded away", goldenPage(), Apple, func(t *testing.T, out string) {
			a, g, d := strings.Index(out, appleBtn), strings.Index(out, googleBtn), strings.Index(out, "<details>")
			if a < 0 || g < 0 || d < 0 || !(a < d && d < g) {
				t.Errorf("want apple button, then <details> containing google button; idx apple=%d details=%d google=%d", a, d, g)
			}
		}},
		{"google: google first, apple below", goldenPage(), Google, func(t *testing.T, out string) {
			a, g := strings.Index(out, appleBtn), strings.Index(out, googleBtn)
			if a < 0 || g < 0 || g > a {
				t.Errorf("want google before apple; idx google=%d apple=%d", g, a)
			}
		}},
		{"google without GoogleURL: only apple", noGoogle, Google, func(t *testing.T, out string) {
			if strings.Contains(out, "Google Wallet") || !strings.Contains(out, appleBtn) {
				t.Errorf("want only the apple button")
			}
		}},
		{"other: QR + scan text + both buttons", goldenPage(), Other, func(t *testing.T, out string) {
			q, a, g := strings.Index(out, "<svg"), strings.Index(out, appleBtn), strings.Index(out, googleBtn)
			if q < 0 || a < 0 || g < 0 || !(q < a && a < g) {
				t.Errorf("want QR, apple, google in order; idx qr=%d apple=%d google=%d", q, a, g)
			}
			if !strings.Contains(out, "Scan with your phone") || strings.Contains(out, "<details>") {
				t.Errorf("want open 'Scan with your phone' section and no <details>")
			}
		}},
		{"other without GoogleURL hides google", noGoogle, Other, func(t *testing.T, out string) {
			if strings.Contains(out, "Google Wallet") {
				t.Errorf("google button shown without GoogleURL")
			}
		}},
		{"other without PageURL: no QR", noQR, Other, func(t *testing.T, out string) {
			if strings.Contains(out, "<svg") || strings.Contains(out, "Scan with your phone") {
				t.Errorf("QR shown without PageURL")
			}
		}},
		{"apple without PageURL: google still reachable", noQR, Apple, func(t *testing.T, out string) {
			if strings.Contains(out, "<svg") || !strings.Contains(out, googleBtn) {
				t.Errorf("want no QR but google button in details")
			}
		}},
		{"empty title defaults", Page{PassURL: "https://x.example/p.pkpass"}, Apple, func(t *testing.T, out string) {
			if !strings.Contains(out, "<title>Your pass</title>") {
				t.Errorf("want default title")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := render(t, tt.page, tt.platform)
			assertSelfContained(t, out)
			tt.check(t, out)
		})
	}
}

func TestRenderRequiresPassURL(t *testing.T) {
	var buf bytes.Buffer
	err := Render(&buf, Page{Title: "x"}, Apple)
	if !errors.Is(err, ErrNoPassURL) {
		t.Fatalf("err = %v, want ErrNoPassURL", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes on error", buf.Len())
	}
}

func TestRenderEscaping(t *testing.T) {
	tests := []struct {
		name    string
		page    Page
		present []string // must appear
		absent  []string // must not appear (case-insensitive)
	}{
		{
			name:    "script in title and organization",
			page:    Page{Title: `<script>alert(1)</script>`, Organization: `"O'Reilly" & <b>Co</b>`, PassURL: "https://x.example/p.pkpass"},
			present: []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;O&#39;Reilly&#34; &amp; &lt;b&gt;Co&lt;/b&gt;"},
			absent:  []string{"<script", "<b>"},
		},
		{
			name:    "javascript: URLs not emitted as href",
			page:    Page{Title: "t", PassURL: "javascript:alert(1)", GoogleURL: " JavaScript:alert(2)"},
			present: []string{`href="#ZgotmplZ"`},
			absent:  []string{`href="javascript:`, `href=" javascript:`, "alert("},
		},
		{
			name:    "data: URL not emitted as href",
			page:    Page{Title: "t", PassURL: "data:text/html,<script>alert(1)</script>"},
			present: []string{`href="#ZgotmplZ"`},
			absent:  []string{"data:text/html", "<script"},
		},
		{
			name:    "attribute breakout in URL",
			page:    Page{Title: "t", PassURL: `https://x.example/"><script>alert(1)</script>`},
			absent:  []string{`"><script`, "<script"},
			present: []string{`href="https://x.example/%22%3e%3cscript%3ealert%281%29%3c/script%3e"`},
		},
		{
			name:    "colour injection ignored",
			page:    Page{Title: "t", PassURL: "https://x.example/p.pkpass", BackgroundColor: "red;}</style><script>alert(1)</script>", ForegroundColor: "expression(alert(1))"},
			present: []string{"--card-bg:" + defaultBackground, "--card-fg:" + defaultForeground},
			absent:  []string{"</style><script", "expression(", "red;"},
		},
		{
			name:    "PageURL escaped in QR label",
			page:    Page{Title: "t", PassURL: "https://x.example/p.pkpass", PageURL: `https://x.example/"<x>`},
			present: []string{`aria-label="QR code for https://x.example/&#34;&lt;x&gt;"`},
			absent:  []string{"<x>"},
		},
	}
	for _, tt := range tests {
		for _, pl := range []Platform{Apple, Google, Other} {
			t.Run(tt.name+"/"+pl.String(), func(t *testing.T) {
				out := render(t, tt.page, pl)
				lower := strings.ToLower(out)
				for _, s := range tt.present {
					if !strings.Contains(out, s) {
						t.Errorf("output lacks %q", s)
					}
				}
				for _, s := range tt.absent {
					if strings.Contains(lower, strings.ToLower(s)) {
						t.Errorf("output contains %q", s)
					}
				}
			})
		}
	}
}

func TestParseColor(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = rejected
	}{
		{"#fff", "#ffffff"},
		{"#ABC", "#aabbcc"},
		{"#1f2937", "#1f2937"},
		{"#1F2937", "#1f2937"},
		{"  #000  ", "#000000"},
		{"rgb(12, 74, 110)", "#0c4a6e"},
		{"rgb(0,0,0)", "#000000"},
		{"rgb( 255 , 255 , 255 )", "#ffffff"},
		{"RGB(1,2,3)", "#010203"},
		{"", ""},
		{"red", ""},
		{"#ff", ""},
		{"#ffff", ""},
		{"#fffffff", ""},
		{"#ggg", ""},
		{"fff", ""},
		{"rgb(256,0,0)", ""},
		{"rgb(-1,0,0)", ""},
		{"rgb(1,2)", ""},
		{"rgb(1,2,3,4)", ""},
		{"rgba(1,2,3,0.5)", ""},
		{"rgb(1.5,2,3)", ""},
		{"rgb(1,2,3", ""},
		{"rgb(1,,3)", ""},
		{"rgb(0001,2,3)", ""},
		{"rgb(1%,2%,3%)", ""},
		{"hsl(0,0%,0%)", ""},
		{"#fff;}body{x:y", ""},
		{"rgb(1,2,3);}</style>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			rgb, ok := parseColor(tt.in)
			got := ""
			if ok {
				got = hexColor(rgb)
			}
			if got != tt.want {
				t.Errorf("parseColor(%q) = %q (ok=%v), want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestCardColors(t *testing.T) {
	tests := []struct {
		name           string
		bg, fg         string
		wantBG, wantFG string
	}{
		{"defaults", "", "", defaultBackground, defaultForeground},
		{"valid pair kept", "rgb(12, 74, 110)", "#fff", "#0c4a6e", "#ffffff"},
		{"invalid bg falls back", "javascript:x", "#fff", defaultBackground, "#ffffff"},
		{"invalid fg falls back", "#0c4a6e", "blue", "#0c4a6e", defaultForeground},
		{"low contrast on light bg → black", "#ffffff", "#eeeeee", "#ffffff", "#000000"},
		{"low contrast on dark bg → white", "#000000", "#333333", "#000000", "#ffffff"},
		{"light bg with default fg → black", "#fde68a", "", "#fde68a", "#000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bg, fg := cardColors(tt.bg, tt.fg)
			if bg != tt.wantBG || fg != tt.wantFG {
				t.Errorf("cardColors(%q, %q) = %q, %q; want %q, %q", tt.bg, tt.fg, bg, fg, tt.wantBG, tt.wantFG)
			}
		})
	}
}

var (
	viewBoxRE = regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`)
	pathRE    = regexp.MustCompile(`<path fill="#000" d="([^"]*)"/>`)
	runRE     = regexp.MustCompile(`^M(\d+) (\d+)h(\d+)v1h-(\d+)z`)
)

func TestQRSVG(t *testing.T) {
	tests := []string{
		"https://passhub.example/p/tok123",
		"HELLO WORLD", // alphanumeric mode
		"0123456789",  // numeric mode
		"https://passhub.example/p/" + strings.Repeat("a1B2", 40), // larger version
		"ünïcödé & <tags>",
	}
	for _, text := range tests {
		t.Run(text, func(t *testing.T) {
			svg, err := QRSVG(text)
			if err != nil {
				t.Fatalf("QRSVG: %v", err)
			}
			want, err := qr.Encode(text, qr.M)
			if err != nil {
				t.Fatal(err)
			}

			// Well-formed XML with the expected accessibility attributes.
			var root struct {
				XMLName xml.Name
				Role    string     `xml:"role,attr"`
				Label   string     `xml:"aria-label,attr"`
				Shape   string     `xml:"shape-rendering,attr"`
				Paths   []struct{} `xml:"path"`
			}
			if err := xml.Unmarshal([]byte(svg), &root); err != nil {
				t.Fatalf("SVG is not well-formed XML: %v", err)
			}
			if root.XMLName.Local != "svg" || root.Role != "img" || root.Label != "QR code for "+text || root.Shape != "crispEdges" {
				t.Errorf("root = %+v", root)
			}
			if len(root.Paths) != 1 {
				t.Errorf("want exactly one <path>, got %d", len(root.Paths))
			}

			// viewBox: module count plus a 4-module quiet zone on each side.
			m := viewBoxRE.FindStringSubmatch(svg)
			if m == nil {
				t.Fatal("no viewBox")
			}
			dim, _ := strconv.Atoi(m[1])
			if m[1] != m[2] || dim != want.Size+2*quietZone {
				t.Fatalf("viewBox %sx%s, want %dx%d", m[1], m[2], want.Size+8, want.Size+8)
			}

			// Rasterise the path back into a module grid and compare with
			// the reference encoding bit for bit.
			pm := pathRE.FindStringSubmatch(svg)
			if pm == nil {
				t.Fatal("no dark-module path")
			}
			grid := make([][]bool, dim)
			for i := range grid {
				grid[i] = make([]bool, dim)
			}
			d, darkInPath := pm[1], 0
			for d != "" {
				r := runRE.FindStringSubmatch(d)
				if r == nil {
					t.Fatalf("unparseable path data at %.30q", d)
				}
				d = d[len(r[0]):]
				x, _ := strconv.Atoi(r[1])
				y, _ := strconv.Atoi(r[2])
				w, _ := strconv.Atoi(r[3])
				back, _ := strconv.Atoi(r[4])
				if w != back || w < 1 {
					t.Fatalf("malformed run %q", r[0])
				}
				for i := range w {
					if x+i >= dim || y >= dim {
						t.Fatalf("run %q outside viewBox", r[0])
					}
					if grid[y][x+i] {
						t.Fatalf("module (%d,%d) drawn twice", x+i, y)
					}
					grid[y][x+i] = true
					darkInPath++
				}
			}
			wantDark := 0
			for y := range dim {
				for x := range dim {
					mx, my := x-quietZone, y-quietZone
					inside := mx >= 0 && my >= 0 && mx < want.Size && my < want.Size
					dark := inside && want.Black(mx, my)
					if dark {
						wantDark++
					}
					if grid[y][x] != dark {
						t.Fatalf("module (%d,%d): svg dark=%v, want %v (quiet zone must be light)", mx, my, grid[y][x], dark)
					}
				}
			}
			if darkInPath != wantDark || wantDark == 0 {
				t.Errorf("dark modules: path %d, want %d", darkInPath, wantDark)
			}
		})
	}
}

func TestQRSVGTooLong(t *testing.T) {
	if _, err := QRSVG(strings.Repeat("x", 5000)); err == nil {
		t.Fatal("want error for text exceeding QR capacity")
	}
	var buf bytes.Buffer
	err := Render(&buf, Page{PassURL: "https://x.example/p.pkpass", PageURL: strings.Repeat("x", 5000)}, Other)
	if err == nil || buf.Len() != 0 {
		t.Fatalf("Render: err=%v, wrote %d bytes; want error and no output", err, buf.Len())
	}
}
