package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// apiJSON sends a JSON request to the server and decodes the answer.
func apiJSON(t *testing.T, srv *server, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, srv.url+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// TestOIDCRememberedDeviceStepUp: a browser remembered for its account signs
// in with the password alone, and a client that asks nothing more gets acr
// password and amr pwd; but a client asking for two-step (acr_values) or a
// fresh sign-in (max_age=0) still gets the code asked, and then acr two-step:
// a remembered second step is never an explicit step-up (API.md §11, OP-04).
func TestOIDCRememberedDeviceStepUp(t *testing.T) { // OP-04
	dir, env, srv := startOIDC(t)
	a := prepare(t, dir, env, "acme", 1)[0]
	org := orgOf(t, dir, env, a.email)
	if r := runCmd(t, dir, env, "pw for the boss is long\n", "user", "create", "--org", org, "--email", "boss@example.com",
		"--role", "owner", "--password-stdin"); r.code != 0 {
		t.Fatalf("user create: %+v", r)
	}
	st, b := apiJSON(t, srv, "POST", "/api/v1/sign-in", "", map[string]string{"email": "boss@example.com", "password": "pw for the boss is long"})
	boss, _ := b["session_token"].(string)
	if st != 200 || boss == "" {
		t.Fatalf("owner sign-in: %d %v", st, b)
	}
	st, b = apiJSON(t, srv, "PUT", "/api/v1/org/policy", boss, map[string]any{"two_step": "optional", "grace_period_days": 0,
		"allowed_methods": []string{"totp", "email"}, "min_client_version": nil, "allow_legacy_clients": true, "remember_device_days": 30})
	if st != 200 || b["remember_device_days"] != 30.0 {
		t.Fatalf("policy: %d %v", st, b)
	}

	notes := newRP(t, dir, env, srv, "notes")
	br := newWebClient(t)
	// Tick "don't ask again" at the second step.
	br.do("GET", srv.url+"/sign-in", nil)
	_, at, page := br.do("POST", srv.url+"/sign-in", url.Values{"email": {a.email}, "password": {a.password}})
	if !strings.Contains(at, "/sign-in/verify") || !strings.Contains(page, `name="remember_device"`) {
		t.Fatalf("second step at %s without the remember box:\n%s", at, page)
	}
	if _, at, _ = br.do("POST", srv.url+"/sign-in/verify", url.Values{"method": {"totp"}, "code": {a.code(t)}, "remember_device": {"1"}}); !strings.Contains(at, "/account/security") {
		t.Fatalf("after the code: %s", at)
	}
	signOut := func() {
		t.Helper()
		if _, at, _ := br.do("POST", srv.url+"/sign-out", url.Values{}); !strings.Contains(at, "/sign-in") {
			t.Fatalf("sign-out led to %s", at)
		}
	}
	signOut()

	// A client that asks nothing more: the password alone.
	authURL, f := notes.authURL()
	br.do("GET", authURL, nil)
	_, at, page = br.do("POST", srv.url+"/sign-in", url.Values{"email": {a.email}, "password": {a.password}})
	_, _, c := notes.exchange(notes.codeFrom(at, f), f)
	if c.ACR != "urn:twostep:acr:password" || !cmp.Equal(c.AMR, []string{"pwd"}) {
		t.Errorf("remembered browser, plain request: acr %q amr %v, want password, [pwd]", c.ACR, c.AMR)
	}
	signOut()

	for name, opt := range map[string]oauth2.AuthCodeOption{
		"acr_values two-step": oauth2.SetAuthURLParam("acr_values", "urn:twostep:acr:two-step"),
		"max_age=0":           oauth2.SetAuthURLParam("max_age", "0"),
	} {
		authURL, f := notes.authURL(opt)
		br.do("GET", authURL, nil)
		_, at, page := br.do("POST", srv.url+"/sign-in", url.Values{"email": {a.email}, "password": {a.password}})
		if !strings.Contains(at, "/sign-in/verify") {
			t.Fatalf("%s on a remembered browser: led to %s, want the second step\n%s", name, at, page)
		}
		_, at, _ = br.do("POST", srv.url+"/sign-in/verify", url.Values{"method": {"totp"}, "code": {a.code(t)}})
		if _, _, c := notes.exchange(notes.codeFrom(at, f), f); c.ACR != "urn:twostep:acr:two-step" {
			t.Errorf("%s after the code: acr %q, want two-step", name, c.ACR)
		}
		signOut()
	}
}
