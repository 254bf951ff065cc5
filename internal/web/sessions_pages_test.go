package web

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestSessionsList: the security page lists where the account is signed in,
// this browser first and marked, with "Sign out" for each other one; signing
// one out ends it at once (its next request meets the sign-in page), needs a
// recent confirmation like ending the others (SU-01), and reaches no session
// of another account (CS-02).
func TestSessionsList(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	other := e.browser(t)
	want(t, other.signIn(t, ownerEmail, ownerPwd), 303, "/account/security")

	a := b.get("/account/security")
	want(t, a, 200, "", "Where you're signed in", "(this browser)", "Sign out everywhere else")
	mine := find(t, a.body, `<tr id="session-(ses_[a-z0-9]+)"><th scope="row">[^<]*<strong>\(this browser\)`)
	theirs := find(t, a.body, `action="/account/security/sessions/(ses_[a-z0-9]+)/end"`)
	if mine == theirs {
		t.Fatalf("this browser's own session %s offers to sign out", mine)
	}
	wantNot(t, a, `action="/account/security/sessions/`+mine+`/end"`)

	// Someone else's browser: Ann's session is not the owner's to end.
	ann := e.join(t, e.invite(t, b, "ann@karbon.example", "member"), "ann@karbon.example", "ann's long phrase")
	annSession := find(t, ann.get("/account/security").body, `<tr id="session-(ses_[a-z0-9]+)">`)
	want(t, b.post("/account/security/sessions/"+annSession+"/end", nil), http.StatusNotFound, "")
	want(t, b.post("/account/security/sessions/"+mine+"/end", nil), http.StatusNotFound, "")
	want(t, ann.get("/account/security"), 200, "")

	// The confirmation from setting up has lapsed: confirm first.
	e.clock.Add(11 * time.Minute)
	wantConfirm(t, b.post("/account/security/sessions/"+theirs+"/end", nil))
	want(t, other.get("/account/security"), 200, "")
	e.clock.Add(-11 * time.Minute)

	a = b.post("/account/security/sessions/"+theirs+"/end", nil)
	want(t, a, 303, "/account/security?done=session_ended#sessions-h")
	want(t, b.get("/account/security?done=session_ended"), 200, "", "That session is signed out.")
	wantNot(t, b.get("/account/security"), "session-"+theirs)
	want(t, other.get("/account/security"), 303, "/sign-in")
	want(t, b.get("/account/activity"), 200, "", "Sessions ended")

	// French words.
	b.lang = "fr"
	want(t, b.get("/account/security"), 200, "", "Où vous êtes connecté", "(ce navigateur)")
	wantNot(t, b.get("/account/security"), "Déconnecter partout ailleurs") // only this one is left

	// Everywhere else at once.
	want(t, other.signIn(t, ownerEmail, ownerPwd), 303, "/account/security")
	want(t, b.post("/account/security/sessions/end-others", url.Values{}), 303, "/account/security?done=sessions_ended#sessions-h")
	want(t, other.get("/account/security"), 303, "/sign-in")
}
