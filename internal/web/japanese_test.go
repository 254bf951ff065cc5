package web

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template/parse"

	"github.com/twostep/twostep/internal/twostep"
)

// TestJapaneseEverywhere walks every page as a new user whose browser asks
// for Japanese would: the first-run setup, the owner's security settings and
// every add-method page, the administration, an invited member who must enrol,
// the second step, the password links and the error pages. Every page is in
// Japanese (lang="ja"), and none shows a sentence of the English catalogue
// that Japanese words otherwise, nor a run of English words that is not a
// product name or what the person typed. The walk must reach every GET page
// route in routes.go, so that a new page cannot stay English unseen.
func TestJapaneseEverywhere(t *testing.T) {
	e := newPasskeyEnv(t) // a server with a name, which offers passkeys
	w := &walk{t: t, e: e, pages: map[string]string{}, routes: pageRoutes(t)}
	ctx := context.Background()

	// A new owner: the sign-in page before anything exists, then setup.
	owner := w.browser()
	w.look(owner, "/", http.StatusSeeOther)
	w.look(owner, "/sign-in", http.StatusOK)
	token, err := e.svc.SetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.look(owner, "/setup/"+token, http.StatusOK)
	w.keep("setup error", owner.post("/setup/"+token, url.Values{"name": {jaOrg}, "email": {ownerEmail}, "password": {"short"}}), 400)
	want(t, owner.post("/setup/"+token, url.Values{"name": {jaOrg}, "email": {ownerEmail}, "password": {ownerPwd}}), 303,
		"/account/security?done=welcome")
	w.look(owner, "/setup/"+token, http.StatusGone)
	w.look(owner, "/account/security?done=welcome", http.StatusOK)

	// The authenticator app, its wrong code, and the recovery codes.
	a := owner.post("/account/security/totp", nil)
	want(t, a, 303, a.location)
	body := w.look(owner, a.location, http.StatusOK)
	key := secret(t, body)
	w.keep("wrong app code", owner.post(a.location, url.Values{"code": {wrongCode(e.code(key))}}), 400)
	w.keep("recovery codes", owner.post(a.location, url.Values{"code": {e.code(key)}}), 200)
	w.look(owner, "/account/security?done=codes", http.StatusOK)

	// E-mail and phone methods, up to their code pages.
	w.look(owner, "/account/security/email", http.StatusOK)
	a = owner.post("/account/security/email", url.Values{"address": {"me@elsewhere.example"}})
	want(t, a, 303, a.location)
	w.look(owner, a.location, http.StatusOK)
	w.look(owner, "/account/security/phone", http.StatusOK)
	a = owner.post("/account/security/phone", url.Values{"country": {"JP"}, "phone": {"090-1234-5678"}, "method": {"sms"}})
	want(t, a, 303, a.location)
	w.look(owner, a.location, http.StatusOK)
	w.keep("landline by SMS", owner.post("/account/security/phone", url.Values{"country": {"JP"}, "phone": {"03-1234-5678"},
		"method": {"sms"}}), 400)

	// A passkey, up to the page that has the browser make it.
	w.look(owner, "/account/security/webauthn", http.StatusOK)
	a = owner.post("/account/security/webauthn", url.Values{"label": {"仕事用ノートPC"}})
	want(t, a, 303, a.location)
	w.look(owner, a.location, http.StatusOK)

	// The rest of the account.
	for _, p := range []string{"/account/confirm", "/account/email", "/account/password", "/account/activity"} {
		w.look(owner, p, http.StatusOK)
	}
	w.look(owner, "/account/security/recovery-codes", http.StatusOK)
	w.look(owner, "/account/security/factors/"+find(t, w.look(owner, "/account/security", http.StatusOK),
		`href="/account/security/factors/(fac_[a-z0-9]+)/remove"`)+"/remove", http.StatusOK)
	w.keep("new recovery codes", owner.post("/account/security/recovery-codes", nil), 200)
	w.keep("not yours", owner.post("/account/security/factors/fac_notmine/default", nil), 404)

	// Administration: invite a member, see them, the reset page, the policy.
	want(t, owner.post("/admin/members", url.Values{"email": {jaMember}, "role": {"member"}}), 303, "/admin/members?done=member_invited")
	invite := e.mailed(t, jaMember, "invitation")["link"]
	w.look(owner, "/admin/", http.StatusSeeOther)
	members := w.look(owner, "/admin/members?done=member_invited", http.StatusOK)
	w.look(owner, "/admin/members/"+memberID(t, members, jaMember)+"/reset", http.StatusOK)
	w.look(owner, "/admin/policy", http.StatusOK)
	policy := url.Values{"two_step": {"required"}, "grace_period_days": {"7"}, "allowed_methods": {"totp", "email", "sms", "voice", "webauthn"},
		"min_client_version": {""}}
	w.keep("policy confirmation", owner.post("/admin/policy", policy), 200)
	policy.Set("confirmed", "1")
	want(t, owner.post("/admin/policy", policy), 303, "/admin/policy?done=policy")
	w.look(owner, "/admin/policy?done=policy", http.StatusOK)
	w.look(owner, "/admin/audit", http.StatusOK)
	if err := e.db.AddDevMessage(ctx, &twostep.DevMessage{ID: "msg_1", Channel: "email", To: jaMember,
		Subject: "二段階認証がオンになりました", Text: "こんにちは", At: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	w.look(owner, "/dev/outbox", http.StatusOK)

	// The invited member sets a password, then must enrol at sign-in.
	member := w.browser()
	path, _ := strings.CutPrefix(invite, passkeyOrigin)
	w.look(member, path, http.StatusOK)
	// Setting the password signs in, on to the enrolment the policy requires.
	want(t, member.post(path, url.Values{"password": {joePwd}}), 303, "/sign-in/enrol")
	w.look(member, "/sign-in/enrol", http.StatusOK)
	a = member.post("/sign-in/enrol/totp", nil)
	want(t, a, 303, a.location)
	w.look(member, a.location, http.StatusOK)
	w.look(member, "/sign-in/enrol/email", http.StatusOK)
	a = member.post("/sign-in/enrol/email", url.Values{"address": {jaMember}})
	want(t, a, 303, a.location)
	w.look(member, a.location, http.StatusOK)
	w.look(member, "/sign-in/enrol/webauthn", http.StatusOK)
	a = member.post("/sign-in/enrol/webauthn", url.Values{"label": {"私のキー"}})
	want(t, a, 303, a.location)
	w.look(member, a.location, http.StatusOK)
	w.look(member, "/sign-in/enrol/phone", http.StatusOK)
	a = member.post("/sign-in/enrol/phone", url.Values{"country": {"JP"}, "phone": {"03-1234-5678"}, "method": {"voice"}})
	want(t, a, 303, a.location)
	w.look(member, a.location, http.StatusOK)

	// The owner signs in again: the second step, by app and by recovery code.
	again := w.browser()
	w.keep("wrong password", again.signIn(t, ownerEmail, "not the password"), 401)
	want(t, again.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	w.look(again, "/sign-in/verify", http.StatusOK)
	w.look(again, "/sign-in/verify?method=recovery_code", http.StatusOK)
	w.keep("wrong second-step code", again.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {"000000"}}), 400)

	// Password links: reset, and set by an operator's link.
	anon := w.browser()
	w.look(anon, "/reset-password", http.StatusOK)
	w.keep("reset sent", anon.post("/reset-password", url.Values{"email": {ownerEmail}}), 200)
	reset := e.mailed(t, ownerEmail, "password_reset")["link"]
	path, _ = strings.CutPrefix(reset, passkeyOrigin)
	w.look(anon, path, http.StatusOK)
	w.look(anon, "/reset-password/rst_spent", http.StatusGone)
	acct, err := e.db.AccountByEmail(ctx, ownerEmail)
	if err != nil {
		t.Fatal(err)
	}
	_, setToken, err := e.svc.CreateAccount(ctx, twostep.NewAccount{Org: acct.OrgID, Email: "dave@karbon.example"})
	if err != nil {
		t.Fatal(err)
	}
	w.look(anon, "/set-password/"+setToken, http.StatusOK)
	w.look(anon, "/invite/inv_spent", http.StatusGone)

	for _, r := range w.routes {
		if !w.reached[r] {
			t.Errorf("the walk never reached GET %s: add it to TestJapaneseEverywhere", r)
		}
	}
	english := englishSentences(t)
	for name, body := range w.pages {
		text := visibleText(body)
		if strings.Contains(text, "<no value>") {
			t.Errorf("%s: a message lacks its data: <no value>", name)
		}
		if !strings.Contains(body, `<html lang="ja">`) {
			t.Errorf("%s: not <html lang=\"ja\">", name)
		}
		for _, s := range english {
			if strings.Contains(text, s.text) {
				t.Errorf("%s: English left: %q (from %s)", name, s.text, s.key)
			}
		}
		if words := englishWords(text); len(words) > 0 {
			t.Errorf("%s: English words left: %q", name, words)
		}
	}
}

const (
	jaOrg    = "カーボン会計"
	jaMember = "taro@karbon.example"
)

// walk is a tour of the pages, all in Japanese, that keeps each page it sees.
type walk struct {
	t       *testing.T
	e       *env
	pages   map[string]string // name → HTML
	routes  []string
	reached map[string]bool
}

func (w *walk) browser() *browser {
	b := w.e.browser(w.t)
	b.lang = "ja"
	return b
}

// look GETs path, wants status, keeps the page and notes the route it
// reached; it returns the page.
func (w *walk) look(b *browser, path string, status int) string {
	w.t.Helper()
	a := b.get(path)
	if a.status != status {
		w.t.Fatalf("GET %s: %d, want %d (to %q)\n%s", path, a.status, status, a.location, a.body)
	}
	if w.reached == nil {
		w.reached = map[string]bool{}
	}
	if r := matchRoute(w.routes, path); r != "" {
		w.reached[r] = true
	}
	if a.location == "" {
		w.pages["GET "+path] = a.body
	}
	return a.body
}

// keep keeps the page a form answered with.
func (w *walk) keep(name string, a answer, status int) {
	w.t.Helper()
	if a.status != status {
		w.t.Fatalf("%s: %d, want %d (to %q)\n%s", name, a.status, status, a.location, a.body)
	}
	w.pages[name] = a.body
}

// pageRoutes are the GET patterns of routes.go that answer with a page: all
// but the API, operations and static files.
func pageRoutes(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`HandleFunc\("GET (/[^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		p := m[1]
		if strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/static/") || slices.Contains([]string{"/healthz", "/readyz", "/metrics"}, p) {
			continue
		}
		out = append(out, p)
	}
	for _, m := range regexp.MustCompile(`\{"GET", "(/[^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		out = append(out, securityBase+m[1], enrolBase+m[1])
	}
	if len(out) < 20 {
		t.Fatalf("found only %d page routes in routes.go: %q", len(out), out)
	}
	return out
}

// matchRoute is the pattern among routes that a ServeMux would give path.
func matchRoute(routes []string, path string) string {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.HandleFunc("GET "+r, func(http.ResponseWriter, *http.Request) {})
	}
	req, err := http.NewRequest("GET", "http://x"+path, nil)
	if err != nil {
		return ""
	}
	_, pattern := mux.Handler(req)
	return strings.TrimPrefix(pattern, "GET ")
}

var (
	scriptOrStyle = regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)>`)
	shownAttr     = regexp.MustCompile(`\b(?:alt|title|aria-label|placeholder)="([^"]*)"`)
	tag           = regexp.MustCompile(`(?s)<[^>]*>`)
)

// visibleText is what a person reads on the page, or hears from a screen
// reader: the text between tags and the attributes said aloud, one line each.
func visibleText(body string) string {
	body = scriptOrStyle.ReplaceAllString(body, "\n")
	var b strings.Builder
	for _, m := range shownAttr.FindAllStringSubmatch(body, -1) {
		b.WriteString(m[1] + "\n")
	}
	b.WriteString(tag.ReplaceAllString(body, "\n"))
	return html.UnescapeString(b.String())
}

type sentence struct{ key, text string }

// englishSentences are the literal parts of the English catalogue, four
// words or more, that Japanese words otherwise.
func englishSentences(t *testing.T) []sentence {
	t.Helper()
	en, ja := catalogueFile(t, "en.json"), catalogueFile(t, "ja.json")
	var out []sentence
	for key, v := range en {
		if ja[key] == v {
			continue
		}
		for _, part := range literalParts(t, v) {
			part = strings.TrimSpace(part)
			if len(strings.Fields(part)) >= 4 {
				out = append(out, sentence{key, part})
			}
		}
	}
	return out
}

// literalParts are the text between the actions of a message template.
func literalParts(t *testing.T, s string) []string {
	t.Helper()
	trees, err := parse.Parse("m", s, "{{", "}}")
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	var out []string
	for _, n := range trees["m"].Root.Nodes {
		if tn, ok := n.(*parse.TextNode); ok {
			out = append(out, string(tn.Text))
		}
	}
	return out
}

// notEnglish are the names and codes a Japanese page may show in Latin
// letters: products, the standards people meet on screen, and what the
// test itself typed.
var notEnglish = []string{
	"Google Authenticator", "Microsoft Authenticator", "Authy", "Okta Verify", "Twostep", "Go-http-client",
	"twostep serve", "twostep org create", "CLIP STUDIO", "Verify API", "Ctrl+P", "name@example.com",
	"abcd-efgh-ijkl-mnop", "https://app.example.com/callback",
}

// englishRun is two words or more with a lower-case letter each: keys and
// codes (ZMBQ DLCZ) and acronyms (QR, SMS) are in capitals.
var englishRun = regexp.MustCompile(`[A-Za-z'’-]*[a-z][A-Za-z'’-]*(?:[ ,]+[A-Za-z'’-]*[a-z][A-Za-z'’-]*)+`)

// englishWords are the runs of two Latin words or more left in text once the
// names, addresses and codes that are no language's are taken out.
func englishWords(text string) []string {
	for _, s := range notEnglish {
		text = strings.ReplaceAll(text, s, " ")
	}
	text = regexp.MustCompile(`[\w.+-]+@[\w.-]+|https?://\S+`).ReplaceAllString(text, " ")
	return englishRun.FindAllString(text, -1)
}
