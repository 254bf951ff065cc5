package main

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

// TestBrowserSSO: in chromium against the real binary and a real OpenID
// Connect provider (panva's oidc-provider), an organisation's owner sets up
// its SSO connection on the admin page, where "test the connection" shows
// what discovery found; a member whose address is in the organisation's
// domain signs in through the provider from the e-mail-first sign-in page and
// is not asked for Twostep's second step under `never`; under `always` the
// member sets up and then proves an authenticator app after the provider
// (SECURITY.md SU-07); the audit page shows those sign-ins; and a password
// account of another domain still gets the password field (EN-01).
func TestBrowserSSO(t *testing.T) {
	ctx := browser(t)
	dir, env, srv := startOIDC(t, "TWOSTEP_ALLOW_PRIVATE_URLS=true")
	const pw = "a long and good password"
	if r := runCmd(t, dir, env, pw+"\n", "org", "create", "--name", "Cloud Legal", "--owner", "owner@admin.example", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	if r := runCmd(t, dir, env, pw+"\n", "user", "create", "--org", "cloud-legal", "--email", "bob@partner.example", "--password-stdin"); r.code != 0 {
		t.Fatalf("user create: %+v", r)
	}
	if r := runCmd(t, dir, env, "", "org", "sso-domain", "add", "--org", "cloud-legal", "cloud-legal.example"); r.code != 0 {
		t.Fatalf("org sso-domain add: %+v", r)
	}
	callback := srv.url + "/sso/callback/cloud-legal"
	idp := twosteptest.StartOIDCProvider(t, twosteptest.ProviderConfig{
		Clients:  []twosteptest.ProviderClient{{ClientID: "twostep", ClientSecret: "a client secret for the tests", RedirectURIs: []string{callback}}},
		Accounts: []twosteptest.ProviderAccount{{Sub: "alice-1", Email: "alice@cloud-legal.example", EmailVerified: true, AMR: []string{"pwd"}}},
	})
	run := steps(t, ctx)
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return v
	}
	signOut := func(who string) {
		t.Helper()
		run(who+" signs out",
			chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
			chromedp.WaitVisible(chromedp.CSS("#email")),
		)
	}

	// Before any connection, the sign-in page is one form.
	run("the owner signs in on the one-page form",
		chromedp.Navigate(srv.url+"/sign-in"),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@admin.example"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
	)
	run("the owner opens the SSO page and tests the connection before saving it",
		chromedp.Navigate(srv.url+"/admin/sso"),
		chromedp.WaitVisible(chromedp.CSS("#issuer")),
		chromedp.SendKeys(chromedp.CSS("#issuer"), idp.Issuer),
		chromedp.SendKeys(chromedp.CSS("#client_id"), "twostep"),
		chromedp.SendKeys(chromedp.CSS("#client_secret"), "a client secret for the tests"),
		chromedp.Click(chromedp.CSS("#second_step-never")),
		chromedp.Click(chromedp.CSS("#sso-test")),
		chromedp.WaitVisible(chromedp.CSS("#sso-test-result")),
	)
	if got := text("#sso-callback"); got != callback {
		t.Errorf("the page gives the callback URL %q, want %q", got, callback)
	}
	if got := text(`section[aria-labelledby="domains-h"]`); !strings.Contains(got, "cloud-legal.example") {
		t.Errorf("the page lists the domains %q, want cloud-legal.example", got)
	}
	found := text("#sso-test-result")
	for _, want := range []string{"The provider answered", idp.Issuer, idp.Issuer + "/auth", idp.Issuer + "/token", "Supported"} {
		if !strings.Contains(found, want) {
			t.Errorf("the test of the connection does not show %q:\n%s", want, found)
		}
	}
	// The secret typed is never sent back, not even after the test.
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#client_secret"))); err != nil || v != "" {
		t.Errorf("the secret field holds %q after the test (%v), want it empty", v, err)
	}
	run("save it (the secret typed again) and sign out",
		chromedp.SendKeys(chromedp.CSS("#client_secret"), "a client secret for the tests"),
		chromedp.Click(chromedp.CSS(`button[name="action"][value="save"]`)),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	if got := text("#sso-state"); !strings.Contains(got, "Connected") {
		t.Errorf("after saving the page says %q, want Connected", got)
	}
	signOut("the owner")

	// The sign-in page now asks for the e-mail address first.
	signInSSO := func(what string) {
		t.Helper()
		run(what,
			chromedp.Navigate(srv.url+"/sign-in"),
			chromedp.WaitVisible(chromedp.CSS("#email")),
			chromedp.SendKeys(chromedp.CSS("#email"), "alice@cloud-legal.example"),
			chromedp.Submit(chromedp.CSS("#email")),
			// The provider's own sign-in form, or straight back to Twostep
			// while she still has a session at the provider.
			chromedp.WaitVisible(chromedp.CSS(`#login, #code, form[action="/sign-in/enrol/totp"] button, form[action="/sign-out"] button`)),
		)
		if at, err := chromedp.Run(ctx, chromedp.Location()); err == nil && strings.HasPrefix(at, idp.Issuer) {
			run(what+": at the provider",
				chromedp.SendKeys(chromedp.CSS("#login"), "alice-1"),
				chromedp.Submit(chromedp.CSS("#login")),
			)
		}
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#password").length`)); err != nil || n != 0 {
		t.Errorf("with SSO the first sign-in page has %d password fields (%v), want none", n, err)
	}
	signInSSO("alice signs in through her organisation's provider (second_step never)")
	run("signed in without Twostep's second step", chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)))
	if got := text("form.signout span"); !strings.Contains(got, "alice@cloud-legal.example") {
		t.Errorf("the header says %q, want alice signed in", got)
	}
	signOut("alice")

	run("bob, of another domain, gets the password field",
		chromedp.SendKeys(chromedp.CSS("#email"), "bob@partner.example"),
		chromedp.Submit(chromedp.CSS("#email")),
		chromedp.WaitVisible(chromedp.CSS("#password")),
	)
	if got := text("#signing-in-as"); !strings.Contains(got, "bob@partner.example") {
		t.Errorf("the password step says %q, want bob's address", got)
	}
	if v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`input[name="email"]`), "autocomplete")); err != nil || v.Value != "username" {
		t.Errorf("the password step's address field has autocomplete %q (%v), want username for the password manager", v.Value, err)
	}
	run("bob signs in with his password",
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
	)
	signOut("bob")

	run("the owner asks for Twostep's own second step always",
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@admin.example"),
		chromedp.Submit(chromedp.CSS("#email")),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.Navigate(srv.url+"/admin/sso"),
		chromedp.WaitVisible(chromedp.CSS("#second_step-always")),
		chromedp.Click(chromedp.CSS("#second_step-always")),
		chromedp.Click(chromedp.CSS(`button[name="action"][value="save"]`)),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	signOut("owner")

	signInSSO("alice signs in through the provider again (second_step always)")
	run("she must set up a Twostep method",
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-in/enrol/totp"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/sign-in/enrol/totp"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#totp-secret")),
	)
	key := text("#totp-secret")
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(strings.TrimSpace(key), " ", ""))
	if err != nil {
		t.Fatalf("the key on the page %q is not Base32: %v", key, err)
	}
	step := twostep.TOTPStep(time.Now())
	code := func() string { step++; return twostep.TOTPCode(secret, step-1) } // each step once; ±1 is accepted
	run("the first code, the recovery codes, then signed in",
		chromedp.SendKeys(chromedp.CSS("#code"), code()),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
		chromedp.Click(chromedp.CSS(`#recovery-codes ~ form button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
	)
	signOut("alice")
	signInSSO("alice signs in through the provider a third time")
	run("Twostep asks for her code after the provider",
		chromedp.WaitVisible(chromedp.CSS("#code")),
		chromedp.SendKeys(chromedp.CSS("#code"), code()),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
	)
	signOut("alice")

	run("the owner reads the audit page",
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@admin.example"),
		chromedp.Submit(chromedp.CSS("#email")),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.Navigate(srv.url+"/admin/audit?account="),
		chromedp.WaitVisible(chromedp.CSS("table")),
	)
	audit := text("main")
	for _, want := range []string{"alice@cloud-legal.example signed in through " + idp.Issuer + ", without a second step (SSO: never)",
		"alice@cloud-legal.example signed in through " + idp.Issuer + " and proved a Twostep second step"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit page does not show %q:\n%s", want, audit)
		}
	}
	run("members list: alice signs in through the provider",
		chromedp.Navigate(srv.url+"/admin/members?sso=1"),
		chromedp.WaitVisible(chromedp.CSS("table.data")),
	)
	if got := text("table.data tbody"); !strings.Contains(got, "alice@cloud-legal.example") || !strings.Contains(got, strings.TrimPrefix(idp.Issuer, "http://")) {
		t.Errorf("the SSO members are %q, want alice with her provider", got)
	}
}
