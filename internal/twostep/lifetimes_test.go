package twostep_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestIssuedCodeLifetimes checks, with the fake clock, how long what this
// server sends to someone keeps working (ADM-04): a password-reset link sent by
// e-mail at most 24 h, a code sent by SMS or voice call at most 10 minutes.
// Each case issues two of a kind at the same moment (to two accounts, so that
// using one cannot spend the other), uses the first one second before the
// lifetime the code declares and the second one second after it.
func TestIssuedCodeLifetimes(t *testing.T) { // ADM-04
	ctx := context.Background()
	// addSMS gives a new account a phone method, not yet proven, and returns
	// the account's caller and the factor's id.
	addSMS := func(f *fixture, i int) (*twostep.Caller, string) {
		f.t.Helper()
		email := fmt.Sprintf("user%d@example.com", i)
		f.account(email)
		c := f.caller(f.signIn(email).SessionToken)
		nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodSMS, Phone: fmt.Sprintf("+3361234567%d", i)})
		if err != nil {
			f.t.Fatal(err)
		}
		return c, nf.Factor.ID
	}
	// enrolSMS gives a new account a phone method and returns its e-mail.
	enrolSMS := func(f *fixture, i int) string {
		f.t.Helper()
		c, id := addSMS(f, i)
		email := c.Account.Email
		if _, _, err := f.svc.VerifyFactor(ctx, c, id, f.lastMessage("sms", "code_enrol").Data["code"]); err != nil {
			f.t.Fatal(err)
		}
		return email
	}
	tests := []struct {
		name     string
		limit    time.Duration // the most ADM-04 allows
		lifetime time.Duration // what the code says
		// issue sends the i-th link or code and returns a function that uses it.
		issue func(f *fixture, i int) func() error
	}{
		{"password-reset link by e-mail", 24 * time.Hour, twostep.PasswordResetTTL, func(f *fixture, i int) func() error {
			email := fmt.Sprintf("user%d@example.com", i)
			f.account(email)
			if err := f.svc.RequestPasswordReset(ctx, email, nil); err != nil {
				f.t.Fatal(err)
			}
			link := f.lastMessage("email", "password_reset").Data["link"]
			token := link[strings.LastIndex(link, "/")+1:]
			return func() error { return f.svc.ResetPassword(ctx, token, "a brand new password", nil) }
		}},
		{"sign-in code by SMS", 10 * time.Minute, twostep.CodeTTL, func(f *fixture, i int) func() error {
			res := f.signIn(enrolSMS(f, i))
			if res.CodeSent == nil || res.CodeSent.Method != twostep.MethodSMS {
				f.t.Fatalf("sign-in sent %+v, want an SMS", res.CodeSent)
			}
			code := f.lastMessage("sms", "code_sign_in").Data["code"]
			return func() error { _, err := f.verify(res.SignInToken, twostep.MethodSMS, code); return err }
		}},
		{"sign-in code by voice call", 10 * time.Minute, twostep.CodeTTL, func(f *fixture, i int) func() error {
			res := f.signIn(enrolSMS(f, i))
			if _, err := f.svc.SendSignInCode(ctx, twostep.SendRequest{SignInToken: res.SignInToken, Method: twostep.MethodVoice}); err != nil {
				f.t.Fatal(err)
			}
			code := f.lastMessage("voice", "code_sign_in").Data["code"]
			return func() error { _, err := f.verify(res.SignInToken, twostep.MethodVoice, code); return err }
		}},
		// The enrolment challenge lives an hour: only the code's own lifetime ends it.
		{"enrolment code by SMS", 10 * time.Minute, twostep.CodeTTL, func(f *fixture, i int) func() error {
			c, id := addSMS(f, i)
			code := f.lastMessage("sms", "code_enrol").Data["code"]
			return func() error { _, _, err := f.svc.VerifyFactor(ctx, c, id, code); return err }
		}},
		{"identity-confirmation code by SMS", 10 * time.Minute, twostep.CodeTTL, func(f *fixture, i int) func() error {
			res := f.signIn(enrolSMS(f, i))
			done, err := f.verify(res.SignInToken, twostep.MethodSMS, f.lastMessage("sms", "code_sign_in").Data["code"])
			if err != nil {
				f.t.Fatal(err)
			}
			c := f.caller(done.SessionToken)
			if _, err := f.svc.ConfirmIdentitySend(ctx, c, twostep.MethodSMS, ""); err != nil {
				f.t.Fatal(err)
			}
			code := f.lastMessage("sms", "code_confirm_identity").Data["code"]
			return func() error {
				_, _, err := f.svc.ConfirmIdentity(ctx, c, twostep.ConfirmRequest{Password: password, Method: twostep.MethodSMS, Code: code})
				return err
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.lifetime > tc.limit {
				t.Errorf("lifetime %v, want at most %v (ADM-04)", tc.lifetime, tc.limit)
			}
			f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
			early, late := tc.issue(f, 0), tc.issue(f, 1)
			f.clock.Advance(tc.lifetime - time.Second)
			if err := early(); err != nil {
				t.Errorf("one second before its lifetime of %v: %v, want it to work", tc.lifetime, err)
			}
			f.clock.Advance(2 * time.Second)
			if err := late(); !errors.Is(err, twostep.ErrExpired) && !errors.Is(err, twostep.ErrInvalidCode) {
				t.Errorf("one second after its lifetime of %v: %v, want ErrExpired or ErrInvalidCode", tc.lifetime, err)
			}
		})
	}
}
