package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// passkeyServer starts the binary with a base URL whose host is a name
// (WebAuthn refuses IP addresses): http://localhost:PORT, listening on
// 127.0.0.1:PORT. Its url is the base URL: the browser's cookies are
// localhost's.
func passkeyServer(t *testing.T) *server {
	t.Helper()
	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	srv := serveOn(t, t.TempDir(), fmt.Sprintf("127.0.0.1:%d", port), []string{"TWOSTEP_BASE_URL=" + base})
	srv.url = base
	return srv
}

// virtualAuthenticator gives the browser a platform authenticator (CTAP 2.1,
// internal transport, resident keys, user verification that succeeds when uv)
// that answers at once, as Chrome's WebAuthn test domain does.
func virtualAuthenticator(t *testing.T, ctx context.Context, uv bool) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true, IsUserVerified: true,
			AutomaticPresenceSimulation: true}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	if !uv {
		// A key that tested presence only: its answers carry UV=0 (Chrome
		// fails a request outright when verification is tried and fails).
		bad := true
		if _, err := chromedp.Call(ctx, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{
			AuthenticatorID: res.AuthenticatorID, IsBadUV: &bad}); err != nil {
			t.Fatalf("WebAuthn.setResponseOverrideBits: %v", err)
		}
	}
	return res.AuthenticatorID
}

// addCredential is WebAuthn.addCredential with only the fields this
// authenticator takes (cdproto's Credential always sends CMTG fields, which
// Chrome refuses for it).
var addCredential = cdp.Command[struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      credentialParams         `json:"credential"`
}, cdp.Empty]{Method: webauthn.CommandAddCredential}

type credentialParams struct {
	CredentialID         string `json:"credentialId"` // base64
	IsResidentCredential bool   `json:"isResidentCredential"`
	RpID                 string `json:"rpId"`
	PrivateKey           string `json:"privateKey"` // base64 PKCS#8
	UserHandle           string `json:"userHandle"` // base64
	SignCount            int    `json:"signCount"`
}

// stepsWithin is steps, each run of it given at most d: a ceremony that
// never ends fails with the page as it stands (its URL and words), not at the
// browser's deadline with nothing to show.
func stepsWithin(t *testing.T, ctx context.Context, d time.Duration) func(what string, actions ...chromedp.Action[chromedp.Void]) {
	// The browser lives as long as the context its first run had: this one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	return func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\nat %s, the page says:\n%s", what, err, loc, body)
		}
	}
}

// presence turns the authenticator's automatic answer to user-presence
// tests on or off: off, a request waits as for a person who has not touched
// anything yet.
func presence(id webauthn.AuthenticatorID, on bool) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, webauthn.SetAutomaticPresenceSimulation,
			webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: id, Enabled: on})
		return chromedp.Void{}, err
	}
}

// lastSignIn is the amr of the account's newest sign-in, as its activity in
// the JSON API says (the browser's session cookie authenticates it).
func lastSignIn(t *testing.T, ctx context.Context, srv *server) []string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.url+"/api/v1/account/activity?limit=20")); err != nil {
		t.Fatal(err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	var evs []struct {
		Type   string `json:"type"`
		Detail struct {
			AMR []string `json:"amr"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &evs); err != nil {
		t.Fatalf("activity: %v\n%s", err, body)
	}
	for _, e := range evs {
		if e.Type == "sign_in.succeeded" {
			return e.Detail.AMR
		}
	}
	t.Fatalf("no sign-in in the activity:\n%s", body)
	return nil
}

// TestBrowserPasskeys: in chromium against the real binary, with Chrome's
// virtual authenticator, a person adds a passkey from the security settings
// (naming it), signs in with it as the second step after the password, and
// then with it alone from the sign-in page's button (API.md §11). With user
// verification the key alone is enough (amr hwk, user, mfa); without it the
// key still serves as the second step (no mfa) but cannot replace the
// password (WA-03). A second authenticator holding a key this server does not
// know is refused in words.
func TestBrowserPasskeys(t *testing.T) {
	for _, uv := range []bool{true, false} {
		t.Run(fmt.Sprintf("uv=%v", uv), func(t *testing.T) { browserPasskeys(t, uv) })
	}
}

func browserPasskeys(t *testing.T, uv bool) {
	ctx := browser(t)
	srv := passkeyServer(t)
	setup := setupLink(t, srv)
	if !strings.HasPrefix(setup[1], "http://localhost:") {
		t.Fatalf("setup link %q is not on localhost", setup[1])
	}
	const pw = "a long and good password"
	run := stepsWithin(t, ctx, 30*time.Second)
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return v
	}
	auth := virtualAuthenticator(t, ctx, uv)

	run("first-run setup, then add a passkey named Work laptop",
		chromedp.Navigate(setup[1]),
		chromedp.SendKeys(chromedp.CSS("#name"), "Cloud Legal"),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/security/webauthn"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/account/security/webauthn"]`)),
		chromedp.WaitVisible(chromedp.CSS("#label")),
		chromedp.SendKeys(chromedp.CSS("#label"), "Work laptop"),
		chromedp.Submit(chromedp.CSS("#label")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-start")),
		chromedp.Click(chromedp.CSS("#passkey-start")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
		chromedp.Click(chromedp.CSS(`a[href="/account/security?done=codes"]`)),
		chromedp.WaitVisible(chromedp.CSS("ul.methods")),
	)
	if m := text("ul.methods"); !strings.Contains(m, "Passkey or security key — Work laptop") || !strings.Contains(m, "Last used") {
		t.Errorf("the security page lists:\n%s", m)
	}

	// The autofill's request waits on the sign-in page while nobody touches
	// the key; the password form lets it go before it leaves the page.
	run("sign out, sign in with the password, then the passkey as the second step",
		presence(auth, false),
		chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#passkey-start")),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`[data-webauthn="get"] #passkey-start`)),
		presence(auth, true),
		chromedp.Click(chromedp.CSS("#passkey-start")),
		chromedp.WaitVisible(chromedp.CSS("p.state.on")),
	)
	wantAMR := []string{"pwd", "hwk", "user"}
	if uv {
		wantAMR = append(wantAMR, "mfa")
	}
	if got := lastSignIn(t, ctx, srv); !slices.Equal(got, wantAMR) {
		t.Errorf("password and key: amr %v, want %v", got, wantAMR)
	}

	// Without the password: the button, the autofill's request set aside.
	run("sign out, and sign in with the passkey's button",
		chromedp.Navigate(srv.url+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
		presence(auth, false),
		chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#passkey-start")),
		// Presence before the click: a modal request that starts while the
		// authenticator has no presence may wait for ever, whatever comes
		// after. The autofill's pending request may then take the key first
		// and the page leave before the click: the answer is the same, so
		// the click is made only if the button is still there.
		presence(auth, true),
		chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			// A page on its way out has no button to click: not an error.
			_, _ = chromedp.Evaluate[chromedp.Void](`void document.querySelector("#passkey-start")?.click()`)(ctx, t)
			return chromedp.Void{}, nil
		}),
	)
	passwordless := func(how string) {
		t.Helper()
		if !uv {
			// WA-03: the key did not verify its holder.
			run(how+": refused", chromedp.WaitVisible(chromedp.CSS("#form-error")))
			if e := text("#form-error"); !strings.Contains(e, "did not verify you") || !strings.Contains(e, "password") {
				t.Errorf("%s: a passwordless sign-in without user verification says %q", how, e)
			}
			return
		}
		run(how+": signed in", chromedp.WaitVisible(chromedp.CSS("p.state.on")))
		if got := lastSignIn(t, ctx, srv); !slices.Equal(got, []string{"hwk", "user", "mfa"}) {
			t.Errorf("%s: amr %v, want [hwk user mfa]", how, got)
		}
		run(how+": sign out", chromedp.Navigate(srv.url+"/account/security"),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
			presence(auth, false), // else the autofill signs in again at once
			chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
			chromedp.WaitVisible(chromedp.CSS("#passkey-start")))
	}
	passwordless("the button")

	// The browser's autofill (conditional mediation): Chrome's virtual
	// authenticator picks the passkey by itself as soon as the page asks.
	run("the autofill", presence(auth, true), chromedp.Navigate(srv.url+"/sign-in"))
	passwordless("the autofill")

	// A second authenticator, whose key this server never saw (made for
	// localhost elsewhere), and the first one gone.
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: auth}); err != nil {
		t.Fatal(err)
	}
	other := virtualAuthenticator(t, ctx, true)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	b64 := base64.StdEncoding.EncodeToString
	if _, err := chromedp.Call(ctx, addCredential, struct {
		AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
		Credential      credentialParams         `json:"credential"`
	}{other, credentialParams{CredentialID: b64(id), IsResidentCredential: true, RpID: "localhost", PrivateKey: b64(pkcs8),
		UserHandle: b64([]byte("someone-elsewhere")), SignCount: 1}}); err != nil {
		t.Fatalf("WebAuthn.addCredential: %v", err)
	}
	// The autofill offers it, and the virtual authenticator picks it at once.
	run("a key this server does not know",
		chromedp.Navigate(srv.url+"/sign-in"),
		chromedp.WaitVisible(chromedp.CSS("#form-error")),
	)
	if e := text("#form-error"); !strings.Contains(e, "does not belong to any account here") {
		t.Errorf("an unknown key: the page says %q", e)
	}
	// As the second step, the browser finds none of the account's keys on it.
	run("the second step with only that key",
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`[data-webauthn="get"] #passkey-start`)),
		chromedp.Click(chromedp.CSS("#passkey-start")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-error")),
	)
	if e := text("#passkey-error"); !strings.Contains(e, "this device has none for this account") {
		t.Errorf("the second step with a key the account does not have says %q", e)
	}
}

// TestReadmePasskeys runs the README's passkey command (its port made free)
// and checks what the README says follows: the setup link is on localhost,
// and the security settings offer "Add a passkey or security key"; with the
// default base URL they say why there is none.
func TestReadmePasskeys(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Passkeys and security keys\n")
	if start < 0 {
		t.Fatal(`the README has no "Passkeys and security keys" section`)
	}
	section = section[start+1:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	var line string
	for _, l := range strings.Split(section, "\n") {
		if strings.HasPrefix(l, "TWOSTEP_BASE_URL=") {
			line = l
		}
	}
	// VAR=value … then the command: the quick start's, with nothing else.
	fields := strings.Fields(line)
	var env []string
	for len(fields) > 0 && strings.Contains(fields[0], "=") {
		env, fields = append(env, fields[0]), fields[1:]
	}
	if strings.Join(fields, " ") != "go run ./cmd/twostep serve" || len(env) != 1 || env[0] != "TWOSTEP_BASE_URL=http://localhost:8080" {
		t.Fatalf("the README's passkey line is %q", line)
	}
	port := freePort(t)
	env[0] = strings.Replace(env[0], "8080", strconv.Itoa(port), 1)
	srv := serveOn(t, t.TempDir(), fmt.Sprintf("127.0.0.1:%d", port), env)
	srv.url = fmt.Sprintf("http://localhost:%d", port)
	if link := setupLink(t, srv)[1]; !strings.HasPrefix(link, srv.url+"/setup/") {
		t.Fatalf("the setup link %q is not on %s", link, srv.url)
	}
	security := func(srv *server) string {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		res, err := c.PostForm(setupLink(t, srv)[1], url.Values{"name": {"Cloud Legal"}, "email": {"owner@example.com"},
			"password": {"a long and good password"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasSuffix(res.Request.URL.Path, "/account/security") {
			t.Fatalf("setup: %d at %s\n%s", res.StatusCode, res.Request.URL, body)
		}
		return html.UnescapeString(string(body))
	}
	if page := security(srv); !strings.Contains(page, "Add a passkey or security key") {
		t.Errorf("with the README's base URL the security settings offer no passkey:\n%s", page)
	}
	if page := security(serve(t, t.TempDir(), nil)); strings.Contains(page, "Add a passkey or security key") ||
		!strings.Contains(page, "is an IP address, and browsers use passkeys only with a domain name") {
		t.Errorf("with the default base URL the security settings say:\n%s", page)
	}
}

// TestBrowserPasskeysWithoutWebAuthn: a browser without WebAuthn, and one
// with JavaScript off, are told on the sign-in page that passkeys cannot
// work there and to use the password; no button that cannot work is shown.
func TestBrowserPasskeysWithoutWebAuthn(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	if r := runCmd(t, dir, nil, "a long and good password\n", "org", "create", "--name", "Cloud Legal", "--owner", "ann@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	base := fmt.Sprintf("http://localhost:%d", port)
	serveOn(t, dir, fmt.Sprintf("127.0.0.1:%d", port), []string{"TWOSTEP_BASE_URL=" + base})
	for _, tc := range []struct {
		name, want string
		setup      chromedp.Action[chromedp.Void]
	}{
		{"no WebAuthn", "This browser cannot use passkeys: sign in with your e-mail and password above.",
			func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
				_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument,
					page.AddScriptToEvaluateOnNewDocumentParams{Source: "delete window.PublicKeyCredential;"})
				return chromedp.Void{}, err
			}},
		{"JavaScript off", "Signing in with a passkey needs JavaScript, which is off in this browser: sign in with your e-mail and password above.",
			func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
				_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
				return chromedp.Void{}, err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := browser(t)
			run := stepsWithin(t, ctx, 30*time.Second)
			run("open the sign-in page", tc.setup, chromedp.Navigate(base+"/sign-in"), chromedp.WaitVisible(chromedp.CSS("#email")))
			got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".passkey *")].filter(e => e.checkVisibility() && e.children.length === 0 && e.textContent.trim()).map(e => e.textContent.trim())`))
			if err != nil {
				// Without JavaScript, Evaluate (the test's own script) still runs.
				t.Fatal(err)
			}
			if !slices.Equal(got, []string{tc.want}) {
				t.Errorf("the passkey part of the sign-in page shows %q, want only %q", got, tc.want)
			}
		})
	}
}
