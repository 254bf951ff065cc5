package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/twostep/twostep/internal/store/storetest"
)

// rp is a relying party built on go-oidc and x/oauth2, as a product would
// use Twostep, with an httptest server receiving back-channel logouts.
type rp struct {
	t        *testing.T
	srv      *server
	dir      string
	env      []string
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	conf     oauth2.Config
	logouts  chan string // logout tokens received
}

// account is one person of the test organisation, from bench prepare.
type account struct {
	email, password, secret string
	step                    int64 // the next TOTP time step to use (each step once: OTP-08)
}

// code returns a TOTP code for the account's next unused time step within
// the ±1 step the server accepts (OTP-07), waiting for one when all are used.
func (a *account) code(t *testing.T) string {
	t.Helper()
	now := time.Now().Unix() / 30
	if a.step < now-1 {
		a.step = now - 1
	}
	for a.step > now+1 {
		time.Sleep(time.Second)
		now = time.Now().Unix() / 30
	}
	c, err := totp.GenerateCodeCustom(a.secret, time.Unix(a.step*30, 0), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	a.step++
	return c
}

// prepare makes n accounts with an authenticator app in organisation org.
func prepare(t *testing.T, dir string, env []string, org string, n int) []*account {
	t.Helper()
	out := filepath.Join(dir, org+".csv")
	if r := runCmd(t, dir, env, "", "bench", "prepare", "--accounts", fmt.Sprint(n), "--out", out, "--org-name", org); r.code != 0 {
		t.Fatalf("bench prepare: %+v", r)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var as []*account
	for _, row := range rows[1:] {
		as = append(as, &account{email: row[0], password: row[1], secret: row[2]})
	}
	return as
}

// newClient registers an OIDC client with the CLI and returns its id and secret.
func newClient(t *testing.T, dir string, env []string, args ...string) (string, string) {
	t.Helper()
	r := runCmd(t, dir, env, "", append([]string{"oidc", "client", "create"}, args...)...)
	if r.code != 0 {
		t.Fatalf("oidc client create: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) == 1 {
		return lines[0], ""
	}
	return lines[0], lines[1]
}

// startOIDC starts a server in a new directory.
func startOIDC(t *testing.T, env ...string) (string, []string, *server) {
	t.Helper()
	dir := t.TempDir()
	env = append(env, "TWOSTEP_LOG_FORMAT=json")
	if pg := postgresURL(t); pg != "" {
		env = append(env, "TWOSTEP_DATABASE_URL="+pg)
	}
	srv := serve(t, dir, env)
	return dir, env, srv
}

// postgresURL returns a fresh PostgreSQL schema for the test when
// TWOSTEP_TEST_POSTGRES_URL is set (as in CI), else "": the provider's
// tables then live in PostgreSQL, as with many instances.
func postgresURL(t *testing.T) string {
	if os.Getenv("TWOSTEP_TEST_POSTGRES_URL") == "" {
		return ""
	}
	return storetest.PostgresSchemaURL(t)
}

// newRP registers a confidential client (extra flags appended) and returns a
// relying party for it.
func newRP(t *testing.T, dir string, env []string, srv *server, name string, extra ...string) *rp {
	t.Helper()
	r := &rp{t: t, srv: srv, dir: dir, env: env, logouts: make(chan string, 10)}
	bc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.ParseForm()
		r.logouts <- req.PostForm.Get("logout_token")
	}))
	t.Cleanup(bc.Close)
	redirect := "http://127.0.0.1:1/" + name + "/callback" // never reached: the test's browser stops there
	args := append([]string{"--name", name, "--redirect-uri", redirect, "--post-logout-redirect-uri", "http://127.0.0.1:1/" + name + "/bye",
		"--backchannel-logout-uri", bc.URL + "/logout"}, extra...)
	id, secret := newClient(t, dir, env, args...)
	ctx := context.Background()
	p, err := gooidc.NewProvider(ctx, srv.url)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	r.provider, r.verifier = p, p.Verifier(&gooidc.Config{ClientID: id})
	r.conf = oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: redirect,
		Scopes: []string{gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess, "twostep:org"}}
	return r
}

// browser is a person's browser: a cookie jar, following redirects until one
// leaves Twostep for a client's redirect URI.
type webClient struct {
	t        *testing.T
	c        *http.Client
	requests int
}

func newWebClient(t *testing.T) *webClient {
	jar, _ := cookiejar.New(nil)
	b := &webClient{t: t}
	b.c = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		b.requests++
		if req.URL.Host == "127.0.0.1:1" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// do sends a request and returns the final response's URL (or Location, when
// it is a client's) and body.
func (b *webClient) do(method, u string, form url.Values) (int, string, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	b.requests++
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	if loc := res.Header.Get("Location"); loc != "" {
		return res.StatusCode, loc, string(page)
	}
	return res.StatusCode, res.Request.URL.String(), string(page)
}

// authorize starts a code flow with PKCE S256 and a nonce; it returns the
// browser's landing (URL and page), the verifier, nonce and state.
type flow struct {
	verifier, nonce, state string
}

func (r *rp) authURL(extra ...oauth2.AuthCodeOption) (string, flow) {
	f := flow{verifier: oauth2.GenerateVerifier(), nonce: random(), state: random()}
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), gooidc.Nonce(f.nonce)}, extra...)
	return r.conf.AuthCodeURL(f.state, opts...), f
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// codeFrom checks that loc is the client's redirect URI with state and returns the code.
func (r *rp) codeFrom(loc string, f flow) string {
	r.t.Helper()
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, r.conf.RedirectURL) {
		r.t.Fatalf("landed at %q, want the client's redirect URI", loc)
	}
	q := u.Query()
	if q.Get("error") != "" || q.Get("state") != f.state {
		r.t.Fatalf("redirect %q: want a code and state %q", loc, f.state)
	}
	return q.Get("code")
}

// errorFrom checks that loc is the client's redirect URI with an error and returns it.
func (r *rp) errorFrom(loc string, f flow) string {
	r.t.Helper()
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, r.conf.RedirectURL) {
		r.t.Fatalf("landed at %q, want the client's redirect URI with an error", loc)
	}
	if u.Query().Get("state") != f.state {
		r.t.Errorf("error redirect %q lacks state %q", loc, f.state)
	}
	return u.Query().Get("error")
}

// exchange trades the code for tokens and verifies the ID token (signature
// against the JWKS, issuer, audience, expiry) and its nonce.
func (r *rp) exchange(code string, f flow) (*oauth2.Token, *gooidc.IDToken, claims) {
	r.t.Helper()
	ctx := context.Background()
	tok, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		r.t.Fatalf("token exchange: %v", err)
	}
	return r.verify(tok, f.nonce)
}

type claims struct {
	Sub      string   `json:"sub"`
	AMR      []string `json:"amr"`
	ACR      string   `json:"acr"`
	Nonce    string   `json:"nonce"`
	SID      string   `json:"sid"`
	AuthTime int64    `json:"auth_time"`
	Email    string   `json:"email"`
	OrgSlug  string   `json:"org_slug"`
	OrgRole  string   `json:"org_role"`
}

func (r *rp) verify(tok *oauth2.Token, nonce string) (*oauth2.Token, *gooidc.IDToken, claims) {
	r.t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	id, err := r.verifier.Verify(context.Background(), raw)
	if err != nil {
		r.t.Fatalf("ID token: %v", err)
	}
	var c claims
	if err := id.Claims(&c); err != nil {
		r.t.Fatal(err)
	}
	if nonce != "" && c.Nonce != nonce {
		r.t.Errorf("nonce %q, want %q (OP-04)", c.Nonce, nonce)
	}
	return tok, id, c
}

// signIn takes the browser from the authorize URL through the sign-in pages
// (password, then the TOTP code) to the client's redirect URI.
func signIn(t *testing.T, b *webClient, srv *server, start string, a *account) string {
	t.Helper()
	status, at, page := b.do("GET", start, nil)
	if status != 200 || !strings.Contains(at, "/sign-in?auth_request=") {
		t.Fatalf("authorize led to %d %s, want the sign-in page", status, at)
	}
	_, at, page = b.do("POST", srv.url+"/sign-in", url.Values{"email": {a.email}, "password": {a.password}})
	if !strings.Contains(at, "/sign-in/verify") {
		t.Fatalf("after the password: %s\n%s", at, page)
	}
	_, at, page = b.do("POST", srv.url+"/sign-in/verify", url.Values{"method": {"totp"}, "code": {a.code(t)}})
	return at
}

var clientLine = regexp.MustCompile(`data-client>([^<]*)<`)

// TestOIDCCodeFlow runs the whole code flow as a product's standard client
// does: discovery, the pages with password and TOTP, the code exchange with
// PKCE, the ID token verified against the JWKS with amr, acr, nonce and sid,
// userinfo, refresh with rotation and reuse detection (OP-01, OP-03, OP-04).
func TestOIDCCodeFlow(t *testing.T) {
	dir, env, srv := startOIDC(t)
	as := prepare(t, dir, env, "acme", 1)
	a := as[0]
	notes := newRP(t, dir, env, srv, "notes")
	b := newWebClient(t)

	start := time.Now()
	authURL, f := notes.authURL()
	status, at, page := b.do("GET", authURL, nil)
	if status != 200 || !strings.Contains(at, "/sign-in?auth_request=") {
		t.Fatalf("authorize led to %d %s", status, at)
	}
	if m := clientLine.FindStringSubmatch(page); m == nil || !strings.Contains(m[1], "notes") {
		t.Errorf("the sign-in page does not say which product asked")
	}
	_, at, page = b.do("POST", srv.url+"/sign-in", url.Values{"email": {a.email}, "password": {a.password}})
	if !strings.Contains(at, "/sign-in/verify") || !strings.Contains(page, "notes") {
		t.Fatalf("after the password: %s (the product's name on the page: %t)", at, strings.Contains(page, "notes"))
	}
	_, at, _ = b.do("POST", srv.url+"/sign-in/verify", url.Values{"method": {"totp"}, "code": {a.code(t)}})
	code := notes.codeFrom(at, f)
	tok, id, c := notes.exchange(code, f)
	requests := b.requests + 1 // the token request
	t.Logf("one authorization-code flow: %d browser requests + 1 token request, %s from authorize to tokens", b.requests, time.Since(start))

	if diff := cmp.Diff([]string{"pwd", "otp"}, c.AMR); diff != "" {
		t.Errorf("amr (-want +got):\n%s", diff)
	}
	if c.ACR != "urn:twostep:acr:two-step" || c.SID == "" || c.AuthTime == 0 || c.Email != a.email || !strings.HasPrefix(c.OrgSlug, "acme") || c.OrgRole != "member" {
		t.Errorf("claims %+v", c)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}
	_ = requests
	ui, err := notes.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != id.Subject || ui.Email != a.email {
		t.Errorf("userinfo: %+v, %v", ui, err)
	}

	// The code works once; its second use fails and revokes what the first issued (OP-01).
	if _, err := notes.conf.Exchange(context.Background(), code, oauth2.VerifierOption(f.verifier)); err == nil {
		t.Error("the code worked twice")
	}
	if _, err := notes.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("the access token still works after its code was used again (OP-01)")
	}
	if _, err := refresh(notes, tok.RefreshToken); err == nil {
		t.Error("the refresh token still works after its code was used again (OP-01)")
	}
}

// refresh spends a refresh token.
func refresh(r *rp, token string) (*oauth2.Token, error) {
	return r.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: token, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// TestOIDCRefreshRotation: every refresh gives a new refresh token; a
// rotated one presented again revokes the whole chain (OP-03), and the
// refreshed ID token keeps acr, amr, sid and auth_time.
func TestOIDCRefreshRotation(t *testing.T) {
	dir, env, srv := startOIDC(t)
	a := prepare(t, dir, env, "acme", 1)[0]
	notes := newRP(t, dir, env, srv, "notes")
	authURL, f := notes.authURL()
	tok, _, first := notes.exchange(notes.codeFrom(signIn(t, newWebClient(t), srv, authURL, a), f), f)

	next, err := refresh(notes, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Fatal("the refresh token was not rotated (OP-03)")
	}
	_, _, again := notes.verify(next, "")
	if again.ACR != first.ACR || again.SID != first.SID || again.AuthTime != first.AuthTime || !cmp.Equal(again.AMR, first.AMR) {
		t.Errorf("refreshed ID token %+v, want acr, amr, sid and auth_time of %+v", again, first)
	}
	third, err := refresh(notes, next.RefreshToken)
	if err != nil {
		t.Fatalf("second refresh: %v", err)
	}
	// The first token, rotated twice already, comes back: someone kept a copy.
	if _, err := refresh(notes, tok.RefreshToken); err == nil {
		t.Fatal("a rotated refresh token worked again (OP-03)")
	}
	if _, err := refresh(notes, third.RefreshToken); err == nil {
		t.Error("the chain's live refresh token still works after a reuse (OP-03)")
	}
	if _, err := notes.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(third)); err == nil {
		t.Error("the chain's access token still works after a reuse (OP-03)")
	}
}

// TestOIDCSingleSignOnAndLogout: a second client gets the same Twostep
// session without a new sign-in (the same sid); RP-initiated logout with
// id_token_hint ends it, revokes both clients' tokens and sends both a
// back-channel logout token (OP-06); prompt=none then answers login_required.
func TestOIDCSingleSignOnAndLogout(t *testing.T) {
	dir, env, srv := startOIDC(t)
	a := prepare(t, dir, env, "acme", 1)[0]
	notes, wiki := newRP(t, dir, env, srv, "notes"), newRP(t, dir, env, srv, "wiki")
	b := newWebClient(t)
	authURL, f := notes.authURL()
	notesTok, notesID, nc := notes.exchange(notes.codeFrom(signIn(t, b, srv, authURL, a), f), f)

	authURL, f = wiki.authURL()
	_, at, _ := b.do("GET", authURL, nil)
	wikiTok, _, wc := wiki.exchange(wiki.codeFrom(at, f), f)
	if wc.SID != nc.SID || wc.ACR != "urn:twostep:acr:two-step" || !cmp.Equal(wc.AMR, nc.AMR) {
		t.Errorf("single sign-on: wiki got %+v, notes %+v", wc, nc)
	}

	// prompt=none with the live session: straight back with a code.
	authURL, f = wiki.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	_, at, _ = b.do("GET", authURL, nil)
	wiki.codeFrom(at, f)

	raw, _ := notesTok.Extra("id_token").(string)
	_, at, _ = b.do("GET", srv.url+"/oauth2/end-session?"+url.Values{"id_token_hint": {raw},
		"post_logout_redirect_uri": {"http://127.0.0.1:1/notes/bye"}, "state": {"s1"}}.Encode(), nil)
	if !strings.HasPrefix(at, "http://127.0.0.1:1/notes/bye") {
		t.Errorf("logout led to %s, want the registered post_logout_redirect_uri", at)
	}
	for _, r := range []*rp{notes, wiki} {
		select {
		case lt := <-r.logouts:
			checkLogoutToken(t, r, lt, notesID.Subject, nc.SID)
		case <-time.After(10 * time.Second):
			t.Errorf("%s got no back-channel logout (OP-06)", r.conf.ClientID)
		}
	}
	for _, tok := range []*oauth2.Token{notesTok, wikiTok} {
		if _, err := notes.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("an access token survived the logout")
		}
	}
	if _, err := refresh(notes, notesTok.RefreshToken); err == nil {
		t.Error("a refresh token survived the logout (OP-03)")
	}
	authURL, f = notes.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	_, at, _ = b.do("GET", authURL, nil)
	if e := notes.errorFrom(at, f); e != "login_required" {
		t.Errorf("prompt=none after logout: error %q, want login_required", e)
	}
}

// checkLogoutToken verifies a back-channel logout token as a client must
// (OIDC Back-Channel Logout §2.6): signed by the provider's key, for this
// client, with the events claim, sub and sid, and no nonce (OP-06).
func checkLogoutToken(t *testing.T, r *rp, raw, sub, sid string) {
	t.Helper()
	v := r.provider.Verifier(&gooidc.Config{ClientID: r.conf.ClientID, SkipExpiryCheck: false})
	tok, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("logout token: %v", err)
	}
	var c struct {
		Sub    string                    `json:"sub"`
		SID    string                    `json:"sid"`
		Nonce  *string                   `json:"nonce"`
		Events map[string]map[string]any `json:"events"`
		JTI    string                    `json:"jti"`
	}
	tok.Claims(&c)
	if _, ok := c.Events["http://schemas.openid.net/event/backchannel-logout"]; !ok || c.Nonce != nil || c.Sub != sub || c.SID != sid || c.JTI == "" {
		t.Errorf("logout token claims %+v", c)
	}
}

// TestOIDCStepUp: a live session is reused unless max_age has passed or
// prompt=login; then the person signs in again and auth_time moves (OP-04).
func TestOIDCStepUp(t *testing.T) {
	dir, env, srv := startOIDC(t)
	a := prepare(t, dir, env, "acme", 1)[0]
	notes := newRP(t, dir, env, srv, "notes")
	b := newWebClient(t)
	authURL, f := notes.authURL()
	_, _, first := notes.exchange(notes.codeFrom(signIn(t, b, srv, authURL, a), f), f)
	time.Sleep(1100 * time.Millisecond) // auth_time counts seconds
	for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "0"), oauth2.SetAuthURLParam("prompt", "login")} {
		authURL, f := notes.authURL(opt)
		_, _, c := notes.exchange(notes.codeFrom(signIn(t, b, srv, authURL, a), f), f)
		if c.AuthTime <= first.AuthTime || c.ACR != "urn:twostep:acr:two-step" {
			t.Errorf("after a forced sign-in: auth_time %d (before %d), acr %q", c.AuthTime, first.AuthTime, c.ACR)
		}
	}
}

// TestOIDCRefusals: what must never redirect or never succeed (OP-01, OP-02).
func TestOIDCRefusals(t *testing.T) {
	dir, env, srv := startOIDC(t, "TWOSTEP_OIDC_CODE_TTL=1s")
	as := prepare(t, dir, env, "acme", 3)
	other := prepare(t, dir, env, "beta", 1)[0]
	notes := newRP(t, dir, env, srv, "notes")
	acmeOnly := newRP(t, dir, env, srv, "acmeonly", "--org", orgOf(t, dir, env, as[0].email))
	ctx := context.Background()

	t.Run("wrong redirect URI gets an error page, no redirect", func(t *testing.T) { // OP-02
		conf := notes.conf
		conf.RedirectURL = "http://127.0.0.1:1/notes/callback/../evil"
		status, at, _ := newWebClient(t).do("GET", conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil)
		if status != http.StatusBadRequest || strings.HasPrefix(at, "http://127.0.0.1:1/") {
			t.Errorf("got %d at %s, want 400 and no redirect", status, at)
		}
	})
	t.Run("PKCE plain and a challenge without method are refused at authorize", func(t *testing.T) { // OP-02
		for _, params := range []url.Values{{"code_challenge_method": {"plain"}}, {}} {
			_, f := notes.authURL()
			q := url.Values{"client_id": {notes.conf.ClientID}, "redirect_uri": {notes.conf.RedirectURL}, "response_type": {"code"},
				"scope": {"openid"}, "state": {f.state}, "code_challenge": {f.verifier}}
			for k, v := range params {
				q[k] = v
			}
			_, at, _ := newWebClient(t).do("GET", srv.url+"/oauth2/authorize?"+q.Encode(), nil)
			if e := notes.errorFrom(at, f); e != "invalid_request" {
				t.Errorf("%v: error %q, want invalid_request", params, e)
			}
		}
	})
	t.Run("missing verifier, then the code is spent", func(t *testing.T) { // OP-01
		authURL, f := notes.authURL()
		code := notes.codeFrom(signIn(t, newWebClient(t), srv, authURL, as[0]), f)
		if _, err := notes.conf.Exchange(ctx, code); err == nil {
			t.Error("a code was exchanged without its PKCE verifier")
		}
		if _, err := notes.conf.Exchange(ctx, code, oauth2.VerifierOption(f.verifier)); err == nil {
			t.Error("a code worked after a failed exchange")
		}
	})
	t.Run("expired code", func(t *testing.T) { // OP-01
		authURL, f := notes.authURL()
		code := notes.codeFrom(signIn(t, newWebClient(t), srv, authURL, as[1]), f)
		time.Sleep(1100 * time.Millisecond)
		if _, err := notes.conf.Exchange(ctx, code, oauth2.VerifierOption(f.verifier)); err == nil {
			t.Error("an expired code was exchanged")
		}
	})
	t.Run("a client of another organisation", func(t *testing.T) {
		authURL, f := acmeOnly.authURL()
		if e := acmeOnly.errorFrom(signIn(t, newWebClient(t), srv, authURL, other), f); e != "access_denied" {
			t.Errorf("error %q, want access_denied", e)
		}
		authURL, f = acmeOnly.authURL()
		acmeOnly.exchange(acmeOnly.codeFrom(signIn(t, newWebClient(t), srv, authURL, as[2]), f), f)
	})
}

var (
	totpSecret = regexp.MustCompile(`id="totp-secret">([A-Za-z2-7 ]+)<`)
)

// TestOIDCTwoStepLedThroughEnrolment: an account without a second step that
// a client asks two-step of (acr_values) is led through enrolment by the
// pages, then back to the client with acr two-step; a client made with
// --require-two-step gets the same; a session that proved only the password
// never yields acr two-step (OP-04, ORG-01).
func TestOIDCTwoStepLedThroughEnrolment(t *testing.T) {
	dir, env, srv := startOIDC(t)
	org := orgOf(t, dir, env, prepare(t, dir, env, "acme", 1)[0].email)
	if r := runCmd(t, dir, env, "pw for joe is long\n", "user", "create", "--org", org, "--email", "joe@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("user create: %+v", r)
	}
	notes := newRP(t, dir, env, srv, "notes")
	strict := newRP(t, dir, env, srv, "strict", "--require-two-step")
	b := newWebClient(t)

	// The password alone: acr password, never more.
	authURL, f := notes.authURL()
	b.do("GET", authURL, nil)
	_, at, _ := b.do("POST", srv.url+"/sign-in", url.Values{"email": {"joe@example.com"}, "password": {"pw for joe is long"}})
	_, _, c := notes.exchange(notes.codeFrom(at, f), f)
	if c.ACR != "urn:twostep:acr:password" || !cmp.Equal(c.AMR, []string{"pwd"}) {
		t.Errorf("password only: acr %q amr %v", c.ACR, c.AMR)
	}
	// That session does not satisfy two-step: prompt=none says so without a page.
	authURL, f = strict.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	_, at, _ = b.do("GET", authURL, nil)
	if e := strict.errorFrom(at, f); e != "interaction_required" {
		t.Errorf("prompt=none for two-step with a password session: %q, want interaction_required", e)
	}

	// acr_values two-step: the pages lead through enrolment, then back.
	authURL, f = notes.authURL(oauth2.SetAuthURLParam("acr_values", "urn:twostep:acr:two-step"))
	status, at, page := b.do("GET", authURL, nil)
	if status != 200 || !strings.Contains(at, "/sign-in?auth_request=") {
		t.Fatalf("a session without two-step was reused: %s", at)
	}
	_, at, _ = b.do("POST", srv.url+"/sign-in", url.Values{"email": {"joe@example.com"}, "password": {"pw for joe is long"}})
	if !strings.HasSuffix(at, "/sign-in/enrol") {
		t.Fatalf("two-step asked of an account without it led to %s, want the enrolment", at)
	}
	_, at, page = b.do("POST", srv.url+"/sign-in/enrol/totp", url.Values{})
	m := totpSecret.FindStringSubmatch(page)
	if m == nil || !strings.Contains(at, "/sign-in/enrol/totp/") {
		t.Fatalf("no authenticator secret on %s", at)
	}
	joe := &account{secret: strings.ToUpper(strings.ReplaceAll(m[1], " ", ""))}
	b.do("POST", at, url.Values{"code": {joe.code(t)}})
	_, at, _ = b.do("POST", srv.url+"/sign-in/enrol/complete", url.Values{})
	_, _, c = notes.exchange(notes.codeFrom(at, f), f)
	if c.ACR != "urn:twostep:acr:two-step" || !cmp.Equal(c.AMR, []string{"pwd", "otp"}) {
		t.Errorf("after enrolment: acr %q amr %v", c.ACR, c.AMR)
	}
	// That session satisfies the client that always requires two-step.
	authURL, f = strict.authURL()
	_, at, _ = b.do("GET", authURL, nil)
	if _, _, c := strict.exchange(strict.codeFrom(at, f), f); c.ACR != "urn:twostep:acr:two-step" {
		t.Errorf("--require-two-step client: acr %q", c.ACR)
	}
}

// orgOf returns the slug-less organisation id of the account's organisation,
// read with the CLI's list of… the e-mail's domain: bench prepare names it.
func orgOf(t *testing.T, dir string, env []string, email string) string {
	t.Helper()
	_, domain, _ := strings.Cut(email, "@")
	return strings.TrimSuffix(domain, ".invalid")
}

// TestReadmeOIDC runs the README's "Use Twostep from your product" commands:
// the client create line with the real binary, and the discovery curl line
// against a real server.
func TestReadmeOIDC(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Use Twostep from your product\n")
	if start < 0 {
		t.Fatal(`the README has no "Use Twostep from your product" section`)
	}
	section = section[start+1:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	var create, discovery string
	for _, l := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(l, "twostep oidc client create "):
			create = l
		case strings.HasPrefix(l, "curl ") && strings.Contains(l, "/.well-known/openid-configuration"):
			discovery = l
		}
	}
	if create == "" || discovery == "" {
		t.Fatal("the section lacks the client create command or the discovery curl line")
	}
	dir, env, srv := startOIDC(t)
	sh := exec.Command("sh", "-c", strings.Replace(create, "twostep ", binary+" ", 1))
	sh.Dir, sh.Env = dir, append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := sh.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 2 || !strings.HasPrefix(lines[0], "cli_") || len(lines[1]) < 43 {
		t.Fatalf("%s: %v\n%s", create, err, out)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is not installed")
		}
		t.Skip("curl is not installed")
	}
	line := strings.Replace(discovery, "localhost:8080", strings.TrimPrefix(srv.url, "http://"), 1)
	out, err = exec.Command("sh", "-c", line).Output()
	if err != nil || !strings.Contains(string(out), `"authorization_endpoint":"`+srv.url+`/oauth2/authorize"`) ||
		!strings.Contains(string(out), `"code_challenge_methods_supported":["S256"]`) {
		t.Errorf("%s: %v\n%s", line, err, out)
	}
}
