package web

import (
	"net/url"
	"testing"
)

// TestDestructiveButtonsAsk: "Remove" and "Get new codes" lead to a page that
// says what will happen and asks (no JavaScript needed); only its button
// acts. Under a required policy the last method says why it cannot go
// instead of offering a button that would fail.
func TestDestructiveButtonsAsk(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	_, a := e.enrol(t, b)
	want(t, a, 200, "", "Your recovery codes")
	a = b.get("/account/security")
	id := find(t, a.body, `<a class="button danger" href="/account/security/factors/(fac_[a-z0-9]+)/remove">Remove`)
	want(t, a, 200, "", `<a class="button" href="/account/security/recovery-codes">Get new codes</a>`)
	wantNot(t, a, `<form method="post" action="/account/security/factors/`+id+`/remove">`,
		`<form method="post" action="/account/security/recovery-codes">`)

	a = b.get("/account/security/factors/" + id + "/remove")
	want(t, a, 200, "", "Remove Authenticator app?", "two-step verification turns off, and your 10 recovery codes stop working",
		`<form method="post" action="/account/security/factors/`+id+`/remove">`, "Remove it", "Keep it and go back")
	a = b.get("/account/security/recovery-codes")
	want(t, a, 200, "", "Get new recovery codes?", "Your current 10 codes stop working at once",
		`<form method="post" action="/account/security/recovery-codes">`)
	b.lang = "fr"
	want(t, b.get("/account/security/factors/"+id+"/remove"), 200, "", "Supprimer Application d’authentification ?", "La supprimer")
	b.lang = ""
	want(t, b.get("/account/security/factors/fac_nope/remove"), 404, "")

	// Required: the only method stays, and the page says why.
	want(t, b.post("/admin/policy", url.Values{"two_step": {"required"}, "grace_period_days": {"0"}, "allowed_methods": {"totp", "email"},
		"min_client_version": {""}, "allow_legacy_clients": {"1"}, "confirmed": {"1"}}), 303, "/admin/policy?done=policy")
	a = b.get("/account/security")
	want(t, a, 200, "", "Your organisation requires two-step verification, so this method cannot be removed while it is your only one.")
	wantNot(t, a, `href="/account/security/factors/`+id+`/remove"`)
	a = b.get("/account/security/factors/" + id + "/remove")
	want(t, a, 200, "", "cannot be removed while it is your only one", "Add another method")
	wantNot(t, a, "Remove it")
}
