package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/twostep"
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

// TestAPIDevices: GET /api/v1/account/devices lists the member's devices with
// browser and platform in words and until when each is remembered; DELETE
// of one forgets it (another member's device is 404, CS-02); DELETE of all
// forgets every one.
func TestAPIDevices(t *testing.T) { // CS-02
	a := newAPI(t, false)
	ua := "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	secret, _, owner := a.enrol()
	st, b, _ := a.call("POST", "/api/v1/account/confirm-identity", owner, map[string]string{"password": apiPassword, "method": "totp", "code": a.code(secret)})
	a.want(st, 200, b, "confirm identity")
	owner = b["session_token"].(string)
	a.clock.Advance(30 * time.Second)
	st, b, _ = a.call("PUT", "/api/v1/org/policy", owner, map[string]any{"two_step": "optional", "grace_period_days": 0,
		"allowed_methods": []string{"totp", "email"}, "min_client_version": nil, "allow_legacy_clients": true, "remember_device_days": 14})
	a.want(st, 200, b, "policy")

	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword}, "User-Agent", ua)
	a.want(st, 200, b, "sign-in")
	st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]any{"sign_in_token": b["sign_in_token"], "method": "totp",
		"code": a.code(secret), "remember_device": true}, "User-Agent", ua)
	a.want(st, 200, b, "verify")
	session := b["session_token"].(string)
	until := a.clock.Now().Add(14 * 24 * time.Hour).UTC().Format(time.RFC3339)

	var devices []map[string]any
	getJSON(t, a, "/api/v1/account/devices", session, &devices)
	if len(devices) < 2 {
		t.Fatalf("devices %v, want the enrolment's and this one", devices)
	}
	d := devices[0] // the most recently used
	if d["browser"] != "Safari" || d["platform"] != "macOS" || d["remembered_until"] != until || d["user_agent"] != ua || d["ip"] != "127.0.0.1" {
		t.Errorf("newest device %v, want Safari on macOS remembered until %s", d, until)
	}
	if devices[1]["remembered_until"] != nil || devices[1]["browser"] != "Go" || devices[1]["platform"] != nil {
		t.Errorf("older device %v, want not remembered, browser Go, no platform", devices[1])
	}
	id := d["id"].(string)

	// Another member cannot forget it, nor see it.
	if _, _, err := a.svc.CreateAccount(context.Background(), twostep.NewAccount{Org: "cloud-legal", Email: "joe@example.com", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	joe := a.session("joe@example.com")
	if st, b, _ := a.call("DELETE", "/api/v1/account/devices/"+id, joe, nil); st != 404 {
		t.Errorf("another member's DELETE: %d %v, want 404", st, b)
	}
	st, b, _ = a.call("DELETE", "/api/v1/account/devices/"+id, session, nil)
	a.want(st, 204, b, "forget one")
	devices = nil
	getJSON(t, a, "/api/v1/account/devices", session, &devices)
	for _, x := range devices {
		if x["id"] == id {
			t.Errorf("forgotten device still listed: %v", x)
		}
	}
	st, b, _ = a.call("DELETE", "/api/v1/account/devices", session, nil)
	a.want(st, 204, b, "forget all")
	devices = nil
	getJSON(t, a, "/api/v1/account/devices", session, &devices)
	if diff := cmp.Diff([]map[string]any{}, devices); diff != "" {
		t.Errorf("devices after forgetting all (-want +got):\n%s", diff)
	}
}
