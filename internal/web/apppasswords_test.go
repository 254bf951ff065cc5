package web_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAPIAppPasswords: POST /api/v1/account/app-passwords after a fresh
// confirmation → 201 with the password once; GET lists it without; an old
// client signs in with it (amr pwd) and its session gets 403 forbidden from
// the security endpoints; DELETE revokes it at once (API.md §11).
func TestAPIAppPasswords(t *testing.T) {
	a := newAPI(t, false)
	secret, _, owner := a.enrol()
	st, b, _ := a.call("POST", "/api/v1/account/confirm-identity", owner, map[string]string{"password": apiPassword, "method": "totp", "code": a.code(secret)})
	a.want(st, 200, b, "confirm identity")
	owner = b["session_token"].(string)
	a.clock.Advance(30 * time.Second)
	st, b, _ = a.call("PUT", "/api/v1/org/policy", owner, map[string]any{"two_step": "optional", "grace_period_days": 0,
		"allowed_methods": []string{"totp", "email"}, "min_client_version": "3.1.0", "allow_legacy_clients": false})
	a.want(st, 200, b, "policy")

	st, b, _ = a.call("POST", "/api/v1/account/app-passwords", owner, map[string]string{"label": ""})
	if st != 400 || b["field"] != "label" {
		t.Errorf("blank label: %d %v, want 400 naming label", st, b)
	}
	st, b, _ = a.call("POST", "/api/v1/account/app-passwords", owner, map[string]string{"label": "CLIP STUDIO 2"})
	a.want(st, 201, b, "create")
	id, pw := b["id"].(string), b["password"].(string)
	if b["label"] != "CLIP STUDIO 2" || len(pw) != 29 {
		t.Errorf("created %v", b)
	}
	var list []map[string]any
	getJSON(t, a, "/api/v1/account/app-passwords", owner, &list)
	if len(list) != 1 || list[0]["id"] != id || list[0]["password"] != nil || list[0]["last_used_at"] != nil {
		t.Errorf("list %v, want the one, without its password, unused", list)
	}

	oldClient := func(pw string) (int, map[string]any) {
		st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": pw, "client_version": "2.0.0"})
		return st, b
	}
	st, b = oldClient(pw)
	a.want(st, 200, b, "old client with the app password")
	if b["status"] != "signed_in" || !cmp.Equal(b["amr"], []any{"pwd"}) {
		t.Errorf("old client: %v, want signed_in with amr [pwd]", b)
	}
	app := b["session_token"].(string)
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/account/factors"}, {"POST", "/api/v1/account/recovery-codes"}, {"GET", "/api/v1/account/devices"},
		{"GET", "/api/v1/account/app-passwords"}, {"POST", "/api/v1/account/sessions/end-others"}, {"GET", "/api/v1/org"},
	} {
		if st, b, _ := a.call(r.method, r.path, app, map[string]string{}); st != 403 || b["code"] != "forbidden" {
			t.Errorf("%s %s from an app-password session: %d %v, want 403 forbidden", r.method, r.path, st, b)
		}
	}
	if st, b = oldClient(apiPassword); st != 403 || b["code"] != "client_upgrade_required" {
		t.Errorf("old client with the account password: %d %v, want 403 client_upgrade_required", st, b)
	}

	st, b, _ = a.call("DELETE", "/api/v1/account/app-passwords/"+id, owner, nil)
	a.want(st, 204, b, "revoke")
	if st, b, _ := a.call("GET", "/api/v1/account", app, nil); st != 401 {
		t.Errorf("the app password's session after revoking: %d %v, want 401", st, b)
	}
	if st, b = oldClient(pw); st != 401 || b["code"] != "invalid_credentials" {
		t.Errorf("a revoked app password: %d %v, want 401 invalid_credentials", st, b)
	}
}
