package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
	"github.com/twostep/twostep/internal/web"
)

// Forward auth (API.md §8) over the real handler and service: Twostep at
// auth.twostep.test, a protected app at app.twostep.test, both reached through
// a client whose every host name leads to the test server, with a real cookie
// jar: the forward-auth cookie goes to the app's host only because its
// Domain says so, and the session cookie does not.

const (
	faBase   = "http://auth.twostep.test"
	faApp    = "http://app.twostep.test"
	faDomain = "twostep.test"
)

// newForwardAPI is newAPI with forward auth set up (TWOSTEP_COOKIE_DOMAIN),
// on a clock near real time: the cookie jar judges expiry by it.
func newForwardAPI(t *testing.T) *api {
	t.Helper()
	a := forwardServer(t)
	srv := httptest.NewServer(a.h)
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, svc: a.svc, clock: a.clock, db: a.db, sealer: a.sealer}
}

type forwardParts struct {
	svc    *twostep.Service
	h      http.Handler
	clock  *twosteptest.Clock
	db     *store.DB
	sealer *twostep.Sealer
}

// forwardServer makes the real handler over the real service and a fresh
// SQLite store, with one organisation whose owner is owner@example.com.
func forwardServer(t testing.TB) forwardParts {
	t.Helper()
	db := storetest.SQLite(t)
	line, _ := twostep.NewKeyLine("k1", rand.Reader)
	keys, _ := twostep.ParseKeys([]byte(line))
	sealer, err := twostep.NewSealer(keys, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clock := twosteptest.NewClock(time.Now().UTC().Truncate(30 * time.Second))
	svc, err := twostep.New(twostep.Options{Store: db, Sealer: sealer, Rand: rand.Reader, Clock: clock.Now,
		Methods: []twostep.Method{twostep.MethodTOTP}, BaseURL: faBase, CookieDomain: faDomain,
		Hasher: twostep.NewHasher(twostep.Argon2Params{Memory: 64, Time: 1, Threads: 1}, 4, 100, time.Second, rand.Reader)})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(faBase)
	h, err := web.New(web.Options{Service: svc, BaseURL: base, Clock: clock.Now, CookieDomain: faDomain})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := svc.CreateOrg(context.Background(), twostep.NewOrg{Name: "Cloud Legal", OwnerEmail: "owner@example.com", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	return forwardParts{svc: svc, h: h, clock: clock, db: db, sealer: sealer}
}

// faBrowser is a browser with a cookie jar that follows no redirects and
// reaches the test server under any host name.
type faBrowser struct {
	t   *testing.T
	c   *http.Client
	jar *cookiejar.Jar
}

func (a *api) faBrowser() *faBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		a.t.Fatal(err)
	}
	addr := a.srv.Listener.Addr().String()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	a.t.Cleanup(tr.CloseIdleConnections)
	return &faBrowser{t: a.t.(*testing.T), jar: jar, c: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request to rawURL and returns the response with its body read.
func (b *faBrowser) do(method, rawURL string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, string(raw)
}

// ask is the protected app's proxy asking Twostep about a request that
// carries the app host's cookies.
func (b *faBrowser) ask(path string, header ...string) *http.Response {
	b.t.Helper()
	res, _ := b.do("GET", faApp+path, nil, header...)
	return res
}

func wantStatus(t *testing.T, res *http.Response, status int, what string) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s: status %d, want %d (Location %q)", what, res.StatusCode, status, res.Header.Get("Location"))
	}
}

func remote(res *http.Response) map[string]string {
	out := map[string]string{}
	for _, h := range []string{"Remote-User", "Remote-Email", "Remote-Groups", "Remote-AMR"} {
		out[h] = res.Header.Get(h)
	}
	return out
}

func cookieNamed(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestForwardAuthPassword follows a visitor of a protected app through the
// Traefik-style redirect, a sign-in with the password alone (the account has
// no method), and back; then require=two-step and a required policy refuse
// that session, and signing out ends the forward-auth token with it.
func TestForwardAuthPassword(t *testing.T) { // FL-04, FL-05, SU-07
	a := newForwardAPI(t)
	b := a.faBrowser()

	wantStatus(t, b.ask("/api/v1/authz/auth-request"), 401, "nginx, nobody signed in")
	res := b.ask("/api/v1/authz/auth-request", "X-Original-URL", "http://app.twostep.test/reports?q=1&r=2")
	wantStatus(t, res, 401, "nginx naming the page asked for")
	if got, want := res.Header.Get("Location"), faBase+"/sign-in?rd=http%3A%2F%2Fapp.twostep.test%2Freports%3Fq%3D1%26r%3D2"; got != want {
		t.Errorf("nginx's 401 says to sign in at %q, want %q", got, want)
	}
	res = b.ask("/api/v1/authz/forward-auth", "X-Forwarded-Proto", "http", "X-Forwarded-Host", "app.twostep.test",
		"X-Forwarded-Uri", "/reports?q=1")
	wantStatus(t, res, 302, "Traefik, nobody signed in")
	signIn := faBase + "/sign-in?rd=http%3A%2F%2Fapp.twostep.test%2Freports%3Fq%3D1"
	if got := res.Header.Get("Location"); got != signIn {
		t.Fatalf("Traefik's redirect goes to %q, want %q", got, signIn)
	}

	res, _ = b.do("GET", signIn, nil)
	wantStatus(t, res, 200, "sign-in page")
	// The sign-in's last redirect leaves for the app: browsers hold it to form-action.
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://*.twostep.test:* http://*.twostep.test:*;") {
		t.Errorf("CSP %q does not let the sign-in return to the apps", csp)
	}
	res, _ = b.do("POST", faBase+"/sign-in", url.Values{"email": {"owner@example.com"}, "password": {apiPassword}})
	wantStatus(t, res, 303, "sign-in")
	if got := res.Header.Get("Location"); got != faApp+"/reports?q=1" {
		t.Fatalf("sign-in returns to %q, want the page asked for", got)
	}
	fa := cookieNamed(res.Cookies(), "twostep_fa")
	if fa == nil || fa.Domain != faDomain || !fa.HttpOnly || fa.SameSite != http.SameSiteLaxMode || fa.Secure || fa.Path != "/" {
		t.Fatalf("forward-auth cookie %+v, want Domain=%s, HttpOnly, SameSite=Lax, not Secure under http", fa, faDomain)
	}
	session := cookieNamed(res.Cookies(), "twostep_session")
	if session == nil || session.Domain != "" || session.Value == fa.Value {
		t.Fatalf("session cookie %+v must be host-only and differ from the forward-auth token", session)
	}
	app, _ := url.Parse(faApp)
	if c := cookieNamed(b.jar.Cookies(app), "twostep_session"); c != nil {
		t.Fatal("the app's host receives the session cookie")
	}

	res = b.ask("/api/v1/authz/auth-request")
	wantStatus(t, res, 200, "nginx, signed in")
	owner, err := a.db.AccountByEmail(context.Background(), "owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Remote-User": owner.ID, "Remote-Email": "owner@example.com",
		"Remote-Groups": "org:cloud-legal,role:owner", "Remote-AMR": "pwd"}
	if diff := cmp.Diff(want, remote(res)); diff != "" {
		t.Errorf("Remote-* headers (-want +got):\n%s", diff)
	}
	wantStatus(t, b.ask("/api/v1/authz/forward-auth"), 200, "Traefik, signed in")

	// The session token itself is not a forward-auth token, nor the reverse.
	st, _, _ := a.call("GET", "/api/v1/account", fa.Value, nil)
	if st != 401 {
		t.Errorf("the forward-auth token opens the API: %d", st)
	}

	// require=two-step: a session without a second step counts as none.
	wantStatus(t, b.ask("/api/v1/authz/auth-request?require=two-step"), 401, "nginx, require=two-step, password only")
	res = b.ask("/api/v1/authz/forward-auth?require=two-step", "X-Forwarded-Proto", "http",
		"X-Forwarded-Host", "app.twostep.test", "X-Forwarded-Uri", "/admin")
	wantStatus(t, res, 302, "Traefik, require=two-step, password only")
	if got := res.Header.Get("Location"); got != faBase+"/sign-in?rd=http%3A%2F%2Fapp.twostep.test%2Fadmin" {
		t.Errorf("Traefik's redirect goes to %q", got)
	}
	res, body := b.do("GET", faApp+"/api/v1/authz/auth-request?require=everything", nil)
	if res.StatusCode != 400 || !strings.Contains(body, `"field":"require"`) || !strings.Contains(body, "require_two_step") {
		t.Errorf("require=everything: %d %s, want 400 naming the field", res.StatusCode, body)
	}

	// A signed-in browser sent back to sign in with a session that has no
	// second step is not bounced back to the app, round and round.
	res, _ = b.do("GET", faBase+"/sign-in?rd="+url.QueryEscape(faApp+"/admin"), nil)
	wantStatus(t, res, 303, "sign-in page, signed in without a second step")
	if got := res.Header.Get("Location"); got != "/account/security" {
		t.Errorf("signed in without a second step, rd leads to %q, want the security settings", got)
	}

	// A required policy makes the same session count as none, asked or not.
	ctx := context.Background()
	org, err := a.db.OrgBySlug(ctx, "cloud-legal")
	if err != nil {
		t.Fatal(err)
	}
	org.Policy.TwoStep = twostep.PolicyRequired
	if err := a.db.UpdateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, b.ask("/api/v1/authz/auth-request"), 401, "nginx, required policy, password only")
	org.Policy.TwoStep = twostep.PolicyOptional
	if err := a.db.UpdateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, b.ask("/api/v1/authz/auth-request"), 200, "nginx, optional policy again")

	// Signing out ends the session, and the forward-auth token with it,
	// even if the cookie stayed behind.
	res, _ = b.do("POST", faBase+"/sign-out", url.Values{})
	wantStatus(t, res, 303, "sign-out")
	if c := cookieNamed(res.Cookies(), "twostep_fa"); c == nil || c.MaxAge >= 0 || c.Domain != faDomain {
		t.Errorf("sign-out leaves the forward-auth cookie: %+v", c)
	}
	b.jar.SetCookies(app, []*http.Cookie{fa})
	wantStatus(t, b.ask("/api/v1/authz/auth-request"), 401, "nginx, signed out")
}

// TestForwardAuthTwoStep signs in with password and TOTP through rd, passes
// require=two-step, and comes back from the sign-in page at once while
// signed in, with a new forward-auth cookie when it lost its own.
func TestForwardAuthTwoStep(t *testing.T) { // FL-02, FL-04
	a := newForwardAPI(t)
	secret, _, _ := a.enrol()
	b := a.faBrowser()

	rd := faApp + "/reports"
	res, _ := b.do("GET", faBase+"/sign-in?rd="+url.QueryEscape(rd), nil)
	wantStatus(t, res, 200, "sign-in page")
	res, _ = b.do("POST", faBase+"/sign-in", url.Values{"email": {"owner@example.com"}, "password": {apiPassword}})
	wantStatus(t, res, 303, "password")
	if cookieNamed(res.Cookies(), "twostep_fa") != nil {
		t.Fatal("the password alone earned a forward-auth cookie")
	}
	res, _ = b.do("POST", faBase+"/sign-in/verify", url.Values{"method": {"totp"}, "code": {a.code(secret)}})
	wantStatus(t, res, 303, "TOTP code")
	if got := res.Header.Get("Location"); got != rd {
		t.Fatalf("the second step returns to %q, want %q", got, rd)
	}
	res = b.ask("/api/v1/authz/auth-request?require=two-step")
	wantStatus(t, res, 200, "nginx, require=two-step, TOTP proven")
	if got := res.Header.Get("Remote-AMR"); got != "pwd,otp" {
		t.Errorf("Remote-AMR %q, want pwd,otp", got)
	}

	// Signed in already: straight back, the cookie as it was.
	res, _ = b.do("GET", faBase+"/sign-in?rd="+url.QueryEscape(faApp+"/other"), nil)
	wantStatus(t, res, 303, "sign-in page, signed in")
	if got := res.Header.Get("Location"); got != faApp+"/other" || cookieNamed(res.Cookies(), "twostep_fa") != nil {
		t.Errorf("signed in, rd leads to %q with cookies %v", got, res.Cookies())
	}
	// Its forward-auth cookie lost: a new one, bound to the same session.
	app, _ := url.Parse(faApp)
	b.jar.SetCookies(app, []*http.Cookie{{Name: "twostep_fa", Domain: faDomain, Path: "/", MaxAge: -1}})
	wantStatus(t, b.ask("/api/v1/authz/auth-request"), 401, "nginx, cookie lost")
	res, _ = b.do("GET", faBase+"/sign-in?rd="+url.QueryEscape(faApp+"/other"), nil)
	wantStatus(t, res, 303, "sign-in page, signed in, cookie lost")
	if fa := cookieNamed(res.Cookies(), "twostep_fa"); res.Header.Get("Location") != faApp+"/other" || fa == nil || fa.Domain != faDomain {
		t.Fatalf("signed in without a forward-auth cookie: to %q with %v", res.Header.Get("Location"), res.Cookies())
	}
	wantStatus(t, b.ask("/api/v1/authz/auth-request?require=two-step"), 200, "nginx, new cookie")

	// A foreign rd is dropped: the sign-in ends on Twostep's own pages.
	b2 := a.faBrowser()
	res, _ = b2.do("GET", faBase+"/sign-in?rd="+url.QueryEscape("https://twostep.test.evil.test/"), nil)
	wantStatus(t, res, 200, "sign-in page, foreign rd")
	if cookieNamed(res.Cookies(), "twostep_rd") != nil {
		t.Error("a foreign rd was kept")
	}
	b2.do("POST", faBase+"/sign-in", url.Values{"email": {"owner@example.com"}, "password": {apiPassword}})
	a.clock.Advance(30 * time.Second)
	res, _ = b2.do("POST", faBase+"/sign-in/verify", url.Values{"method": {"totp"}, "code": {a.code(secret)}})
	wantStatus(t, res, 303, "TOTP code, foreign rd")
	if got := res.Header.Get("Location"); got != "/account/security" {
		t.Errorf("with a foreign rd the sign-in ends at %q", got)
	}
}

// TestForwardAuthIdle: the answers keep the session alive, writing its idle
// time at most once a minute.
func TestForwardAuthIdle(t *testing.T) { // FL-06, FL-07
	a := newForwardAPI(t)
	b := a.faBrowser()
	res, _ := b.do("POST", faBase+"/sign-in", url.Values{"email": {"owner@example.com"}, "password": {apiPassword}})
	wantStatus(t, res, 303, "sign-in")
	token := cookieNamed(res.Cookies(), "twostep_session").Value
	ctx := context.Background()
	lastSeen := func() time.Time {
		s, err := a.db.SessionByToken(ctx, twostep.HashToken(token))
		if err != nil {
			t.Fatal(err)
		}
		return s.LastSeenAt
	}
	start := lastSeen()

	a.clock.Advance(30 * time.Second)
	wantStatus(t, b.ask("/api/v1/authz/auth-request"), 200, "30 s later")
	if got := lastSeen(); !got.Equal(start) {
		t.Errorf("30 s later the idle time was written (%v → %v)", start, got)
	}
	a.clock.Advance(50 * time.Minute)
	wantStatus(t, b.ask("/api/v1/authz/auth-request"), 200, "50 min later")
	if got := lastSeen(); !got.Equal(a.clock.Now()) {
		t.Errorf("50 min later last seen %v, want %v", got, a.clock.Now())
	}
	a.clock.Advance(50 * time.Minute) // past the first idle expiry, within the moved one
	wantStatus(t, b.ask("/api/v1/authz/auth-request"), 200, "100 min later")
	a.clock.Advance(61 * time.Minute)
	wantStatus(t, b.ask("/api/v1/authz/auth-request"), 401, "idle for 61 min")
}

// BenchmarkForwardAuth is the server's time for one nginx auth_request
// answer: the real handler, its middleware and the service over SQLite, for
// a signed-in session (no network). Most answers write nothing: the idle time
// moves at most once a minute, and the clock here stands still.
func BenchmarkForwardAuth(b *testing.B) {
	p := forwardServer(b)
	res, err := p.svc.SignIn(b.Context(), twostep.SignInRequest{Email: "owner@example.com", Password: apiPassword})
	if err != nil || res.Session == nil || res.Session.ForwardToken == "" {
		b.Fatalf("sign-in: %+v, %v", res, err)
	}
	req := httptest.NewRequest("GET", "/api/v1/authz/auth-request", nil)
	req.AddCookie(&http.Cookie{Name: "twostep_fa", Value: res.Session.ForwardToken})
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		p.h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// TestForwardAuthEnrol: under a required policy, a sign-in started by a
// proxy's redirect goes through the enrolment it requires and only then
// returns to the page asked for, with a session the proxy accepts.
func TestForwardAuthEnrol(t *testing.T) { // ORG-01
	a := newForwardAPI(t)
	ctx := context.Background()
	org, err := a.db.OrgBySlug(ctx, "cloud-legal")
	if err != nil {
		t.Fatal(err)
	}
	org.Policy.TwoStep = twostep.PolicyRequired
	if err := a.db.UpdateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	b := a.faBrowser()
	rd := faApp + "/wiki"
	res, _ := b.do("GET", faBase+"/sign-in?rd="+url.QueryEscape(rd), nil)
	wantStatus(t, res, 200, "sign-in page")
	res, _ = b.do("POST", faBase+"/sign-in", url.Values{"email": {"owner@example.com"}, "password": {apiPassword}})
	wantStatus(t, res, 303, "password")
	if got := res.Header.Get("Location"); got != "/sign-in/enrol" {
		t.Fatalf("under a required policy the password leads to %q", got)
	}
	res, _ = b.do("POST", faBase+"/sign-in/enrol/totp", url.Values{})
	wantStatus(t, res, 303, "add an app")
	page := faBase + res.Header.Get("Location")
	_, body := b.do("GET", page, nil)
	m := regexp.MustCompile(`id="totp-secret">([^<]+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no key on the enrolment page:\n%s", body)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	res, _ = b.do("POST", page, url.Values{"code": {a.code(secret)}})
	wantStatus(t, res, 200, "the app's first code")
	wantStatus(t, b.ask("/api/v1/authz/auth-request"), 401, "nginx, enrolment not completed")
	res, _ = b.do("POST", faBase+"/sign-in/enrol/complete", url.Values{})
	wantStatus(t, res, 303, "complete the sign-in")
	if got := res.Header.Get("Location"); got != rd {
		t.Fatalf("the enrolment ends at %q, want %q", got, rd)
	}
	res = b.ask("/api/v1/authz/auth-request?require=two-step")
	wantStatus(t, res, 200, "nginx, enrolled")
	if got := res.Header.Get("Remote-AMR"); got != "pwd,otp" {
		t.Errorf("Remote-AMR %q after enrolment, want pwd,otp", got)
	}
}
