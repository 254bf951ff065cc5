package web

import (
	"net/url"
	"strings"
	"testing"
)

// TestAppPasswordPages: the security page offers app passwords once two-step
// is on; creating one shows it once, in groups; the list shows it, unused;
// revoking it removes it (API.md §11).
func TestAppPasswordPages(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	wantNot(t, b.get("/account/security"), "Create an app password") // two-step is off
	e.enrol(t, b)
	want(t, b.get("/account/security"), 200, "", "App passwords", "Create an app password")

	a := b.post("/account/security/app-passwords", url.Values{"label": {"Old Paint on the studio PC"}})
	want(t, a, 200, "", "Your new app password", "It is shown only this once", "Old Paint on the studio PC")
	pw := find(t, a.body, `<code id="app-password" class="codes">([a-z2-9-]+)</code>`)
	if len(pw) != 29 {
		t.Fatalf("app password %q, want 24 characters in groups of four", pw)
	}
	a = b.get("/account/security?done=app_password_created")
	want(t, a, 200, "", "App password created.", "Old Paint on the studio PC", "Never")
	if strings.Contains(a.body, pw) {
		t.Error("the security page shows the app password again")
	}
	id := find(t, a.body, `action="/account/security/app-passwords/(apw_[a-z0-9]+)/revoke"`)
	a = b.post("/account/security/app-passwords/"+id+"/revoke", nil)
	want(t, a, 303, "/account/security?done=app_password_revoked")
	a = b.get(a.location)
	want(t, a, 200, "", "App password revoked")
	wantNot(t, a, "Old Paint on the studio PC")
}
