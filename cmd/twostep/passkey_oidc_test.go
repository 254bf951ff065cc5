package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
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

// TestOIDCPasskeyACR: through the real binary and a product's standard
// OIDC client, a session earned by a passkey that verified its holder gives
// acr phishing-resistant and amr hwk, user, mfa; a key without user
// verification as the second step gives acr two-step and amr pwd, hwk, user
// (OP-04: acr and amr say what happened, never more; RFC 8176).
func TestOIDCPasskeyACR(t *testing.T) { // OP-04, WA-03
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
