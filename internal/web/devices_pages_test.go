package web

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/twostep"
)

// TestDeviceCookieThroughEmailLock: the sign-in page gives the browser a
// long-lived HttpOnly device cookie; after strangers lock the e-mail, that
// browser signs in again (RL-13) while a browser without it gets the wait
// (RL-08); the activity and members pages show the lock and its end.
func TestDeviceCookieThroughEmailLock(t *testing.T) { // RL-13, RL-08
	e := newEnv(t)
	e.setUp(t)
	b := e.browser(t)
	a := b.signIn(t, ownerEmail, ownerPwd)
	want(t, a, 303, "/account/security")
	var device string
	for _, c := range a.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "twostep_device=") {
			device = c
		}
	}
	for _, attr := range []string{"Path=/", "Expires=", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(device, attr) {
			t.Errorf("device cookie %q lacks %s", device, attr)
		}
	}
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")

	for i := 0; i < 10; i++ {
		_, err := e.svc.SignIn(context.Background(), twostep.SignInRequest{Email: ownerEmail, Password: "not the password", IP: "203.0.113.66"})
		if !errors.Is(err, twostep.ErrInvalidCredentials) {
			t.Fatalf("stranger's wrong password %d: %v", i+1, err)
		}
	}
	want(t, e.browser(t).signIn(t, ownerEmail, ownerPwd), 429, "", "Too many attempts. Try again in")

	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/account/security")
	want(t, b.get("/account/activity"), 200, "", "Sign-in paused after too many wrong passwords, until", "203.0.113.66")
	want(t, b.get("/admin/members"), 200, "", `<a href="#locked-help">Paused until `)
}
