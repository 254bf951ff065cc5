package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

// The pages around organisations' own providers (API.md §12): the e-mail-first
// sign-in, the owners' SSO page, the members list and the callback's refusals,
// through the real handler over the real service, store and provider.

// page is one answer to a page request.
type page struct {
	status   int
	location string
	body     string // HTML-unescaped
	raw      string
}

// pageBrowser is a person's browser for the pages: cookies, no redirects followed.
type pageBrowser struct {
	e    *ssoEnv
	c    *http.Client
	lang string
}

func (e *ssoEnv) pages() *pageBrowser { return &pageBrowser{e: e, c: twosteptest.NewBrowser(e.t)} }

func (b *pageBrowser) do(method, path string, form url.Values) page {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, location: res.Header.Get("Location"), body: html.UnescapeString(string(raw)), raw: string(raw)}
}

func (b *pageBrowser) get(path string) page { b.e.t.Helper(); return b.do("GET", path, nil) }
func (b *pageBrowser) post(path string, form url.Values) page {
	b.e.t.Helper()
	return b.do("POST", path, form)
}

// says checks a page's status, redirect and words; "!" before words says
// they must not be there.
func (p page) says(t testing.TB, status int, location string, words ...string) {
	t.Helper()
	if p.status != status || p.location != location {
		t.Fatalf("%d to %q, want %d to %q; page:\n%s", p.status, p.location, status, location, p.body)
	}
	for _, w := range words {
		if not, ok := strings.CutPrefix(w, "!"); ok {
			if strings.Contains(p.body, not) {
				t.Errorf("the page says %q and should not:\n%s", not, p.body)
			}
		} else if !strings.Contains(p.body, w) {
			t.Errorf("the page does not say %q:\n%s", w, p.body)
		}
	}
}

// addDomain gives acme the e-mail domain, as the operator does.
func (e *ssoEnv) addDomain(domain string) {
	e.t.Helper()
	if _, err := e.svc.AddSSODomain(context.Background(), "acme", domain); err != nil {
		e.t.Fatal(err)
	}
}

// addPassword makes a password account of acme outside its SSO domains.
func (e *ssoEnv) addPassword(email string, role twostep.Role) {
	e.t.Helper()
	if _, _, err := e.svc.CreateAccount(context.Background(), twostep.NewAccount{Org: "acme", Email: email, Role: role, Password: apiPassword}); err != nil {
		e.t.Fatal(err)
	}
}

var refreshTo = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]+)">`)

// toProvider checks that p is the page that goes on to acme's provider for
// email by itself, and that where it goes leads to the provider.
func (b *pageBrowser) toProvider(t *testing.T, p page, email string) {
	t.Helper()
	p.says(t, 200, "", "Sign in at your organisation", "Continue to your organisation's sign-in page", "Organisation: Acme", `!id="password"`)
	m := refreshTo.FindStringSubmatch(p.body)
	want := "/sso/start?" + url.Values{"org": {"acme"}, "login_hint": {email}}.Encode()
	if m == nil || m[1] != want {
		t.Fatalf("the page goes on to %q, want %q:\n%s", m, want, p.body)
	}
	if !strings.Contains(p.body, `href="`+want+`"`) {
		t.Errorf("no link to %s for a browser that does not refresh:\n%s", want, p.body)
	}
	if st := b.get(want); st.status != http.StatusSeeOther || !strings.HasPrefix(st.location, b.e.op.Issuer+"/") {
		t.Errorf("%s: %d to %q, want the provider", want, st.status, st.location)
	}
}

// TestSignInEmailFirst: once an organisation has SSO, the sign-in page asks
// for the e-mail address first; an SSO account's address, or any in an SSO
// organisation's domain, goes on to the provider (a page that refreshes,
// since chromium holds a form's redirects to the CSP's form-action); any
// other gets the password step, the same page whether or not an account has
// the address (SECURITY.md EN-01), with the address kept for the browser's
// password manager. Inside an SSO domain too, the e-mail step does not tell a
// password account from an unknown address (EN-01); the password account
// still signs in with its password (break-glass).
func TestSignInEmailFirst(t *testing.T) {
	op := ssoProvider(t, nil)
	ssoBackends(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, op, twostep.SSONever)
		e.addDomain("acme.test")
		e.addPassword("zoe@partner.test", twostep.RoleMember)
		b := e.pages()

		b.get("/sign-in").says(t, 200, "", "Enter your e-mail address first", "Continue", `href="/sign-in?with=password"`,
			`!id="password"`, `autocomplete="username"`)

		// EN-01: a password account and an unknown address get the same password step.
		zoe := b.post("/sign-in", url.Values{"email": {"zoe@partner.test"}})
		zoe.says(t, 200, "", "Signing in as zoe@partner.test.", "Use another address",
			`<input id="email" name="email" type="email" autocomplete="username" value="zoe@partner.test" hidden readonly>`,
			`id="password" name="password" type="password" autocomplete="current-password" required autofocus`)
		nobody := b.post("/sign-in", url.Values{"email": {"nobody@partner.test"}})
		if strings.ReplaceAll(nobody.raw, "nobody@partner.test", "zoe@partner.test") != zoe.raw || nobody.status != zoe.status {
			t.Errorf("the password step differs for an unknown address (EN-01):\n%s\n---\n%s", nobody.raw, zoe.raw)
		}

		// The domain's addresses (with no account yet) and SSO accounts go to the provider.
		b.toProvider(t, b.post("/sign-in", url.Values{"email": {"ann@acme.test"}}), "ann@acme.test")
		b.toProvider(t, b.post("/sign-in", url.Values{"email": {"ADA@acme.test"}}), "ada@acme.test")
		// EN-01: in the domain, a password account's address (pat) gets the
		// same page as an unknown one: both go on to the provider.
		pat := b.post("/sign-in", url.Values{"email": {"pat@acme.test"}})
		b.toProvider(t, pat, "pat@acme.test")
		unknown := b.post("/sign-in", url.Values{"email": {"nobody@acme.test"}})
		if strings.NewReplacer("nobody@acme.test", "pat@acme.test", "nobody%40acme.test", "pat%40acme.test").Replace(unknown.raw) != pat.raw || unknown.status != pat.status {
			t.Errorf("the e-mail step in an SSO domain differs for a password account (EN-01):\n%s\n---\n%s", pat.raw, unknown.raw)
		}
		// Break-glass: pat still signs in with the password, on the one-page
		// form and through the API.
		e.pages().post("/sign-in", url.Values{"email": {"pat@acme.test"}, "password": {apiPassword}}).says(t, 303, "/account/security")
		st, body, _ := e.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "pat@acme.test", "password": apiPassword})
		e.want(st, http.StatusOK, body, "pat signs in with the password in an SSO domain")

		// So does the one-page form (bookmarked, or ?with=password) for an SSO account.
		b.toProvider(t, b.post("/sign-in", url.Values{"email": {"ada@acme.test"}, "password": {"anything at all"}}), "ada@acme.test")

		b.post("/sign-in", url.Values{"email": {"not-an-address"}}).says(t, 400, "",
			"<strong>Error:</strong> Enter an e-mail address such as name@example.com.", `aria-invalid="true"`, "Continue", `!id="password"`)

		// The password step: a wrong password keeps it, a right one signs in.
		b.post("/sign-in", url.Values{"email": {"zoe@partner.test"}, "password": {"not the password"}}).says(t, 401, "",
			"The e-mail address or the password is wrong.", "Signing in as zoe@partner.test.", `value="zoe@partner.test" hidden readonly`,
			"!not the password")
		b.post("/sign-in", url.Values{"email": {"zoe@partner.test"}, "password": {apiPassword}}).says(t, 303, "/account/security")

		// A password account's way in whatever its domain: the one-page form.
		e.pages().get("/sign-in?with=password").says(t, 200, "", `id="email" name="email" type="email" autocomplete="username" required`,
			`id="password"`, "Sign in through your organisation instead", "!Continue")

		// Without any connection, the one-page form again.
		st, body, _ = e.call("DELETE", "/api/v1/org/sso", e.owner, nil)
		e.want(st, http.StatusNoContent, body, "remove the connection")
		e.pages().get("/sign-in").says(t, 200, "", `id="password"`, "!Continue", "!with=password")
		e.pages().post("/sign-in", url.Values{"email": {"ann@acme.test"}}).says(t, 200, "", "Signing in as ann@acme.test.")
	})
}

// signedIn returns a page browser signed in with a password.
func (e *ssoEnv) signedIn(email string) *pageBrowser {
	e.t.Helper()
	b := e.pages()
	b.post("/sign-in", url.Values{"email": {email}, "password": {apiPassword}}).says(e.t, 303, "/account/security")
	return b
}

// TestAdminSSOPage: an owner sees the connection (never its secret), the
// callback URL to register and the operator's domains, tests an issuer before
// saving it, changes the second step, and removes the connection after a page
// that says SSO members are then locked out; administrators and members may
// not (CS-02).
func TestAdminSSOPage(t *testing.T) {
	op := ssoProvider(t, nil)
	ssoBackends(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, op, twostep.SSONever)
		e.addDomain("acme.test")
		e.addPassword("boss@partner.test", twostep.RoleOwner)
		e.addPassword("adm@partner.test", twostep.RoleAdmin)
		e.addPassword("joe@partner.test", twostep.RoleMember)

		e.signedIn("joe@partner.test").get("/admin/sso").says(t, 403, "", "Only your organisation's owners and administrators")
		adm := e.signedIn("adm@partner.test")
		adm.get("/admin/sso").says(t, 403, "", "Only your organisation's owners manage its single sign-on", "!"+op.Issuer)
		adm.post("/admin/sso/remove", url.Values{}).says(t, 403, "", "Only your organisation's owners manage")
		adm.get("/admin/members").says(t, 200, "", `!href="/admin/sso"`)

		b := e.signedIn("boss@partner.test")
		b.get("/admin/members").says(t, 200, "", `href="/admin/sso"`)
		b.get("/admin/sso").says(t, 200, "", "Single sign-on (SSO)", "Connected", `value="`+op.Issuer+`"`, `value="twostep"`,
			"A secret is saved; it is never shown.", "http://twostep.test/sso/callback/acme", "acme.test",
			"twostep org sso-domain add --org acme DOMAIN", `id="second_step-never" name="second_step" value="never" checked`,
			"Leave it to the provider", "Trust the provider's second step, else ask", "Always ask for Twostep's second step",
			"Remove the connection", "!"+ssoSecret)

		// Test an issuer as typed, before saving anything.
		test := b.post("/admin/sso", url.Values{"action": {"test"}, "issuer": {op.Issuer}, "client_id": {"other"},
			"client_secret": {"typed-but-not-saved"}, "second_step": {"always"}})
		test.says(t, 200, "", "The provider answered", op.Issuer+"/auth", op.Issuer+"/token", op.Issuer+"/jwks", "PKCE with S256",
			"Supported", `value="other"`, `id="second_step-always" name="second_step" value="always" checked`, "!typed-but-not-saved")
		down := b.post("/admin/sso", url.Values{"action": {"test"}, "issuer": {"http://127.0.0.1:1"}, "client_id": {"twostep"}, "second_step": {"never"}})
		down.says(t, 400, "", "The test failed", "did not answer as an OpenID Connect provider", `value="http://127.0.0.1:1"`, "!The provider answered")

		// A save that fails keeps what was typed, but never the secret.
		bad := b.post("/admin/sso", url.Values{"action": {"save"}, "issuer": {"ftp://idp.example"}, "client_id": {"twostep"},
			"client_secret": {"typed-secret-xyz"}, "second_step": {"never"}})
		if bad.status != 400 || !strings.Contains(bad.body, `id="issuer-error" role="alert"`) || strings.Contains(bad.body, "typed-secret-xyz") {
			t.Errorf("a bad issuer: %d, want 400 on the issuer field without the secret:\n%s", bad.status, bad.body)
		}

		// Saving with the secret left empty keeps it: Ann still signs in, now asked for a second step.
		b.post("/admin/sso", url.Values{"action": {"save"}, "issuer": {op.Issuer}, "client_id": {"twostep"}, "second_step": {"always"}}).
			says(t, 303, "/admin/sso?done=sso_saved")
		b.get("/admin/sso?done=sso_saved").says(t, 200, "", "The SSO connection is saved.", `value="always" checked`)
		if r := e.signIn(twosteptest.ProviderLogin{Login: "ann@acme.test"}, nil); r.location != "/sign-in/enrol" {
			t.Errorf("ann under always: %d to %q, want the enrolment", r.status, r.location)
		}

		// The members list names SSO members' provider.
		host := strings.TrimPrefix(op.Issuer, "http://")
		members := b.get("/admin/members?sso=1")
		members.says(t, 200, "", "ada@acme.test", "ann@acme.test", "Yes, through "+host, "Yes (has not signed in through the provider yet)")

		// Removing says what it does first.
		b.get("/admin/sso/remove").says(t, 200, "", "Remove the SSO connection?", "no longer sign anyone in through "+op.Issuer,
			"cannot sign in at all", "set-password invitation")
		b.post("/admin/sso/remove", url.Values{}).says(t, 303, "/admin/sso?done=sso_removed")
		b.get("/admin/sso?done=sso_removed").says(t, 200, "", "The SSO connection is removed.", "Not connected", `!value="`+op.Issuer+`"`,
			"!Remove the connection…")
		b.get("/admin/sso/remove").says(t, 303, "/admin/sso")
		if got := e.audit("sso.connection_removed"); len(got) != 1 {
			t.Errorf("%d sso.connection_removed events, want 1", len(got))
		}

		// In French too.
		b.lang = "fr"
		b.get("/admin/sso").says(t, 200, "", `<html lang="fr">`, "Authentification unique (SSO)", "Non connectée", "URL de rappel",
			"Tester la connexion")
	})
}

// TestSSOErrorPage: the callback's refusals are a page that says what
// happened and what to do, and creates nothing: an address with a password
// account is pointed to its password (no takeover), a sign-in that did not
// start in this browser is told to start again.
func TestSSOErrorPage(t *testing.T) {
	op := ssoProvider(t, nil)
	e := newSSOEnv(t, storetest.SQLite(t), op, twostep.SSONever)

	taken := e.signIn(twosteptest.ProviderLogin{Login: "pat@acme.test"}, nil)
	body := html.UnescapeString(taken.body)
	for _, want := range []string{"Signing in through your organisation did not work", "pat@acme.test already has an account that signs in with its own password",
		`href="/sign-in?with=password"`, "Start again from the sign-in page", "nothing was changed on your account"} {
		if !strings.Contains(body, want) {
			t.Errorf("the refusal of a password account's address does not say %q:\n%s", want, body)
		}
	}

	b := e.pages()
	b.lang = "fr"
	p := b.get("/sso/callback/acme?state=forged&code=x&iss=" + url.QueryEscape(op.Issuer))
	if p.status < 400 || !strings.Contains(p.body, "La connexion par votre organisation n’a pas abouti") || !strings.Contains(p.body, `<html lang="fr">`) ||
		strings.Contains(p.body, "with=password") {
		t.Errorf("a forged state: %d\n%s", p.status, p.body)
	}
}

// TestSSOConfirmPage: an SSO member has no Twostep password, so the
// identity confirmation page offers a new sign-in at the provider instead of
// a password field (a link: the CSP would stop a form's redirect there), and
// coming back from it renews the session under a new token (API.md §12,
// SU-01, FL-02).
func TestSSOConfirmPage(t *testing.T) { // SU-01, FL-02
	op := ssoProvider(t, nil)
	e := newSSOEnv(t, storetest.SQLite(t), op, twostep.SSONever)
	r := e.signIn(twosteptest.ProviderLogin{Login: "ann@acme.test"}, nil)
	if r.location != "/account/security" {
		t.Fatalf("ann: %d to %q", r.status, r.location)
	}
	before := e.cookie(r.browser, "twostep_session")
	b := &pageBrowser{e: e, c: r.browser}
	start := "/sso/start?confirm=1&next=%2Faccount%2Fpassword&org=acme"
	b.get("/account/confirm?next=/account/password").says(t, 200, "", "Confirm it's you", "no Twostep password",
		`href="`+start+`"`, "Sign in again at your organisation", `!id="password"`)
	p := b.get(start)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, op.Issuer+"/") {
		t.Fatalf("%s: %d to %q, want the provider", start, p.status, p.location)
	}
	auth, _ := url.Parse(p.location)
	if auth.Query().Get("max_age") != "0" && auth.Query().Get("prompt") != "login" {
		t.Errorf("the provider is not asked for a new sign-in: %s", auth)
	}
	cb, err := op.SignIn(r.browser, p.location, twosteptest.ProviderLogin{Login: "ann@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	back := e.back(r.browser, cb)
	if back.status != http.StatusSeeOther || back.location != "/account/password?done=confirmed" {
		t.Fatalf("back from the provider: %d to %q, want the page that asked: %s", back.status, back.location, back.body)
	}
	// A new session token replaces the old one, which stops working (FL-02).
	after := e.cookie(r.browser, "twostep_session")
	if after == "" || after == before {
		t.Fatalf("the session token after the confirmation is %q, want a new one", after)
	}
	// The renewed session counts as confirmed: the sensitive page opens
	// without asking again (no loop).
	b.get("/account/security").says(t, 200, "", "!Confirm it's you")
	if st, b, _ := e.call("GET", "/api/v1/account", after, nil); st != http.StatusOK || b["confirmed_until"] == nil {
		t.Errorf("the renewed session is not confirmed: %d %v", st, b)
	}
	if st, b, _ := e.call("GET", "/api/v1/account", before, nil); st != http.StatusUnauthorized {
		t.Errorf("the old session token still works: %d %v", st, b)
	}
}

// TestSSOConfirmPageWithMethod: an SSO member who has a Twostep method (the
// connection asks for one) confirms who they are in two steps on one page: a
// new sign-in at the provider, then a code from the method; no password
// field, and the code alone is refused with what to do (API.md §12, SU-01).
func TestSSOConfirmPageWithMethod(t *testing.T) { // SU-01
	op := ssoProvider(t, nil)
	e := newSSOEnv(t, storetest.SQLite(t), op, twostep.SSOAlways)
	r := e.signIn(twosteptest.ProviderLogin{Login: "cy@acme.test"}, nil)
	if r.location != "/sign-in/enrol" {
		t.Fatalf("cy under always: %d to %q, want the enrolment", r.status, r.location)
	}
	secret := e.enrolTOTP(e.cookie(r.browser, "twostep_signin"))
	b := &pageBrowser{e: e, c: r.browser}
	b.post("/sign-in/enrol/complete", url.Values{}).says(t, 303, "/account/security?done=enabled")
	e.clock.Advance(11 * time.Minute) // past the sign-in's own confirmation
	code := func() string {
		e.clock.Advance(30 * time.Second)
		return twostep.TOTPCode(secret, twostep.TOTPStep(e.clock.Now()))
	}
	next := "/account/security"
	start := "/sso/start?confirm=1&next=%2Faccount%2Fsecurity&org=acme"
	b.get("/account/confirm?next="+next).says(t, 200, "", "1. Sign in again at your organisation", `href="`+start+`"`,
		"2. Enter a code from your method", `id="code"`, `!id="password"`)
	b.post("/account/confirm", url.Values{"next": {next}, "method": {"totp"}, "code": {code()}}).says(t, 403, "",
		"First sign in again at your organisation (step 1), then enter a new code here.")

	p := b.get(start)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, op.Issuer+"/") {
		t.Fatalf("%s: %d to %q, want the provider", start, p.status, p.location)
	}
	cb, err := op.SignIn(r.browser, p.location, twosteptest.ProviderLogin{Login: "cy@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	back := e.back(r.browser, cb)
	if back.status != http.StatusSeeOther || back.location != "/account/confirm?next="+url.QueryEscape(next) {
		t.Fatalf("back from the provider: %d to %q, want the confirm page for the code: %s", back.status, back.location, back.body)
	}
	b.get(back.location).says(t, 200, "", "2. Enter a code from your method")
	before := e.cookie(r.browser, "twostep_session")
	b.post("/account/confirm", url.Values{"next": {next}, "method": {"totp"}, "code": {code()}}).says(t, 303, next+"?done=confirmed")
	if after := e.cookie(r.browser, "twostep_session"); after == "" || after == before {
		t.Errorf("the confirmation kept the session token (FL-02)")
	}
	// Now a sensitive page opens without asking again.
	b.get("/account/password").says(t, 200, "", "!Confirm it's you")
}
