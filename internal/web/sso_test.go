package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/sso"
	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
	"github.com/twostep/twostep/internal/web"
)

// The organisation's identity provider in these tests: panva's oidc-provider
// (testdata/oidc-provider), driven over HTTP by a cookie-jar browser through
// Twostep's real handler over the real service and store.

const (
	ssoBase     = "http://twostep.test"
	ssoCallback = ssoBase + "/sso/callback/acme"
	ssoClient   = "twostep"
	ssoSecret   = "s3cret-of-the-connection"
)

var ssoPeople = []twosteptest.ProviderAccount{
	{Sub: "ann-1", Email: "ann@acme.test", EmailVerified: true, AMR: []string{"pwd"}},
	{Sub: "bob-1", Email: "bob@acme.test", EmailVerified: true, AMR: []string{"pwd", "mfa"}},
	{Sub: "eve-1", Email: "eve@acme.test", EmailVerified: false, AMR: []string{"pwd"}},
	{Sub: "pat-1", Email: "pat@acme.test", EmailVerified: true, AMR: []string{"pwd", "mfa"}},
	{Sub: "ada-1", Email: "ada@acme.test", EmailVerified: true, AMR: []string{"pwd"}},
	{Sub: "cy-1", Email: "cy@acme.test", EmailVerified: true, AMR: []string{"pwd"}},
}

func ssoProvider(t *testing.T, ttl map[string]int) *twosteptest.Provider {
	return twosteptest.StartOIDCProvider(t, twosteptest.ProviderConfig{
		Clients:  []twosteptest.ProviderClient{{ClientID: ssoClient, ClientSecret: ssoSecret, RedirectURIs: []string{ssoCallback}}},
		Accounts: ssoPeople, TTL: ttl,
	})
}

type ssoEnv struct {
	*api
	op    *twosteptest.Provider
	owner string // the owner's session token
}

// newSSOEnv serves Twostep over db with the organisation acme (owner
// owner@acme.test with a password, pat@acme.test a member with a password,
// ada@acme.test an SSO admin) whose connection goes to op under rule. The
// clock starts at the real time: the provider's tokens carry real times.
func newSSOEnv(t *testing.T, db *store.DB, op *twosteptest.Provider, rule twostep.SSORule) *ssoEnv {
	t.Helper()
	sealer := twosteptest.NewSealer(t)
	clock := twosteptest.NewClock(time.Now().UTC().Truncate(time.Second))
	svc, err := twostep.New(twostep.Options{Store: db, Sealer: sealer, Rand: rand.Reader, Clock: clock.Now,
		Methods: []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail}, BaseURL: ssoBase,
		Hasher: twostep.NewHasher(twosteptest.CheapArgon2, 4, 100, time.Second, rand.Reader),
		OIDC:   twostep.OIDCOptions{AllowPrivateURLs: true}, CookieDomain: "twostep.test",
		SSO: sso.New(sso.Options{AllowPrivate: true, Clock: clock.Now})})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(ssoBase)
	h, err := web.New(web.Options{Service: svc, BaseURL: base, Clock: clock.Now, CookieDomain: "twostep.test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if _, _, _, err := svc.CreateOrg(ctx, twostep.NewOrg{Name: "Acme", Slug: "acme", OwnerEmail: "owner@acme.test", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []twostep.NewAccount{
		{Org: "acme", Email: "pat@acme.test", Password: apiPassword},
		{Org: "acme", Email: "ada@acme.test", Role: twostep.RoleAdmin, SSO: true},
	} {
		if _, _, err := svc.CreateAccount(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	e := &ssoEnv{api: &api{t: t, srv: srv, svc: svc, clock: clock, db: db, sealer: sealer}, op: op}
	st, b, _ := e.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@acme.test", "password": apiPassword})
	e.want(st, 200, b, "owner sign-in")
	e.owner = b["session_token"].(string)
	st, b, _ = e.call("PUT", "/api/v1/org/sso", e.owner, map[string]string{"issuer": op.Issuer, "client_id": ssoClient,
		"client_secret": ssoSecret, "second_step": string(rule)})
	e.want(st, 200, b, "put the connection")
	return e
}

// setRule changes the connection's second_step, keeping its secret.
func (e *ssoEnv) setRule(rule twostep.SSORule) {
	e.t.Helper()
	st, b, _ := e.call("PUT", "/api/v1/org/sso", e.owner, map[string]string{"issuer": e.op.Issuer, "client_id": ssoClient,
		"second_step": string(rule)})
	e.want(st, 200, b, "change the rule")
}

// ssoResult is where Twostep sent the browser back from the provider.
type ssoResult struct {
	status   int
	location string
	body     string
	browser  *http.Client
	cookies  []*http.Cookie // set by the callback's answer
}

// start opens /sso/start in browser and returns the provider's authorization URL.
func (e *ssoEnv) start(browser *http.Client) *url.URL {
	e.t.Helper()
	res, err := browser.Get(e.srv.URL + "/sso/start?org=acme")
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	loc, err := res.Location()
	if res.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), e.op.Issuer+"/") {
		e.t.Fatalf("/sso/start: %s to %v, want 303 to the provider", res.Status, loc)
	}
	return loc
}

// back follows the provider's redirect to Twostep's callback (the callback
// URL is under the base URL; the test server stands behind it).
func (e *ssoEnv) back(browser *http.Client, cb *url.URL) ssoResult {
	e.t.Helper()
	if cb.Scheme+"://"+cb.Host+cb.Path != ssoCallback {
		e.t.Fatalf("the provider sent the browser to %s, want %s", cb, ssoCallback)
	}
	res, err := browser.Get(e.srv.URL + cb.Path + "?" + cb.RawQuery)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return ssoResult{status: res.StatusCode, location: res.Header.Get("Location"), body: string(raw), browser: browser,
		cookies: res.Cookies()}
}

// signIn runs a whole SSO sign-in as login, tamper changing the
// authorization request on its way to the provider.
func (e *ssoEnv) signIn(login twosteptest.ProviderLogin, tamper func(*url.URL)) ssoResult {
	e.t.Helper()
	browser := twosteptest.NewBrowser(e.t)
	auth := e.start(browser)
	if tamper != nil {
		tamper(auth)
	}
	cb, err := e.op.SignIn(browser, auth.String(), login)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.back(browser, cb)
}

// cookie returns the value of the browser's cookie name at the test server.
func (e *ssoEnv) cookie(browser *http.Client, name string) string {
	u, _ := url.Parse(e.srv.URL)
	for _, c := range browser.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// account is GET /api/v1/account with the browser's session cookie.
func (e *ssoEnv) account(r ssoResult) map[string]any {
	e.t.Helper()
	token := e.cookie(r.browser, "twostep_session")
	if token == "" {
		e.t.Fatalf("no session cookie after the sign-in: %d %s %s", r.status, r.location, r.body)
	}
	st, b, _ := e.call("GET", "/api/v1/account", token, nil)
	e.want(st, 200, b, "account")
	return b
}

// members returns the organisation's members by e-mail.
func (e *ssoEnv) members() map[string]map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/org/members", nil)
	req.Header.Set("Authorization", "Bearer "+e.owner)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var list []map[string]any
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		e.t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, m := range list {
		out[m["email"].(string)] = m
	}
	return out
}

// audit lists the organisation's events of type typ, newest first.
func (e *ssoEnv) audit(typ string) []map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/org/audit?limit=50&type="+typ, nil)
	req.Header.Set("Authorization", "Bearer "+e.owner)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var list []map[string]any
	json.NewDecoder(res.Body).Decode(&list)
	return list
}

// refused checks that the callback answered status with the reason's words
// (the pages' English) and created no account.
func (e *ssoEnv) refused(r ssoResult, status int, words string, before int) {
	e.t.Helper()
	if r.status != status || !strings.Contains(r.body, words) {
		e.t.Errorf("callback: %d %q, want %d saying %q", r.status, r.body, status, words)
	}
	if c := e.cookie(r.browser, "twostep_session"); c != "" {
		e.t.Errorf("a refused sign-in left a session cookie")
	}
	if n := len(e.members()); n != before {
		e.t.Errorf("members: %d after a refused sign-in, want %d", n, before)
	}
}

func ssoBackends(t *testing.T, run func(t *testing.T, db *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { run(t, storetest.SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { run(t, storetest.Postgres(t)) })
}

// TestSSOSignIn drives whole sign-ins through the organisation's provider:
// just-in-time members, matching by sub, each second_step rule through
// Decide, no takeover of password accounts (SECURITY.md ORG-02, SU-07, FL-02).
func TestSSOSignIn(t *testing.T) {
	op := ssoProvider(t, nil)
	ssoBackends(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, op, twostep.SSONever)

		// JIT: Ann's first sign-in makes her a member (sso, role member), and
		// under "never" the provider's sign-in is the whole of it.
		r := e.signIn(twosteptest.ProviderLogin{Login: "ann@acme.test"}, nil)
		if r.status != http.StatusSeeOther || r.location != "/account/security" {
			t.Fatalf("ann: %d to %q, want 303 to /account/security: %s", r.status, r.location, r.body)
		}
		acct := e.account(r)
		if diff := cmp.Diff(map[string]any{"email": "ann@acme.test", "role": "member", "sso": true},
			map[string]any{"email": acct["email"], "role": acct["role"], "sso": acct["sso"]}); diff != "" {
			t.Errorf("ann's account (-want +got):\n%s", diff)
		}
		annID := acct["id"]
		if got := e.members()["ann@acme.test"]["sso_provider"]; got != op.Issuer {
			t.Errorf("members: ann's provider %v, want %s", got, op.Issuer)
		}
		ev := e.audit("sign_in.succeeded")[0]["detail"].(map[string]any)
		if ev["provider"] != op.Issuer || ev["second_step"] != "exempt" || !slices.Equal(strs(ev["amr"]), []string{"pwd"}) {
			t.Errorf("audit of ann's sign-in: %v, want provider, exempt, amr [pwd]", ev)
		}
		if linked := e.audit("sso.linked"); len(linked) != 1 || linked[0]["detail"].(map[string]any)["created"] != true {
			t.Errorf("audit sso.linked: %v, want one, created", linked)
		}
		// Behind a reverse proxy (API.md §8): Ann's "never" session passes,
		// even once the organisation requires two-step (its policy does not
		// apply to SSO members under never), but not a proxy's explicit
		// require=two-step.
		fa := cookieNamed(r.cookies, "twostep_fa")
		if fa == nil {
			t.Fatal("no forward-auth cookie after the SSO sign-in")
		}
		forward := func(query string) int {
			req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/authz/auth-request"+query, nil)
			req.AddCookie(&http.Cookie{Name: "twostep_fa", Value: fa.Value})
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		st, b, _ := e.call("PUT", "/api/v1/org/policy", e.owner, map[string]any{"two_step": "required", "grace_period_days": 0,
			"allowed_methods": []string{"totp", "email"}, "min_client_version": nil, "allow_legacy_clients": true})
		e.want(st, 200, b, "require two-step")
		if got := [2]int{forward(""), forward("?require=two-step")}; got != [2]int{200, 401} {
			t.Errorf("forward auth of ann's never session: %v, want [200 401]", got)
		}
		st, b, _ = e.call("PUT", "/api/v1/org/policy", e.owner, map[string]any{"two_step": "optional", "grace_period_days": 0,
			"allowed_methods": []string{"totp", "email"}, "min_client_version": nil, "allow_legacy_clients": true})
		e.want(st, 200, b, "optional again")

		// Matching by sub: Ann's address changes at the provider; she is
		// still the same account, and no one new appears.
		n := len(e.members())
		op.SetAccount(t, twosteptest.ProviderAccount{Sub: "ann-1", Email: "ann.new@acme.test", EmailVerified: true, AMR: []string{"pwd"}})
		t.Cleanup(func() { op.SetAccount(t, ssoPeople[0]) })
		r = e.signIn(twosteptest.ProviderLogin{Login: "ann-1"}, nil)
		if got := e.account(r)["id"]; got != annID {
			t.Errorf("ann after an e-mail change at the provider: account %v, want %v", got, annID)
		}
		if len(e.members()) != n {
			t.Errorf("a sign-in matched by sub made a new member")
		}
		op.SetAccount(t, ssoPeople[0])

		// ORG-02: "never" acts as trust_upstream for an admin. Ada's provider
		// shows no second step, so she must enrol one of Twostep's.
		r = e.signIn(twosteptest.ProviderLogin{Login: "ada@acme.test"}, nil)
		if r.status != http.StatusSeeOther || r.location != "/sign-in/enrol" || e.cookie(r.browser, "twostep_session") != "" {
			t.Fatalf("ada (admin) under never without upstream proof: %d to %q, want enrolment and no session", r.status, r.location)
		}
		// With the provider's mfa, the admin is in, marked upstream.
		r = e.signIn(twosteptest.ProviderLogin{Login: "ada@acme.test", AMR: []string{"pwd", "mfa"}}, nil)
		e.account(r)
		if ev := e.audit("sign_in.succeeded")[0]["detail"].(map[string]any); ev["second_step"] != "upstream" ||
			!slices.Equal(strs(ev["amr"]), []string{"pwd", "mfa"}) {
			t.Errorf("ada with the provider's mfa: %v, want upstream, amr [pwd mfa]", ev)
		}

		// trust_upstream: Bob's provider says mfa: a session marked upstream.
		e.setRule(twostep.SSOTrustUpstream)
		r = e.signIn(twosteptest.ProviderLogin{Login: "bob@acme.test"}, nil)
		e.account(r)
		if ev := e.audit("sign_in.succeeded")[0]["detail"].(map[string]any); ev["second_step"] != "upstream" ||
			!slices.Equal(strs(ev["amr"]), []string{"pwd", "mfa"}) {
			t.Errorf("bob under trust_upstream: %v, want upstream, amr [pwd mfa]", ev)
		}
		// Without the provider's proof Cy enrols an authenticator app during
		// the SSO sign-in, then is signed in with the provider's amr and otp.
		r = e.signIn(twosteptest.ProviderLogin{Login: "cy@acme.test"}, nil)
		if r.location != "/sign-in/enrol" {
			t.Fatalf("cy under trust_upstream without proof: %d to %q, want /sign-in/enrol", r.status, r.location)
		}
		token := e.cookie(r.browser, "twostep_signin")
		secret := e.enrolTOTP(token)
		st, b, _ = e.call("POST", "/api/v1/sign-in/complete", "", map[string]string{"sign_in_token": token})
		e.want(st, 200, b, "complete cy's enrolment")
		if b["status"] != "signed_in" || !slices.Equal(strs(b["amr"]), []string{"pwd", "otp"}) {
			t.Errorf("cy after enrolment: %v, want signed_in with amr [pwd otp]", b)
		}
		e.clock.Advance(30 * time.Second)

		// always: even with the provider's mfa, Cy proves the app he has (SU-07).
		e.setRule(twostep.SSOAlways)
		r = e.signIn(twosteptest.ProviderLogin{Login: "cy@acme.test", AMR: []string{"pwd", "mfa"}}, nil)
		if r.location != "/sign-in/verify" || e.cookie(r.browser, "twostep_session") != "" {
			t.Fatalf("cy under always: %d to %q, want /sign-in/verify and no session", r.status, r.location)
		}
		token = e.cookie(r.browser, "twostep_signin")
		st, b, _ = e.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": token, "method": "totp",
			"code": twostep.TOTPCode(secret, twostep.TOTPStep(e.clock.Now()))})
		e.want(st, 200, b, "cy's code")
		if !slices.Equal(strs(b["amr"]), []string{"pwd", "mfa", "otp"}) {
			t.Errorf("cy under always: amr %v, want the provider's [pwd mfa] and otp", b["amr"])
		}
		if ev := e.audit("sign_in.succeeded")[0]["detail"].(map[string]any); ev["second_step"] != "proven" || ev["provider"] != op.Issuer {
			t.Errorf("cy under always: audit %v, want proven through the provider", ev)
		}

		// No takeover: Pat has a Twostep password; the provider's verified
		// pat@acme.test is refused and nothing is linked.
		n = len(e.members())
		r = e.signIn(twosteptest.ProviderLogin{Login: "pat@acme.test"}, nil)
		e.refused(r, http.StatusBadRequest, "cannot be taken over", n)
		if got := e.members()["pat@acme.test"]; got["sso"] != false || got["sso_provider"] != nil {
			t.Errorf("pat after a refused SSO sign-in: %v, want untouched", got)
		}
		st, b, _ = e.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "pat@acme.test", "password": apiPassword})
		e.want(st, 200, b, "pat still signs in with the password")
		// Unless an admin moves Pat to SSO: then the provider signs her in
		// (the same account) and her old password no longer does.
		patID := e.members()["pat@acme.test"]["id"].(string)
		st, b, _ = e.call("PATCH", "/api/v1/org/members/"+patID, e.owner, map[string]any{"sso": true})
		e.want(st, 200, b, "move pat to SSO")
		// (Under "always" she first enrols a method of Twostep's, as her account.)
		r = e.signIn(twosteptest.ProviderLogin{Login: "pat@acme.test"}, nil)
		st, b, _ = e.call("GET", "/api/v1/account", e.cookie(r.browser, "twostep_signin"), nil)
		if r.location != "/sign-in/enrol" || b["id"] != patID {
			t.Errorf("pat moved to SSO: %d to %q as %v, want enrolment of her account %s", r.status, r.location, b["id"], patID)
		}
		if st, b, _ = e.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "pat@acme.test", "password": apiPassword}); st != 403 {
			t.Errorf("pat's old password after the move to SSO: %d %v, want 403 sso_managed", st, b)
		}

		// email_verified false: refused, nobody made.
		r = e.signIn(twosteptest.ProviderLogin{Login: "eve@acme.test"}, nil)
		e.refused(r, http.StatusBadRequest, "has not verified your e-mail address", n)
		if fails := e.audit("sso.sign_in_failed"); len(fails) == 0 || fails[0]["detail"].(map[string]any)["reason"] != "sso_email_unverified" {
			t.Errorf("audit of eve's refusal: %v", fails)
		}

		// POST /api/v1/sign-in for an SSO address: 403 sso_managed with sso_url.
		st, b, _ = e.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "ann@acme.test", "password": "whatever it is"})
		if st != 403 || b["code"] != "sso_managed" || b["sso_url"] != ssoBase+"/sso/start?login_hint=ann%40acme.test&org=acme" {
			t.Errorf("password sign-in of an SSO member: %d %v, want 403 sso_managed with sso_url", st, b)
		}

		// Turning SSO off: Ann cannot sign in (no provider to go to) until an
		// admin moves her off SSO, which gives her a set-password link.
		st, b, _ = e.call("DELETE", "/api/v1/org/sso", e.owner, nil)
		e.want(st, 204, b, "delete the connection")
		res, err := twosteptest.NewBrowser(t).Get(e.srv.URL + "/sso/start?org=acme")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("/sso/start without a connection: %s, want 404", res.Status)
		}
		st, b, _ = e.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "ann@acme.test", "password": "whatever it is"})
		if st != 403 || b["code"] != "sso_managed" || b["sso_url"] != nil {
			t.Errorf("ann with SSO off: %d %v, want 403 sso_managed without sso_url", st, b)
		}
		// An admin takes her off SSO and invites her again: a set-password link.
		st, b, _ = e.call("PATCH", "/api/v1/org/members/"+annID.(string), e.owner, map[string]any{"sso": false})
		e.want(st, 200, b, "take ann off SSO")
		st, b, _ = e.call("POST", "/api/v1/org/members", e.owner, map[string]any{"email": "ann@acme.test", "role": "member"})
		e.want(st, 201, b, "invite ann to set a password")
	})
}

// enrolTOTP adds and verifies an authenticator app with an enrolment
// sign-in token and returns its seed.
func (e *ssoEnv) enrolTOTP(token string) []byte {
	e.t.Helper()
	st, b, _ := e.call("POST", "/api/v1/account/factors", token, map[string]string{"method": "totp"})
	e.want(st, 201, b, "add an app during the SSO sign-in")
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b["secret"].(string))
	if err != nil {
		e.t.Fatal(err)
	}
	st, b, _ = e.call("POST", "/api/v1/account/factors/"+b["id"].(string)+"/verify", token,
		map[string]string{"code": twostep.TOTPCode(secret, twostep.TOTPStep(e.clock.Now()))})
	e.want(st, 200, b, "verify the app")
	return secret
}

func strs(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// TestSSOCallbackRefusals: answers that must not sign anyone in, each
// refused with its reason and nothing created (RFC 9700 §4.4 mix-up, §4.7
// CSRF; OIDC Core §3.1.3.7 nonce and expiry; SECURITY.md FL-01).
func TestSSOCallbackRefusals(t *testing.T) {
	op := ssoProvider(t, map[string]int{"IdToken": 60})
	// Another provider that knows the same client: a mix-up attacker's, or
	// any other organisation's provider.
	evil := ssoProvider(t, nil)
	ssoBackends(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, op, twostep.SSONever)
		n := len(e.members())
		ann := twosteptest.ProviderLogin{Login: "ann@acme.test"}

		// A changed state: not what this browser started.
		browser := twosteptest.NewBrowser(t)
		cb, err := op.SignIn(browser, e.start(browser).String(), ann)
		if err != nil {
			t.Fatal(err)
		}
		q := cb.Query()
		q.Set("state", q.Get("state")+"x")
		wrong := *cb
		wrong.RawQuery = q.Encode()
		e.refused(e.back(browser, &wrong), http.StatusBadRequest, "did not start in this browser", n)

		// The right callback URL in another browser (login CSRF): refused;
		// the browser that started it still finishes.
		e.refused(e.back(twosteptest.NewBrowser(t), cb), http.StatusBadRequest, "did not start in this browser", n)
		if r := e.back(browser, cb); r.status != http.StatusSeeOther || e.cookie(browser, "twostep_session") == "" {
			t.Fatalf("the browser that started the sign-in: %d %s", r.status, r.body)
		}
		n = len(e.members())
		// The same callback again, even with the state's cookie put back:
		// its state is used up.
		srvURL, _ := url.Parse(e.srv.URL)
		browser.Jar.SetCookies(srvURL, []*http.Cookie{{Name: "twostep_sso", Value: cb.Query().Get("state"), Path: "/"}})
		if r := e.back(browser, cb); r.status != http.StatusGone {
			t.Errorf("a callback replayed: %d, want 410", r.status)
		}

		// A nonce changed on the way to the provider: the ID token carries
		// a nonce this sign-in never made.
		r := e.signIn(twosteptest.ProviderLogin{Login: "bob@acme.test"}, func(u *url.URL) {
			q := u.Query()
			q.Set("nonce", "attacker-chosen-nonce")
			u.RawQuery = q.Encode()
		})
		e.refused(r, http.StatusBadRequest, "does not belong to this sign-in", n)

		// Mix-up: the authorization request sent to another provider, whose
		// answer names its own issuer.
		browser = twosteptest.NewBrowser(t)
		auth := e.start(browser)
		ev, _ := url.Parse(evil.Issuer)
		auth.Host = ev.Host
		cb, err = evil.SignIn(browser, auth.String(), twosteptest.ProviderLogin{Login: "bob@acme.test"})
		if err != nil {
			t.Fatal(err)
		}
		if cb.Query().Get("iss") != evil.Issuer {
			t.Fatalf("the other provider answered %s", cb)
		}
		e.refused(e.back(browser, cb), http.StatusBadRequest, "did not come from your organisation", n)
		// The same without its iss: the organisation's provider announces
		// iss, so an answer without one is refused too.
		browser = twosteptest.NewBrowser(t)
		auth = e.start(browser)
		auth.Host = ev.Host
		cb, err = evil.SignIn(browser, auth.String(), twosteptest.ProviderLogin{Login: "bob@acme.test"})
		if err != nil {
			t.Fatal(err)
		}
		q = cb.Query()
		q.Del("iss")
		cb.RawQuery = q.Encode()
		e.refused(e.back(browser, cb), http.StatusBadRequest, "did not come from your organisation", n)

		// The provider's own refusal (the person cancelled there).
		browser = twosteptest.NewBrowser(t)
		auth = e.start(browser)
		cb, _ = url.Parse(ssoCallback + "?" + url.Values{"error": {"access_denied"}, "state": {auth.Query().Get("state")},
			"iss": {op.Issuer}}.Encode())
		e.refused(e.back(browser, cb), http.StatusBadRequest, "did not sign you in (access_denied)", n)

		if fails := e.audit("sso.sign_in_failed"); len(fails) < 4 {
			t.Errorf("audit: %d refused SSO sign-ins recorded, want at least 4 (nonce, iss twice, provider error)", len(fails))
		}

		// An expired ID token: the provider's tokens live 60 s, and Twostep's
		// clock reads 5 minutes later when the answer comes back.
		browser = twosteptest.NewBrowser(t)
		cb, err = op.SignIn(browser, e.start(browser).String(), twosteptest.ProviderLogin{Login: "bob@acme.test"})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Until(e.clock.Now()) * -1)
		e.clock.Advance(5 * time.Minute)
		e.refused(e.back(browser, cb), http.StatusBadRequest, "had expired", n)
	})
}

// TestSSOProviderDown: the provider stops between the sign-in there and the
// callback: a clear 502, and nothing created.
func TestSSOProviderDown(t *testing.T) {
	ssoBackends(t, func(t *testing.T, db *store.DB) {
		op := ssoProvider(t, nil)
		e := newSSOEnv(t, db, op, twostep.SSONever)
		n := len(e.members())
		browser := twosteptest.NewBrowser(t)
		cb, err := op.SignIn(browser, e.start(browser).String(), twosteptest.ProviderLogin{Login: "ann@acme.test"})
		if err != nil {
			t.Fatal(err)
		}
		op.Stop()
		e.refused(e.back(browser, cb), http.StatusBadGateway, "cannot be reached right now", n)
		// Starting again says the same before sending anyone anywhere.
		res, err := twosteptest.NewBrowser(t).Get(e.srv.URL + "/sso/start?org=acme")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusSeeOther {
			t.Errorf("/sso/start with the provider down sent the browser to it")
		}
	})
}

// TestSSOConnectionAPI: owners set the connection, admins see it without its
// secret, which is sealed at rest; owner-given issuers follow §7's rule
// (API.md §7, §12; SECURITY.md CS-02).
func TestSSOConnectionAPI(t *testing.T) {
	op := ssoProvider(t, nil)
	ssoBackends(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, op, twostep.SSOTrustUpstream)
		st, b, _ := e.call("GET", "/api/v1/org/sso", e.owner, nil)
		e.want(st, 200, b, "get the connection")
		want := map[string]any{"issuer": op.Issuer, "client_id": ssoClient, "second_step": "trust_upstream",
			"callback_url": ssoCallback, "domains": []any{}}
		got := map[string]any{}
		for k := range want {
			got[k] = b[k]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET /api/v1/org/sso (-want +got):\n%s", diff)
		}
		raw, _ := json.Marshal(b)
		if strings.Contains(string(raw), ssoSecret) {
			t.Errorf("GET /api/v1/org/sso shows the secret: %s", raw)
		}
		conn, err := db.SSOConnection(context.Background(), e.members()["owner@acme.test"]["id"].(string))
		if err == nil || conn != nil {
			t.Fatalf("a connection under the owner's id: the test looks it up by org")
		}
		org, err := db.OrgBySlug(context.Background(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		if conn, err = db.SSOConnection(context.Background(), org.ID); err != nil || strings.Contains(string(conn.ClientSecret), ssoSecret) {
			t.Errorf("the stored secret is not sealed (err %v)", err)
		}

		for _, tc := range []struct {
			name   string
			body   map[string]string
			field  string
			reason string
		}{
			{"no issuer", map[string]string{"client_id": "x", "client_secret": "y", "second_step": "never"}, "issuer", "required"},
			{"issuer with a query", map[string]string{"issuer": op.Issuer + "?a=b", "client_id": "x", "second_step": "never"}, "issuer", "url"},
			{"wrong rule", map[string]string{"issuer": op.Issuer, "client_id": "x", "second_step": "sometimes"}, "second_step", "sso_rule"},
			{"not a provider", map[string]string{"issuer": e.srv.URL, "client_id": "x", "second_step": "never"}, "issuer", "sso_discovery"},
		} {
			st, b, _ := e.call("PUT", "/api/v1/org/sso", e.owner, tc.body)
			if st != 400 || b["field"] != tc.field || b["reason"] != tc.reason {
				t.Errorf("%s: %d %v, want 400 on %s (%s)", tc.name, st, b, tc.field, tc.reason)
			}
		}
		st, b, _ = e.call("POST", "/api/v1/org/sso/test", e.owner, map[string]string{"issuer": op.Issuer})
		if st != 200 || b["pkce_s256"] != true || b["iss_parameter"] != true || b["token_endpoint"] == "" {
			t.Errorf("test the connection: %d %v", st, b)
		}

		// A member gets 403; an SSO admin (not owner) reads but cannot change.
		st, b, _ = e.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "pat@acme.test", "password": apiPassword})
		e.want(st, 200, b, "pat signs in")
		pat := b["session_token"].(string)
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			if st, b, _ := e.call(m, "/api/v1/org/sso", pat, map[string]string{}); st != 403 {
				t.Errorf("a member's %s /api/v1/org/sso: %d %v, want 403", m, st, b)
			}
		}

		// The operator's domains show to owners; one organisation each.
		if _, err := e.svc.AddSSODomain(context.Background(), "acme", "Acme.Test"); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := e.svc.CreateOrg(context.Background(), twostep.NewOrg{Name: "Other", OwnerEmail: "o@other.test", Password: apiPassword}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.AddSSODomain(context.Background(), "other", "acme.test"); !errors.Is(err, twostep.ErrConflict) {
			t.Errorf("a domain given twice: %v, want ErrConflict", err)
		}
		st, b, _ = e.call("GET", "/api/v1/org/sso", e.owner, nil)
		if !cmp.Equal(b["domains"], []any{"acme.test"}) {
			t.Errorf("domains: %v", b["domains"])
		}
		// An address of the domain with no account goes to the provider.
		st, b, _ = e.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "new@acme.test", "password": "anything at all"})
		if st != 403 || b["sso_url"] != ssoBase+"/sso/start?login_hint=new%40acme.test&org=acme" {
			t.Errorf("an address of the SSO domain: %d %v, want 403 sso_managed with sso_url", st, b)
		}
	})
}

// TestSSOPrivateIssuer: without TWOSTEP_ALLOW_PRIVATE_URLS an owner cannot
// point the connection at a loopback provider (API.md §7, owner-given URLs).
func TestSSOPrivateIssuer(t *testing.T) {
	a := newAPI(t, false)
	_, _, owner := a.enrol()
	for _, issuer := range []string{"http://idp.example.com", "https://127.0.0.1:8443", "https://[::1]/realms/acme", "https://10.1.2.3"} {
		st, b, _ := a.call("PUT", "/api/v1/org/sso", owner, map[string]string{"issuer": issuer, "client_id": "c",
			"client_secret": "s", "second_step": "never"})
		if st != 400 || b["field"] != "issuer" || (b["reason"] != "https_url" && b["reason"] != "private_address") {
			t.Errorf("%s: %d %v, want 400 on issuer", issuer, st, b)
		}
	}
}

// TestSSOConfirmIdentity: an SSO member's identity confirmation is a new
// sign-in at the provider (max_age=0) plus the Twostep method they have;
// neither alone confirms (API.md §12; SECURITY.md SU-01, FL-02).
func TestSSOConfirmIdentity(t *testing.T) { // SU-01, FL-02
	op := ssoProvider(t, nil)
	ssoBackends(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, op, twostep.SSOAlways)
		r := e.signIn(twosteptest.ProviderLogin{Login: "cy@acme.test"}, nil)
		if r.location != "/sign-in/enrol" {
			t.Fatalf("cy under always: %d to %q, want enrolment", r.status, r.location)
		}
		token := e.cookie(r.browser, "twostep_signin")
		secret := e.enrolTOTP(token)
		st, b, _ := e.call("POST", "/api/v1/sign-in/complete", "", map[string]string{"sign_in_token": token})
		e.want(st, 200, b, "complete")
		session := b["session_token"].(string)
		e.clock.Advance(11 * time.Minute) // past the sign-in's confirmation window
		code := func() string {
			e.clock.Advance(30 * time.Second)
			return twostep.TOTPCode(secret, twostep.TOTPStep(e.clock.Now()))
		}

		// The code alone does not confirm an SSO member.
		st, b, _ = e.call("POST", "/api/v1/account/confirm-identity", session, map[string]string{"method": "totp", "code": code()})
		if st != 403 || b["code"] != "confirm_identity_required" {
			t.Fatalf("code without the provider: %d %v, want 403 confirm_identity_required", st, b)
		}

		// The provider again, in the browser that holds the session.
		srvURL, _ := url.Parse(e.srv.URL)
		r.browser.Jar.SetCookies(srvURL, []*http.Cookie{{Name: "twostep_session", Value: session, Path: "/"}})
		res, err := r.browser.Get(e.srv.URL + "/sso/start?org=acme&confirm=1")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		auth, _ := res.Location()
		if q := auth.Query(); q.Get("max_age") != "0" || q.Get("prompt") != "login" {
			t.Errorf("the confirmation asks the provider %s, want max_age=0 and prompt=login", auth)
		}
		cb, err := op.SignIn(r.browser, auth.String(), twosteptest.ProviderLogin{Login: "cy@acme.test"})
		if err != nil {
			t.Fatal(err)
		}
		if back := e.back(r.browser, cb); back.status != http.StatusSeeOther || back.location != "/account/confirm" {
			t.Fatalf("back from the provider: %d %q, want /account/confirm for the code: %s", back.status, back.location, back.body)
		}
		// The provider alone is not enough: a security change still asks.
		if st, b, _ := e.call("POST", "/api/v1/account/recovery-codes", session, nil); st != 403 {
			t.Errorf("recovery codes after the provider alone: %d %v, want 403", st, b)
		}
		st, b, _ = e.call("POST", "/api/v1/account/confirm-identity", session, map[string]string{"method": "totp", "code": code()})
		e.want(st, 200, b, "the code after the provider")
		renewed := b["session_token"].(string)
		if renewed == session {
			t.Errorf("the confirmation kept the session token (FL-02)")
		}
		if st, b, _ := e.call("POST", "/api/v1/account/recovery-codes", renewed, nil); st != 200 {
			t.Errorf("recovery codes after the confirmation: %d %v", st, b)
		}
		// Spent: another confirmation needs the provider again.
		st, b, _ = e.call("POST", "/api/v1/account/confirm-identity", renewed, map[string]string{"method": "totp", "code": code()})
		if st != 403 {
			t.Errorf("a second confirmation on one provider sign-in: %d %v, want 403", st, b)
		}
	})
}

// TestSSOConfirmNever: an SSO member under "never" (no Twostep method, session
// second step exempt) confirms who they are by a new sign-in at the provider
// alone: the renewed session counts as confirmed for the confirmation window
// (confirmed_until, a sensitive action), then no longer; the sign-in itself
// never did. The confirmation returns to the local page that asked, never to
// another site (API.md §12; SECURITY.md SU-01, FL-02).
func TestSSOConfirmNever(t *testing.T) { // SU-01, FL-02
	op := ssoProvider(t, nil)
	ssoBackends(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, op, twostep.SSONever)
		r := e.signIn(twosteptest.ProviderLogin{Login: "ann@acme.test"}, nil)
		if r.location != "/account/security" {
			t.Fatalf("ann under never: %d to %q", r.status, r.location)
		}
		sensitive := func(token string) (int, map[string]any) {
			st, b, _ := e.call("POST", "/api/v1/account/sessions/end-others", token, nil)
			return st, b
		}
		session := e.cookie(r.browser, "twostep_session")
		if acct := e.account(r); acct["confirmed_until"] != nil {
			t.Errorf("ann's exempt sign-in counts as a confirmation: confirmed_until %v", acct["confirmed_until"])
		}
		if st, b := sensitive(session); st != 403 || b["code"] != "confirm_identity_required" {
			t.Errorf("a sensitive action right after the sign-in: %d %v, want 403 confirm_identity_required", st, b)
		}

		confirm := func(next string) ssoResult {
			t.Helper()
			q := url.Values{"org": {"acme"}, "confirm": {"1"}}
			if next != "" {
				q.Set("next", next)
			}
			res, err := r.browser.Get(e.srv.URL + "/sso/start?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			auth, _ := res.Location()
			if auth == nil || auth.Query().Get("max_age") != "0" {
				t.Fatalf("the confirmation goes to %v, want the provider with max_age=0", auth)
			}
			cb, err := op.SignIn(r.browser, auth.String(), twosteptest.ProviderLogin{Login: "ann@acme.test"})
			if err != nil {
				t.Fatal(err)
			}
			return e.back(r.browser, cb)
		}
		back := confirm("/account/security/sessions?x=1")
		if back.status != http.StatusSeeOther || back.location != "/account/security/sessions?done=confirmed&x=1" {
			t.Fatalf("back from the provider: %d to %q, want the page that asked with done=confirmed: %s", back.status, back.location, back.body)
		}
		renewed := e.cookie(r.browser, "twostep_session")
		if renewed == "" || renewed == session {
			t.Fatalf("the confirmation kept the session token (FL-02)")
		}
		if st, b, _ := e.call("GET", "/api/v1/account", session, nil); st != http.StatusUnauthorized {
			t.Errorf("the old session token after the confirmation: %d %v, want 401", st, b)
		}
		acct := e.account(back)
		s, _ := acct["confirmed_until"].(string)
		until, _ := time.Parse(time.RFC3339, s)
		if want := e.clock.Now().Add(10 * time.Minute); !until.Equal(want) {
			t.Errorf("confirmed_until after the provider's new sign-in: %v, want %v", acct["confirmed_until"], want)
		}
		if st, b := sensitive(renewed); st != http.StatusOK && st != http.StatusNoContent {
			t.Errorf("a sensitive action after the confirmation: %d %v", st, b)
		}
		// The window ends; then it asks again.
		e.clock.Advance(11 * time.Minute)
		if st, b := sensitive(renewed); st != 403 || b["code"] != "confirm_identity_required" {
			t.Errorf("a sensitive action past the window: %d %v, want 403 confirm_identity_required", st, b)
		}

		// Only a local page: another site, or none, gives the settings.
		for _, next := range []string{"//evil.test/x", "https://evil.test/", ""} {
			if back := confirm(next); back.status != http.StatusSeeOther || back.location != "/account/security" {
				t.Errorf("next %q: back to %d %q, want /account/security", next, back.status, back.location)
			}
		}
	})
}
