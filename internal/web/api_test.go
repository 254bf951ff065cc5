package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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

type api struct {
	t      testing.TB
	srv    *httptest.Server
	svc    *twostep.Service
	clock  *twosteptest.Clock
	db     *store.DB
	sealer *twostep.Sealer
}

const apiPassword = "correct horse battery"

// newAPI serves the real handler over the real service and a real SQLite store,
// with one organisation whose owner is owner@example.com.
func newAPI(t *testing.T, dev bool) *api {
	t.Helper()
	db := storetest.SQLite(t)
	sealer := twosteptest.NewSealer(t)
	clock := twosteptest.NewClock(time.Date(2026, 11, 23, 9, 0, 15, 0, time.UTC))
	svc, err := twostep.New(twostep.Options{Store: db, Sealer: sealer, Rand: rand.Reader, Clock: clock.Now,
		Methods: []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodSMS, twostep.MethodVoice}, BaseURL: "http://twostep.test",
		Hasher: twostep.NewHasher(twosteptest.CheapArgon2, 4, 100, time.Second, rand.Reader)})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://twostep.test")
	h, err := web.New(web.Options{Service: svc, BaseURL: base, Dev: dev, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if _, _, _, err := svc.CreateOrg(context.Background(), twostep.NewOrg{Name: "Cloud Legal", OwnerEmail: "owner@example.com", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	return &api{t: t, srv: srv, svc: svc, clock: clock, db: db, sealer: sealer}
}

// call sends a JSON request and returns the status, the decoded body and the response.
func (a *api) call(method, path, token string, body any, header ...string) (int, map[string]any, *http.Response) {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, out, resp
}

func (a *api) want(status int, wantStatus int, body map[string]any, what string) {
	a.t.Helper()
	if status != wantStatus {
		a.t.Fatalf("%s: status %d, want %d; body %v", what, status, wantStatus, body)
	}
}

func (a *api) code(secret []byte) string {
	return twostep.TOTPCode(secret, twostep.TOTPStep(a.clock.Now()))
}

// enrol signs the owner in, adds an authenticator app and returns its seed,
// recovery codes and the session token.
func (a *api) enrol() ([]byte, []string, string) {
	a.t.Helper()
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	if b["status"] != "signed_in" {
		a.t.Fatalf("sign-in: %v, want signed_in", b)
	}
	session := b["session_token"].(string)
	st, b, _ = a.call("POST", "/api/v1/account/factors", session, map[string]string{"method": "totp", "label": "Pixel"})
	a.want(st, 201, b, "add factor")
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b["secret"].(string))
	if err != nil {
		a.t.Fatal(err)
	}
	id := b["id"].(string)
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+id+"/verify", session, map[string]string{"code": a.code(secret)})
	a.want(st, 200, b, "verify factor")
	var codes []string
	for _, c := range b["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	a.clock.Advance(30 * time.Second)
	return secret, codes, session
}

func TestAPIJourney(t *testing.T) { // FL-01, FL-02, OTP-12
	a := newAPI(t, false)
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	if diff := cmp.Diff([]any{"pwd"}, b["amr"]); diff != "" || b["status"] != "signed_in" || b["expires_at"] == nil {
		t.Fatalf("sign-in without two-step: %v", b)
	}
	session := b["session_token"].(string)

	st, b, _ = a.call("POST", "/api/v1/account/factors", session, map[string]string{"method": "totp"})
	a.want(st, 201, b, "add factor")
	id := b["id"].(string)
	if b["status"] != "pending" || !strings.HasPrefix(b["otpauth_uri"].(string), "otpauth://totp/Twostep:owner@example.com?secret=") ||
		b["qr_png"] != "/api/v1/account/factors/"+id+"/qr.png" {
		t.Errorf("new factor: %v", b)
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b["secret"].(string))
	if len(secret) < 20 { // OTP-05
		t.Errorf("seed of %d bytes, want 20", len(secret))
	}
	st, b, resp := a.call("GET", "/api/v1/account/factors/"+id+"/qr.png", session, nil)
	if st != 200 || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(b["_raw"].(string), "\x89PNG") {
		t.Errorf("qr.png: %d %s", st, resp.Header.Get("Content-Type"))
	}
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+id+"/verify", session, map[string]string{"code": "000000"})
	if st != 400 || b["code"] != "invalid_code" {
		t.Errorf("wrong first code: %d %v", st, b)
	}
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+id+"/verify", session, map[string]string{"code": a.code(secret)})
	a.want(st, 200, b, "verify factor")
	if len(b["recovery_codes"].([]any)) != 10 || b["factor"].(map[string]any)["status"] != "active" {
		t.Errorf("verify factor: %v", b)
	}
	a.clock.Advance(30 * time.Second)

	// OTP-12: the seed is never returned after activation.
	st, b, resp = a.call("GET", "/api/v1/account", session, nil)
	a.want(st, 200, b, "account")
	if b["locale"] != nil {
		t.Errorf("locale %v of a new account, want null (pages follow the browser until one is chosen)", b["locale"])
	}
	ts := b["two_step"].(map[string]any)
	if ts["enabled"] != true || ts["recovery_codes_left"] != 10.0 || ts["default_method"] != "totp" {
		t.Errorf("account two_step: %v", ts)
	}
	if raw, _ := json.Marshal(b); strings.Contains(string(raw), base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)) {
		t.Error("GET /api/v1/account returns the seed")
	}
	if st, _, _ := a.call("GET", "/api/v1/account/factors/"+id+"/qr.png", session, nil); st != 404 {
		t.Errorf("qr.png of an active factor: %d, want 404", st)
	}

	st, _, _ = a.call("POST", "/api/v1/sign-out", session, nil)
	a.want(st, 204, nil, "sign-out")
	if st, b, _ := a.call("GET", "/api/v1/account", session, nil); st != 401 || b["code"] != "unauthenticated" {
		t.Errorf("after sign-out: %d %v", st, b)
	}

	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in 2")
	if b["status"] != "second_step" || b["default_method"] != "totp" || b["session_token"] != nil {
		t.Fatalf("second sign-in: %v", b)
	}
	methods := b["methods"].([]any)
	if len(methods) != 2 || methods[0].(map[string]any)["method"] != "totp" || methods[1].(map[string]any)["method"] != "recovery_code" {
		t.Errorf("methods: %v", methods)
	}
	signIn := b["sign_in_token"].(string)
	// FL-01: the sign-in token opens nothing but the next step.
	for _, p := range []string{"/api/v1/account", "/api/v1/account/factors", "/api/v1/account/activity"} {
		if st, b, _ := a.call("GET", p, signIn, nil); st != 401 || b["code"] != "unauthenticated" {
			t.Errorf("GET %s with a sign-in token: %d %v, want 401 unauthenticated", p, st, b)
		}
	}
	st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": signIn, "method": "totp", "code": "123456"})
	if st != 400 || b["code"] != "invalid_code" || b["attempts_left"] != 4.0 {
		t.Errorf("wrong code: %d %v, want 400 invalid_code with 4 attempts left", st, b)
	}
	st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": signIn, "method": "totp", "code": a.code(secret)})
	a.want(st, 200, b, "verify")
	if diff := cmp.Diff([]any{"pwd", "otp"}, b["amr"]); diff != "" || b["status"] != "signed_in" {
		t.Errorf("verify: %v", b)
	}
	if st, b, _ := a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": signIn, "method": "totp", "code": a.code(secret)}); st != 410 || b["code"] != "expired" {
		t.Errorf("used sign-in token: %d %v, want 410 expired", st, b)
	}
	st, b, _ = a.call("GET", "/api/v1/account/activity?limit=3", b["session_token"].(string), nil)
	if st != 200 {
		t.Fatalf("activity: %d %v", st, b)
	}
}

// TestAPIEnumeration: an unknown e-mail and a wrong password get the same status
// and the same bytes (EN-01).
func TestAPIEnumeration(t *testing.T) { // EN-01
	a := newAPI(t, false)
	body := func(email string) (int, string) {
		resp, err := http.Post(a.srv.URL+"/api/v1/sign-in", "application/json",
			strings.NewReader(`{"email":"`+email+`","password":"not the password"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type") + "\n" + string(b)
	}
	s1, b1 := body("owner@example.com")
	s2, b2 := body("nobody@example.com")
	if s1 != 401 || s1 != s2 || b1 != b2 {
		t.Errorf("wrong password: %d %s\nunknown e-mail: %d %s", s1, b1, s2, b2)
	}
}

func TestAPIBadRequests(t *testing.T) {
	a := newAPI(t, false)
	tests := []struct {
		path, body string
		want       string
	}{
		{"/api/v1/sign-in", ``, "the body is empty: send a JSON object"},
		{"/api/v1/sign-in", `{"email":`, "the body ends in the middle of the JSON object"},
		{"/api/v1/sign-in", `{"email":"a@b.co",}`, "the body is not valid JSON"},
		{"/api/v1/sign-in", `[1,2]`, "the body must be a JSON object"},
		{"/api/v1/sign-in", `{"email":42,"password":"x"}`, "email must be a string"},
		{"/api/v1/sign-in", `{"email":"a@b.co","password":"x","remember":true}`, `unknown field "remember"`},
		{"/api/v1/sign-in", `{"email":"a@b.co","password":"x"} {}`, "one JSON object and nothing after it"},
		{"/api/v1/sign-in", `{"email":"not an address","password":"x"}`, "email must be an e-mail address"},
		{"/api/v1/sign-in", `{"email":"a@b.co"}`, "password is required"},
		{"/api/v1/sign-in", `{"email":"a@b.co","password":"x","client_version":"3.x"}`, "client_version must be a dotted version number"},
		{"/api/v1/sign-in/verify", `{"method":"totp","code":"123456"}`, "sign_in_token is required"},
		{"/api/v1/sign-in", `{"email":"` + strings.Repeat("a", 70000) + `"}`, "larger than 64 KiB"},
	}
	for _, tc := range tests {
		st, b, _ := a.call("POST", tc.path, "", tc.body)
		if st != 400 || b["code"] != "invalid_request" || !strings.Contains(b["detail"].(string), tc.want) {
			t.Errorf("%s %.40q: %d %v, want 400 invalid_request saying %q", tc.path, tc.body, st, b, tc.want)
		}
	}
	// A code of the wrong shape is a clear 400, not a counted guess.
	_, _, session := a.enrol()
	_ = session
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	for _, tc := range []struct{ method, code, want string }{
		{"totp", "12345", "code must be 6 digits"},
		{"totp", "12345a", "code must be 6 digits"},
		{"recovery_code", "abc", "a recovery code has 16 letters and digits"},
		{"carrier_pigeon", "123456", "method must be one of"},
		{"", "123456", "method is required"},
	} {
		st, e, _ := a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": b["sign_in_token"].(string), "method": tc.method, "code": tc.code})
		if st != 400 || e["code"] != "invalid_request" || !strings.Contains(e["detail"].(string), tc.want) {
			t.Errorf("method %q code %q: %d %v, want 400 saying %q", tc.method, tc.code, st, e, tc.want)
		}
	}
	if st, e, _ := a.call("GET", "/api/v1/nothing-here", "", nil); st != 404 || e["code"] != "not_found" {
		t.Errorf("unknown API path: %d %v", st, e)
	}
}

// TestAPIPasswordThrottle: ten wrong passwords for one e-mail lock it, whether or
// not an account has it, with Retry-After (RL-01, RL-08 for passwords).
func TestAPIPasswordThrottle(t *testing.T) {
	a := newAPI(t, false)
	for _, email := range []string{"owner@example.com", "nobody@example.com"} {
		for i := 0; i < 10; i++ {
			st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": email, "password": "wrong password"})
			if st != 401 {
				t.Fatalf("%s attempt %d: %d %v", email, i+1, st, b)
			}
		}
		// Locked: even the right password gets 429.
		st, b, resp := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": email, "password": apiPassword})
		if st != 429 || b["code"] != "too_many_attempts" || resp.Header.Get("Retry-After") != "30" || b["retry_after"] != 30.0 {
			t.Errorf("%s locked: %d %v Retry-After %q", email, st, b, resp.Header.Get("Retry-After"))
		}
	}
	a.clock.Advance(31 * time.Second)
	if st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword}); st != 200 {
		t.Errorf("after the lock: %d %v", st, b)
	}
}

// TestAPIConfirmIdentity: sensitive operations need a recent confirmation
// (SU-01, RC-06); confirming rotates the session token (FL-02).
func TestAPIConfirmIdentity(t *testing.T) { // SU-01, RC-06, FL-02, RC-05
	a := newAPI(t, false)
	secret, codes, session := a.enrol()
	a.clock.Advance(11 * time.Minute)
	st, b, _ := a.call("POST", "/api/v1/account/recovery-codes", session, nil)
	if st != 403 || b["code"] != "confirm_identity_required" {
		t.Fatalf("regenerate without confirmation: %d %v", st, b)
	}
	st, b, _ = a.call("POST", "/api/v1/account/confirm-identity", session, map[string]string{"password": apiPassword})
	if st != 400 || !strings.Contains(b["detail"].(string), "two-step verification is on") {
		t.Errorf("password alone with two-step on: %d %v", st, b)
	}
	st, b, _ = a.call("POST", "/api/v1/account/confirm-identity", session, map[string]string{"password": "wrong password", "method": "totp", "code": a.code(secret)})
	if st != 401 || b["code"] != "invalid_credentials" {
		t.Errorf("wrong password: %d %v", st, b)
	}
	st, b, _ = a.call("POST", "/api/v1/account/confirm-identity", session, map[string]string{"password": apiPassword, "method": "totp", "code": a.code(secret)})
	a.want(st, 200, b, "confirm identity")
	fresh := b["session_token"].(string)
	if fresh == session || b["confirmed_until"] == nil {
		t.Errorf("confirm identity: %v", b)
	}
	if st, _, _ := a.call("GET", "/api/v1/account", session, nil); st != 401 {
		t.Errorf("old session token after confirmation: %d, want 401", st)
	}
	req, _ := http.NewRequest("POST", a.srv.URL+"/api/v1/account/recovery-codes", nil)
	req.Header.Set("Authorization", "Bearer "+fresh)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Disposition") != `attachment; filename="twostep-recovery-codes.txt"` ||
		strings.Count(string(file), "-") < 30 {
		t.Errorf("recovery codes file: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Disposition"), file)
	}
	// RC-05: the old set stopped working.
	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	if st, e, _ := a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": b["sign_in_token"].(string), "method": "recovery_code", "code": codes[0]}); st != 400 || e["code"] != "invalid_code" {
		t.Errorf("old recovery code: %d %v", st, e)
	}
}

// TestAPICookieCrossOrigin: a write authenticated by the session cookie from
// another site is refused (CS-01), and answers carry the security headers.
func TestAPICookieCrossOrigin(t *testing.T) { // CS-01, FL-05
	a := newAPI(t, false)
	_, _, session := a.enrol()
	req, _ := http.NewRequest("POST", a.srv.URL+"/api/v1/account/recovery-codes", nil)
	req.AddCookie(&http.Cookie{Name: "twostep_session", Value: session})
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site cookie POST: %d, want 403", resp.StatusCode)
	}
	for h, want := range map[string]string{
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP %q lacks frame-ancestors 'none'", resp.Header.Get("Content-Security-Policy"))
	}
	// The dev outbox does not exist with dev mode off.
	if st, _, _ := a.call("GET", "/api/v1/dev/outbox", "", nil); st != 404 {
		t.Errorf("dev outbox with dev off: %d", st)
	}
}

// TestAPIFactorIDOR: one account cannot see or touch another's factors (CS-02).
func TestAPIFactorIDOR(t *testing.T) { // CS-02
	a := newAPI(t, false)
	_, _, ownerSession := a.enrol()
	st, b, _ := a.call("GET", "/api/v1/account/factors", ownerSession, nil)
	a.want(st, 200, nil, "factors")
	_ = b
	var list []map[string]any
	req, _ := http.NewRequest("GET", a.srv.URL+"/api/v1/account/factors", nil)
	req.Header.Set("Authorization", "Bearer "+ownerSession)
	resp, _ := http.DefaultClient.Do(req)
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	ownerFactor := list[0]["id"].(string)

	if _, _, err := a.svc.CreateAccount(context.Background(), twostep.NewAccount{Org: "cloud-legal", Email: "mallory@example.com", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "mallory@example.com", "password": apiPassword})
	a.want(st, 200, b, "mallory sign-in")
	mallory := b["session_token"].(string)
	for _, c := range []struct{ method, path string }{
		{"DELETE", "/api/v1/account/factors/" + ownerFactor},
		{"PATCH", "/api/v1/account/factors/" + ownerFactor},
		{"POST", "/api/v1/account/factors/" + ownerFactor + "/verify"},
		{"GET", "/api/v1/account/factors/" + ownerFactor + "/qr.png"},
	} {
		body := map[string]any{}
		if c.method == "POST" {
			body["code"] = "123456"
		}
		if c.method == "PATCH" {
			body["label"] = "mine now"
		}
		if st, e, _ := a.call(c.method, c.path, mallory, body); st != 404 {
			t.Errorf("%s %s as another account: %d %v, want 404", c.method, c.path, st, e)
		}
	}
}

// sent takes the queued messages, as the delivery worker would, and returns
// the data of the newest with template tmpl.
func (a *api) sent(tmpl string) map[string]string {
	a.t.Helper()
	a.svc.Wait() // password-reset requests queue their link after answering
	var found map[string]string
	for _, m := range twosteptest.Drain(a.t, a.db, a.sealer, a.clock.Now(), nil) {
		if m.Template == tmpl {
			found = m.Data
		}
	}
	if found == nil {
		a.t.Fatalf("no %s message queued", tmpl)
	}
	return found
}

func TestAPIEmailJourney(t *testing.T) {
	a := newAPI(t, false)
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	session := b["session_token"].(string)
	st, b, _ = a.call("POST", "/api/v1/account/factors", session, map[string]string{"method": "email"})
	a.want(st, 201, b, "add e-mail")
	id := b["id"].(string)
	if diff := cmp.Diff(map[string]any{"method": "email", "factor_id": id, "to": "o•••@example.com", "expires_in": 600.0, "resend_after": 30.0}, b["code_sent"]); diff != "" {
		t.Errorf("code_sent (-want +got):\n%s", diff)
	}
	st, b, resp := a.call("POST", "/api/v1/account/factors/"+id+"/resend", session, nil)
	if st != 429 || b["code"] != "resend_too_soon" || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("resend at once: %d %v Retry-After %q", st, b, resp.Header.Get("Retry-After"))
	}
	code := a.sent("code_enrol")["code"]
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+id+"/verify", session, map[string]string{"code": code})
	a.want(st, 200, b, "verify e-mail")

	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	cs, _ := b["code_sent"].(map[string]any)
	if b["default_method"] != "email" || cs["method"] != "email" || cs["to"] != "o•••@example.com" {
		t.Fatalf("sign-in with e-mail default: %v", b)
	}
	signIn := b["sign_in_token"].(string)
	first := a.sent("code_sign_in")["code"]
	a.clock.Advance(31 * time.Second)
	st, b, _ = a.call("POST", "/api/v1/sign-in/send", "", map[string]string{"sign_in_token": signIn, "method": "email"})
	if st != 202 || b["to"] != "o•••@example.com" || b["resend_after"] != 30.0 {
		t.Errorf("sign-in/send: %d %v", st, b)
	}
	second := a.sent("code_sign_in")["code"]
	if first != second {
		st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": signIn, "method": "email", "code": first})
		if st != 400 || b["code"] != "invalid_code" {
			t.Errorf("replaced code: %d %v, want 400 invalid_code", st, b)
		}
	}
	st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": signIn, "method": "email", "code": second})
	a.want(st, 200, b, "verify")
	if diff := cmp.Diff([]any{"pwd", "mail"}, b["amr"]); diff != "" {
		t.Errorf("amr (-want +got):\n%s", diff)
	}
	session = b["session_token"].(string)

	st, b, _ = a.call("PUT", "/api/v1/account/password", session, map[string]string{"current_password": "nope nope nope", "password": "a new long password"})
	if st != 400 || b["field"] != "current_password" {
		t.Errorf("wrong current password: %d %v", st, b)
	}
	st, _, _ = a.call("PUT", "/api/v1/account/password", session, map[string]string{"current_password": apiPassword, "password": "a new long password"})
	a.want(st, 204, nil, "change password")
	a.sent("password_changed")
}

func TestAPIPasswordResetSameAnswer(t *testing.T) { // EN-01, FL-08
	a := newAPI(t, false)
	for _, email := range []string{"owner@example.com", "nobody@example.com"} {
		st, b, _ := a.call("POST", "/api/v1/password-reset", "", map[string]string{"email": email})
		if st != 202 || b["_raw"] != "" {
			t.Errorf("%s: %d %v, want 202 with no body", email, st, b)
		}
	}
	link := a.sent("password_reset")["link"]
	if !strings.HasPrefix(link, "http://twostep.test/reset-password/") {
		t.Errorf("link %q is not built from the base URL", link)
	}
	st, b, _ := a.call("POST", "/api/v1/password-reset", "", map[string]string{"email": "nonsense"})
	if st != 400 || b["field"] != "email" {
		t.Errorf("malformed address: %d %v", st, b)
	}
}

func TestAPIPhoneJourney(t *testing.T) { // OOB-09
	a := newAPI(t, false)
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	session := b["session_token"].(string)
	for _, tc := range []struct {
		body map[string]string
		want string
	}{
		{map[string]string{"method": "sms", "phone": "01 23 45 67 89", "country": "FR"}, "fixed line, which cannot receive text messages"},
		{map[string]string{"method": "voice", "phone": "08 99 12 34 56", "country": "FR"}, "premium-rate"},
		{map[string]string{"method": "sms", "phone": "06 12 34 56 78"}, "country is required"},
		{map[string]string{"method": "sms", "phone": "06 12", "country": "FR"}, "not a valid number in FR"},
	} {
		st, e, _ := a.call("POST", "/api/v1/account/factors", session, tc.body)
		if st != 400 || e["code"] != "invalid_request" || !strings.Contains(e["detail"].(string), tc.want) {
			t.Errorf("%v: %d %v, want 400 saying %q", tc.body, st, e, tc.want)
		}
	}
	st, b, _ = a.call("POST", "/api/v1/account/factors", session, map[string]string{"method": "sms", "phone": "06 12 34 56 78", "country": "FR"})
	a.want(st, 201, b, "add phone")
	id := b["id"].(string)
	if b["to"] != "+33612345678" || !cmp.Equal(b["channels"], []any{"sms", "voice"}) || b["code_sent"].(map[string]any)["to"] != "+33 6 •• •• •• 78" {
		t.Errorf("new phone factor: %v", b)
	}
	code := a.sent("code_enrol")["code"]
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+id+"/verify", session, map[string]string{"code": code})
	a.want(st, 200, b, "verify phone")

	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	wantMethods := []any{
		map[string]any{"method": "sms", "factor_id": id, "to": "+33 6 •• •• •• 78"},
		map[string]any{"method": "voice", "factor_id": id, "to": "+33 6 •• •• •• 78"},
		map[string]any{"method": "recovery_code"},
	}
	if diff := cmp.Diff(wantMethods, b["methods"]); diff != "" || b["default_method"] != "sms" {
		t.Errorf("methods (-want +got):\n%s default %v", diff, b["default_method"])
	}
	signIn := b["sign_in_token"].(string)
	a.sent("code_sign_in")
	st, b, _ = a.call("POST", "/api/v1/sign-in/send", "", map[string]string{"sign_in_token": signIn, "method": "voice"})
	if st != 202 || b["method"] != "voice" {
		t.Fatalf("call me instead: %d %v", st, b)
	}
	if st, e, _ := a.call("POST", "/api/v1/sign-in/send", "", map[string]string{"sign_in_token": signIn, "method": "voice"}); st != 429 || e["code"] != "resend_too_soon" {
		t.Errorf("second call at once: %d %v", st, e)
	}
	code = a.sent("code_sign_in")["code"]
	st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": signIn, "method": "voice", "code": code})
	a.want(st, 200, b, "verify by call")
	if diff := cmp.Diff([]any{"pwd", "tel"}, b["amr"]); diff != "" {
		t.Errorf("amr (-want +got):\n%s", diff)
	}
}

// session signs email in with the API password (no second step) and returns the token.
func (a *api) session(email string) string {
	a.t.Helper()
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": email, "password": apiPassword})
	if st != 200 || b["session_token"] == nil {
		a.t.Fatalf("sign-in %s: %d %v", email, st, b)
	}
	return b["session_token"].(string)
}

// TestAPIOrgAuthorization: every /api/v1/org endpoint, for callers of every
// role, on targets of every role and on the caller's own account, and for
// another organisation's admin and a sign-in token (CS-02, FL-01). Only
// owners act on owners and admins (an admin ending an owner's sessions or
// unlocking them was the review's finding), and nobody acts on themselves
// from the administration (the only owner moved themselves to SSO and locked
// the organisation out).
func TestAPIOrgAuthorization(t *testing.T) { // CS-02, FL-01, ADM-01, ADM-02, RL-11
	a := newAPI(t, false)
	ctx := context.Background()
	mk := func(org, email string, role twostep.Role) *twostep.Account {
		acct, _, err := a.svc.CreateAccount(ctx, twostep.NewAccount{Org: org, Email: email, Role: role, Password: apiPassword})
		if err != nil {
			t.Fatal(err)
		}
		return acct
	}
	if _, _, _, err := a.svc.CreateOrg(ctx, twostep.NewOrg{Name: "Other", OwnerEmail: "boss@other.example", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	mk("other", "otheradmin@other.example", twostep.RoleAdmin)
	// A sign-in token: the owner with an authenticator app stops at the second step.
	a.enrol()
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "owner sign-in")
	signInToken := b["sign_in_token"].(string)

	// The callers of each role have no second step, so that their sessions
	// count as fully proven whatever the admin functions come to demand.
	type caller struct {
		role  twostep.Role
		id    string
		token string
	}
	var callers []caller
	for _, role := range []twostep.Role{twostep.RoleMember, twostep.RoleAdmin, twostep.RoleOwner} {
		acct := mk("cloud-legal", "caller-"+string(role)+"@example.com", role)
		callers = append(callers, caller{role, acct.ID, a.session(acct.Email)})
	}
	n := 0
	target := func(role twostep.Role) string { // a fresh account each time, so destructive calls stay comparable
		n++
		return mk("cloud-legal", fmt.Sprintf("target%d@example.com", n), role).ID
	}
	policy := map[string]any{"two_step": "optional", "grace_period_days": 0, "allowed_methods": []string{"totp"}, "min_client_version": nil, "allow_legacy_clients": true}
	const forbidden, noSSO = 403, 409
	endpoints := []struct {
		method, path string
		body         any
		ok           int
		newRole      twostep.Role // a role the call gives: only owners give admin and owner
	}{
		{"GET", "/api/v1/org", nil, 200, ""},
		{"PUT", "/api/v1/org/policy", policy, 200, ""},
		{"GET", "/api/v1/org/members", nil, 200, ""},
		{"POST", "/api/v1/org/members", map[string]any{"role": "member"}, 201, twostep.RoleMember},
		{"POST", "/api/v1/org/members", map[string]any{"role": "admin"}, 201, twostep.RoleAdmin},
		{"POST", "/api/v1/org/members", map[string]any{"role": "owner"}, 201, twostep.RoleOwner},
		{"PATCH", "/api/v1/org/members/{id}", map[string]any{"role": "member"}, 200, twostep.RoleMember},
		{"PATCH", "/api/v1/org/members/{id}", map[string]any{"role": "admin"}, 200, twostep.RoleAdmin},
		{"PATCH", "/api/v1/org/members/{id}", map[string]any{"role": "owner"}, 200, twostep.RoleOwner},
		{"PATCH", "/api/v1/org/members/{id}", map[string]any{"sso": false}, 200, ""},
		// No organisation has an SSO connection yet: moving anyone to SSO is a conflict.
		{"PATCH", "/api/v1/org/members/{id}", map[string]any{"sso": true}, noSSO, ""},
		{"POST", "/api/v1/org/members/{id}/reset-two-step", nil, 204, ""},
		{"POST", "/api/v1/org/members/{id}/end-sessions", nil, 204, ""},
		{"POST", "/api/v1/org/members/{id}/unlock", nil, 204, ""},
		{"GET", "/api/v1/org/audit", nil, 200, ""},
	}
	code := map[int]string{403: "forbidden", 409: "conflict", 404: "not_found", 401: "unauthenticated"}
	check := func(who, method, path string, token string, body any, wantSt int) {
		t.Helper()
		st, b, _ := a.call(method, path, token, body)
		if st != wantSt || code[wantSt] != "" && b["code"] != code[wantSt] {
			t.Errorf("%s: %s %s %v: %d %v, want %d %s", who, method, path, body, st, b["code"], wantSt, code[wantSt])
		}
	}
	for _, c := range callers {
		for _, e := range endpoints {
			body := e.body
			if e.method == "POST" && e.path == "/api/v1/org/members" {
				n++
				body = map[string]any{"email": fmt.Sprintf("invitee%d@example.com", n), "role": e.body.(map[string]any)["role"]}
			}
			// may is the rule: members manage nothing; admins manage members
			// and give no role but member; owners manage everyone.
			may := func(targetRole twostep.Role) bool {
				return c.role == twostep.RoleOwner ||
					c.role == twostep.RoleAdmin && targetRole == twostep.RoleMember && (e.newRole == "" || e.newRole == twostep.RoleMember)
			}
			if !strings.Contains(e.path, "{id}") {
				want := e.ok
				if !may(twostep.RoleMember) {
					want = forbidden
				}
				check(string(c.role), e.method, e.path, c.token, body, want)
				continue
			}
			for _, role := range []twostep.Role{twostep.RoleMember, twostep.RoleAdmin, twostep.RoleOwner} {
				want := e.ok
				if !may(role) {
					want = forbidden
				}
				check(string(c.role)+" on "+string(role), e.method, strings.ReplaceAll(e.path, "{id}", target(role)), c.token, body, want)
			}
			// Nobody acts on their own account from here.
			check(string(c.role)+" on themselves", e.method, strings.ReplaceAll(e.path, "{id}", c.id), c.token, body, forbidden)
		}
	}
	// Another organisation's admin finds none of ours; a sign-in token is no session.
	others := a.session("otheradmin@other.example")
	for _, e := range endpoints {
		path := strings.ReplaceAll(e.path, "{id}", target(twostep.RoleMember))
		body := e.body
		if e.method == "POST" && e.path == "/api/v1/org/members" {
			n++
			body = map[string]any{"email": fmt.Sprintf("invitee%d@example.com", n), "role": e.body.(map[string]any)["role"]}
		}
		want := e.ok
		switch {
		case strings.Contains(e.path, "{id}"):
			want = 404
		case e.newRole != "" && e.newRole != twostep.RoleMember:
			want = forbidden
		}
		check("other org's admin", e.method, path, others, body, want)
		check("sign-in token", e.method, path, signInToken, body, 401)
	}
}

func TestAPIRequiredEnrolment(t *testing.T) { // ORG-01
	a := newAPI(t, false)
	ctx := context.Background()
	if _, _, err := a.svc.CreateAccount(ctx, twostep.NewAccount{Org: "cloud-legal", Email: "joe@example.com", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	owner := a.session("owner@example.com")
	st, b, _ := a.call("PUT", "/api/v1/org/policy", owner, map[string]any{"two_step": "required", "grace_period_days": 3,
		"allowed_methods": []string{"totp"}, "min_client_version": "3.1.0", "allow_legacy_clients": false})
	a.want(st, 200, b, "set policy")
	if b["two_step"] != "required" || b["min_client_version"] != "3.1.0" {
		t.Errorf("policy: %v", b)
	}
	a.sent("two_step_required")
	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "joe@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	if b["status"] != "enrollment_required" || !cmp.Equal(b["allowed_methods"], []any{"totp"}) || b["grace_until"] == nil || b["session_token"] != nil {
		t.Fatalf("sign-in under a required policy: %v", b)
	}
	token := b["sign_in_token"].(string)
	// The token may enrol, and nothing else.
	if st, _, _ := a.call("GET", "/api/v1/account", token, nil); st != 200 {
		t.Errorf("GET /account with the enrolment token: %d", st)
	}
	for _, p := range []string{"/api/v1/account/activity", "/api/v1/org"} {
		if st, _, _ := a.call("GET", p, token, nil); st != 401 {
			t.Errorf("GET %s with the enrolment token: %d, want 401", p, st)
		}
	}
	if st, e, _ := a.call("POST", "/api/v1/account/factors", token, map[string]string{"method": "email"}); st != 403 || e["code"] != "method_not_allowed_by_policy" {
		t.Errorf("enrolling a method the policy leaves out: %d %v", st, e)
	}
	st, b, _ = a.call("POST", "/api/v1/account/factors", token, map[string]string{"method": "totp"})
	a.want(st, 201, b, "add totp with the enrolment token")
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b["secret"].(string))
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+b["id"].(string)+"/verify", token, map[string]string{"code": a.code(secret)})
	a.want(st, 200, b, "verify with the enrolment token")
	st, b, _ = a.call("POST", "/api/v1/sign-in/complete", "", map[string]string{"sign_in_token": token})
	a.want(st, 200, b, "complete")
	if b["status"] != "signed_in" || !cmp.Equal(b["amr"], []any{"pwd", "otp"}) {
		t.Errorf("complete: %v", b)
	}
	// The members list shows the enrolment; the audit has the policy change.
	st, list, _ := a.call("GET", "/api/v1/org/audit?type=policy.changed", owner, nil)
	_ = list
	if st != 200 {
		t.Errorf("audit: %d", st)
	}
}

// TestAPIAuditPages: the organisation's audit pages with before and limit,
// filters by type and account, and holds no secret (AU-01, AU-02).
func TestAPIAuditPages(t *testing.T) { // AU-01, AU-02
	a := newAPI(t, false)
	secret, codes, session := a.enrol()
	for i := 0; i < 3; i++ {
		a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": "wrong password"}, "User-Agent", "probe/1.0")
	}
	var all []map[string]any
	before := ""
	for page := 0; page < 20; page++ {
		req, _ := http.NewRequest("GET", a.srv.URL+"/api/v1/org/audit?limit=2"+before, nil)
		req.Header.Set("Authorization", "Bearer "+session)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var evs []map[string]any
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		json.Unmarshal(raw, &evs)
		for _, secretText := range append([]string{apiPassword, "wrong password", session, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)}, codes...) {
			if strings.Contains(string(raw), secretText) {
				t.Errorf("audit page holds a secret %.12q…", secretText)
			}
		}
		if len(evs) > 2 {
			t.Fatalf("page of %d events with limit=2", len(evs))
		}
		if len(evs) == 0 {
			break
		}
		all = append(all, evs...)
		before = fmt.Sprintf("&before=%.0f", evs[len(evs)-1]["id"].(float64))
	}
	var types []string
	for i, e := range all {
		types = append(types, e["type"].(string))
		if i > 0 && e["id"].(float64) >= all[i-1]["id"].(float64) {
			t.Errorf("events not newest first: %v after %v", e["id"], all[i-1]["id"])
		}
		if _, err := time.Parse(time.RFC3339, e["at"].(string)); err != nil || !strings.HasSuffix(e["at"].(string), "Z") {
			t.Errorf("event time %v is not RFC 3339 UTC", e["at"])
		}
	}
	want := []string{"sign_in.failed", "sign_in.failed", "sign_in.failed", "recovery_codes.generated", "two_step.enabled", "factor.added", "sign_in.succeeded", "account.created"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if all[0]["user_agent"] != "probe/1.0" || all[0]["ip"] != "127.0.0.1" {
		t.Errorf("newest event %v lacks the client's address or user agent", all[0])
	}
	st, b, _ := a.call("GET", "/api/v1/org/audit?type=sign_in.failed&limit=200", session, nil)
	_ = b
	if st != 200 {
		t.Errorf("filter by type: %d", st)
	}
	if st, e, _ := a.call("GET", "/api/v1/org/audit?limit=0", session, nil); st != 400 || e["field"] != "limit" {
		t.Errorf("limit=0: %d %v", st, e)
	}
}
