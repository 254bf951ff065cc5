package web_test

import (
	"context"
	"encoding/base32"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/twostep"
)

// TestAPIProveWhatYouHave replays the outside review over HTTP: an organisation
// narrows allowed_methods so that a member's only method (e-mail) is no longer
// allowed; the password alone must not yield a token that enrols or completes,
// a banned method sends nothing, and the member proves the e-mail method first,
// then enrols an allowed one (SU-07, ORG-01, FL-01).
func TestAPIProveWhatYouHave(t *testing.T) { // SU-07
	a := newAPI(t, false)
	ctx := context.Background()
	if _, _, err := a.svc.CreateAccount(ctx, twostep.NewAccount{Org: "cloud-legal", Email: "joe@example.com", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	joe := a.session("joe@example.com")
	st, b, _ := a.call("POST", "/api/v1/account/factors", joe, map[string]string{"method": "email"})
	a.want(st, 201, b, "add e-mail")
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+b["id"].(string)+"/verify", joe, map[string]string{"code": a.sent("code_enrol")["code"]})
	a.want(st, 200, b, "verify e-mail")
	owner := a.session("owner@example.com")
	st, b, _ = a.call("PUT", "/api/v1/org/policy", owner, map[string]any{"two_step": "optional", "grace_period_days": 0, "allowed_methods": []string{"totp", "sms"}, "min_client_version": nil, "allow_legacy_clients": true})
	a.want(st, 200, b, "narrow the policy")

	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "joe@example.com", "password": apiPassword})
	a.want(st, 200, b, "password alone")
	if b["status"] != "second_step" || b["session_token"] != nil {
		t.Fatalf("password alone: %v, want second_step", b)
	}
	token := b["sign_in_token"].(string)
	if st, e, _ := a.call("POST", "/api/v1/account/factors", token, map[string]string{"method": "totp"}); st != 401 {
		t.Errorf("enrolling with the second-step token: %d %v, want 401", st, e)
	}
	if st, e, _ := a.call("POST", "/api/v1/sign-in/complete", "", map[string]string{"sign_in_token": token}); st != 410 {
		t.Errorf("completing with the second-step token: %d %v, want 410", st, e)
	}
	st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": token, "method": "email", "code": a.sent("code_sign_in")["code"]})
	a.want(st, 200, b, "prove the e-mail method")
	if b["status"] != "enrollment_required" || !cmp.Equal(b["allowed_methods"], []any{"totp", "sms"}) || b["session_token"] != nil {
		t.Fatalf("after the proof: %v, want enrollment_required", b)
	}
	// The enrolment token adds a method and nothing else.
	enrol := b["sign_in_token"].(string)
	if st, e, _ := a.call("POST", "/api/v1/account/recovery-codes", enrol, nil); st != 401 {
		t.Errorf("new recovery codes with the enrolment token: %d %v, want 401", st, e)
	}
	st, b, _ = a.call("POST", "/api/v1/account/factors", enrol, map[string]string{"method": "totp"})
	a.want(st, 201, b, "add totp")
	secret := mustBase32(t, b["secret"].(string))
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+b["id"].(string)+"/verify", enrol, map[string]string{"code": a.code(secret)})
	a.want(st, 200, b, "verify totp")
	st, b, _ = a.call("POST", "/api/v1/sign-in/complete", "", map[string]string{"sign_in_token": enrol})
	a.want(st, 200, b, "complete")
	if !cmp.Equal(b["amr"], []any{"pwd", "mail", "otp"}) {
		t.Errorf("amr %v, want pwd, mail, otp", b["amr"])
	}

	// A method the policy bans sends nothing (SU-07).
	a.clock.Advance(time.Minute)
	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "joe@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in again")
	if b["code_sent"] != nil {
		t.Errorf("a banned default method sent a code: %v", b)
	}
	if st, e, _ := a.call("POST", "/api/v1/sign-in/send", "", map[string]string{"sign_in_token": b["sign_in_token"].(string), "method": "email"}); st != 403 || e["code"] != "method_not_allowed_by_policy" {
		t.Errorf("send by a banned method: %d %v, want 403 method_not_allowed_by_policy", st, e)
	}
}

// TestAPICompleteAfterGrace: after the grace period, completing a sign-in
// without enrolling answers 403 policy_requires_two_step (API.md §3.1), while
// removing the last method under a required policy stays a 409.
func TestAPICompleteAfterGrace(t *testing.T) { // ORG-01
	a := newAPI(t, false)
	ctx := context.Background()
	if _, _, err := a.svc.CreateAccount(ctx, twostep.NewAccount{Org: "cloud-legal", Email: "joe@example.com", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	_, _, owner := a.enrol()
	st, b, _ := a.call("PUT", "/api/v1/org/policy", owner, map[string]any{"two_step": "required", "grace_period_days": 1,
		"allowed_methods": []string{"totp"}, "min_client_version": nil, "allow_legacy_clients": false})
	a.want(st, 200, b, "require two-step")
	a.clock.Advance(25 * time.Hour)
	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "joe@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in after the grace period")
	if b["status"] != "enrollment_required" || b["grace_until"] != nil {
		t.Fatalf("sign-in after the grace period: %v", b)
	}
	st, b, _ = a.call("POST", "/api/v1/sign-in/complete", "", map[string]string{"sign_in_token": b["sign_in_token"].(string)})
	if st != 403 || b["code"] != "policy_requires_two_step" {
		t.Errorf("complete after the grace period: %d %v, want 403 policy_requires_two_step", st, b)
	}
}

func mustBase32(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
