package web_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAPIRememberDevice: the policy's remember_device_days and
// allow_app_passwords through GET/PUT /api/v1/org/policy (defaults 0 and
// true, kept when a client written before them leaves them out, 0–90 with the
// field named); "remember_device":true at the second step, then the device
// token alone spares the code (API.md §11).
func TestAPIRememberDevice(t *testing.T) {
	a := newAPI(t, false)
	secret, _, owner := a.enrol()
	confirm := func() {
		t.Helper()
		st, b, _ := a.call("POST", "/api/v1/account/confirm-identity", owner, map[string]string{"password": apiPassword, "method": "totp", "code": a.code(secret)})
		a.want(st, 200, b, "confirm identity")
		owner = b["session_token"].(string)
		a.clock.Advance(30 * time.Second)
	}
	var org map[string]any
	st, org, _ := a.call("GET", "/api/v1/org", owner, nil)
	a.want(st, 200, org, "org")
	pol := org["policy"].(map[string]any)
	if pol["remember_device_days"] != 0.0 || pol["allow_app_passwords"] != true {
		t.Errorf("default policy %v, want remember_device_days 0, allow_app_passwords true", pol)
	}
	confirm()
	put := func(extra map[string]any) (int, map[string]any) {
		t.Helper()
		body := map[string]any{"two_step": "optional", "grace_period_days": 0, "allowed_methods": []string{"totp", "email"},
			"min_client_version": nil, "allow_legacy_clients": true}
		for k, v := range extra {
			body[k] = v
		}
		st, b, _ := a.call("PUT", "/api/v1/org/policy", owner, body)
		return st, b
	}
	st, b := put(map[string]any{"remember_device_days": 30, "allow_app_passwords": false})
	a.want(st, 200, b, "put policy")
	st, b = put(nil)
	a.want(st, 200, b, "put policy without the new fields")
	if b["remember_device_days"] != 30.0 || b["allow_app_passwords"] != false {
		t.Errorf("policy after a PUT without the new fields: %v, want them kept", b)
	}
	for _, days := range []int{-1, 91} {
		st, b := put(map[string]any{"remember_device_days": days})
		if st != 400 || b["field"] != "remember_device_days" {
			t.Errorf("remember_device_days %d: %d %v, want 400 naming the field", days, st, b)
		}
	}

	signIn := func(device string) map[string]any {
		t.Helper()
		st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword, "device_token": device})
		a.want(st, 200, b, "sign-in")
		return b
	}
	b = signIn("")
	if b["status"] != "second_step" {
		t.Fatalf("sign-in: %v, want second_step", b)
	}
	st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]any{"sign_in_token": b["sign_in_token"], "method": "totp",
		"code": a.code(secret), "remember_device": true})
	a.want(st, 200, b, "verify with remember_device")
	if want := a.clock.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339); b["remembered_until"] != want {
		t.Errorf("remembered_until %v, want %s", b["remembered_until"], want)
	}
	device := b["device_token"].(string)
	b = signIn(device)
	if b["status"] != "signed_in" || !cmp.Equal(b["amr"], []any{"pwd"}) || b["device_token"] == nil {
		t.Errorf("remembered device: %v, want signed_in with amr [pwd] and a renewed device token", b)
	}
	// The remembered session confirms nothing (SU-01).
	st, b, _ = a.call("POST", "/api/v1/account/factors", b["session_token"].(string), map[string]string{"method": "email"})
	if st != 403 || b["code"] != "confirm_identity_required" {
		t.Errorf("adding a method from a remembered session: %d %v, want 403 confirm_identity_required", st, b)
	}
	if b := signIn(""); b["status"] != "second_step" {
		t.Errorf("without the device token: %v, want second_step", b)
	}
}
