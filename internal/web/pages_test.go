package web

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

// clock is the time the service and the server see; tests move it with Add.
type clock struct{ *twosteptest.Clock }

func (c clock) Add(d time.Duration) { c.Advance(d) }

// errorLog keeps what the server logged at error level: a page that fails to
// render or misses a translation shows up here.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }

type env struct {
	svc    *twostep.Service
	db     *store.DB
	sealer *twostep.Sealer
	clock  *clock
	srv    *httptest.Server
	inbox  []mail // every message delivered so far, oldest first
}

// mailFrom is the sender address the pages tell people to look for.
const mailFrom = "no-reply@karbon.example"

// newEnv runs a Server over a Service over a fresh SQLite database; opts
// change the Server's options (the brand, say).
func newEnv(t *testing.T, opts ...func(*Options)) *env {
	t.Helper()
	return newEnvWith(t, envOptions{}, opts...)
}

// envOptions change what newEnvWith's server offers: its base URL (default
// http://127.0.0.1, where WebAuthn cannot work), and passkeys with it.
type envOptions struct {
	BaseURL        string
	Authenticators twostep.Authenticators // with it, the server offers webauthn too
}

func newEnvWith(t *testing.T, o envOptions, change ...func(*Options)) *env {
	t.Helper()
	if o.BaseURL == "" {
		o.BaseURL = "http://127.0.0.1"
	}
	base, err := url.Parse(o.BaseURL)
	if err != nil {
		t.Fatal(err)
	}
	methods := []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodSMS, twostep.MethodVoice}
	if o.Authenticators != nil {
		methods = append(methods, twostep.MethodWebAuthn)
	}
	db := storetest.SQLite(t)
	sealer := twosteptest.NewSealer(t)
	hasher := twostep.NewHasher(twosteptest.CheapArgon2, 4, 64, time.Second, rand.Reader)
	// Real time (cookie jars judge expiry by it), on a TOTP step boundary.
	clk := &clock{twosteptest.NewClock(time.Now().UTC().Truncate(30 * time.Second))}
	svc, err := twostep.New(twostep.Options{Store: db, Sealer: sealer, Hasher: hasher, Rand: rand.Reader, Clock: clk.Now,
		Methods: methods, BaseURL: o.BaseURL, Authenticators: o.Authenticators, DescribeAgent: DescribeUserAgent})
	if err != nil {
		t.Fatal(err)
	}
	logs := &errorLog{}
	opts := Options{Service: svc, Logger: slog.New(logs), BaseURL: base,
		Dev: true, Clock: clk.Now, MailFrom: mailFrom}
	for _, f := range change {
		f(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		for _, m := range logs.msgs {
			t.Errorf("server logged an error: %s", m)
		}
	})
	return &env{svc: svc, db: db, sealer: sealer, clock: clk, srv: srv}
}

// mail is a message the outbox delivered (an e-mail, a text message or a
// call), with its data opened.
type mail struct {
	Channel, To, Template, Locale string
	Data                          map[string]string
}

// deliver does what the delivery worker does with every message due now:
// opens its sealed data, keeps it in the inbox and records it sent. With
// fail, the provider refuses each for good instead.
func (e *env) deliver(t *testing.T, fail bool) {
	t.Helper()
	e.svc.Wait() // password-reset requests queue their link after answering
	msgs := twosteptest.Drain(t, e.db, e.sealer, e.clock.Now(), func(m *twostep.OutboxMessage, _ map[string]string) {
		if fail {
			m.Status, m.SentAt, m.Permanent, m.Error = twostep.MessageFailed, time.Time{}, true, "550 mailbox unavailable"
		}
	})
	for _, m := range msgs {
		if !fail {
			e.inbox = append(e.inbox, mail{Channel: m.Channel, To: m.To, Template: m.Template, Locale: m.Locale, Data: m.Data})
		}
	}
}

// mailed delivers what is due and returns the data of the newest message with
// template to address; key "code" holds a code, "link" a link.
func (e *env) mailed(t *testing.T, to, template string) map[string]string {
	t.Helper()
	return e.received(t, "email", to, template)
}

// received delivers what is due and returns the data of the newest message by
// channel ("email", "sms", "voice") with template to address.
func (e *env) received(t *testing.T, channel, to, template string) map[string]string {
	t.Helper()
	e.deliver(t, false)
	for i := len(e.inbox) - 1; i >= 0; i-- {
		if m := e.inbox[i]; m.Channel == channel && m.To == to && m.Template == template {
			return m.Data
		}
	}
	t.Fatalf("no %s message by %s to %s in %+v", template, channel, to, e.inbox)
	return nil
}

// browser is one person's browser: a cookie jar, no automatic redirects, and
// every page it saw, for the checks that hold on all pages.
type browser struct {
	t      *testing.T
	e      *env
	c      *http.Client
	lang   string
	origin string
	ua     string // the User-Agent header; "" is Go's
	seen   map[string]string
}

func (e *env) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, e: e, c: c, seen: map[string]string{}}
}

type answer struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(method, path string, form url.Values) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	if b.ua != "" {
		req.Header.Set("User-Agent", b.ua)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	a := answer{status: res.StatusCode, location: res.Header.Get("Location"), body: string(data), header: res.Header}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") && a.location == "" {
		b.seen[method+" "+path] = a.body
	}
	return a
}

func (b *browser) get(path string) answer { b.t.Helper(); return b.do("GET", path, nil) }
func (b *browser) post(path string, form url.Values) answer {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return b.do("POST", path, form)
}

// want checks an answer's status, where it redirects to, and words it shows.
func want(t *testing.T, a answer, status int, location string, contains ...string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; location %q; body:\n%s", a.status, status, a.location, a.body)
	}
	if a.location != location {
		t.Fatalf("location %q, want %q", a.location, location)
	}
	text := html.UnescapeString(a.body)
	for _, c := range contains {
		if !strings.Contains(text, c) {
			t.Errorf("page does not say %q; body:\n%s", c, a.body)
		}
	}
}

func wantNot(t *testing.T, a answer, absent ...string) {
	t.Helper()
	text := html.UnescapeString(a.body)
	for _, c := range absent {
		if strings.Contains(text, c) {
			t.Errorf("page says %q and should not", c)
		}
	}
}

func find(t *testing.T, body, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in:\n%s", pattern, body)
	}
	return html.UnescapeString(m[1])
}

const (
	orgName  = "Karbon Accounting"
	ownerPwd = "correct horse battery"
)

var ownerEmail = "owner@karbon.example"

// setUp runs the first-run page and returns the owner's browser, signed in.
func (e *env) setUp(t *testing.T) *browser {
	t.Helper()
	token, err := e.svc.SetupToken(context.Background())
	if err != nil || token == "" {
		t.Fatalf("SetupToken = %q, %v", token, err)
	}
	b := e.browser(t)
	want(t, b.get("/setup/"+token), 200, "", "Set up Twostep", "At least 8 characters")
	a := b.post("/setup/"+token, url.Values{"name": {orgName}, "email": {ownerEmail}, "password": {ownerPwd}})
	want(t, a, 303, "/account/security?done=welcome")
	return b
}

// secret reads the key the authenticator page shows.
func secret(t *testing.T, body string) []byte {
	t.Helper()
	key := strings.ReplaceAll(find(t, body, `id="totp-secret">([^<]+)<`), " ", "")
	s, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key)
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	return s
}

func (e *env) code(s []byte) string { return twostep.TOTPCode(s, twostep.TOTPStep(e.clock.Now())) }

func wrongCode(right string) string {
	b := []byte(right)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// enrol adds an authenticator app from the security page and returns its key
// and the recovery codes page.
func (e *env) enrol(t *testing.T, b *browser) ([]byte, answer) {
	t.Helper()
	a := b.post("/account/security/totp", nil)
	want(t, a, 303, a.location)
	if !strings.HasPrefix(a.location, "/account/security/totp/fac_") {
		t.Fatalf("adding an app goes to %q", a.location)
	}
	page := a.location
	a = b.get(page)
	want(t, a, 200, "", "Google Authenticator", "Microsoft Authenticator", "Authy", "Okta Verify",
		"Enter the 6-digit code the app shows", `src="data:image/png;base64,`)
	key := secret(t, a.body)

	a = b.post(page, url.Values{"code": {wrongCode(e.code(key))}})
	want(t, a, 400, "", "This code is wrong")
	if got := secret(t, a.body); string(got) != string(key) {
		t.Errorf("after a wrong code the key changed")
	}
	a = b.post(page, url.Values{"code": {e.code(key)}})
	return key, a
}

func recoveryCodes(t *testing.T, body string) []string {
	t.Helper()
	list := find(t, body, `(?s)<ol id="recovery-codes"[^>]*>(.*?)</ol>`)
	var codes []string
	for _, m := range regexp.MustCompile(`<code>([^<]+)</code>`).FindAllStringSubmatch(list, -1) {
		codes = append(codes, m[1])
	}
	return codes
}

func (b *browser) signIn(t *testing.T, email, password string) answer {
	t.Helper()
	return b.post("/sign-in", url.Values{"email": {email}, "password": {password}})
}

func TestSetupLandsOnSecurityPage(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	a := b.get("/account/security?done=welcome")
	want(t, a, 200, "", "Organisation: "+orgName, "Welcome!", "Two-step verification is off.",
		"Add an authenticator app", "Signed in as "+ownerEmail, `<html lang="en">`, "<main")
	wantNot(t, a, "Get new codes")
	want(t, b.get("/"), 303, "/account/security")

	// The link works once.
	token, err := e.svc.SetupToken(context.Background())
	if err != nil || token != "" {
		t.Fatalf("SetupToken after setup = %q, %v; want none", token, err)
	}
	want(t, e.browser(t).get("/setup/used-or-unknown"), 410, "", "This link no longer works", "twostep org create")
}

func TestSetupFieldErrors(t *testing.T) {
	e := newEnv(t)
	token, err := e.svc.SetupToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, email, password string
		field, says           string
	}{
		{"Karbon", "not-an-address", ownerPwd, "email", "Enter an e-mail address such as name@example.com."},
		{"Karbon", ownerEmail, "short", "password", "Use at least 8 characters."},
		{"Karbon", ownerEmail, "password123", "password", "one of the most common passwords"},
		{"", ownerEmail, ownerPwd, "name", "Enter a name of 1 to 100 characters."},
	}
	for _, tt := range tests {
		t.Run(tt.field+"/"+tt.password, func(t *testing.T) {
			b := e.browser(t)
			a := b.post("/setup/"+token, url.Values{"name": {tt.name}, "email": {tt.email}, "password": {tt.password}})
			want(t, a, 400, "", tt.says, `id="`+tt.field+`-error" role="alert"`)
			if !regexp.MustCompile(`<input id="` + tt.field + `"[^>]* autofocus aria-invalid="true"`).MatchString(a.body) {
				t.Errorf("the %s field does not take the focus:\n%s", tt.field, a.body)
			}
			wantNot(t, a, tt.password+`"`)
		})
	}
}

func TestSignInWrongPassword(t *testing.T) {
	e := newEnv(t)
	e.setUp(t)
	for _, email := range []string{ownerEmail, "nobody@karbon.example"} {
		b := e.browser(t)
		a := b.signIn(t, email, "not the password")
		want(t, a, 401, "", "The e-mail address or the password is wrong.", `value="`+email+`"`, `role="alert"`)
		wantNot(t, a, "not the password", "no account", "unknown")
	}
}

// TestFormNotUTF8: a form field that is not valid UTF-8 reaches the service as
// text, with U+FFFD where the bad bytes were, and comes back on the page so;
// PostgreSQL would refuse the raw bytes in the middle of a sign-in.
func TestFormNotUTF8(t *testing.T) {
	e := newEnv(t)
	e.setUp(t)
	b := e.browser(t)
	a := b.signIn(t, "nobody\xff@karbon.example", "not the password")
	want(t, a, 401, "", "The e-mail address or the password is wrong.", "value=\"nobody\uFFFD@karbon.example\"")
	wantNot(t, a, "\xff")
}

func TestJourney(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	key, a := e.enrol(t, b)

	// The first method turns two-step on and shows the recovery codes once.
	want(t, a, 200, "", "Two-step verification is on.", "Your recovery codes", "I have saved them", `href="/account/security?done=codes"`)
	codes := recoveryCodes(t, a.body)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10: %q", len(codes), codes)
	}
	href := find(t, a.body, `<a[^>]*download="twostep-recovery-codes.txt"[^>]*href="([^"]+)"`)
	b64, ok := strings.CutPrefix(href, "data:text/plain;charset=utf-8;base64,")
	if !ok {
		t.Fatalf("download link %q", href)
	}
	file, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	wantFile := "Twostep recovery codes for " + ownerEmail + "\n\n" + strings.Join(codes, "\n") +
		"\n\nEach code works once. Keep them somewhere safe, away from your phone.\n"
	if diff := cmp.Diff(wantFile, string(file)); diff != "" {
		t.Errorf("downloaded file (-want +got):\n%s", diff)
	}
	want(t, b.get("/account/security?done=codes"), 200, "", "Two-step verification is on.", "You have 10 recovery codes left.",
		"Get new codes", "Authenticator app", "(default)", "Two-step verification turned on", "See all activity")

	// Sign out, and in again with the app.
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.get("/sign-in?done=signed_out"), 200, "", "You are signed out.")
	want(t, b.get("/account/security"), 303, "/sign-in")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	a = b.get("/sign-in/verify")
	want(t, a, 200, "", "Open your authenticator app", `autocomplete="one-time-code"`, `inputmode="numeric"`,
		"Use a recovery code", "Ask your organisation's administrator to reset two-step")
	wantNot(t, a, "sgn_") // no token in the page
	// The step used at enrolment is spent: wait for the next.
	e.clock.Add(30 * time.Second)
	want(t, b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {wrongCode(e.code(key))}}), 400, "", "Wrong code. 4 tries left.")
	want(t, b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {e.code(key)}}), 303, "/account/security")
	a = b.get("/account/security")
	want(t, a, 200, "", "Two-step verification is on.", "Turned on "+e.clock.Now().Format("2 January 2006"))

	// A recovery code signs in once.
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	a = b.get("/sign-in/verify?method=recovery_code")
	want(t, a, 200, "", "Enter one of the recovery codes", `autocomplete="off"`, "Use your authenticator app instead")
	wantNot(t, a, `inputmode="numeric"`)
	want(t, b.post("/sign-in/verify", url.Values{"method": {"recovery_code"}, "code": {codes[0]}}), 303, "/account/security?done=recovery_code")
	want(t, b.get("/account/security"), 200, "", "You have 9 recovery codes left.", "Recovery code used")
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	want(t, b.post("/sign-in/verify", url.Values{"method": {"recovery_code"}, "code": {codes[0]}}), 400, "", "Wrong code.")

	// Every page seen names the field of every input.
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

func TestVerifyWithoutSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	want(t, b.get("/sign-in/verify"), 303, "/sign-in")
	want(t, b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {"123456"}}), 303, "/sign-in?done=expired")
	want(t, b.get("/sign-in?done=expired"), 200, "", "Your sign-in expired.")
	want(t, b.get("/"), 303, "/sign-in")
	want(t, b.get("/account/activity"), 303, "/sign-in")
}

func TestConfirmIdentity(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	key, a := e.enrol(t, b)
	want(t, a, 200, "", "Your recovery codes")
	id := find(t, b.get("/account/security").body, `href="/account/security/factors/(fac_[a-z0-9]+)/remove"`)

	// The confirmation from setting up has lapsed.
	e.clock.Add(11 * time.Minute)
	remove := "/account/security/factors/" + id + "/remove"
	confirm := wantConfirm(t, b.post(remove, nil))
	action := find(t, confirm, `action=(pnd_[a-z0-9]+)`)
	a = b.get(confirm)
	want(t, a, 200, "", "Confirm it's you", "You are removing a method: Authenticator app.",
		"Afterwards you can make changes for 10 minutes", `name="password"`, `name="code"`, "Authenticator app", "Recovery code",
		`name="action" value="`+action+`"`)

	form := url.Values{"next": {"/account/security"}, "action": {action}, "password": {"wrong password"}, "method": {"totp"}, "code": {e.code(key)}}
	want(t, b.post("/account/confirm", form), 401, "", "This is not your password.", "You are removing a method")
	form.Set("password", ownerPwd)
	form.Del("code")
	want(t, b.post("/account/confirm", form), 400, "", "Two-step verification is on, so choose a method and enter its code")
	e.clock.Add(30 * time.Second)
	form.Set("code", e.code(key))
	// Confirmed: the removal goes on at once, nothing to do again.
	want(t, b.post("/account/confirm", form), 303, "/account/security?done=disabled")
	want(t, b.get("/account/security?done=disabled"), 200, "", "Two-step verification is off.", "Method removed.")
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

// wantConfirm checks that a refused change leads to the confirmation page
// with its pending action, and returns that page's path.
func wantConfirm(t *testing.T, a answer) string {
	t.Helper()
	if a.status != 303 || !regexp.MustCompile(`^/account/confirm\?action=pnd_[a-z0-9]+&next=%2Faccount%2F`).MatchString(a.location) {
		t.Fatalf("status %d to %q, want the confirmation page with a pending action", a.status, a.location)
	}
	return a.location
}

func TestConfirmNextStaysLocal(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/account/security", "/account/security"},
		{"/account/activity?before=3", "/account/activity?before=3"},
		{"//evil.example/x", ""},
		{"/\\evil.example", ""},
		{"https://evil.example/", ""},
		{"account/security", ""},
		{"", ""},
		{"/a\nb", ""},
	}
	for _, tt := range tests {
		if got := localPath(tt.next); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}

func TestNewRecoveryCodes(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	_, a := e.enrol(t, b)
	old := recoveryCodes(t, a.body)
	a = b.post("/account/security/recovery-codes", nil)
	want(t, a, 200, "", "Your recovery codes")
	codes := recoveryCodes(t, a.body)
	if len(codes) != 10 || codes[0] == old[0] {
		t.Fatalf("new codes %q after %q", codes, old)
	}
}

func TestFrench(t *testing.T) {
	e := newEnv(t)
	e.setUp(t)
	b := e.browser(t)
	b.lang = "fr-CA,fr;q=0.9,en;q=0.5"
	want(t, b.get("/sign-in"), 200, "", `<html lang="fr">`, "Se connecter", "Adresse e-mail", "Mot de passe")
	want(t, b.signIn(t, ownerEmail, "pas le bon"), 401, "", "L’adresse e-mail ou le mot de passe est incorrect.")
	b.lang = "de-DE,de;q=0.9"
	want(t, b.get("/sign-in"), 200, "", `<html lang="en">`, "Sign in")
}

func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t)
	e.setUp(t)
	b := e.browser(t)
	b.origin = "https://evil.example"
	a := b.signIn(t, ownerEmail, ownerPwd)
	if a.status != http.StatusForbidden {
		t.Fatalf("cross-origin sign-in: status %d, want 403", a.status)
	}
}

func TestActivity(t *testing.T) {
	e := newEnv(t)
	e.setUp(t)
	b := e.browser(t)
	for range activityPage/2 + 1 {
		want(t, b.signIn(t, ownerEmail, "wrong password"), 401, "")
		want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/account/security")
	}
	a := b.get("/account/activity")
	want(t, a, 200, "", "Account activity", "Signed in", "Sign-in failed (wrong password)", "127.0.0.1", `<td class="device">Go</td>`)
	older := find(t, a.body, `href="(/account/activity\?before=\d+)"`)
	a = b.get(older)
	want(t, a, 200, "", "Account created")
	want(t, b.get("/account/activity?before=nope"), 400, "")
}

func TestSetPassword(t *testing.T) {
	e := newEnv(t)
	e.setUp(t)
	acct, token, err := e.svc.CreateAccount(context.Background(), twostep.NewAccount{Org: "karbon-accounting", Email: "dave@karbon.example"})
	if err != nil || token == "" {
		t.Fatalf("CreateAccount = %v, %q, %v", acct, token, err)
	}
	b := e.browser(t)
	path := "/set-password/" + token
	want(t, b.get(path), 200, "", "Organisation: "+orgName, "dave@karbon.example", "At least 8 characters")
	want(t, b.post(path, url.Values{"password": {"short"}}), 400, "", "Use at least 8 characters.")
	want(t, b.post(path, url.Values{"password": {"a long enough phrase"}}), 303, "/account/security?done=password_signed_in")
	want(t, b.get("/account/security?done=password_signed_in"), 200, "", "Your password is set, and you are signed in.")
	want(t, b.get(path), 410, "", "This link no longer works", "administrator")
	want(t, b.signIn(t, "dave@karbon.example", "a long enough phrase"), 303, "/account/security")
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

func TestOutbox(t *testing.T) {
	e := newEnv(t)
	err := e.db.AddDevMessage(context.Background(), &twostep.DevMessage{ID: "msg_1", Channel: "email", To: "dave@karbon.example",
		Subject: "Two-step verification is on", Text: "Hello <Dave>", At: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	a := e.browser(t).get("/dev/outbox")
	want(t, a, 200, "", "dave@karbon.example", "Two-step verification is on")
	if !strings.Contains(a.body, "<pre>Hello &lt;Dave&gt;</pre>") {
		t.Errorf("message text not shown escaped in <pre>:\n%s", a.body)
	}
}

func TestErrorPage(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	want(t, b.get("/account/security/totp/fac_notmine"), 303, "/account/security")
	want(t, b.post("/account/security/factors/fac_notmine/default", nil), 404, "", "This page does not exist", `<main`)
}

var labelFor = regexp.MustCompile(`<label\b[^>]*\bfor="([^"]+)"`)
var inputTag = regexp.MustCompile(`<input\b[^>]*>`)
var attr = func(tag, name string) string {
	m := regexp.MustCompile(`\b` + name + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return m[1]
}

// checkLabels fails for an input a person cannot identify by a visible label.
func checkLabels(t *testing.T, name, body string) {
	t.Helper()
	labels := map[string]bool{}
	for _, m := range labelFor.FindAllStringSubmatch(body, -1) {
		labels[m[1]] = true
	}
	for _, in := range inputTag.FindAllString(body, -1) {
		switch attr(in, "type") {
		case "hidden", "submit", "button":
			continue
		}
		if id := attr(in, "id"); id == "" || !labels[id] {
			t.Errorf("%s: %s has no <label for>", name, in)
		}
	}
	if !strings.Contains(body, "<main") || !strings.Contains(body, "<html lang=") {
		t.Errorf("%s: no <main> or <html lang>", name)
	}
}

// TestTranslations checks that every message a template uses exists in every
// language (loadPages already checks that the languages agree).
func TestTranslations(t *testing.T) {
	msgs := map[string]map[string]any{}
	for _, tag := range languages {
		data, err := fs.ReadFile(assets, "locales/"+tag.String()+".json")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		msgs[tag.String()] = m
	}
	files, _ := fs.Glob(assets, "templates/*.html")
	used := regexp.MustCompile(`\.T "([^"]+)"`)
	var ids []string
	for _, f := range files {
		data, _ := fs.ReadFile(assets, f)
		for _, m := range used.FindAllStringSubmatch(string(data), -1) {
			ids = append(ids, m[1])
		}
	}
	for _, id := range doneMessages {
		ids = append(ids, id)
	}
	// Message ids the Go code names: every literal that looks like one of a
	// group the translations have.
	groups := map[string]bool{}
	for id := range msgs[languages[0].String()] {
		g, _, _ := strings.Cut(id, ".")
		groups[g] = true
	}
	for _, file := range []string{"pages.go", "errors.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"([a-z]+)\.([a-z_.]*[a-z_])"`).FindAllStringSubmatch(string(src), -1) {
			if groups[m[1]] {
				ids = append(ids, m[1]+"."+m[2])
			}
		}
	}
	for _, m := range errorMapping {
		ids = append(ids, m.message)
	}
	for _, m := range []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodSMS, twostep.MethodVoice, twostep.MethodRecoveryCode} {
		ids = append(ids, "method."+string(m))
	}
	for lang, m := range msgs {
		for _, id := range ids {
			if _, ok := m[id]; !ok {
				t.Errorf("%s: no translation for %q", lang, id)
			}
		}
	}
}

func TestVerifyLockout(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	key, _ := e.enrol(t, b)
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	e.clock.Add(30 * time.Second)
	wrong := url.Values{"method": {"totp"}, "code": {wrongCode(e.code(key))}}
	for round := range 2 {
		want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
		for i := 4; i > 0; i-- {
			want(t, b.post("/sign-in/verify", wrong), 400, "", "Wrong code.")
		}
		a := b.post("/sign-in/verify", wrong)
		if round == 0 {
			want(t, a, 400, "", "no tries are left for this sign-in", `action="/sign-in"`)
			want(t, b.get("/sign-in/verify"), 303, "/sign-in")
		}
	}
	// Ten wrong codes pause the account: even the right code gets only the wait.
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	a := b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {e.code(key)}})
	want(t, a, 429, "", "Too many attempts. Try again in")
	wantNot(t, a, "Wrong code", "right")
	if a.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// TestSignInBeforeSetup: before the first organisation exists, the sign-in page
// says where the setup link is, and stops saying so once it exists.
func TestSignInBeforeSetup(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	want(t, b.get("/"), http.StatusSeeOther, "/sign-in")
	want(t, b.get("/sign-in"), http.StatusOK, "", "Twostep is not set up yet", "twostep serve")
	if _, _, _, err := e.svc.CreateOrg(context.Background(), twostep.NewOrg{Name: "Cloud Legal", OwnerEmail: "o@example.com"}); err != nil {
		t.Fatal(err)
	}
	if a := b.get("/sign-in"); strings.Contains(a.body, "not set up yet") {
		t.Error("the sign-in page still says Twostep is not set up")
	}
}

const maskedOwner = "o•••@karbon.example"

// addEmail adds an e-mail method from the security page, checking the code
// page on the way, and returns the answer to the right code.
func (e *env) addEmail(t *testing.T, b *browser, address string) answer {
	t.Helper()
	a := b.get("/account/security")
	want(t, a, 200, "", `href="/account/security/email"`, "Add e-mail")
	a = b.get("/account/security/email")
	want(t, a, 200, "", "Add e-mail", `value="`+ownerEmail+`"`, "E-mail address for codes")
	a = b.post("/account/security/email", url.Values{"address": {address}})
	want(t, a, 303, a.location)
	page, _, _ := strings.Cut(a.location, "?")
	if !strings.HasPrefix(page, "/account/security/email/fac_") || !strings.Contains(a.location, "sent=") {
		t.Fatalf("adding e-mail goes to %q", a.location)
	}
	a = b.get(a.location)
	want(t, a, 200, "", "We sent a code to "+address, "Didn't get the e-mail?", "spam", mailFrom,
		`autocomplete="one-time-code"`, "You can ask for a new code in 30 seconds.", `data-countdown="30"`,
		`data-singular="You can ask for a new code in {n} second."`, `data-plural="You can ask for a new code in {n} seconds."`)
	code := e.mailed(t, address, "code_enrol")["code"]
	want(t, b.post(page, url.Values{"code": {wrongCode(code)}}), 400, "", "Wrong code. 4 tries left.", `aria-invalid="true"`)
	return b.post(page, url.Values{"code": {code}})
}

// TestEmailMethod: the e-mail method from enrolment to sign-in, through the
// pages alone (UX.md "Adding a method: E-mail", "Second step", CLIP STUDIO).
func TestEmailMethod(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)

	// The first method turns two-step on and shows the recovery codes.
	a := e.addEmail(t, b, ownerEmail)
	want(t, a, 200, "", "Two-step verification is on.", "Your recovery codes")
	if n := len(recoveryCodes(t, a.body)); n != 10 {
		t.Fatalf("%d recovery codes", n)
	}
	a = b.get("/account/security?done=codes")
	want(t, a, 200, "", "E-mail ("+maskedOwner+")", "(default)", "Sign-in from older app versions", "Not allowed.")
	wantNot(t, a, "Finish setting it up")

	// Sign in again: the code goes out with the password.
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	a = b.signIn(t, ownerEmail, ownerPwd)
	if a.status != 303 || !strings.HasPrefix(a.location, "/sign-in/verify?") || !strings.Contains(a.location, "method=email") {
		t.Fatalf("sign-in: %d to %q", a.status, a.location)
	}
	verify := a.location
	a = b.get(verify)
	want(t, a, 200, "", "Method: E-mail", "We sent a code to "+maskedOwner+".", "It works for 10 minutes.",
		"Didn't get the e-mail?", "Check the address: the code went to "+maskedOwner, "spam or junk folder", mailFrom,
		`inputmode="numeric"`, `autocomplete="one-time-code"`, "Send a new code", "You can ask for a new code in 30 seconds.",
		"Use a recovery code")
	wantNot(t, a, ownerEmail)
	factor := find(t, a.body, `name="factor_id" value="(fac_[a-z0-9]+)"`)

	// Asking again at once: the page says how many seconds remain.
	e.clock.Add(10 * time.Second)
	a = b.post("/sign-in/verify/send", url.Values{"method": {"email"}, "factor_id": {factor}})
	want(t, a, 429, "", "A code was sent moments ago. You can ask for a new code in 20 seconds", `data-countdown="20"`,
		`name="code"`, "We sent a code to "+maskedOwner)
	if got := a.header.Get("Retry-After"); got != "20" {
		t.Errorf("Retry-After %q, want 20", got)
	}

	code := e.mailed(t, ownerEmail, "code_sign_in")["code"]
	want(t, b.post("/sign-in/verify", url.Values{"method": {"email"}, "factor_id": {factor}, "code": {wrongCode(code)}}),
		400, "", "Wrong code. 4 tries left.", "We sent a code to "+maskedOwner)
	// After the cooldown a new code replaces the old one.
	e.clock.Add(21 * time.Second)
	a = b.post("/sign-in/verify/send", url.Values{"method": {"email"}, "factor_id": {factor}})
	want(t, a, 303, a.location)
	a = b.get(a.location)
	want(t, a, 200, "", "We sent a code to "+maskedOwner, "You can ask for a new code in 30 seconds.")
	fresh := e.mailed(t, ownerEmail, "code_sign_in")["code"]
	if fresh != code {
		want(t, b.post("/sign-in/verify", url.Values{"method": {"email"}, "factor_id": {factor}, "code": {code}}),
			400, "", "Wrong code. 3 tries left.", `data-countdown="`)
	}
	want(t, b.post("/sign-in/verify", url.Values{"method": {"email"}, "factor_id": {factor}, "code": {fresh}}), 303, "/account/security")
	want(t, b.get("/account/security"), 200, "", "Signed in as "+ownerEmail)

	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

// TestEmailVerifyFrench: the e-mail second step in French.
func TestEmailVerifyFrench(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	want(t, e.addEmail(t, b, ownerEmail), 200, "", "Your recovery codes")
	fr := e.browser(t)
	fr.lang = "fr-FR,fr;q=0.9"
	a := fr.signIn(t, ownerEmail, ownerPwd)
	want(t, a, 303, a.location)
	a = fr.get(a.location)
	want(t, a, 200, "", `<html lang="fr">`, "Méthode : E-mail", "Nous avons envoyé un code à "+maskedOwner+".",
		"Il est valable 10 minutes.", "Vous n’avez pas reçu l’e-mail ?", "courrier indésirable", mailFrom,
		"Envoyer un nouveau code", "Vous pourrez demander un nouveau code dans 30 secondes.", "Vérifier")
	wantNot(t, a, "We sent", "Didn't get")
}

// TestEmailNotDefault: when the default method is the app, choosing e-mail
// offers to send a code rather than assuming one went; a refused delivery and
// the hourly cap say what to do.
func TestEmailNotDefault(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	_, a := e.enrol(t, b)
	want(t, a, 200, "", "Your recovery codes")
	want(t, e.addEmail(t, b, ownerEmail), 303, "/account/security?done=added")
	want(t, b.get("/account/security?done=added"), 200, "", "Method added.", "Authenticator app", "E-mail ("+maskedOwner+")")

	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	a = b.get("/sign-in/verify")
	want(t, a, 200, "", "Open your authenticator app", "E-mail ("+maskedOwner+")")
	href := find(t, a.body, `href="(/sign-in/verify\?factor=fac_[a-z0-9]+&amp;method=email)"`)
	a = b.get(href)
	want(t, a, 200, "", "We can send a code to "+maskedOwner, "Send me a code", `action="/sign-in/verify/send"`,
		">Authenticator app</a>")
	wantNot(t, a, `name="code"`, "We sent a code", "Didn't get the e-mail?")
	factor := find(t, a.body, `name="factor_id" value="(fac_[a-z0-9]+)"`)
	send := url.Values{"method": {"email"}, "factor_id": {factor}}

	a = b.post("/sign-in/verify/send", send)
	want(t, a, 303, a.location)
	want(t, b.get(a.location), 200, "", "We sent a code to "+maskedOwner, `name="code"`, "Didn't get the e-mail?")

	// The provider refuses the address for good: another try would meet the same fate.
	e.deliver(t, true)
	e.clock.Add(31 * time.Second)
	a = b.post("/sign-in/verify/send", send)
	want(t, a, 502, "", "We could not deliver the code", "Use another method or a recovery code", "administrator")

	// The hourly cap of codes.
	b2 := e.browser(t)
	want(t, b2.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	var last answer
	for range 10 {
		e.clock.Add(31 * time.Second)
		last = b2.post("/sign-in/verify/send", send)
		e.deliver(t, false)
		if last.status != 303 {
			break
		}
	}
	want(t, last, 429, "", "You have asked for too many codes. You can ask again in", "UTC", "another method")
	if last.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

// TestLegacySetting: "Sign-in from older app versions" (CLIP STUDIO), behind
// an identity confirmation by e-mail code.
func TestLegacySetting(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	a := b.get("/account/security")
	wantNot(t, a, "Sign-in from older app versions") // only with two-step on
	want(t, e.addEmail(t, b, ownerEmail), 200, "", "Your recovery codes")
	a = b.get("/account/security")
	want(t, a, 200, "", "Sign-in from older app versions", "Not allowed.",
		"lets those older versions sign in with your password alone", "switches off by itself when two-step verification is turned off",
		"Allow older app versions")

	// The confirmation from setting up has lapsed: confirm with a code by e-mail.
	e.clock.Add(11 * time.Minute)
	wantConfirm(t, b.post("/account/security/legacy", url.Values{"allow": {"true"}}))
	a = b.get("/account/confirm?next=%2Faccount%2Fsecurity")
	want(t, a, 200, "", "Get a code", "Send me a code", `action="/account/confirm/send"`, "E-mail ("+maskedOwner+")")
	factor := find(t, a.body, `name="factor_id" value="(fac_[a-z0-9]+)"`)
	a = b.post("/account/confirm/send", url.Values{"next": {"/account/security"}, "factor_id": {factor}})
	want(t, a, 303, a.location)
	if !strings.HasPrefix(a.location, "/account/confirm?") || !strings.Contains(a.location, "method=email") {
		t.Fatalf("after sending: %q", a.location)
	}
	a = b.get(a.location)
	want(t, a, 200, "", "We sent a code to "+maskedOwner, "Send a new code", "You can ask for a new code in 30 seconds.",
		`id="method-email" name="method" value="email" checked`, "Didn't get the e-mail?")
	want(t, b.post("/account/confirm/send", url.Values{"next": {"/account/security"}, "factor_id": {factor}}), 429, "",
		"You can ask for a new code in 30 seconds")
	code := e.mailed(t, ownerEmail, "code_confirm_identity")["code"]
	a = b.post("/account/confirm", url.Values{"next": {"/account/security"}, "password": {ownerPwd}, "method": {"email"}, "code": {code}})
	want(t, a, 303, "/account/security?done=confirmed")

	want(t, b.post("/account/security/legacy", url.Values{"allow": {"true"}}), 303, "/account/security?done=legacy_on")
	want(t, b.get("/account/security?done=legacy_on"), 200, "", "Older app versions can now sign in", "Allowed.", "Refuse older app versions")
	want(t, b.post("/account/security/legacy", url.Values{"allow": {"false"}}), 303, "/account/security?done=legacy_off")
	want(t, b.get("/account/security?done=legacy_off"), 200, "", "Older app versions can no longer sign in", "Not allowed.")

	// The organisation forbids it.
	ctx := context.Background()
	org, err := e.db.OrgBySlug(ctx, "karbon-accounting")
	if err != nil {
		t.Fatal(err)
	}
	org.Policy.AllowLegacyClients = false
	if err := e.db.UpdateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	a = b.get("/account/security")
	want(t, a, 200, "", "Your organisation does not allow older app versions")
	wantNot(t, a, "Allow older app versions")
	want(t, b.post("/account/security/legacy", url.Values{"allow": {"true"}}), 403, "",
		"Your organisation does not allow older app versions", `role="alert"`)
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	other := e.browser(t)
	want(t, other.signIn(t, ownerEmail, ownerPwd), 303, "/account/security")

	a := b.get("/account/security")
	want(t, a, 200, "", `href="/account/password"`, "Change password", "Account")
	want(t, b.get("/account/password"), 200, "", "Change your password", "Current password", "New password", "At least 8 characters")
	want(t, b.post("/account/password", url.Values{"current_password": {"not it"}, "password": {"a brand new phrase"}}), 400, "",
		"This is not your current password.", `id="current_password-error"`)
	want(t, b.post("/account/password", url.Values{"current_password": {ownerPwd}, "password": {"short"}}), 400, "",
		"Use at least 8 characters.", `id="password-error"`)
	want(t, b.post("/account/password", url.Values{"current_password": {ownerPwd}, "password": {"a brand new phrase"}}), 303,
		"/account/security?done=password_new")
	want(t, b.get("/account/security?done=password_new"), 200, "", "Your password is changed. You are signed out everywhere else.")

	// The other session ended; the new password signs in.
	want(t, other.get("/account/security"), 303, "/sign-in")
	want(t, other.signIn(t, ownerEmail, ownerPwd), 401, "")
	want(t, other.signIn(t, ownerEmail, "a brand new phrase"), 303, "/account/security")

	// Later, the form first asks to confirm who you are.
	e.clock.Add(11 * time.Minute)
	want(t, b.get("/account/password"), 303, "/account/confirm?next=%2Faccount%2Fpassword")
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

func TestChangeEmail(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	if _, _, err := e.svc.CreateAccount(context.Background(), twostep.NewAccount{Org: "karbon-accounting", Email: "dave@karbon.example"}); err != nil {
		t.Fatal(err)
	}
	const newEmail = "owner@new.example"
	want(t, b.get("/account/security"), 200, "", "Your e-mail address is "+ownerEmail, `href="/account/email"`)
	want(t, b.get("/account/email"), 200, "", "Change your e-mail address", "Your address now: "+ownerEmail, "New e-mail address")
	want(t, b.post("/account/email", url.Values{"email": {ownerEmail}}), 400, "", "This is already your address.")
	want(t, b.post("/account/email", url.Values{"email": {"nope"}}), 400, "", "Enter an e-mail address")

	a := b.post("/account/email", url.Values{"email": {newEmail}})
	want(t, a, 200, "", "We sent a code to "+newEmail+".", "Your address changes once you enter the code.", mailFrom,
		"spam", "You can ask for a new code in 30 seconds.", `action="/account/email/verify"`)
	want(t, b.post("/account/email", url.Values{"email": {newEmail}}), 429, "", "You can ask for a new code in 30 seconds")
	code := e.mailed(t, newEmail, "code_email_change")["code"]
	sent := find(t, a.body, `name="sent" value="(\d+)"`)
	want(t, b.post("/account/email/verify", url.Values{"email": {newEmail}, "sent": {sent}, "code": {wrongCode(code)}}), 400, "",
		"Wrong code. 4 tries left.", "We sent a code to "+newEmail)
	want(t, b.post("/account/email/verify", url.Values{"email": {newEmail}, "sent": {sent}, "code": {code}}), 303, "/account/security?done=email")
	want(t, b.get("/account/security?done=email"), 200, "", "Your e-mail address is changed. We sent a notice to your old address.",
		"Signed in as "+newEmail, "Your e-mail address is "+newEmail, "E-mail address changed")
	if m := e.mailed(t, ownerEmail, "email_changed"); m["new_email"] != newEmail {
		t.Errorf("notice to the old address: %v", m)
	}
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

func TestResetPassword(t *testing.T) {
	e := newEnv(t)
	owner := e.setUp(t)
	_, a := e.enrol(t, owner)
	want(t, a, 200, "", "Your recovery codes")

	b := e.browser(t)
	want(t, b.get("/sign-in"), 200, "", `href="/reset-password"`, "Forgot your password?")
	a = b.get("/reset-password")
	want(t, a, 200, "", "Reset your password", "E-mail address", "Send link")
	if got := a.header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q", got)
	}
	want(t, b.post("/reset-password", url.Values{"email": {"not an address"}}), 400, "", "Enter an e-mail address")

	// The same answer whether or not an account uses the address (EN-01).
	unknown := b.post("/reset-password", url.Values{"email": {"nobody@karbon.example"}})
	known := b.post("/reset-password", url.Values{"email": {ownerEmail}})
	want(t, known, 200, "", "If an account uses "+ownerEmail+", we sent a link to it. The link works once, for 1 hour.",
		"does not turn two-step verification off", "The e-mail comes from "+mailFrom)
	if strings.ReplaceAll(unknown.body, "nobody@karbon.example", ownerEmail) != known.body || unknown.status != known.status {
		t.Errorf("the answers differ:\n%s\n---\n%s", unknown.body, known.body)
	}
	e.deliver(t, false)
	for _, m := range e.inbox {
		if m.To == "nobody@karbon.example" {
			t.Errorf("a message went to an unknown address: %+v", m)
		}
	}
	link := e.mailed(t, ownerEmail, "password_reset")["link"]
	path, ok := strings.CutPrefix(link, "http://127.0.0.1")
	if !ok || !strings.HasPrefix(path, "/reset-password/") {
		t.Fatalf("link %q", link)
	}

	a = b.get(path)
	want(t, a, 200, "", "Choose a new password", "For the account "+ownerEmail, "Two-step verification stays on", "Organisation: "+orgName)
	if got := a.header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q on the reset page", got)
	}
	want(t, b.post(path, url.Values{"password": {"short"}}), 400, "", "Use at least 8 characters.")
	want(t, b.post(path, url.Values{"password": {"a brand new phrase"}}), 303, "/sign-in?done=reset_two_step")
	want(t, b.get("/sign-in?done=reset_two_step"), 200, "", "Your password is reset. Sign in — two-step verification is still on")

	// Every session ended, the link is spent, and two-step still stands.
	want(t, owner.get("/account/security"), 303, "/sign-in")
	want(t, b.get(path), 410, "", "This link no longer works", "Ask for a new one", `href="/reset-password"`)
	want(t, b.signIn(t, ownerEmail, "a brand new phrase"), 303, "/sign-in/verify")
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

func TestLanguageSetting(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	a := b.get("/account/security")
	want(t, a, 200, "", `<label for="locale">Language</label>`, `<option value="fr" lang="fr">Français</option>`)
	want(t, b.post("/account/security/language", url.Values{"locale": {"fr"}}), 303, "/account/security?done=language")
	want(t, b.get("/account/security?done=language"), 200, "", `<html lang="fr">`, "Langue enregistrée.", "Paramètres de sécurité", "Ajouter une adresse e-mail",
		`<option value="fr" lang="fr" selected>Français</option>`)
	want(t, b.post("/account/security/language", url.Values{"locale": {"de"}}), 400, "", "Choisissez l’une des langues")
	// Japanese is offered by its own name, and once chosen every page speaks it.
	want(t, b.get("/account/security"), 200, "", `<option value="ja" lang="ja">日本語</option>`)
	want(t, b.post("/account/security/language", url.Values{"locale": {"ja"}}), 303, "/account/security?done=language")
	want(t, b.get("/account/security?done=language"), 200, "", `<html lang="ja">`, "言語を保存しました。", "セキュリティ設定",
		`<option value="ja" lang="ja" selected>日本語</option>`, `<option value="en" lang="en">English</option>`)
}

// TestEmailCodeSpent: after too many wrong codes an enrolment code stops
// working; the page says to ask for a new one, and the new one works.
func TestEmailCodeSpent(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	a := b.post("/account/security/email", url.Values{"address": {"me@elsewhere.example"}})
	want(t, a, 303, a.location)
	page, _, _ := strings.Cut(a.location, "?")
	code := e.mailed(t, "me@elsewhere.example", "code_enrol")["code"]
	for i := 4; i > 0; i-- {
		want(t, b.post(page, url.Values{"code": {wrongCode(code)}}), 400, "", "Wrong code.")
	}
	want(t, b.post(page, url.Values{"code": {wrongCode(code)}}), 400, "", "this code no longer works", "Send a new code")
	want(t, b.post(page, url.Values{"code": {code}}), 400, "", "this code no longer works")
	a = b.get("/account/security")
	want(t, a, 200, "", "E-mail (m•••@elsewhere.example): setup not finished.", `href="`+page+`"`)

	// A spent code is replaced at once; a second new code must wait.
	e.clock.Add(5 * time.Second)
	a = b.post(page+"/resend", nil)
	want(t, a, 303, a.location)
	want(t, b.get(a.location), 200, "", "We sent a code to me@elsewhere.example", "You can ask for a new code in 30 seconds.")
	want(t, b.post(page+"/resend", nil), 429, "", "A code was sent moments ago. You can ask for a new code in 30 seconds",
		`data-countdown="30"`)
	code = e.mailed(t, "me@elsewhere.example", "code_enrol")["code"]
	want(t, b.post(page, url.Values{"code": {code}}), 200, "", "Your recovery codes")
	want(t, b.get("/account/security"), 200, "", "E-mail (m•••@elsewhere.example)", "(default)")
	want(t, b.get(page), 303, "/account/security")
}

const (
	mobile       = "+33612345678"
	maskedMobile = "+33 6 •• •• •• 78"
	landline     = "+33123456789"
	maskedLand   = "+33 1 •• •• •• 89"
)

// firstCountry is the first country the add-phone page lists, and whether it is selected.
func firstCountry(t *testing.T, body string) (string, bool) {
	t.Helper()
	sel := find(t, body, `(?s)<select id="country"[^>]*>(.*?)</select>`)
	m := regexp.MustCompile(`<option value="([^"]*)"( selected)?[^>]*>`).FindStringSubmatch(sel)
	if m == nil {
		t.Fatalf("no option in %s", sel)
	}
	return m[1], m[2] != ""
}

// addPhone adds a phone from the security page, national number and country,
// with the first code by method, checking the pages on the way; it returns the
// code page.
func (e *env) addPhone(t *testing.T, b *browser, number, country, method string) (page string, a answer) {
	t.Helper()
	a = b.get("/account/security")
	want(t, a, 200, "", `href="/account/security/phone"`, "Add a phone (text message or call)",
		"A code sent to your phone each time you sign in.")
	a = b.get("/account/security/phone")
	want(t, a, 200, "", "Add a phone", `<label for="country">Country</label>`, `<label for="phone">Phone number</label>`,
		`type="tel"`, `autocomplete="tel-national"`, `inputmode="tel"`,
		`name="method" value="sms"`, "Text me a code", `name="method" value="voice"`, "Call me with a code",
		"France (+33)", "Japan (+81)", "or with the country code")
	a = b.post("/account/security/phone", url.Values{"country": {country}, "phone": {number}, "method": {method}})
	want(t, a, 303, a.location)
	page, _, _ = strings.Cut(a.location, "?")
	if !strings.HasPrefix(page, "/account/security/phone/fac_") || !strings.Contains(a.location, "sent=") {
		t.Fatalf("adding a phone goes to %q", a.location)
	}
	return page, b.get(a.location)
}

// TestPhoneMethod: a mobile number from enrolment by text message to a
// sign-in finished with a code by call (UX.md "Adding a method: Phone",
// "Second step": "Call me instead"; TuneCore, AiSign).
func TestPhoneMethod(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)

	page, a := e.addPhone(t, b, "06 12 34 56 78", "FR", "sms")
	want(t, a, 200, "", "We sent a code by text message to "+maskedMobile+".", "It works for 10 minutes.",
		"Enter the 6-digit code from the text message", `autocomplete="one-time-code"`, `inputmode="numeric"`,
		"Send a new code", "You can ask for a new code in 30 seconds.", `data-countdown="30"`,
		"Didn't get the text message?", "Check the number: the code went to +33 6 12 34 56 78.",
		"Use another number, or get a call instead")
	code := e.received(t, "sms", mobile, "code_enrol")["code"]
	want(t, b.get("/account/security"), 200, "", "Phone ("+maskedMobile+"): setup not finished.", `href="`+page+`"`)
	want(t, b.post(page+"/resend", nil), 429, "", "A code was sent moments ago. You can ask for a new code in 30 seconds")
	want(t, b.post(page, url.Values{"code": {wrongCode(code)}}), 400, "", "Wrong code. 4 tries left.", `aria-invalid="true"`,
		"We sent a code by text message to "+maskedMobile)
	a = b.post(page, url.Values{"code": {code}})
	want(t, a, 200, "", "Two-step verification is on.", "Your recovery codes")

	a = b.get("/account/security?done=codes")
	want(t, a, 200, "", "Phone ("+maskedMobile+")", "(default)",
		"Text messages and calls. Codes come by text message; you can ask for a call instead.",
		"Changed your number? Add the new one, then remove this one.", "Remove")
	wantNot(t, a, "Finish setting it up", mobile, "12 34 56")
	// The account's country comes first now, whatever the browser says.
	b.lang = "ja"
	if c, sel := firstCountry(t, b.get("/account/security/phone").body); c != "FR" || !sel {
		t.Errorf("first country %q (selected %v), want FR selected", c, sel)
	}
	b.lang = ""

	// Sign in again: the code goes by text message with the password.
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	a = b.signIn(t, ownerEmail, ownerPwd)
	if a.status != 303 || !strings.HasPrefix(a.location, "/sign-in/verify?") || !strings.Contains(a.location, "method=sms") {
		t.Fatalf("sign-in: %d to %q", a.status, a.location)
	}
	a = b.get(a.location)
	want(t, a, 200, "", "Method: Text message (SMS)", "We sent a code by text message to "+maskedMobile+".",
		`name="code"`, `autocomplete="one-time-code"`, "Send a new code", "You can ask for a new code in 30 seconds.",
		"Call me instead", "Didn't get the text message?", "Or choose “Call me instead”", "Use a recovery code",
		"Ask your organisation's administrator to reset two-step")
	wantNot(t, a, mobile, "12 34 56", "Use another method:", "Text me instead")
	factor := find(t, a.body, `name="factor_id" value="(fac_[a-z0-9]+)"`)
	smsCode := e.received(t, "sms", mobile, "code_sign_in")["code"]

	// "Call me instead": the call goes at once, though the text message was just sent.
	e.clock.Add(5 * time.Second)
	a = b.post("/sign-in/verify/send", url.Values{"method": {"voice"}, "factor_id": {factor}})
	want(t, a, 303, a.location)
	if !strings.Contains(a.location, "method=voice") {
		t.Fatalf("after call me instead: %q", a.location)
	}
	a = b.get(a.location)
	want(t, a, 200, "", "Method: Phone call", "We are calling "+maskedMobile+" to read you a code.", `name="code"`,
		"Call me again", "You can ask for a new code in 30 seconds.", "Text me instead", "Didn't get the call?",
		"Answer calls from numbers you don't know")
	wantNot(t, a, "Call me instead")
	voiceCode := e.received(t, "voice", mobile, "code_sign_in")["code"]
	if voiceCode != smsCode {
		// The newest code replaces the earlier one.
		want(t, b.post("/sign-in/verify", url.Values{"method": {"voice"}, "factor_id": {factor}, "code": {smsCode}}), 400, "",
			"Wrong code. 4 tries left.", "We are calling "+maskedMobile)
	}
	want(t, b.post("/sign-in/verify", url.Values{"method": {"voice"}, "factor_id": {factor}, "code": {voiceCode}}), 303, "/account/security")
	want(t, b.get("/account/security"), 200, "", "Signed in as "+ownerEmail, "Last used")

	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

// TestPhoneRefused: a number that cannot take codes the way asked says why on
// its field, and nothing is sent; a landline works by call, and takes calls only.
func TestPhoneRefused(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	e.deliver(t, false)
	before := len(e.inbox)
	tests := []struct {
		country, phone, method string
		field, says            string
	}{
		{"FR", "01 23 45 67 89", "sms", "phone", "This is a landline, which cannot receive text messages. Choose “Call me with a code” instead."},
		{"", "06 12 34 56 78", "sms", "country", "Choose the country of the number, or write the number with its country code"},
		{"FR", "06 12 34", "sms", "phone", "This is not a valid number"},
		{"FR", "", "voice", "phone", "This field is required."},
		{"FR", "08 99 12 34 56", "voice", "phone", "This is a premium-rate number, which cannot receive codes."},
	}
	for _, tt := range tests {
		a := b.post("/account/security/phone", url.Values{"country": {tt.country}, "phone": {tt.phone}, "method": {tt.method}})
		want(t, a, 400, "", tt.says, `id="`+tt.field+`-error" role="alert"`, `value="`+tt.phone+`"`)
		if !regexp.MustCompile(`<(input|select) id="` + tt.field + `"[^>]* autofocus aria-invalid="true"`).MatchString(a.body) {
			t.Errorf("%s %s: the %s field does not take the focus:\n%s", tt.country, tt.phone, tt.field, a.body)
		}
		if tt.country != "" {
			if c, sel := firstCountry(t, a.body); sel && c != tt.country {
				t.Errorf("the country chosen is not kept: %q selected first", c)
			}
			want(t, a, 400, "", `<option value="`+tt.country+`" selected data-national`)
		}
	}
	a := b.post("/account/security/phone", url.Values{"country": {"FR"}, "phone": {"01 23 45 67 89"}, "method": {"sms"}})
	if i, j := strings.Index(a.body, `value="voice"`), strings.Index(a.body, `value="sms"`); i < 0 || i > j {
		t.Errorf("after a landline was refused by text message, “Call me” is not the first button")
	}
	e.deliver(t, false)
	if len(e.inbox) != before {
		t.Fatalf("a refused number was sent something: %+v", e.inbox[before:])
	}
	want(t, b.get("/account/security"), 200, "", "You have no method yet.")

	// The same landline by call.
	page, a := e.addPhone(t, b, "01 23 45 67 89", "FR", "voice")
	want(t, a, 200, "", "We are calling "+maskedLand+" to read you a code.", "Enter the 6-digit code you heard",
		"Call me again", "Didn't get the call?", "Use another number, or get a text message instead")
	code := e.received(t, "voice", landline, "code_enrol")["code"]
	want(t, b.post(page, url.Values{"code": {code}}), 200, "", "Your recovery codes")
	want(t, b.get("/account/security"), 200, "", "Phone ("+maskedLand+")", "Calls only: this number cannot receive text messages.")

	// At sign-in, a landline offers no text message.
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	a = b.signIn(t, ownerEmail, ownerPwd)
	want(t, a, 303, a.location)
	a = b.get(a.location)
	want(t, a, 200, "", "We are calling "+maskedLand+" to read you a code.", "Call me again")
	wantNot(t, a, "Text me instead", "Call me instead", "Or choose")
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

// TestPhoneVerifyFrench: the phone second step in French.
func TestPhoneVerifyFrench(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	page, _ := e.addPhone(t, b, "+33 6 12 34 56 78", "", "sms")
	want(t, b.post(page, url.Values{"code": {e.received(t, "sms", mobile, "code_enrol")["code"]}}), 200, "", "Your recovery codes")
	fr := e.browser(t)
	fr.lang = "fr-FR,fr;q=0.9"
	a := fr.signIn(t, ownerEmail, ownerPwd)
	want(t, a, 303, a.location)
	a = fr.get(a.location)
	want(t, a, 200, "", `<html lang="fr">`, "Méthode : SMS", "Nous avons envoyé un code par SMS au "+maskedMobile+".",
		"Il est valable 10 minutes.", "Appelez-moi plutôt", "Vous n’avez pas reçu le SMS ?", "Envoyer un nouveau code",
		"Vous pourrez demander un nouveau code dans 30 secondes.", "Vérifier")
	wantNot(t, a, "We sent", "Call me", "Didn't get")
}

// TestCountryList: the account's country first, from the browser's language
// while the account has no phone.
func TestCountryList(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	for _, tt := range []struct{ lang, first string }{
		{"fr-FR,fr;q=0.9,en;q=0.5", "FR"},
		{"fr", "FR"},
		{"en-US,en;q=0.9", "US"},
		{"ja", "JP"},
		{"", ""},
	} {
		b.lang = tt.lang
		a := b.get("/account/security/phone")
		want(t, a, 200, "")
		c, sel := firstCountry(t, a.body)
		if c != tt.first || !sel {
			t.Errorf("Accept-Language %q: first country %q (selected %v), want %q", tt.lang, c, sel, tt.first)
		}
		if tt.first == "" {
			want(t, a, 200, "", "Choose a country")
		}
	}
	// Named in the page's language, sorted by name.
	want(t, b.post("/account/security/language", url.Values{"locale": {"fr"}}), 303, "/account/security?done=language")
	b.lang = "fr-FR"
	a := b.get("/account/security/phone")
	want(t, a, 200, "", `<option value="FR" selected data-national="06 12 34 56 78" data-international="+33 6 12 34 56 78">France (+33)</option>`, "Allemagne (+49)", "Japon (+81)", "Pays", "Numéro de téléphone",
		"M’envoyer un code par SMS", "M’appeler pour me dicter un code")
	if i, j := strings.Index(a.body, "Allemagne"), strings.Index(a.body, "Égypte"); i < 0 || j < 0 || i > j {
		t.Errorf("countries not sorted by French name (Allemagne at %d, Égypte at %d)", i, j)
	}
	if i, j := strings.Index(a.body, "Égypte"), strings.Index(a.body, "Espagne"); i > j {
		t.Errorf("Égypte after Espagne: accents not collated")
	}
}

// TestPhoneNotDefault: a phone besides the app is listed once among the other
// methods, with both channels; sending may meet the provider's refusal and the
// toll-fraud caps, and identity is confirmed by a code by call.
func TestPhoneNotDefault(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	_, a := e.enrol(t, b)
	want(t, a, 200, "", "Your recovery codes")
	page, _ := e.addPhone(t, b, "06 12 34 56 78", "FR", "sms")
	want(t, b.post(page, url.Values{"code": {e.received(t, "sms", mobile, "code_enrol")["code"]}}), 303, "/account/security?done=added")
	want(t, b.get("/account/security?done=added"), 200, "", "Method added.", "Authenticator app", "Phone ("+maskedMobile+")", "Make default")

	// Confirming who you are, by a code by call.
	e.clock.Add(11 * time.Minute)
	wantConfirm(t, b.post("/account/security/recovery-codes", nil))
	a = b.get("/account/confirm?next=%2Faccount%2Fsecurity")
	want(t, a, 200, "", "Get a code", "Ask for a code below: by text message or call to "+maskedMobile+".",
		"Text me a code", "Call me with a code", ">Phone ("+maskedMobile+")</label>")
	factor := find(t, a.body, `name="factor_id" value="(fac_[a-z0-9]+)"`)
	a = b.post("/account/confirm/send", url.Values{"next": {"/account/security"}, "method": {"voice"}, "factor_id": {factor}})
	want(t, a, 303, a.location)
	a = b.get(a.location)
	want(t, a, 200, "", "We are calling "+maskedMobile+" to read you a code. Enter it below", "Call me again",
		"You can ask for a new code in 30 seconds.", `name="method" value="voice:`+factor+`" checked`)
	code := e.received(t, "voice", mobile, "code_confirm_identity")["code"]
	want(t, b.post("/account/confirm", url.Values{"next": {"/account/security"}, "password": {ownerPwd}, "method": {"voice"},
		"code": {wrongCode(code)}}), 400, "", "Wrong code.")
	want(t, b.post("/account/confirm", url.Values{"next": {"/account/security"}, "password": {ownerPwd}, "method": {"voice"},
		"code": {code}}), 303, "/account/security?done=confirmed")

	// The second step with the app; the phone is one entry with both channels.
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	a = b.get("/sign-in/verify")
	want(t, a, 200, "", "Open your authenticator app", "Use another method:", "Phone ("+maskedMobile+"): ", ">by text message</a>", ">by call</a>")
	if n := strings.Count(html.UnescapeString(a.body), maskedMobile); n != 1 {
		t.Errorf("the number is shown %d times among the other methods", n)
	}
	href := find(t, a.body, `href="(/sign-in/verify\?factor=fac_[a-z0-9]+&amp;method=voice)"`)
	a = b.get(href)
	want(t, a, 200, "", "We can call "+maskedMobile+" and read you a code.", "Call me with a code", "Text me instead")
	wantNot(t, a, `name="code"`, "Didn't get the call?")
	send := url.Values{"method": {"voice"}, "factor_id": {factor}}
	a = b.post("/sign-in/verify/send", send)
	want(t, a, 303, a.location)
	want(t, b.get(a.location), 200, "", "We are calling "+maskedMobile, `name="code"`)

	// The provider refuses the number for good.
	e.deliver(t, true)
	e.clock.Add(31 * time.Second)
	a = b.post("/sign-in/verify/send", send)
	want(t, a, 502, "", "We could not deliver the code: our text message and call provider refused this number.",
		"Use another method or a recovery code", "administrator")

	// The cap of codes to one number.
	b2 := e.browser(t)
	want(t, b2.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	var last answer
	for range 10 {
		e.clock.Add(31 * time.Second)
		last = b2.post("/sign-in/verify/send", send)
		e.deliver(t, false)
		if last.status != 303 {
			break
		}
	}
	want(t, last, 429, "", "Too many codes were sent by text message or call", "You can ask again in", "UTC", "another method")
	if last.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

// invite invites email with role from the members page of admin's browser
// and returns the path of the link the invitation e-mail holds.
func (e *env) invite(t *testing.T, admin *browser, email, role string) string {
	t.Helper()
	want(t, admin.post("/admin/members", url.Values{"email": {email}, "role": {role}}), 303, "/admin/members?done=member_invited")
	link := e.mailed(t, email, "invitation")["link"]
	path, ok := strings.CutPrefix(link, "http://127.0.0.1")
	if !ok || !strings.HasPrefix(path, "/invite/") {
		t.Fatalf("invitation link %q", link)
	}
	return path
}

// join accepts an invitation with password and returns the browser, signed in
// as far as the organisation's policy lets a new account go.
func (e *env) join(t *testing.T, link, email, password string) *browser {
	t.Helper()
	b := e.browser(t)
	want(t, b.get(link), 200, "", "Join "+orgName, email, "Set a password", "At least 8 characters")
	want(t, b.post(link, url.Values{"password": {"short"}}), 400, "", "Use at least 8 characters.")
	a := b.post(link, url.Values{"password": {password}})
	if a.status != 303 || (a.location != "/account/security?done=password_signed_in" && a.location != enrolBase) {
		t.Fatalf("joining: %d to %q, want the security page or enrolment", a.status, a.location)
	}
	return b
}

// memberID reads the id of email's row on the members page.
func memberID(t *testing.T, body, email string) string {
	t.Helper()
	return find(t, body, `<tr id="member-(acc_[a-z0-9]+)">\s*<th scope="row">`+regexp.QuoteMeta(email)+`</th>`)
}

const joePwd = "joe's own long phrase"

// TestRequiredEnrolment: the owner makes two-step required with 7 days'
// grace (CloudSign's paid plan); a member is sent to set it up at sign-in,
// may skip it during the grace period, not after, and sets up an app there.
func TestRequiredEnrolment(t *testing.T) {
	e := newEnv(t)
	owner := e.setUp(t)
	if _, a := e.enrol(t, owner); a.status != 200 {
		t.Fatalf("owner enrolment: %d", a.status)
	}
	const joe = "joe@karbon.example"
	b := e.join(t, e.invite(t, owner, joe, "member"), joe, joePwd)
	want(t, b.signIn(t, joe, joePwd), 303, "/account/security") // optional: no second step yet

	// Before "required" is saved, the owner sees who will have to enrol.
	form := url.Values{"two_step": {"required"}, "grace_period_days": {"7"}, "allowed_methods": {"totp", "email"},
		"min_client_version": {""}, "allow_legacy_clients": {"1"}}
	a := owner.post("/admin/policy", form)
	want(t, a, 200, "", "Make two-step verification required?", "1 member will have to set up two-step verification",
		"They will be e-mailed", "Members can put it off for 7 days", "Make it required")
	want(t, owner.get("/admin/policy"), 200, "", `value="optional" checked`) // nothing saved yet
	back := owner.post("/admin/policy", url.Values{"two_step": {"required"}, "grace_period_days": {"7"}, "allowed_methods": {"totp", "email"},
		"back": {"1"}})
	want(t, back, 200, "", `value="required" checked`, `value="7"`)
	form.Set("confirmed", "1")
	want(t, owner.post("/admin/policy", form), 303, "/admin/policy?done=policy")
	a = owner.get("/admin/policy?done=policy")
	want(t, a, 200, "", "Policy saved.", `value="required" checked`, `value="totp" checked`, `value="email" checked`)
	wantNot(t, a, `value="sms" checked`)
	if got := e.mailed(t, joe, "two_step_required"); got["org"] != orgName {
		t.Errorf("two_step_required mail: %v", got)
	}

	// At sign-in: the methods the organisation allows, and 7 days to skip.
	b = e.browser(t)
	want(t, b.signIn(t, joe, joePwd), 303, "/sign-in/enrol")
	a = b.get("/sign-in/enrol")
	want(t, a, 200, "", "Organisation: "+orgName, "Your organisation requires two-step verification",
		"You can skip this for 7 more days", "Add an authenticator app", "Add e-mail", "Skip for now", "Cancel sign-in")
	wantNot(t, a, "Add a phone", "Signed in as", `href="/admin/members"`)
	want(t, b.get("/account/security"), 303, "/sign-in") // not signed in yet
	want(t, b.get("/sign-in/verify"), 303, "/sign-in/enrol")
	e.clock.Add(36 * time.Hour)
	want(t, b.signIn(t, joe, joePwd), 303, "/sign-in/enrol")
	want(t, b.get("/sign-in/enrol"), 200, "", "You can skip this for 6 more days")
	want(t, b.post("/sign-in/enrol/complete", nil), 303, "/account/security?done=skipped")
	want(t, b.get("/account/security?done=skipped"), 200, "", "You are signed in. Your organisation requires two-step verification",
		"Signed in as "+joe, "Two-step verification is off.")
	want(t, b.get("/sign-in/enrol"), 303, "/sign-in") // the sign-in is over

	// A sign-in left too long starts again.
	b = e.browser(t)
	want(t, b.signIn(t, joe, joePwd), 303, "/sign-in/enrol")
	e.clock.Add(11 * time.Minute)
	want(t, b.get("/sign-in/enrol"), 303, "/sign-in?done=expired")
	want(t, b.post("/sign-in/enrol/complete", nil), 303, "/sign-in?done=expired")

	// After the grace period: no skipping.
	e.clock.Add(8 * 24 * time.Hour)
	b = e.browser(t)
	want(t, b.signIn(t, joe, joePwd), 303, "/sign-in/enrol")
	a = b.get("/sign-in/enrol")
	want(t, a, 200, "", "Your organisation requires two-step verification", "set up a method now to sign in")
	wantNot(t, a, "Skip for now", "more day")
	want(t, b.post("/sign-in/enrol/complete", nil), 403, "", "You can no longer skip this", "Add an authenticator app")

	// Set up an authenticator app there: the same pages as in the settings.
	a = b.post("/sign-in/enrol/totp", nil)
	want(t, a, 303, a.location)
	if !strings.HasPrefix(a.location, "/sign-in/enrol/totp/fac_") {
		t.Fatalf("adding an app at enrolment goes to %q", a.location)
	}
	page := a.location
	a = b.get(page)
	want(t, a, 200, "", "Enter the 6-digit code the app shows", "Back to the choice of methods", "Google Authenticator")
	wantNot(t, a, "Signed in as")
	key := secret(t, a.body)
	want(t, b.post(page, url.Values{"code": {wrongCode(e.code(key))}}), 400, "", "This code is wrong")
	a = b.post(page, url.Values{"code": {e.code(key)}})
	want(t, a, 200, "", "Two-step verification is on.", "Your recovery codes", "I have saved them — continue",
		`action="/sign-in/enrol/complete"`)
	wantNot(t, a, `href="/account/security?done=codes"`)
	if codes := recoveryCodes(t, a.body); len(codes) != 10 {
		t.Errorf("%d recovery codes at enrolment, want 10", len(codes))
	}
	want(t, b.get("/sign-in/enrol"), 200, "", "Your method is set up.", "Continue")
	want(t, b.post("/sign-in/enrol/complete", nil), 303, "/account/security?done=enabled")
	want(t, b.get("/account/security?done=enabled"), 200, "", "Two-step verification is on.", "Signed in as "+joe, "Authenticator app")

	// Next time, the app is asked for.
	b2 := e.browser(t)
	want(t, b2.signIn(t, joe, joePwd), 303, "/sign-in/verify")

	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
	for name, body := range owner.seen {
		checkLabels(t, name, body)
	}
}

// TestAdminMembers: who may see the administration, inviting, the
// keep-one-owner rule, and Karbon's accountant resetting a client's two-step.
func TestAdminMembers(t *testing.T) {
	e := newEnv(t)
	owner := e.setUp(t)
	e.enrol(t, owner)
	const ann, dave = "ann@karbon.example", "dave@karbon.example"
	annB := e.join(t, e.invite(t, owner, ann, "admin"), ann, "ann's long phrase")
	daveB := e.join(t, e.invite(t, owner, dave, "member"), dave, "dave's long phrase")
	want(t, annB.signIn(t, ann, "ann's long phrase"), 303, "/account/security")
	want(t, daveB.signIn(t, dave, "dave's long phrase"), 303, "/account/security")

	// Members see no administration, and get 403 there.
	a := daveB.get("/account/security")
	want(t, a, 200, "", "Signed in as "+dave)
	wantNot(t, a, `href="/admin/members"`)
	for _, path := range []string{"/admin/members", "/admin/policy", "/admin/audit", "/admin/members/acc_x/reset"} {
		want(t, daveB.get(path), 403, "", "Only your organisation's owners and administrators can see the administration pages")
	}
	want(t, daveB.post("/admin/members", url.Values{"email": {"eve@karbon.example"}, "role": {"member"}}), 403, "")
	want(t, daveB.post("/admin/policy", url.Values{"two_step": {"required"}}), 403, "")
	want(t, e.browser(t).get("/admin/members"), 303, "/sign-in")

	// The owner's members page.
	want(t, owner.get("/account/security"), 200, "", `href="/admin/members">Admin`)
	a = owner.get("/admin/members")
	want(t, a, 200, "", "Members", "<caption>3 of 3 members shown</caption>", `<th scope="col">Role</th>`,
		`<th scope="row">`+ann+`</th>`, "Administrator", "Owner", "Reset two-step", "End sessions", "Send invitation")
	ownerID, daveID := memberID(t, a.body, ownerEmail), memberID(t, a.body, dave)
	a = owner.get("/admin/members?without_two_step=1")
	want(t, a, 200, "", "2 of 3 members shown", dave, ann)
	wantNot(t, a, `<th scope="row">`+ownerEmail)
	want(t, owner.get("/admin/members?sso=1"), 200, "", "0 of 3 members shown", "No member matches these filters.")

	// Refusals: an address with an account, the last owner, an admin on the owner.
	a = owner.post("/admin/members", url.Values{"email": {dave}, "role": {"member"}, "sso": {"1"}})
	want(t, a, 409, "", "An account with this e-mail address exists already", `id="email-error"`)
	if !regexp.MustCompile(`<input id="email"[^>]* autofocus aria-invalid="true"`).MatchString(a.body) ||
		!strings.Contains(a.body, `id="invite-sso" name="sso" value="1" checked`) {
		t.Errorf("the refused invitation is not shown again with the focus on the address:\n%s", a.body)
	}
	want(t, owner.post("/admin/members", url.Values{"email": {"not an address"}, "role": {"member"}}), 400, "",
		"Enter an e-mail address")
	// Nobody acts on their own row (item 10: the only owner moved themselves
	// to SSO and locked the organisation out): the page offers nothing there,
	// and the domain refuses what is posted anyway.
	a = owner.get("/admin/members")
	ownRow := find(t, a.body, `(?s)(<tr id="member-`+ownerID+`">.*?</tr>)`)
	if !strings.Contains(ownRow, "This is you:") || strings.Contains(ownRow, "<form") || strings.Contains(ownRow, "/reset") {
		t.Errorf("the owner's own row offers actions:\n%s", ownRow)
	}
	for _, action := range []string{"role", "sso", "end-sessions", "unlock", "reset"} {
		want(t, owner.post("/admin/members/"+ownerID+"/"+action, url.Values{"role": {"member"}, "sso": {"1"}}), 403, "",
			"You cannot do this to your own account from the members page")
	}
	want(t, owner.get("/admin/members/"+ownerID+"/reset"), 200, "", "You cannot do this to your own account")
	wantNot(t, owner.get("/admin/members/"+ownerID+"/reset"), `action="/admin/members/`+ownerID+`/reset"`)
	// Nobody is offered "Move to SSO" while the organisation has no SSO connection.
	wantNot(t, a, "Move to SSO")
	a = annB.get("/admin/members")
	want(t, a, 200, "", "Only an owner can change administrators and owners.")
	wantNot(t, a, `/admin/members/`+ownerID+`/reset"`, "Change role")
	want(t, annB.get("/admin/members/"+ownerID+"/reset"), 200, "", "Only an owner can do this")
	want(t, annB.post("/admin/members/"+ownerID+"/reset", nil), 403, "", "Only an owner can do this")
	want(t, annB.post("/admin/members", url.Values{"email": {"eve@karbon.example"}, "role": {"admin"}}), 403, "", "Only an owner can do this")
	want(t, owner.post("/admin/members/acc_nobody/reset", nil), 404, "")

	// Dave sets up an app, loses the phone, and asks the owner (Karbon's accountant).
	e.enrol(t, daveB)
	a = owner.get("/admin/members/" + daveID + "/reset")
	want(t, a, 200, "", "Reset two-step verification for "+dave+"?", "removes their methods (Authenticator app)",
		"deletes their recovery codes", "signs them out everywhere", "e-mails "+dave, "Make sure the request really comes from "+dave,
		`action="/admin/members/`+daveID+`/reset"`)
	want(t, owner.post("/admin/members/"+daveID+"/reset", nil), 303, "/admin/members?done=member_reset")
	want(t, owner.get("/admin/members?done=member_reset"), 200, "", "Two-step verification is reset")
	want(t, daveB.get("/account/security"), 303, "/sign-in") // signed out everywhere
	e.mailed(t, dave, "two_step_reset")
	want(t, daveB.signIn(t, dave, "dave's long phrase"), 303, "/account/security") // with the password alone again

	// Role, SSO and sessions.
	want(t, owner.post("/admin/members/"+daveID+"/end-sessions", nil), 303, "/admin/members?done=member_sessions")
	want(t, daveB.get("/account/security"), 303, "/sign-in")
	want(t, owner.post("/admin/members/"+daveID+"/role", url.Values{"role": {"admin"}}), 303, "/admin/members?done=member_role")
	want(t, owner.post("/admin/members/"+daveID+"/sso", url.Values{"sso": {"1"}}), 409, "",
		"This organisation has no single sign-on (SSO) connection yet, so nobody can be moved to SSO")
	// An SSO invitee is told to wait for the connection; they can be taken off SSO.
	const sam = "sam@karbon.example"
	want(t, owner.post("/admin/members", url.Values{"email": {sam}, "role": {"member"}, "sso": {"1"}}), 303, "/admin/members?done=member_invited_sso")
	want(t, owner.get("/admin/members?done=member_invited_sso"), 200, "", "the member cannot sign in until an owner sets one up")
	a = owner.get("/admin/members?sso=1")
	want(t, a, 200, "", "1 of 4 members shown", `<th scope="row">`+sam+`</th>`, "Take off SSO")
	samID := memberID(t, a.body, sam)
	want(t, owner.post("/admin/members/"+samID+"/sso", url.Values{"sso": {"0"}}), 303, "/admin/members?done=member_sso_off")

	// The audit log says who did what to whom, and filters.
	a = owner.get("/admin/audit")
	want(t, a, 200, "", "Audit log", "<caption>", ownerEmail+" reset two-step for "+dave, ownerEmail+" invited "+dave+" (Member)",
		ownerEmail+" changed the role of "+dave+" from Member to Administrator", ownerEmail+" took "+sam+" off single sign-on (SSO)",
		ownerEmail+" signed "+dave+" out everywhere", dave+" turned two-step verification on (Authenticator app)",
		dave+" set their password with a one-time link", ownerEmail+" created the account "+ownerEmail+" (Owner)", "127.0.0.1")
	a = owner.get("/admin/audit?type=two_step.reset_by_admin")
	want(t, a, 200, "", ownerEmail+" reset two-step for "+dave, `<option value="two_step.reset_by_admin" selected>`)
	wantNot(t, a, "invited", "signed in", "changed the role")
	a = owner.get("/admin/audit?account=" + daveID)
	want(t, a, 200, "", dave+" signed in", `<option value="`+daveID+`" selected>`)
	wantNot(t, a, "invited "+ann, ann+" signed in")
	want(t, owner.get("/admin/audit?type=no.such"), 200, "", "No event matches.")
	// Older events are a page away, the filters kept.
	for range auditPage {
		want(t, annB.signIn(t, ann, "ann's long phrase"), 303, "/account/security")
	}
	annID := memberID(t, owner.get("/admin/members").body, ann)
	a = owner.get("/admin/audit?account=" + annID)
	want(t, a, 200, "", ann+" signed in")
	wantNot(t, a, "invited "+ann)
	a = owner.get(find(t, a.body, `href="(/admin/audit\?account=acc_[a-z0-9]+&amp;before=\d+)"`))
	want(t, a, 200, "", ownerEmail+" invited "+ann+" (Administrator)")
	wantNot(t, a, dave+" signed in")
	want(t, owner.get("/admin/audit?before=nope"), 400, "")

	// In French.
	want(t, owner.post("/account/security/language", url.Values{"locale": {"fr"}}), 303, "/account/security?done=language")
	a = owner.get("/admin/members")
	want(t, a, 200, "", `<html lang="fr">`, "Administration", "Membres", "Rôle", "Validation en deux étapes", "Inviter",
		"Envoyer l’invitation", "Réinitialiser la validation en deux étapes", "Fermer les sessions", "Propriétaire", "4 membres affichés sur 4", "C’est vous :")
	want(t, owner.get("/admin/audit?type=two_step.reset_by_admin"), 200, "", ownerEmail+" a réinitialisé la validation en deux étapes de "+dave)
	want(t, owner.get("/admin/members/"+daveID+"/reset"), 200, "", "Réinitialiser la validation en deux étapes de "+dave+" ?")
	want(t, daveB.get("/admin/members"), 303, "/sign-in")

	for _, b := range []*browser{owner, annB, daveB} {
		for name, body := range b.seen {
			checkLabels(t, name, body)
		}
	}
}

func TestPolicyFieldErrors(t *testing.T) {
	e := newEnv(t)
	owner := e.setUp(t)
	a := owner.get("/admin/policy")
	want(t, a, 200, "", "Policy", `value="optional" checked`, "Grace period (days)", "Authenticator app", "Text message (SMS)",
		"Phone call", "Minimum app version", "Members may allow older app versions", `name="allow_legacy_clients" value="1" checked`)
	base := url.Values{"two_step": {"optional"}, "grace_period_days": {"0"}, "allowed_methods": {"totp"}, "min_client_version": {""}}
	tests := []struct {
		field, value, says string
	}{
		{"grace_period_days", "a week", "Enter a whole number of days from 0 to 365"},
		{"grace_period_days", "400", "Enter a whole number of days from 0 to 365"},
		{"allowed_methods", "", "Choose at least one method."},
		{"allowed_methods", "webauthn", "Choose among the methods listed"},
		{"min_client_version", "three", "Enter a version number such as 3.1.0"},
		{"two_step", "sometimes", "Choose Optional or Required."},
	}
	for _, tt := range tests {
		form := url.Values{}
		for k, v := range base {
			form[k] = v
		}
		if tt.value == "" {
			delete(form, tt.field)
		} else {
			form.Set(tt.field, tt.value)
		}
		a := owner.post("/admin/policy", form)
		want(t, a, 400, "", tt.says, `id="`+tt.field+`-error"`)
		if !regexp.MustCompile(`<input [^>]* autofocus aria-invalid="true" aria-describedby="[^"]*` + tt.field + `-error`).MatchString(a.body) {
			t.Errorf("%s=%q: no field takes the focus:\n%s", tt.field, tt.value, a.body)
		}
	}
	// Required with the minimum version: no one else to enrol, the owner included
	// (who has no method yet).
	a = owner.post("/admin/policy", url.Values{"two_step": {"required"}, "grace_period_days": {"0"}, "allowed_methods": {"totp"},
		"min_client_version": {"3.1.0"}})
	want(t, a, 200, "", "1 member will have to set up two-step verification", "There is no grace period",
		`name="min_client_version" value="3.1.0"`)
	for name, body := range owner.seen {
		checkLabels(t, name, body)
	}
}

func TestInviteLinkUsed(t *testing.T) {
	e := newEnv(t)
	owner := e.setUp(t)
	link := e.invite(t, owner, "eve@karbon.example", "member")
	want(t, owner.get("/admin/members"), 200, "", "Never: invited, no password chosen yet")
	e.join(t, link, "eve@karbon.example", "eve's long phrase")
	b := e.browser(t)
	want(t, b.get(link), 410, "", "This link no longer works", "If you have set your password already, sign in",
		"ask the person who invited you")
	want(t, b.post(link, url.Values{"password": {"another long phrase"}}), 410, "", "the person who invited you")
	want(t, b.get("/invite/unknown"), 410, "", "the person who invited you")
	want(t, b.signIn(t, "eve@karbon.example", "eve's long phrase"), 303, "/account/security")
}

// TestEnrolByEmail: the e-mail method's pages serve the enrolment at sign-in
// too, and an owner (no grace period) cannot skip.
func TestEnrolByEmail(t *testing.T) {
	e := newEnv(t)
	owner := e.setUp(t)
	want(t, owner.post("/admin/policy", url.Values{"two_step": {"required"}, "grace_period_days": {"30"},
		"allowed_methods": {"email"}, "confirmed": {"1"}}), 303, "/admin/policy?done=policy")
	b := e.browser(t)
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/enrol")
	a := b.get("/sign-in/enrol")
	want(t, a, 200, "", "Your organisation requires two-step verification", "Add e-mail")
	wantNot(t, a, "Skip for now", "Add an authenticator app")
	want(t, b.post("/sign-in/enrol/totp", nil), 403, "", "Your organisation does not allow this method.")
	a = b.get("/sign-in/enrol/email")
	want(t, a, 200, "", "Add e-mail", `action="/sign-in/enrol/email"`, `value="`+ownerEmail+`"`, "Back to the choice of methods")
	a = b.post("/sign-in/enrol/email", url.Values{"address": {ownerEmail}})
	want(t, a, 303, a.location)
	if !strings.HasPrefix(a.location, "/sign-in/enrol/email/fac_") {
		t.Fatalf("adding e-mail at enrolment goes to %q", a.location)
	}
	page, _, _ := strings.Cut(a.location, "?")
	want(t, b.get(a.location), 200, "", "We sent a code to "+ownerEmail, `action="`+page+`/resend"`)
	code := e.mailed(t, ownerEmail, "code_enrol")["code"]
	a = b.post(page, url.Values{"code": {code}})
	want(t, a, 200, "", "Your recovery codes", "I have saved them — continue")
	want(t, b.post("/sign-in/enrol/complete", nil), 303, "/account/security?done=enabled")
	want(t, b.get("/account/security"), 200, "", "Two-step verification is on.", "Signed in as "+ownerEmail)
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}
