package web

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pngLogo is the smallest file that is a PNG: its signature.
var pngLogo = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")

// TestBrandOnEveryPage: the product's name and logo are in every page's header
// and title, the logo is served with its own type, and the accent's style
// sheet keeps text readable: a light yellow brand gets black text on its
// buttons, and links in a darker shade that reaches 4.5:1 on white.
func TestBrandOnEveryPage(t *testing.T) {
	yellow, err := ParseColor("#FFCC00")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) {
		o.Brand = Brand{Name: "Acme Files", Logo: pngLogo, LogoType: "image/png", Accent: yellow}
	})
	owner := e.setUp(t)
	logo := regexp.MustCompile(`<img class="logo" src="(/static/logo\?v=[0-9a-f]+)" alt="" height="32"><span class="product">Acme Files</span>`)
	anon := e.browser(t)
	for _, path := range []string{"/sign-in", "/account/security", "/account/activity", "/reset-password", "/set-password/tok_nope"} {
		b := owner
		if !strings.HasPrefix(path, "/account/") {
			b = anon
		}
		a := b.get(path)
		if !logo.MatchString(a.body) || !strings.Contains(a.body, "· Acme Files</title>") ||
			!strings.Contains(a.body, `<link rel="stylesheet" href="/static/brand.css">`) {
			t.Errorf("%s (%d) does not show the product:\n%s", path, a.status, a.body)
		}
		wantNot(t, a, ">Twostep<", "· Twostep</title>")
	}
	src := logo.FindStringSubmatch(anon.get("/sign-in").body)[1]
	a := owner.get(src)
	if a.status != 200 || a.header.Get("Content-Type") != "image/png" || a.header.Get("X-Content-Type-Options") != "nosniff" ||
		!bytes.Equal([]byte(a.body), pngLogo) {
		t.Errorf("GET %s: %d %v %q", src, a.status, a.header, a.body)
	}

	a = owner.get("/static/brand.css")
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/css") {
		t.Fatalf("brand.css: %d %v", a.status, a.header)
	}
	vars := map[string][]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+): (#[0-9a-f]{6});`).FindAllStringSubmatch(a.body, -1) {
		vars[m[1]] = append(vars[m[1]], m[2])
	}
	if got := vars["brand"]; len(got) != 1 || got[0] != "#ffcc00" {
		t.Errorf("--brand %v, want #ffcc00:\n%s", got, a.body)
	}
	if got := vars["brand-text"]; len(got) != 1 || got[0] != "#000000" {
		t.Errorf("--brand-text %v, want black on yellow:\n%s", got, a.body)
	}
	// --accent: once for light pages, once for dark ones.
	if len(vars["accent"]) != 2 {
		t.Fatalf("--accent %v, want a light and a dark one:\n%s", vars["accent"], a.body)
	}
	for i, bg := range []Color{lightBackground, darkBackground} {
		c, err := ParseColor(vars["accent"][i])
		if err != nil {
			t.Fatal(err)
		}
		if r := Contrast(c, bg); r < 4.5 {
			t.Errorf("links %s on %s: contrast %.2f, want at least 4.5", c, bg, r)
		}
	}
}

// TestBrandDefaults: without a brand the pages say Twostep, show no logo and
// /static/logo is not found.
func TestBrandDefaults(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	a := b.get("/sign-in")
	want(t, a, 200, "", `<span class="product">Twostep</span>`, "· Twostep</title>")
	wantNot(t, a, `class="logo"`)
	want(t, b.get("/static/logo"), 404, "")
	want(t, b.get("/static/brand.css"), 200, "", "--brand: #0b57d0;", "--brand-text: #ffffff;")
}

// TestLogoElsewhere: a logo at TWOSTEP_LOGO_URL is loaded from there, which the
// CSP then allows for images (and nothing else).
func TestLogoElsewhere(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Brand = Brand{Name: "Acme", LogoURL: "https://cdn.acme.example/brand/logo.svg"} })
	a := e.browser(t).get("/sign-in")
	want(t, a, 200, "", `<img class="logo" src="https://cdn.acme.example/brand/logo.svg"`)
	csp := a.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.example;") || strings.Count(csp, "cdn.acme.example") != 1 {
		t.Errorf("CSP %q", csp)
	}
}

// TestSVGLogoInert: an SVG logo could hold script; opened on its own it comes
// with a CSP that sandboxes it.
func TestSVGLogoInert(t *testing.T) {
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><script>alert(1)</script></svg>`)
	e := newEnv(t, func(o *Options) { o.Brand = Brand{Logo: svg, LogoType: "image/svg+xml"} })
	a := e.browser(t).get("/static/logo")
	if a.status != 200 || a.header.Get("Content-Type") != "image/svg+xml" ||
		!strings.Contains(a.header.Get("Content-Security-Policy"), "sandbox") ||
		strings.Contains(a.header.Get("Content-Security-Policy"), "script-src") {
		t.Errorf("GET /static/logo: %d %v", a.status, a.header)
	}
}

// TestBadLogoRefused: a logo file must be what its name says.
func TestBadLogoRefused(t *testing.T) {
	for _, tc := range []struct {
		content []byte
		typ     string
		want    string
	}{
		{[]byte("<html>"), "image/png", "is not a png image"},
		{[]byte("GIF89a"), "image/webp", "is not a webp image"},
		{[]byte("just text"), "image/svg+xml", "is not a svg image"},
		{bytes.Repeat([]byte{0}, MaxLogoSize+1), "image/png", "is larger than 512 KiB"},
	} {
		if got := CheckLogo(tc.content, tc.typ); got != tc.want {
			t.Errorf("CheckLogo(%.10q, %s) = %q, want %q", tc.content, tc.typ, got, tc.want)
		}
	}
}

// TestAccentForeground: the text on a brand colour is whichever of black and
// white reads better, and every colour accepted gets links of 4.5:1.
func TestAccentForeground(t *testing.T) {
	for _, tc := range []struct{ accent, text string }{
		{"#0b57d0", "#ffffff"}, {"#ffcc00", "#000000"}, {"#fff", "#000000"}, {"#000", "#ffffff"},
		{"#E91E63", "#000000"}, {"#2e7d32", "#ffffff"}, {"#00bcd4", "#000000"},
	} {
		c, err := ParseColor(tc.accent)
		if err != nil {
			t.Fatalf("%s: %v", tc.accent, err)
		}
		if got := Foreground(c).String(); got != tc.text {
			t.Errorf("text on %s: %s, want %s", tc.accent, got, tc.text)
		}
		if r := Contrast(c, Foreground(c)); r < 4.5 && tc.accent != "#E91E63" {
			t.Errorf("text on %s: contrast %.2f", tc.accent, r)
		}
		for _, bg := range []Color{lightBackground, darkBackground} {
			if r := Contrast(readableOn(c, bg), bg); r < 4.5 {
				t.Errorf("links of %s on %s: contrast %.2f", tc.accent, bg, r)
			}
		}
	}
	for _, bad := range []string{"blue", "0b57d0", "#0b57d", "#gg0000", "rgb(0,0,0)", "#0b57d0ff", ""} {
		if _, err := ParseColor(bad); err == nil || !strings.Contains(err.Error(), "#RRGGBB") {
			t.Errorf("ParseColor(%q) = %v, want an error naming the form", bad, err)
		}
	}
}

// The product (OpenID Connect client) that asked for a sign-in is named on its
// pages, "Sign in to continue to {client}": TestOIDCCodeFlow in cmd/twostep
// and TestBrowserOIDCRequiredEnrolment hold it.

// TestDevicesInWords: the activity and audit pages say "Chrome on macOS", not
// the User-Agent string, and the address as it is.
func TestDevicesInWords(t *testing.T) { // AU-01
	const chromeMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	const safariPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	e := newEnv(t)
	owner := e.setUp(t)
	key, _ := e.enrol(t, owner)
	mac := e.browser(t)
	mac.ua = chromeMac
	want(t, mac.signIn(t, ownerEmail, "wrong password"), 401, "")
	phone := e.browser(t)
	phone.ua = safariPhone
	phone.lang = "fr"
	want(t, phone.signIn(t, ownerEmail, "wrong password"), 401, "")
	for _, path := range []string{"/account/activity", "/admin/audit"} {
		a := owner.get(path)
		want(t, a, 200, "", `<td class="device">Chrome on macOS</td>`, `<td class="device">Safari on iPhone</td>`, "<td>127.0.0.1</td>")
		wantNot(t, a, "Mozilla/5.0", "AppleWebKit")
	}
	fr := e.browser(t)
	fr.lang = "fr"
	fr.ua = chromeMac
	e.clock.Add(30 * time.Second) // the enrolment spent the step
	signInWithApp(t, e, fr, key)
	want(t, fr.get("/account/activity"), 200, "", `<td class="device">Chrome sur macOS</td>`, `<td class="device">Safari sur iPhone</td>`)
}

// signInWithApp signs b in as the owner with the app of key.
func signInWithApp(t *testing.T, e *env, b *browser, key []byte) {
	t.Helper()
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	want(t, b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {e.code(key)}}), 303, "/account/security")
}

// TestUserAgentNames: what the parser makes of the browsers people use, and of
// programs that are not browsers.
func TestUserAgentNames(t *testing.T) {
	for _, tc := range []struct{ ua, browser, platform string }{
		{"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "Firefox", "Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0", "Edge", "Windows"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", "Chrome", "Android"},
		{"Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0 Mobile/15E148 Safari/604.1", "Chrome", "iPad"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", "Safari", "macOS"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0.0.0 Safari/537.36", "Chrome", "Linux"},
		{"curl/8.5.0", "curl", ""},
		{"Go-http-client/1.1", "Go", ""},
		{"", "", ""},
	} {
		if got := DescribeUserAgent(tc.ua); got.Browser != tc.browser || got.Platform != tc.platform {
			t.Errorf("%q: %+v, want %s on %s", tc.ua, got, tc.browser, tc.platform)
		}
	}
}

var monthsEN = []string{"", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
var monthsFR = []string{"", "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// TestTimesInReaderZone: with the tz cookie app.js sets, times are in the
// reader's zone and said in their language ("4 December 2026, 18:30",
// "4 décembre 2026 à 18:30"); the zone is said once under the page, never in
// each cell; without the cookie, or with one that names no zone, UTC, said so.
// The audit gives seconds.
func TestTimesInReaderZone(t *testing.T) {
	e := newEnv(t)
	owner := e.setUp(t)
	key, _ := e.enrol(t, owner)
	now := e.clock.Now()
	setTZ := func(b *browser, v string) {
		u, _ := url.Parse(e.srv.URL)
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "tz", Value: v, Path: "/"}})
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	en := func(t time.Time, clock string) string {
		return fmt.Sprintf("%d %s %d, %s", t.Day(), monthsEN[t.Month()], t.Year(), t.Format(clock))
	}
	fr := func(t time.Time, clock string) string {
		return fmt.Sprintf("%d %s %d à %s", t.Day(), monthsFR[t.Month()], t.Year(), t.Format(clock))
	}
	noUTCInCells := func(t *testing.T, a answer) {
		t.Helper()
		if n := strings.Count(a.body, "UTC"); n != 1 {
			t.Errorf("UTC said %d times, want once:\n%s", n, a.body)
		}
	}

	// No cookie: UTC, said once.
	a := owner.get("/account/activity")
	want(t, a, 200, "", "<td>"+en(now.UTC(), "15:04")+"</td>", `<p class="hint zone" data-zone>Times are in UTC (Coordinated Universal Time).</p>`)
	noUTCInCells(t, a)
	// The audit, to the second.
	a = owner.get("/admin/audit")
	want(t, a, 200, "", "<td>"+en(now.UTC(), "15:04:05")+"</td>")
	noUTCInCells(t, a)

	// The reader's zone.
	setTZ(owner, url.QueryEscape("Asia/Tokyo"))
	a = owner.get("/account/activity")
	want(t, a, 200, "", "<td>"+en(now.In(tokyo), "15:04")+"</td>", "Times are in your time zone, Asia/Tokyo.")
	wantNot(t, a, "UTC")
	if n := strings.Count(a.body, "Asia/Tokyo"); n != 1 {
		t.Errorf("the zone is said %d times, want once", n)
	}
	want(t, owner.get("/account/security"), 200, "", "Turned on "+fmt.Sprintf("%d %s %d", now.In(tokyo).Day(), monthsEN[now.In(tokyo).Month()], now.In(tokyo).Year()))

	// A cookie that names no zone (or a file) is ignored: UTC.
	for _, bad := range []string{"Mars%2FOlympus", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Flocaltime", "Local", "%ZZ"} {
		setTZ(owner, bad)
		a = owner.get("/account/activity")
		want(t, a, 200, "", "<td>"+en(now.UTC(), "15:04")+"</td>", "Times are in UTC")
	}

	// In French, in Paris.
	fb := e.browser(t)
	fb.lang = "fr"
	setTZ(fb, "Europe%2FParis")
	e.clock.Add(30 * time.Second) // the enrolment spent the step
	signInWithApp(t, e, fb, key)
	a = fb.get("/admin/audit")
	want(t, a, 200, "", "<td>"+fr(now.In(paris), "15:04:05")+"</td>", "Heures dans votre fuseau horaire, Europe/Paris.")

}

// TestNewestLink: the first page of the activity and of the audit has no link
// to itself; an older page links back to the newest, with the audit's filters.
func TestNewestLink(t *testing.T) {
	e := newEnv(t)
	owner := e.setUp(t)
	for range activityPage/2 + 1 {
		b := e.browser(t)
		want(t, b.signIn(t, ownerEmail, "wrong password"), 401, "")
		want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/account/security")
	}
	a := owner.get("/account/activity")
	wantNot(t, a, `href="/account/activity">Newest`)
	older := find(t, a.body, `href="(/account/activity\?before=\d+)"`)
	want(t, owner.get(older), 200, "", `<a href="/account/activity">Newest</a>`)

	e.enrol(t, owner)
	a = owner.get("/admin/audit")
	want(t, a, 200, "")
	wantNot(t, a, ">Newest</a>")
	a = owner.get("/admin/audit?type=sign_in.failed&before=999999999")
	want(t, a, 200, "", `<a href="/admin/audit?type=sign_in.failed">Newest</a>`)
}

// TestAuthenticatorPageOnPhone: the authenticator page does not put the focus
// on the code (past the QR code and key), and offers the otpauth:// link for
// an app on the same phone; the key copies without its spaces.
func TestAuthenticatorPageOnPhone(t *testing.T) {
	e := newEnv(t)
	owner := e.setUp(t)
	a := owner.post("/account/security/totp", nil)
	a = owner.get(a.location)
	want(t, a, 200, "", `<div class="qr-key">`, `id="open-app"`, "Open in your authenticator app")
	wantNot(t, a, "autofocus")
	link := html.UnescapeString(find(t, a.body, `<a href="(otpauth://totp/[^"]+)" id="open-app">`))
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("secret") == "" || u.Query().Get("issuer") != "Twostep" {
		t.Fatalf("otpauth link %q: %v", link, err)
	}
	key := find(t, a.body, `data-text="([A-Z2-7]+)"`)
	if key != u.Query().Get("secret") {
		t.Errorf("copy button copies %q, want the key %q", key, u.Query().Get("secret"))
	}
}
