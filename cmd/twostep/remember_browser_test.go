package main

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twostep/twostep/internal/twostep"
)

// TestBrowserRememberDevice: in a real browser against the real binary, an
// owner lets devices be remembered for 30 days on the policy page, ticks
// "Don't ask again on this browser for 30 days" at the second step, is
// signed in with the password alone next time, sees the browser in "Your
// devices" (browser and platform in words, remembered until when), forgets it,
// and is asked for the code again (API.md §11).
func TestBrowserRememberDevice(t *testing.T) {
	ctx := browser(t)
	srv := serve(t, t.TempDir(), nil)
	setup := setupLink(t, srv)
	const pw = "a long and good password"
	run := steps(t, ctx)
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	run("first-run setup, add an authenticator app",
		chromedp.Navigate(setup[1]),
		chromedp.SendKeys(chromedp.CSS("#name"), "Cloud Legal"),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/security/totp"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/account/security/totp"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#totp-secret")),
	)
	secretText := get("read the key", chromedp.Text(chromedp.CSS("#totp-secret")))
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(strings.TrimSpace(secretText), " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	step := twostep.TOTPStep(time.Now())
	code := func() string { step++; return twostep.TOTPCode(secret, step-1) } // each step once; ±1 is accepted
	run("first code, then the policy page",
		chromedp.SendKeys(chromedp.CSS("#code"), code()),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
		chromedp.Navigate(srv.url+"/admin/policy"),
		chromedp.WaitVisible(chromedp.CSS("#remember_device_days")),
		chromedp.SetValue(chromedp.CSS("#remember_device_days"), "30"),
		chromedp.Submit(chromedp.CSS("#remember_device_days")),
		chromedp.WaitVisible(chromedp.CSS(`#remember_device_days[value="30"]`)),
	)
	signIn := func(what string) {
		t.Helper()
		run(what,
			chromedp.Navigate(srv.url+"/account/security"),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
			chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
			chromedp.WaitVisible(chromedp.CSS("#email")),
			chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
			chromedp.SendKeys(chromedp.CSS("#password"), pw),
			chromedp.Submit(chromedp.CSS("#password")),
		)
	}
	signIn("sign out, sign in")
	run("the second step offers the box", chromedp.WaitVisible(chromedp.CSS(`label[for="remember_device"]`)))
	if label := get("read the box", chromedp.Text(chromedp.CSS(`label[for="remember_device"]`))); label != "Don't ask again on this browser for 30 days" {
		t.Errorf("the box says %q", label)
	}
	run("tick it and give the code",
		chromedp.Click(chromedp.CSS("#remember_device")),
		chromedp.SendKeys(chromedp.CSS("#code"), code()),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#devices")),
	)
	row := get("read this browser's row", chromedp.Text(chromedp.CSS("#devices tbody tr")))
	for _, want := range []string{"Chrome on Linux", "(this browser)", "Skipped until", "127.0.0.1"} {
		if !strings.Contains(row, want) {
			t.Errorf("device row %q lacks %q", row, want)
		}
	}

	signIn("sign out, sign in on the remembered browser")
	run("no code asked", chromedp.WaitVisible(chromedp.CSS("#devices")))

	run("forget this browser",
		chromedp.Click(chromedp.CSS(`#devices tbody tr form button`)),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	if msg := get("read the confirmation", chromedp.Text(chromedp.CSS("p.flash"))); !strings.Contains(msg, "Device forgotten") {
		t.Errorf("after forgetting, the page says %q", msg)
	}
	signIn("sign out, sign in on the forgotten browser")
	run("the code is asked again", chromedp.WaitVisible(chromedp.CSS("#code")))
}
