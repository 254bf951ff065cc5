package web

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// TestPasswordLinkSignsIn: whoever sets their password from an invitation or
// a set-password link is signed in with it, through the same decision as the
// sign-in page: straight in when nothing more is asked, to enrolment when
// the policy requires two-step (ORG-01), to the second step when the account
// already has one (SU-07: an imported authenticator app must be proven).
func TestPasswordLinkSignsIn(t *testing.T) {
	e := newEnv(t)
	owner := e.setUp(t)
	ctx := context.Background()

	// Optional policy, nothing to prove: signed in.
	b := e.browser(t)
	link := e.invite(t, owner, "ann@karbon.example", "member")
	want(t, b.post(link, url.Values{"password": {"ann's long phrase"}}), 303, "/account/security?done=password_signed_in")
	want(t, b.get("/account/security?done=password_signed_in"), 200, "", "Your password is set, and you are signed in.",
		"Signed in as ann@karbon.example")

	// An imported account with an authenticator app: its code first.
	im, err := e.svc.NewImport(ctx, twostep.ImportOptions{Org: "karbon-accounting"})
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("12345678901234567890")
	res, err := im.Line(ctx, []byte(`{"email":"bea@karbon.example","totp_secret":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}`))
	if err != nil || res.SetPasswordToken == "" {
		t.Fatalf("import: %+v, %v", res, err)
	}
	b = e.browser(t)
	want(t, b.post("/set-password/"+res.SetPasswordToken, url.Values{"password": {"bea's long phrase"}}), 303, "/sign-in/verify")
	want(t, b.get("/account/security"), 303, "/sign-in")
	want(t, b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {e.code(key)}}), 303, "/account/security")

	// Required policy: enrolment first, and nothing else.
	_, a := e.enrol(t, owner)
	want(t, a, 200, "", "Your recovery codes")
	want(t, owner.post("/admin/policy", url.Values{"two_step": {"required"}, "grace_period_days": {"0"}, "allowed_methods": {"totp", "email"},
		"min_client_version": {""}, "allow_legacy_clients": {"1"}, "confirmed": {"1"}}), 303, "/admin/policy?done=policy")
	b = e.browser(t)
	link = e.invite(t, owner, "cid@karbon.example", "member")
	want(t, b.post(link, url.Values{"password": {"cid's long phrase"}}), 303, enrolBase)
	want(t, b.get("/account/security"), 303, "/sign-in")
	want(t, b.get(enrolBase), 200, "", "Your organisation requires two-step verification")
}

// TestSpentSignInKeepsEmail: after the fifth wrong code the sign-in is spent
// and the person starts again from the password (RL-06), with the e-mail
// already filled in.
func TestSpentSignInKeepsEmail(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	key, _ := e.enrol(t, b)
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	e.clock.Add(30 * time.Second)
	var a answer
	for range 5 {
		a = b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {wrongCode(e.code(key))}})
	}
	want(t, a, 400, "", "no tries are left for this sign-in. Start again: enter your password.", `value="`+ownerEmail+`"`)
}
