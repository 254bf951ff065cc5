package twostep_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestSelfServiceRecovery: someone who lost their authenticator app gets back
// in by themselves only with a saved recovery code and a factor they still
// have, the password (ADM-03, "one recovery code + one remaining factor"), or
// with two recovery codes that came by different ways, a reset link by e-mail
// and a saved code. A recovery code never stands in for the password, an
// e-mailed link never stands in for the second step, and replacing the lost
// method takes a fresh confirmation with the password and another code.
func TestSelfServiceRecovery(t *testing.T) { // ADM-03
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	lost, codes := f.enrol("joe@example.com")
	ctx := context.Background()

	// A recovery code without the password does not get as far as the second step.
	if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: codes[0]}); !errors.Is(err, twostep.ErrInvalidCredentials) {
		t.Fatalf("a recovery code as the password: %v, want ErrInvalidCredentials", err)
	}

	// Password and a recovery code: signed in, and told about it.
	res := f.signIn("joe@example.com")
	if res.Status != twostep.StatusSecondStep {
		t.Fatalf("status %s, want second_step", res.Status)
	}
	done, err := f.verify(res.SignInToken, twostep.MethodRecoveryCode, codes[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pwd", "rcv"}, done.Session.AMR); diff != "" {
		t.Errorf("amr (-want +got):\n%s", diff)
	}
	if !contains(f.templates(), "recovery_code_used") {
		t.Errorf("notices %v lack recovery_code_used", f.templates())
	}

	// Replacing the lost app takes a confirmation: the password and another code.
	f.clock.Advance(11 * time.Minute)
	c := f.caller(done.SessionToken)
	factors, err := f.svc.Factors(ctx, c)
	if err != nil || len(factors) != 1 {
		t.Fatalf("factors %v %v", factors, err)
	}
	if err := f.svc.RemoveFactor(ctx, c, factors[0].ID); !errors.Is(err, twostep.ErrConfirmIdentity) {
		t.Fatalf("remove without a fresh confirmation: %v, want ErrConfirmIdentity", err)
	}
	if _, _, err := f.svc.ConfirmIdentity(ctx, c, twostep.ConfirmRequest{Password: password, Method: twostep.MethodRecoveryCode, Code: codes[0]}); err == nil {
		t.Fatal("a spent recovery code confirmed the identity")
	}
	token, _, err := f.svc.ConfirmIdentity(ctx, c, twostep.ConfirmRequest{Password: password, Method: twostep.MethodRecoveryCode, Code: codes[1]})
	if err != nil {
		t.Fatal(err)
	}
	c = f.caller(token)
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodTOTP})
	if err != nil {
		t.Fatal(err)
	}
	fresh := decodeSecret(t, nf.Secret)
	if _, _, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, f.code(fresh)); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RemoveFactor(ctx, c, factors[0].ID); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	if _, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, f.code(lost)); err == nil {
		t.Error("the lost app still signs in")
	}
	if _, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, f.code(fresh)); err != nil {
		t.Errorf("the new app: %v", err)
	}

	// A reset link by e-mail sets the password, but the second step remains:
	// with it, a saved recovery code is the second of two recovery codes.
	f.clock.Advance(30 * time.Second)
	if err := f.svc.RequestPasswordReset(ctx, "joe@example.com", nil); err != nil {
		t.Fatal(err)
	}
	link := f.lastMessage("email", "password_reset").Data["link"]
	if err := f.svc.ResetPassword(ctx, link[strings.LastIndex(link, "/")+1:], "a brand new password", nil); err != nil {
		t.Fatal(err)
	}
	res, err = f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: "a brand new password"})
	if err != nil || res.Status != twostep.StatusSecondStep {
		t.Fatalf("sign-in after a reset by e-mail: %+v %v, want second_step", res, err)
	}
	if _, err := f.verify(res.SignInToken, twostep.MethodRecoveryCode, codes[2]); err != nil {
		t.Errorf("reset link and a saved recovery code: %v", err)
	}
}
