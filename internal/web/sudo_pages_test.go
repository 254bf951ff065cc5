package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestConfirmCarriesOn: a change refused for want of a fresh confirmation
// (SU-01) is kept with the session, named on the confirmation page, and
// carried on once the person has confirmed (GitHub's sudo mode): once, for
// that session only, never with a password kept, and never across origins
// (CS-01).
func TestConfirmCarriesOn(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	key, a := e.enrol(t, b)
	old := recoveryCodes(t, a.body)
	e.clock.Add(11 * time.Minute)

	confirm := wantConfirm(t, b.post("/account/security/recovery-codes", nil))
	action := find(t, confirm, `action=(pnd_[a-z0-9]+)`)
	a = b.get(confirm)
	want(t, a, 200, "", "You are getting new recovery codes. Confirm it’s you to carry on.")
	// The password comes first.
	if pw, m := strings.Index(a.body, `id="password"`), strings.Index(a.body, `name="method"`); pw < 0 || m < 0 || pw > m {
		t.Errorf("the password is not the first thing asked:\n%s", a.body)
	}

	// Another session of the same account cannot use it.
	other := e.browser(t)
	want(t, other.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	e.clock.Add(30 * time.Second)
	want(t, other.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {e.code(key)}}), 303, "/account/security")
	e.clock.Add(30 * time.Second)
	want(t, other.post("/account/confirm", url.Values{"next": {"/account/security"}, "action": {action}, "password": {ownerPwd},
		"method": {"totp"}, "code": {e.code(key)}}), 303, "/account/security?done=confirmed")

	// Across origins: refused before anything is looked at.
	b.origin = "https://evil.example"
	e.clock.Add(30 * time.Second)
	if a := b.post("/account/confirm", url.Values{"next": {"/account/security"}, "action": {action}, "password": {ownerPwd},
		"method": {"totp"}, "code": {e.code(key)}}); a.status != http.StatusForbidden {
		t.Fatalf("cross-origin confirmation: %d, want 403", a.status)
	}
	b.origin = ""

	// Its own session: confirmed, the new codes come at once.
	a = b.post("/account/confirm", url.Values{"next": {"/account/security"}, "action": {action}, "password": {ownerPwd},
		"method": {"totp"}, "code": {e.code(key)}})
	want(t, a, 200, "", "Your recovery codes")
	if codes := recoveryCodes(t, a.body); len(codes) != 10 || codes[0] == old[0] {
		t.Fatalf("codes after confirming: %q", codes)
	}
	// Once: the same action again is a plain confirmation.
	e.clock.Add(30 * time.Second)
	want(t, b.post("/account/confirm", url.Values{"next": {"/account/security"}, "action": {action}, "password": {ownerPwd},
		"method": {"totp"}, "code": {e.code(key)}}), 303, "/account/security?done=confirmed")

	// A form holding a password is not kept: confirm, then do it again.
	e.clock.Add(11 * time.Minute)
	a = b.post("/account/security/app-passwords", url.Values{"label": {"Old app"}, "password": {ownerPwd}})
	want(t, a, 303, "/account/confirm?next=%2Faccount%2Fsecurity")
}

// TestConfirmOffersPhonesByName: each phone is a choice of its own, by the
// name its owner gave it.
func TestConfirmOffersPhonesByName(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	page, _ := e.addPhone(t, b, "06 12 34 56 78", "FR", "sms")
	want(t, b.post(page, url.Values{"code": {e.received(t, "sms", mobile, "code_enrol")["code"]}}), 200, "", "Your recovery codes")
	id := find(t, b.get("/account/security").body, `action="/account/security/factors/(fac_[a-z0-9]+)/label"`)
	want(t, b.post("/account/security/factors/"+id+"/label", url.Values{"label": {"Work phone"}}), 303, "/account/security?done=renamed")
	e.clock.Add(11 * time.Minute)
	a := b.get("/account/confirm?next=%2Faccount%2Fsecurity")
	want(t, a, 200, "", `<label for="method-`+id+`">Work phone (`+maskedMobile+`)</label>`, `value="sms:`+id+`"`)
	// By that choice, the code sent to it confirms.
	a = b.post("/account/confirm/send", url.Values{"next": {"/account/security"}, "method": {"sms"}, "factor_id": {id}})
	want(t, a, 303, a.location)
	code := e.received(t, "sms", mobile, "code_confirm_identity")["code"]
	want(t, b.post("/account/confirm", url.Values{"next": {"/account/security"}, "password": {ownerPwd}, "method": {"sms:" + id},
		"code": {code}}), 303, "/account/security?done=confirmed")
}
