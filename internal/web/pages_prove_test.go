package web

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestProveThenEnrolPages: when the policy no longer allows the owner's only
// method, the pages ask for that method first, and only then for an allowed
// one; the password alone reaches neither the enrolment nor a session (SU-07).
func TestProveThenEnrolPages(t *testing.T) { // SU-07
	e := newEnv(t)
	b := e.setUp(t)
	want(t, e.addEmail(t, b, ownerEmail), 200, "", "Your recovery codes")
	want(t, b.post("/admin/policy", url.Values{"two_step": {"optional"}, "grace_period_days": {"0"}, "allowed_methods": {"totp"},
		"min_client_version": {""}, "allow_legacy_clients": {"1"}, "confirmed": {"1"}}), 303, "/admin/policy?done=policy")

	b = e.browser(t)
	a := b.signIn(t, ownerEmail, ownerPwd)
	if a.status != 303 || !strings.HasPrefix(a.location, "/sign-in/verify?") || !strings.Contains(a.location, "method=email") {
		t.Fatalf("password alone: %d to %q, want the e-mail second step", a.status, a.location)
	}
	if a := b.get("/sign-in/enrol"); a.status == 200 {
		t.Errorf("the enrolment page opens before the proof")
	}
	if a := b.post("/sign-in/enrol/complete", nil); a.status == 303 && strings.HasPrefix(a.location, "/account/security") {
		t.Errorf("the sign-in completes before the proof: %q", a.location)
	}
	want(t, b.get("/account/security"), 303, "/sign-in")
	// Probing ended that sign-in: start again, and prove the e-mail method.
	e.clock.Add(31 * time.Second)
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, a.location)
	code := e.mailed(t, ownerEmail, "code_sign_in")["code"]
	want(t, b.post("/sign-in/verify", url.Values{"method": {"email"}, "code": {code}}), 303, "/sign-in/enrol")
	a = b.get("/sign-in/enrol")
	want(t, a, 200, "", "Add an authenticator app")
	wantNot(t, a, "Skip for now", "Add e-mail", "Signed in as")
	a = b.post("/sign-in/enrol/totp", nil)
	if !strings.HasPrefix(a.location, "/sign-in/enrol/totp/fac_") {
		t.Fatalf("adding an app at enrolment goes to %q", a.location)
	}
	page := a.location
	key := secret(t, b.get(page).body)
	a = b.post(page, url.Values{"code": {e.code(key)}})
	if a.status >= 400 {
		t.Fatalf("verifying the app at enrolment: %d %s", a.status, a.body)
	}
	want(t, a, 303, "/sign-in/enrol?done=added")
	want(t, b.post("/sign-in/enrol/complete", nil), 303, "/account/security?done=enabled")
	want(t, b.get("/account/security"), 200, "", "Signed in as "+ownerEmail, "Authenticator app")
}
