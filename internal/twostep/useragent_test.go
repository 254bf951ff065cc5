package twostep_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twostep/twostep/internal/twostep"
)

// TestUserAgentNotUTF8 sends User-Agents that are not valid UTF-8, or that a
// byte cut at 512 would leave invalid. PostgreSQL refuses such text, and once
// did so in the transaction that counts a wrong password: guesses went
// uncounted and unaudited (RL-09, AU-01). Each must be stored as valid text,
// and every wrong password counted, on both backends.
func TestUserAgentNotUTF8(t *testing.T) { // RL-09, AU-01
	agents := []string{
		"curl\xff",
		strings.Repeat("a", 511) + "é", // é's second byte would be cut off at 512
		"Mozilla\xc3",
	}
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		acct := f.account("joe@example.com")
		f.enrol("joe@example.com")
		for _, ua := range agents {
			_, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: "wrong password", IP: "192.0.2.1", UserAgent: ua})
			if !errors.Is(err, twostep.ErrInvalidCredentials) {
				t.Fatalf("wrong password with User-Agent %q: %v, want ErrInvalidCredentials", ua, err)
			}
		}
		res, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password, IP: "192.0.2.1", UserAgent: agents[0]})
		if err != nil || res.Status != twostep.StatusSecondStep {
			t.Fatalf("right password: %v, %+v; want the second step", err, res)
		}
		evs, err := f.db.Events(ctx, twostep.EventFilter{AccountID: acct.ID, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, e := range evs {
			if e.Type == "sign_in.failed" {
				failed++
			}
			if !utf8.ValidString(e.UserAgent) || len(e.UserAgent) > 512 {
				t.Errorf("event %s stored User-Agent %q (%d bytes), want valid UTF-8 of at most 512 bytes", e.Type, e.UserAgent, len(e.UserAgent))
			}
		}
		if failed != len(agents) {
			t.Errorf("%d sign_in.failed events, want %d: a wrong password went uncounted", failed, len(agents))
		}
	})
}
