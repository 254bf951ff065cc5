package web

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/twostep"
)

// TestChangeEmailPageSameAnswer: the page shows the code step for a taken
// address exactly as for a free one (API.md §3.2).
func TestChangeEmailPageSameAnswer(t *testing.T) { // EN-01
	e := newEnv(t)
	b := e.setUp(t)
	if _, _, err := e.svc.CreateAccount(context.Background(), twostep.NewAccount{Org: "karbon-accounting", Email: "dave@karbon.example"}); err != nil {
		t.Fatal(err)
	}
	taken := b.post("/account/email", url.Values{"email": {"dave@karbon.example"}})
	want(t, taken, 200, "", "We sent a code to dave@karbon.example.", `action="/account/email/verify"`)
	if got := e.mailed(t, "dave@karbon.example", "email_taken"); got["code"] != "" {
		t.Errorf("email_taken carries a code: %v", got)
	}
	// A new address is a new send, not a resend: no cooldown, the same clock.
	free := b.post("/account/email", url.Values{"email": {"dora@karbon.example"}})
	want(t, free, 200, "", "We sent a code to dora@karbon.example.")
	if strings.ReplaceAll(taken.body, "dave@", "dora@") != free.body {
		t.Errorf("pages differ beyond the address:\n%s\n----\n%s", taken.body, free.body)
	}
}
