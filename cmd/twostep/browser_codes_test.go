package main

import (
	"context"
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/twostep/twostep/internal/twostep"
)

// paste puts text into the focused field as a paste does: in one piece, not
// key by key, so that a maxlength cuts it where a browser would.
func paste(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Focus(chromedp.CSS(sel)), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

// TestBrowserPastedCodeWithSpace: on French pages, a code pasted as apps show
// it ("123 456") signs in whole, by the form's own button (so the browser's
// own checks run); something that is not a code gets our French message, not
// the browser's tooltip.
func TestBrowserPastedCodeWithSpace(t *testing.T) {
	ctx := browser(t, chromedp.Flag("accept-lang", "fr"), chromedp.Flag("lang", "fr"))
	srv := serve(t, t.TempDir(), nil)
	setup := setupLink(t, srv)
	const pw = "a long and good password"
	run := steps(t, ctx)
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
	key, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#totp-secret")))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(strings.TrimSpace(key), " ", ""))
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	spaced := func(step int64) string {
		c := twostep.TOTPCode(secret, step)
		return c[:3] + " " + c[3:]
	}
	now := time.Now()
	run("paste the first code with a space",
		paste("#code", spaced(twostep.TOTPStep(now))),
		chromedp.Click(chromedp.CSS(`form.stack button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
		chromedp.Click(chromedp.CSS(`a[href="/account/security?done=codes"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#code")),
	)
	run("something that is not a code: our message, in French",
		paste("#code", "12 34"),
		chromedp.Click(chromedp.CSS(`form.stack button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#code-error")),
	)
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#code-error")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "6 chiffres") {
		t.Errorf("the code field says %q, want our French message", msg)
	}
	run("paste the next code with a space and sign in",
		paste("#code", spaced(twostep.TOTPStep(now)+1)),
		chromedp.Click(chromedp.CSS(`form.stack button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("p.state.on")),
	)
}

// TestBrowserPhoneExampleFollowsCountry: on the add-phone page, choosing
// another country changes the example number to one of that country.
func TestBrowserPhoneExampleFollowsCountry(t *testing.T) {
	ctx := browser(t, chromedp.Flag("accept-lang", "en-GB"))
	srv := serve(t, t.TempDir(), nil)
	setup := setupLink(t, srv)
	run := steps(t, ctx)
	run("first-run setup, then add a phone",
		chromedp.Navigate(setup[1]),
		chromedp.SendKeys(chromedp.CSS("#name"), "Cloud Legal"),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "a long and good password"),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/security/phone"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/account/security/phone"]`)),
		chromedp.WaitVisible(chromedp.CSS("#phone-hint")),
	)
	hint := func() string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#phone-hint")))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if h := hint(); !strings.Contains(h, "07400 123456") {
		t.Errorf("with an en-GB browser the example is %q, want a UK number", h)
	}
	// The page's script runs once the document is loaded (defer).
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete"`)); err != nil {
		t.Fatal(err)
	}
	run("choose Japan",
		chromedp.Focus(chromedp.CSS("#country")),
		chromedp.SetValue(chromedp.CSS("#country"), "JP"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("country").dispatchEvent(new Event("change"))`),
	)
	if h := hint(); !strings.Contains(h, "090-1234-5678") || !strings.Contains(h, "+81 90-1234-5678") {
		t.Errorf("after choosing Japan the example is %q", h)
	}
}
