package twostep_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestSignInNext: the domain says what the sign-in a token opens must do next
// (FL-01, ORG-01), so that the pages ask instead of guessing from which lookup
// fails: a second step with its choices, enrolment for a token of
// enrollment_required, and ErrExpired for everything that can go no further.
func TestSignInNext(t *testing.T) { // FL-01, ORG-01, RL-06
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	ctx := context.Background()
	f.account("owner@example.com")
	ownerSecret, _ := f.enrol("owner@example.com")
	owner := f.caller(mustVerifyTOTPFor(t, f, "owner@example.com", ownerSecret))
	joe := f.member("joe@example.com", twostep.RoleMember)
	joeSecret, _ := f.enrol("joe@example.com")
	kim := f.member("kim@example.com", twostep.RoleMember)
	f.enrol("kim@example.com")
	f.member("amy@example.com", twostep.RoleMember)
	f.policy(owner, twostep.Policy{TwoStep: twostep.PolicyRequired, GracePeriodDays: 7, AllowedMethods: []twostep.Method{twostep.MethodTOTP}})
	wrong := func() string { return twostep.TOTPCode(joeSecret, twostep.TOTPStep(f.clock.Now())+5) }

	// what is the part of a Next these cases tell apart.
	type what struct {
		Kind    twostep.NextKind
		Choices []twostep.Method
		Allowed []twostep.Method
		Grace   bool
	}
	tests := []struct {
		name    string
		token   func() string
		want    what
		expired bool
	}{
		{name: "second step", token: func() string { return f.signIn("joe@example.com").SignInToken },
			want: what{Kind: twostep.NextSecondStep, Choices: []twostep.Method{twostep.MethodTOTP, twostep.MethodRecoveryCode}}},
		{name: "enrolment", token: func() string { return f.signIn("amy@example.com").SignInToken },
			want: what{Kind: twostep.NextEnrol, Allowed: []twostep.Method{twostep.MethodTOTP}, Grace: true}},
		{name: "no token", token: func() string { return "" }, expired: true},
		{name: "unknown token", token: func() string { return "not-a-token" }, expired: true},
		{name: "used", expired: true, token: func() string {
			tok := f.signIn("joe@example.com").SignInToken
			if _, err := f.verify(tok, twostep.MethodTOTP, f.code(joeSecret)); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(30 * time.Second)
			return tok
		}},
		{name: "out of attempts", expired: true, token: func() string { // RL-06
			tok := f.signIn("joe@example.com").SignInToken
			for range 5 {
				if _, err := f.verify(tok, twostep.MethodTOTP, wrong()); err == nil {
					t.Fatal("a wrong code went through")
				}
			}
			return tok
		}},
		{name: "a link of another purpose", expired: true, token: func() string { return f.resetLink("owner@example.com") }},
		{name: "methods reset since", expired: true, token: func() string {
			tok := f.signIn("kim@example.com").SignInToken
			if err := f.svc.ResetMember(ctx, owner, kim.ID); err != nil {
				t.Fatal(err)
			}
			return tok
		}},
		{name: "methods gone since", expired: true, token: func() string {
			// Whatever took them left the token live: nothing is left for it to prove.
			tok := f.signIn("joe@example.com").SignInToken
			if err := f.db.DeleteFactors(ctx, joe.ID); err != nil {
				t.Fatal(err)
			}
			if err := f.db.DeleteRecoveryCodes(ctx, joe.ID); err != nil {
				t.Fatal(err)
			}
			return tok
		}},
		{name: "out of time", expired: true, token: func() string {
			tok := f.signIn("owner@example.com").SignInToken
			f.clock.Advance(10*time.Minute + time.Second)
			return tok
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, err := f.svc.SignInNext(ctx, tc.token())
			if tc.expired {
				if !errors.Is(err, twostep.ErrExpired) {
					t.Fatalf("got %+v, %v; want ErrExpired", next, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := what{Kind: next.Kind, Allowed: next.Allowed, Grace: !next.GraceUntil.IsZero()}
			for _, c := range next.Choices {
				got.Choices = append(got.Choices, c.Method)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("next (-want +got):\n%s", diff)
			}
		})
	}
}
