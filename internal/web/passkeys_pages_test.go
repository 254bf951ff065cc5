package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/passkey"
	"github.com/twostep/twostep/internal/passkey/softkey"
)

// The pages' side of passkeys (API.md §11) with softkey playing the browser's
// authenticator: what the page hands the browser (data-options) is answered
// as navigator.credentials would, and the answer goes back by the page's own
// form. The chromedp tests in cmd/twostep do the same with Chrome's virtual
// authenticator and the real webauthn.js.

// passkeyOrigin is the base URL of the passkey tests' server: a name, as
// WebAuthn needs.
const passkeyOrigin = "http://localhost:8080"

func newPasskeyEnv(t *testing.T) *env {
	t.Helper()
	rp, err := passkey.New(passkey.Options{BaseURL: passkeyOrigin})
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, envOptions{BaseURL: passkeyOrigin, Authenticators: rp})
}

// passkeyOptions is the options JSON a page hands webauthn.js.
func passkeyOptions(t *testing.T, body string) json.RawMessage {
	t.Helper()
	return json.RawMessage(find(t, body, `data-options="([^"]+)"`))
}

// addPasskey adds a passkey named label from the security page and returns
// the key and the answer to its registration.
func (e *env) addPasskey(t *testing.T, b *browser, label string, uv bool) (*softkey.Key, answer) {
	t.Helper()
	want(t, b.get("/account/security"), 200, "", "Add a passkey or security key")
	a := b.get("/account/security/webauthn")
	want(t, a, 200, "", "Add a passkey or security key", "Name", "on a security key")
	a = b.post("/account/security/webauthn", url.Values{"label": {label}})
	if a.status != 303 || !strings.HasPrefix(a.location, "/account/security/webauthn/fac_") {
		t.Fatalf("adding a passkey: %d %q\n%s", a.status, a.location, a.body)
	}
	page := a.location
	a = b.get(page)
	want(t, a, 200, "", "Create the passkey", "Name: "+label+".", "Passkeys need JavaScript")
	key, cred, err := softkey.Create(passkeyOptions(t, a.body), passkeyOrigin, softkey.Tamper{UV: uv})
	if err != nil {
		t.Fatal(err)
	}
	return key, b.post(page, url.Values{"credential": {string(cred)}})
}

// beginPasswordless asks for a passwordless sign-in where the sign-in page's
// script does (data-begin), and returns its token and options.
func (b *browser) beginPasswordless(t *testing.T, signInPage string) (string, json.RawMessage) {
	t.Helper()
	begin := find(t, signInPage, `data-begin="([^"]+)"`)
	req, err := http.NewRequest("POST", b.e.srv.URL+begin, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		SignInToken string          `json:"sign_in_token"`
		Options     json.RawMessage `json:"options"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || out.SignInToken == "" {
		t.Fatalf("POST %s: %d %+v %v", begin, res.StatusCode, out, err)
	}
	return out.SignInToken, out.Options
}

// TestPasskeyPages: a person adds a passkey (names it), sees it on the
// security page, renames it, uses it at the second step and then instead of
// the password; a key that did not verify its holder cannot replace the
// password (WA-03) and a key no account has is refused in words.
func TestPasskeyPages(t *testing.T) {
	e := newPasskeyEnv(t)
	b := e.setUp(t)
	key, a := e.addPasskey(t, b, "Work laptop", true)
	want(t, a, 200, "", "Download (.txt)")
	if n := len(recoveryCodes(t, a.body)); n != 10 {
		t.Fatalf("%d recovery codes after the first method", n)
	}
	a = b.get("/account/security")
	want(t, a, 200, "", "Passkey or security key — Work laptop", "Last used", `value="Work laptop"`)
	id := find(t, a.body, `action="/account/security/factors/(fac_[^/"]+)/label"`)
	want(t, b.post("/account/security/factors/"+id+"/label", url.Values{"label": {"Blue key"}}), 303, "/account/security?done=renamed")
	want(t, b.get("/account/security?done=renamed"), 200, "", "Name changed.", "Passkey or security key — Blue key")

	// The second step.
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	a = b.get("/sign-in")
	want(t, a, 200, "", `autocomplete="username webauthn"`, "Sign in with a passkey", "Signing in with a passkey needs JavaScript")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	a = b.get("/sign-in/verify")
	want(t, a, 200, "", "Passkey or security key", "Use my passkey or security key", `data-webauthn="get"`)
	cred, err := key.Get(passkeyOptions(t, a.body), passkeyOrigin, softkey.Tamper{UV: true})
	if err != nil {
		t.Fatal(err)
	}
	want(t, b.post("/sign-in/verify", url.Values{"method": {"webauthn"}, "credential": {string(cred)}}), 303, "/account/security")

	// Without the password.
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	token, opts := b.beginPasswordless(t, b.get("/sign-in").body)
	cred, err = key.Get(opts, passkeyOrigin, softkey.Tamper{UV: true})
	if err != nil {
		t.Fatal(err)
	}
	want(t, b.post("/sign-in/passkey", url.Values{"sign_in_token": {token}, "credential": {string(cred)}}), 303, "/account/security")
	want(t, b.get("/account/security"), 200, "", "Blue key")

	// WA-03: presence alone does not replace the password.
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	token, opts = b.beginPasswordless(t, b.get("/sign-in").body)
	cred, err = key.Get(opts, passkeyOrigin, softkey.Tamper{UV: false})
	if err != nil {
		t.Fatal(err)
	}
	a = b.post("/sign-in/passkey", url.Values{"sign_in_token": {token}, "credential": {string(cred)}})
	want(t, a, 400, "", "did not verify you", "password")
	want(t, b.get("/account/security"), 303, "/sign-in")

	// A key no account here has (made for the same site elsewhere).
	other, _, err := softkey.Create(json.RawMessage(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rp":{"id":"localhost","name":"x"},"user":{"id":"b3RoZXI","name":"x","displayName":"x"}}}`),
		passkeyOrigin, softkey.Tamper{UV: true})
	if err != nil {
		t.Fatal(err)
	}
	token, opts = b.beginPasswordless(t, b.get("/sign-in").body)
	cred, err = other.Get(opts, passkeyOrigin, softkey.Tamper{UV: true})
	if err != nil {
		t.Fatal(err)
	}
	a = b.post("/sign-in/passkey", url.Values{"sign_in_token": {token}, "credential": {string(cred)}})
	want(t, a, 401, "", "does not belong to any account here")
	for name, body := range b.seen {
		checkLabels(t, name, body)
	}
}

// TestPasskeyRegistrationRefused: an answer to the creation options that
// fails WebAuthn's checks leaves the key pending and says so, with new options
// to try again (WA-02); the same key again is refused (WA-05).
func TestPasskeyRegistrationRefused(t *testing.T) {
	e := newPasskeyEnv(t)
	b := e.setUp(t)
	a := b.post("/account/security/webauthn", url.Values{"label": {"Key"}})
	page := a.location
	a = b.get(page)
	first := passkeyOptions(t, a.body)
	_, cred, err := softkey.Create(first, passkeyOrigin, softkey.Tamper{UV: true, Origin: "http://localhost.evil.example"})
	if err != nil {
		t.Fatal(err)
	}
	a = b.post(page, url.Values{"credential": {string(cred)}})
	if a.status != 400 || !strings.Contains(a.body, `data-webauthn="create"`) {
		t.Fatalf("a wrong origin: %d\n%s", a.status, a.body)
	}
	if again := passkeyOptions(t, a.body); string(again) == string(first) {
		t.Errorf("the page offers the spent options again")
	}
	want(t, b.get("/account/security"), 200, "", "Passkey or security key — Key")
}

// TestPasskeyUnavailableOnIP: with a base URL whose host is an IP address the
// pages offer no passkey and say why, on the security and policy pages; the
// sign-in page asks no autofill for one.
func TestPasskeyUnavailableOnIP(t *testing.T) {
	e := newEnv(t) // http://127.0.0.1
	b := e.setUp(t)
	a := b.get("/account/security")
	want(t, a, 200, "", "Passkeys and security keys are not available on this server: its address (127.0.0.1) is an IP address")
	wantNot(t, a, "Add a passkey or security key")
	want(t, b.get("/admin/policy"), 200, "", "its address (127.0.0.1) is an IP address", "Owners and administrators must use a passkey")
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	a = b.get("/sign-in")
	want(t, a, 200, "", `autocomplete="username"`)
	wantNot(t, a, "data-webauthn", "username webauthn", "Sign in with a passkey")
}

// TestPasskeyPolicy: owners choose that admins and owners must use a
// passkey; it needs passkeys among the allowed methods, and says so on the
// field.
func TestPasskeyPolicy(t *testing.T) {
	e := newPasskeyEnv(t)
	b := e.setUp(t)
	a := b.get("/admin/policy")
	want(t, a, 200, "", `id="allowed_methods-webauthn" name="allowed_methods" value="webauthn" checked`, "Passkey or security key",
		"Owners and administrators must use a passkey or security key")
	wantNot(t, a, `id="admins_phishing_resistant" name="admins_phishing_resistant" value="1" checked`)
	form := url.Values{"two_step": {"optional"}, "grace_period_days": {"0"}, "allowed_methods": {"totp", "email"},
		"remember_device_days": {"0"}, "admins_phishing_resistant": {"1"}}
	a = b.post("/admin/policy", form)
	if a.status != 400 || !strings.Contains(a.body, `aria-invalid="true"`) {
		t.Fatalf("admins_phishing_resistant without webauthn: %d\n%s", a.status, a.body)
	}
	form["allowed_methods"] = []string{"totp", "webauthn"}
	want(t, b.post("/admin/policy", form), 303, "/admin/policy?done=policy")
	want(t, b.get("/admin/policy"), 200, "", `id="admins_phishing_resistant" name="admins_phishing_resistant" value="1" checked`)
}

// TestPasskeyPagesFrench: the passkey pages speak French.
func TestPasskeyPagesFrench(t *testing.T) {
	e := newPasskeyEnv(t)
	b := e.setUp(t)
	b.lang = "fr"
	want(t, b.get("/account/security/webauthn"), 200, "", "Ajouter une clé d’accès ou une clé de sécurité")
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.get("/sign-in"), 200, "", "Se connecter avec une clé d’accès")
}

// TestPasskeyEnrolAdmins: once owners and admins must use a passkey, the
// owner's next sign-in leads to setting one up (at /sign-in/enrol, the same
// pages), and then goes on.
func TestPasskeyEnrolAdmins(t *testing.T) {
	e := newPasskeyEnv(t)
	b := e.setUp(t)
	form := url.Values{"two_step": {"optional"}, "grace_period_days": {"0"}, "allowed_methods": {"totp", "webauthn"},
		"remember_device_days": {"0"}, "admins_phishing_resistant": {"1"}}
	want(t, b.post("/admin/policy", form), 303, "/admin/policy?done=policy")
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/enrol")
	a := b.get("/sign-in/enrol")
	want(t, a, 200, "", "requires owners and administrators to sign in with a passkey", "Add a passkey or security key")
	wantNot(t, a, "Add an authenticator app")
	want(t, b.get("/sign-in/enrol/webauthn"), 200, "", "Name")
	a = b.post("/sign-in/enrol/webauthn", url.Values{"label": {"Owner's key"}})
	if a.status != 303 || !strings.HasPrefix(a.location, "/sign-in/enrol/webauthn/fac_") {
		t.Fatalf("adding a passkey at enrolment: %d %q\n%s", a.status, a.location, a.body)
	}
	page := a.location
	a = b.get(page)
	want(t, a, 200, "", "Create the passkey", "Name: Owner's key.")
	_, cred, err := softkey.Create(passkeyOptions(t, a.body), passkeyOrigin, softkey.Tamper{UV: true})
	if err != nil {
		t.Fatal(err)
	}
	a = b.post(page, url.Values{"credential": {string(cred)}})
	want(t, a, 200, "", "Download (.txt)")
	want(t, b.post("/sign-in/enrol/complete", nil), 303, "/account/security?done=enabled")
	want(t, b.get("/account/security"), 200, "", "Passkey or security key — Owner's key")
}

// TestSecurityPageSaysWhatSignInAsks: the security page's "two-step is on"
// sentence says what signing in asks after the password: the key when the
// account has only keys, a code or the key once it also has an app.
func TestSecurityPageSaysWhatSignInAsks(t *testing.T) {
	e := newPasskeyEnv(t)
	b := e.setUp(t)
	e.addPasskey(t, b, "Work laptop", true)
	if d := e.mailed(t, ownerEmail, "two_step_enabled"); d["method"] != "webauthn" {
		t.Errorf("two_step_enabled data %v, want method webauthn", d)
	}
	a := b.get("/account/security")
	want(t, a, 200, "", "When you sign in, you enter your password and then use your passkey or security key.")
	if strings.Contains(a.body, "and then a code") {
		t.Errorf("a key-only account is told it enters a code:\n%s", a.body)
	}
	e.enrol(t, b)
	want(t, b.get("/account/security"), 200, "", "When you sign in, you enter your password and then a code or your passkey or security key.")
}
