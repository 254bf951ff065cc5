package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/twostep/twostep/internal/passkey/softkey"
)

// localhostBase returns a free loopback port and the base URL on localhost
// (a name: WebAuthn is offered) that a server listening there has.
func localhostBase(t *testing.T) (int, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port, fmt.Sprintf("http://localhost:%d", port)
}

// servePasskeys starts the binary on port with env, whose TWOSTEP_BASE_URL
// is base (from localhostBase).
func servePasskeys(t *testing.T, dir string, env []string, port int, base string) *server {
	t.Helper()
	s := &server{url: base, cmd: exec.Command(binary, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port))}
	s.cmd.Dir = dir
	s.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t, syscall.SIGKILL) })
	// A minute: on PostgreSQL a start migrates a new schema, which took more
	// than 20 s on these 2 cores under a load of ten.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if strings.Contains(s.output(), "is running at") {
				return s
			}
		}
	}
	t.Fatalf("serve did not start:\n%s", s.output())
	return nil
}

// apiCall posts body as JSON to the server's API and decodes the answer.
func apiCall(t *testing.T, srv *server, path, token string, body any) (int, map[string]any) {
	t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", srv.url+path, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func rawJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil || v == nil {
		t.Fatalf("options %v: %v", v, err)
	}
	return b
}

// passkeyMember starts the binary on a localhost base URL (passkeys
// offered) with a product "notes" and one member who has an authenticator
// app and a key (UV capable), and returns them.
func passkeyMember(t *testing.T) (*server, *account, *rp, *softkey.Key) {
	t.Helper()
	dir := t.TempDir()
	port, base := localhostBase(t)
	env := []string{"TWOSTEP_LOG_FORMAT=json", "TWOSTEP_BASE_URL=" + base}
	if pg := postgresURL(t); pg != "" {
		env = append(env, "TWOSTEP_DATABASE_URL="+pg)
	}
	srv := servePasskeys(t, dir, env, port, base)
	if strings.Contains(srv.output(), "Passkeys and security keys are not offered") {
		t.Fatalf("a localhost base URL should offer passkeys:\n%s", srv.output())
	}
	a := prepare(t, dir, env, "acme", 1)[0]
	notes := newRP(t, dir, env, srv, "notes")

	// The member signs in with the app, then registers a key.
	st, b := apiCall(t, srv, "/api/v1/sign-in", "", map[string]string{"email": a.email, "password": a.password})
	if st != 200 || b["status"] != "second_step" {
		t.Fatalf("sign-in: %d %v", st, b)
	}
	st, b = apiCall(t, srv, "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": b["sign_in_token"].(string), "method": "totp", "code": a.code(t)})
	if st != 200 {
		t.Fatalf("totp: %d %v", st, b)
	}
	session := b["session_token"].(string)
	st, b = apiCall(t, srv, "/api/v1/account/factors", session, map[string]string{"method": "webauthn", "label": "YubiKey"})
	if st != 201 {
		t.Fatalf("add key: %d %v", st, b)
	}
	key, cred, err := softkey.Create(rawJSON(t, b["options"]), srv.url, softkey.Tamper{UV: true})
	if err != nil {
		t.Fatal(err)
	}
	if st, b := apiCall(t, srv, "/api/v1/account/factors/"+b["id"].(string)+"/verify", session, map[string]any{"credential": cred}); st != 200 {
		t.Fatalf("verify key: %d %v", st, b)
	}
	return srv, a, notes, key
}

// TestOIDCPasskeyACR: through the real binary and a product's standard
// OIDC client, a session earned by a passkey that verified its holder gives
// acr phishing-resistant and amr hwk, user, mfa; a key without user
// verification as the second step gives acr two-step and amr pwd, hwk, user
// (OP-04: acr and amr say what happened, never more; RFC 8176).
func TestOIDCPasskeyACR(t *testing.T) { // OP-04, WA-03
	srv, a, notes, key := passkeyMember(t)
	var cred json.RawMessage
	var err error
	var st int
	var b map[string]any
	// flow sends a browser holding session token to the product and returns the ID token's claims.
	flow := func(token string) claims {
		t.Helper()
		browser := newWebClient(t)
		u, _ := url.Parse(srv.url)
		browser.c.Jar.SetCookies(u, []*http.Cookie{{Name: "twostep_session", Value: token, Path: "/"}})
		authURL, f := notes.authURL()
		_, at, page := browser.do("GET", authURL, nil)
		if !strings.HasPrefix(at, notes.conf.RedirectURL) {
			t.Fatalf("a live session should go straight back to the product; landed at %s\n%.300s", at, page)
		}
		_, _, c := notes.exchange(notes.codeFrom(at, f), f)
		return c
	}

	// Passwordless, the key verifying its holder.
	st, b = apiCall(t, srv, "/api/v1/sign-in/passkey", "", nil)
	if st != 200 {
		t.Fatalf("passkey sign-in: %d %v", st, b)
	}
	token := b["sign_in_token"].(string)
	cred, err = key.Get(rawJSON(t, b["options"]), srv.url, softkey.Tamper{UV: true})
	if err != nil {
		t.Fatal(err)
	}
	st, b = apiCall(t, srv, "/api/v1/sign-in/verify", "", map[string]any{"sign_in_token": token, "method": "webauthn", "credential": cred})
	if st != 200 || b["status"] != "signed_in" {
		t.Fatalf("passkey verify: %d %v", st, b)
	}
	c := flow(b["session_token"].(string))
	if diff := cmp.Diff([]string{"hwk", "user", "mfa"}, c.AMR); c.ACR != "urn:twostep:acr:phishing-resistant" || diff != "" {
		t.Errorf("passkey: acr %q, amr (-want +got) %s", c.ACR, diff)
	}

	// Password, then the key without user verification.
	st, b = apiCall(t, srv, "/api/v1/sign-in", "", map[string]string{"email": a.email, "password": a.password})
	if st != 200 || b["status"] != "second_step" {
		t.Fatalf("sign-in: %d %v", st, b)
	}
	token = b["sign_in_token"].(string)
	var opts json.RawMessage
	for _, m := range b["methods"].([]any) {
		if m := m.(map[string]any); m["method"] == "webauthn" {
			opts = rawJSON(t, m["options"])
		}
	}
	cred, err = key.Get(opts, srv.url, softkey.Tamper{})
	if err != nil {
		t.Fatal(err)
	}
	st, b = apiCall(t, srv, "/api/v1/sign-in/verify", "", map[string]any{"sign_in_token": token, "method": "webauthn", "credential": cred})
	if st != 200 || b["status"] != "signed_in" {
		t.Fatalf("key as second step: %d %v", st, b)
	}
	c = flow(b["session_token"].(string))
	if diff := cmp.Diff([]string{"pwd", "hwk", "user"}, c.AMR); c.ACR != "urn:twostep:acr:two-step" || diff != "" {
		t.Errorf("key without UV: acr %q, amr (-want +got) %s", c.ACR, diff)
	}
}

// withSession returns a browser that holds the session token.
func withSession(t *testing.T, srv *server, token string) *webClient {
	browser := newWebClient(t)
	u, _ := url.Parse(srv.url)
	browser.c.Jar.SetCookies(u, []*http.Cookie{{Name: "twostep_session", Value: token, Path: "/"}})
	return browser
}

// apiSession signs the member in through the API with the password, then
// with second (which answers the sign-in's methods), and returns the session token.
func apiSession(t *testing.T, srv *server, a *account, second func(token string, methods []any) map[string]any) string {
	t.Helper()
	st, b := apiCall(t, srv, "/api/v1/sign-in", "", map[string]string{"email": a.email, "password": a.password})
	if st != 200 || b["status"] != "second_step" {
		t.Fatalf("sign-in: %d %v", st, b)
	}
	st, b = apiCall(t, srv, "/api/v1/sign-in/verify", "", second(b["sign_in_token"].(string), b["methods"].([]any)))
	if st != 200 || b["status"] != "signed_in" {
		t.Fatalf("second step: %d %v", st, b)
	}
	return b["session_token"].(string)
}

var dataOptions = regexp.MustCompile(`data-options="([^"]*)"`)

// TestOIDCPhishingResistantStepUp: a product that asks for
// acr_values=urn:twostep:acr:phishing-resistant gets it only from a sign-in
// completed with a key that verified its holder. A two-step session made with
// a code, or with a key that did not verify the holder, is not reused (a
// step-up: the sign-in page, or interaction_required with prompt=none); the
// sign-in for it offers only the key, refuses the code, and the token's acr
// says phishing-resistant (OP-04, WA-03).
func TestOIDCPhishingResistantStepUp(t *testing.T) { // OP-04, WA-03
	srv, a, notes, key := passkeyMember(t)
	pr := oauth2.SetAuthURLParam("acr_values", "urn:twostep:acr:phishing-resistant")
	totpSession := apiSession(t, srv, a, func(token string, _ []any) map[string]any {
		return map[string]any{"sign_in_token": token, "method": "totp", "code": a.code(t)}
	})
	noUVSession := apiSession(t, srv, a, func(token string, methods []any) map[string]any {
		for _, m := range methods {
			if m := m.(map[string]any); m["method"] == "webauthn" {
				cred, err := key.Get(rawJSON(t, m["options"]), srv.url, softkey.Tamper{})
				if err != nil {
					t.Fatal(err)
				}
				return map[string]any{"sign_in_token": token, "method": "webauthn", "credential": cred}
			}
		}
		t.Fatalf("no webauthn among %v", methods)
		return nil
	})
	for name, token := range map[string]string{"code": totpSession, "key without UV": noUVSession} {
		// A plain request reuses the session; one asking for phishing resistance does not.
		authURL, _ := notes.authURL()
		if _, at, _ := withSession(t, srv, token).do("GET", authURL, nil); !strings.HasPrefix(at, notes.conf.RedirectURL) {
			t.Fatalf("%s session: a plain request landed at %s, want the product", name, at)
		}
		authURL, _ = notes.authURL(pr)
		if _, at, _ := withSession(t, srv, token).do("GET", authURL, nil); !strings.Contains(at, "/sign-in?auth_request=") {
			t.Errorf("%s session asked for phishing resistance: landed at %s, want the sign-in page", name, at)
		}
		authURL, f := notes.authURL(pr, oauth2.SetAuthURLParam("prompt", "none"))
		if _, at, _ := withSession(t, srv, token).do("GET", authURL, nil); notes.errorFrom(at, f) != "interaction_required" {
			t.Errorf("%s session, prompt=none: %s, want interaction_required", name, at)
		}
	}

	// The sign-in for it: the password, then only the key is offered and a code is refused.
	browser := newWebClient(t)
	authURL, f := notes.authURL(pr)
	if _, at, _ := browser.do("GET", authURL, nil); !strings.Contains(at, "/sign-in?auth_request=") {
		t.Fatalf("authorize led to %s, want the sign-in page", at)
	}
	_, at, page := browser.do("POST", srv.url+"/sign-in", url.Values{"email": {a.email}, "password": {a.password}})
	if !strings.Contains(at, "/sign-in/verify") {
		t.Fatalf("after the password: %s\n%.300s", at, page)
	}
	if strings.Contains(page, `value="totp"`) || !strings.Contains(page, "data-options=") {
		t.Errorf("the second step of a phishing-resistant sign-in offers more than the key:\n%s", page)
	}
	_, at, page = browser.do("POST", srv.url+"/sign-in/verify", url.Values{"method": {"totp"}, "code": {a.code(t)}})
	if strings.HasPrefix(at, notes.conf.RedirectURL) || !strings.Contains(at, "/sign-in/verify") {
		t.Fatalf("a code finished a phishing-resistant sign-in: landed at %s", at)
	}
	_, _, page = browser.do("GET", srv.url+"/sign-in/verify", nil)
	m := dataOptions.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no key options on the second step:\n%s", page)
	}
	cred, err := key.Get(json.RawMessage(html.UnescapeString(m[1])), srv.url, softkey.Tamper{UV: true})
	if err != nil {
		t.Fatal(err)
	}
	_, at, _ = browser.do("POST", srv.url+"/sign-in/verify", url.Values{"method": {"webauthn"}, "factor_id": {""}, "credential": {string(cred)}})
	_, _, c := notes.exchange(notes.codeFrom(at, f), f)
	if diff := cmp.Diff([]string{"pwd", "hwk", "user", "mfa"}, c.AMR); c.ACR != "urn:twostep:acr:phishing-resistant" || diff != "" {
		t.Errorf("after the key: acr %q, amr (-want +got) %s", c.ACR, diff)
	}
}
