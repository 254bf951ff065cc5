package web

import (
	"net/http"
	"net/url"
	"testing"
)

// TestRenameMethod: the owner names a method ("Work phone") on the security
// page; the name is kept exactly, shown beside the method, and refused with a
// message when empty; no one renames another account's method (CS-02).
func TestRenameMethod(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	_, a := e.enrol(t, b)
	want(t, a, 200, "", "Your recovery codes")
	a = b.get("/account/security")
	id := find(t, a.body, `action="/account/security/factors/(fac_[a-z0-9]+)/label"`)
	want(t, a, 200, "", "<summary>Rename", `<label for="label-`+id+`">Name of the method</label>`, `name="label" type="text" autocomplete="off" value=""`)

	want(t, b.post("/account/security/factors/"+id+"/label", url.Values{"label": {"Work phone’s app"}}), 303, "/account/security?done=renamed")
	a = b.get("/account/security?done=renamed")
	want(t, a, 200, "", "Name changed.", "Authenticator app — Work phone’s app", `value="Work phone’s app"`)
	acct, err := e.db.AccountByEmail(t.Context(), ownerEmail)
	if err != nil {
		t.Fatal(err)
	}
	if fs, err := e.db.Factors(t.Context(), acct.ID); err != nil || len(fs) != 1 || fs[0].Label != "Work phone’s app" {
		t.Fatalf("the label kept is not what was typed: %+v, %v", fs, err)
	}

	a = b.post("/account/security/factors/"+id+"/label", url.Values{"label": {"  "}})
	want(t, a, 400, "", "Name of the method: enter a name of 1 to 64 characters.")

	ann := e.join(t, e.invite(t, b, "ann@karbon.example", "member"), "ann@karbon.example", "ann's long phrase")
	want(t, ann.post("/account/security/factors/"+id+"/label", url.Values{"label": {"mine now"}}), http.StatusNotFound, "")
}

// TestNoticesLinkToSecurityPage: the notices the service queues carry the
// address of the security page, built from the base URL (FL-09), which the
// message texts show (internal/notify's TestNotices).
func TestNoticesLinkToSecurityPage(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	e.enrol(t, b)
	if got := e.mailed(t, ownerEmail, "two_step_enabled")["security_url"]; got != "http://127.0.0.1/account/security" {
		t.Errorf("the two-step-on notice links to %q", got)
	}
}
