package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Brand is the operator's product as the pages and their messages show it:
// its name, its logo and its colour (TWOSTEP_PRODUCT_NAME, TWOSTEP_LOGO_URL or
// a logo file in the data directory, TWOSTEP_ACCENT_COLOR).
type Brand struct {
	// Name is the product's name: in every page's header and title. "" is
	// DefaultProductName.
	Name string
	// LogoURL is an http(s) URL of the logo, which browsers then load from
	// there (the CSP allows its origin for images). It wins over Logo.
	LogoURL string
	// Logo is the logo's content, served at /static/logo with LogoType, one of
	// LogoTypes' values.
	Logo     []byte
	LogoType string
	// Accent is the colour of links, buttons and the header's rule; the zero
	// Color is DefaultAccent.
	Accent Color
}

// DefaultProductName is the name of a product that has not said its own.
const DefaultProductName = "Twostep"

// DefaultAccent is the accent colour when none is configured.
var DefaultAccent = Color{R: 0x0b, G: 0x57, B: 0xd0, set: true}

// LogoTypes are the logo files a data directory may hold, in the order they
// are looked for, with the content type each is served with. Only image types
// a browser shows in <img> and never runs: an SVG is served with a sandboxing
// CSP as well, for whoever opens it directly.
var LogoTypes = []struct{ File, Type string }{
	{"logo.svg", "image/svg+xml"},
	{"logo.png", "image/png"},
	{"logo.webp", "image/webp"},
}

// MaxLogoSize bounds a logo file: a logo is a few kilobytes, and every page
// loads it.
const MaxLogoSize = 512 << 10

// CheckLogo reports why content is not a logo of contentType ("" when it is):
// too large, or not what its file name says (a PNG that is not a PNG).
func CheckLogo(content []byte, contentType string) string {
	switch {
	case len(content) == 0:
		return "is empty"
	case len(content) > MaxLogoSize:
		return fmt.Sprintf("is larger than %d KiB", MaxLogoSize>>10)
	}
	ok := false
	switch contentType {
	case "image/png":
		ok = bytes.HasPrefix(content, []byte("\x89PNG\r\n\x1a\n"))
	case "image/webp":
		ok = len(content) > 12 && string(content[:4]) == "RIFF" && string(content[8:12]) == "WEBP"
	case "image/svg+xml":
		ok = bytes.Contains(content[:min(len(content), 4096)], []byte("<svg"))
	}
	if !ok {
		return "is not a " + strings.TrimPrefix(strings.TrimSuffix(contentType, "+xml"), "image/") + " image"
	}
	return ""
}

// ParseLogoURL checks the value of TWOSTEP_LOGO_URL: an absolute http or https
// URL without credentials, which the CSP then names.
func ParseLogoURL(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		strings.ContainsAny(v, " '\";") {
		return nil, errors.New("must be an https:// URL of an image, such as https://example.com/logo.svg")
	}
	return u, nil
}

// Color is an sRGB colour; the zero Color means "not configured".
type Color struct {
	R, G, B uint8
	set     bool
}

// ParseColor reads "#RRGGBB" or "#RGB" (hexadecimal, either case). The error
// says what form is expected: colour names and rgb() are not taken, so that
// the contrast computed for the pages is the colour's own.
func ParseColor(s string) (Color, error) {
	h, ok := strings.CutPrefix(strings.TrimSpace(s), "#")
	bad := errors.New("must be a hexadecimal colour as #RRGGBB or #RGB, such as #0b57d0")
	if !ok || (len(h) != 6 && len(h) != 3) {
		return Color{}, bad
	}
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return Color{}, bad
	}
	return Color{R: uint8(n >> 16), G: uint8(n >> 8), B: uint8(n), set: true}, nil
}

// IsZero reports whether c is the unset colour.
func (c Color) IsZero() bool { return !c.set }

// String is c as #rrggbb.
func (c Color) String() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// luminance is c's relative luminance (WCAG 2.2).
func (c Color) luminance() float64 {
	ch := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(c.R) + 0.7152*ch(c.G) + 0.0722*ch(c.B)
}

// Contrast is the WCAG contrast ratio of a and b, from 1 to 21.
func Contrast(a, b Color) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

var (
	white = Color{255, 255, 255, true}
	black = Color{0, 0, 0, true}
	// The page backgrounds of style.css, light and dark.
	lightBackground = white
	darkBackground  = Color{0x0d, 0x11, 0x17, true}
)

// Foreground is the readable text colour on a fill of c: black or white,
// whichever contrasts more.
func Foreground(c Color) Color {
	if Contrast(c, black) >= Contrast(c, white) {
		return black
	}
	return white
}

// readableOn is c, mixed towards black or white only as much as needed, so
// that as text (a link, an outlined button) on bg it reaches WCAG AA's 4.5:1.
func readableOn(c, bg Color) Color {
	toward := black
	if bg.luminance() < 0.5 {
		toward = white
	}
	for i := 0; i <= 20; i++ {
		t := float64(i) / 20
		m := Color{mix(c.R, toward.R, t), mix(c.G, toward.G, t), mix(c.B, toward.B, t), true}
		if Contrast(m, bg) >= 4.5 {
			return m
		}
	}
	return toward
}

func mix(a, b uint8, t float64) uint8 { return uint8(math.Round(float64(a)*(1-t) + float64(b)*t)) }

// brandCSS is the style sheet the pages load after style.css: the accent,
// light and dark. The brand's own colour fills the primary buttons and the
// header's rule, with a foreground computed to be readable on it; links and
// outlined buttons use the accent made readable on each background.
func brandCSS(accent Color) []byte {
	if accent.IsZero() {
		accent = DefaultAccent
	}
	fg := Foreground(accent)
	var b bytes.Buffer
	fmt.Fprintf(&b, "/* The product's accent (TWOSTEP_ACCENT_COLOR %s), with colours computed for contrast. */\n", accent)
	fmt.Fprintf(&b, ":root {\n  --brand: %s;\n  --brand-text: %s;\n  --accent: %s;\n}\n", accent, fg, readableOn(accent, lightBackground))
	fmt.Fprintf(&b, "@media (prefers-color-scheme: dark) {\n  :root { --accent: %s; }\n}\n", readableOn(accent, darkBackground))
	return b.Bytes()
}

// brandAssets are the brand's files as served: the style sheet and the logo,
// with validators so that a browser may keep them.
type brandAssets struct {
	css     []byte
	cssETag string
	logo    []byte
	logoTyp string
	logoTag string
	// logoSrc is the logo's address on the pages; "" for none.
	logoSrc string
	// imgSrc is the logo's origin when it lives elsewhere, for the CSP.
	imgSrc string
}

func newBrandAssets(b Brand) (*brandAssets, error) {
	a := &brandAssets{css: brandCSS(b.Accent)}
	a.cssETag = etag(a.css)
	switch {
	case b.LogoURL != "":
		u, err := ParseLogoURL(b.LogoURL)
		if err != nil {
			return nil, fmt.Errorf("web: logo URL: %w", err)
		}
		a.logoSrc, a.imgSrc = u.String(), u.Scheme+"://"+u.Host
	case len(b.Logo) > 0:
		if why := CheckLogo(b.Logo, b.LogoType); why != "" {
			return nil, fmt.Errorf("web: logo %s", why)
		}
		a.logo, a.logoTyp, a.logoTag = b.Logo, b.LogoType, etag(b.Logo)
		a.logoSrc = "/static/logo?v=" + strings.Trim(a.logoTag, `"`)[:12]
	}
	return a, nil
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// serveBrandCSS: GET /static/brand.css.
func (s *Server) serveBrandCSS(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, s.brand.css, "text/css; charset=utf-8", s.brand.cssETag)
}

// serveLogo: GET /static/logo, the logo file of the data directory. An SVG
// could hold script: the sandbox CSP keeps it inert even when opened directly.
func (s *Server) serveLogo(w http.ResponseWriter, r *http.Request) {
	if s.brand.logo == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	serveAsset(w, r, s.brand.logo, s.brand.logoTyp, s.brand.logoTag)
}

func serveAsset(w http.ResponseWriter, r *http.Request, body []byte, typ, tag string) {
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("ETag", tag)
	h.Set("Cache-Control", "no-cache") // revalidate: cheap with the ETag, and a changed brand shows at once
	if r.Header.Get("If-None-Match") == tag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}
