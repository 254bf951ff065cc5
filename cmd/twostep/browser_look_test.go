package main

import (
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/twostep/twostep/internal/twosteptest"
)

// TestBrowserComforts: what JavaScript adds, in chromium against the binary —
// the key's copy button says "Copied" (and the clipboard holds the key without
// spaces), the tz cookie makes times read in the browser's zone, the resend
// countdown ticks with the button disabled; and what CSS does: the brand's
// colour with a readable text on primary buttons, a dark background under
// prefers-color-scheme: dark, and a compact header on a phone.
func TestBrowserComforts(t *testing.T) {
	ctx := browser(t)
	srv := serve(t, t.TempDir(), []string{"TWOSTEP_PRODUCT_NAME=Acme Files", "TWOSTEP_ACCENT_COLOR=#ffcc00"})
	setup := setupLink(t, srv)
	run := steps(t, ctx)
	eval := func(what, js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	// The browser lives in Tokyo, and may write to the clipboard.
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name, AllowWithoutSanitization: name == "clipboard-write"},
			Setting:    cdpbrowser.PermissionSettingGranted, Origin: srv.url}); err != nil {
			t.Logf("granting %s: %v", name, err)
		}
	}
	run("first-run setup",
		chromedp.Navigate(setup[1]),
		chromedp.SendKeys(chromedp.CSS("#name"), "Cloud Legal"),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "a long and good password"),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/security/totp"] button`)),
	)

	// Colours: the brand fills primary buttons, with black text on yellow;
	// dark mode changes the page's background.
	if got := eval("the primary button", `(() => { const s = getComputedStyle(document.querySelector("button.primary")); return s.backgroundColor + " / " + s.color })()`); got != "rgb(255, 204, 0) / rgb(0, 0, 0)" {
		t.Errorf("primary button %s, want the brand's yellow with black text", got)
	}
	light := eval("the light background", `getComputedStyle(document.body).backgroundColor`)
	lightLink := eval("a link", `getComputedStyle(document.querySelector("main a")).color`)
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	dark := eval("the dark background", `getComputedStyle(document.body).backgroundColor`)
	if light != "rgb(255, 255, 255)" || dark != "rgb(13, 17, 23)" {
		t.Errorf("background light %s, dark %s; want white, then rgb(13, 17, 23)", light, dark)
	}
	// Links: the yellow darkened on white, lightened on the dark background.
	if darkLink := eval("a link in the dark", `getComputedStyle(document.querySelector("main a")).color`); darkLink == lightLink ||
		lightLink == "rgb(255, 204, 0)" {
		t.Errorf("links %s in light, %s in dark: want the yellow made readable on each", lightLink, darkLink)
	}
	chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})

	// A phone: the header keeps to two short lines.
	run("a phone's width", chromedp.EmulateViewport(375, 800), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("header.site nav")))
	h, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("header.site").getBoundingClientRect().height`))
	if err != nil || h > 110 {
		t.Errorf("the header is %.0f px high on a phone (%v), want at most 110", h, err)
	}
	run("a desktop's width", chromedp.EmulateViewport(1280, 900))

	// The authenticator page: no focus jump past the QR code; the key copies.
	run("add an authenticator app",
		chromedp.Click(chromedp.CSS(`form[action="/account/security/totp"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#totp-secret")),
	)
	if got := eval("the focus", `document.activeElement ? document.activeElement.id : ""`); got == "code" {
		t.Error("the authenticator page puts the focus on the code, past the QR code")
	}
	key := strings.ReplaceAll(eval("the key", `document.querySelector("#totp-secret").textContent`), " ", "")
	run("copy the key",
		chromedp.WaitVisible(chromedp.CSS(`button[data-copy="totp-secret"]`)),
		chromedp.Click(chromedp.CSS(`button[data-copy="totp-secret"]`)),
	)
	twosteptest.WaitFor(t, 10*time.Second, `the copy button saying "Copied"`, func() bool {
		return eval("the copy button", `document.querySelector('button[data-copy="totp-secret"]').textContent`) == "Copied"
	})
	if clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err != nil || clip != key {
		t.Errorf("the clipboard holds %q (%v), want the key %q without spaces", clip, err, key)
	}

	// Times in the browser's zone: app.js has set the tz cookie.
	if c := eval("the tz cookie", `document.cookie`); !strings.Contains(c, "tz=Asia%2FTokyo") {
		t.Errorf("cookies %q: no tz cookie for Asia/Tokyo", c)
	}
	run("the activity page", chromedp.Navigate(srv.url+"/account/activity"), chromedp.WaitVisible(chromedp.CSS("[data-zone]")))
	if got := eval("the zone note", `document.querySelector("[data-zone]").textContent`); got != "Times are in your time zone, Asia/Tokyo." {
		t.Errorf("zone note %q", got)
	}

	// The resend countdown ticks, the button disabled meanwhile.
	run("ask for an e-mail code",
		chromedp.Navigate(srv.url+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/security/email"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/account/security/email"]`)),
		chromedp.WaitVisible(chromedp.CSS("#address")),
		chromedp.Submit(chromedp.CSS("#address")),
		chromedp.WaitVisible(chromedp.CSS("[data-countdown]")),
	)
	first := eval("the countdown", `document.querySelector("[data-countdown]").textContent`)
	twosteptest.WaitFor(t, 10*time.Second, "the countdown to tick", func() bool {
		return eval("the countdown", `document.querySelector("[data-countdown]").textContent`) != first
	})
	if got := eval("the resend button", `String(document.getElementById(document.querySelector("[data-countdown]").dataset.button).disabled)`); got != "true" {
		t.Errorf("resend button disabled = %s during the countdown", got)
	}
}
