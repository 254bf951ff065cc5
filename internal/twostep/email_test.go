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

// lastCode returns the code of the newest queued message with template tmpl.
func (f *fixture) lastCode(tmpl string) (code, to string) {
	f.t.Helper()
	f.outbox()
	for i := len(f.sent) - 1; i >= 0; i-- {
		if f.sent[i].Template == tmpl {
			return f.sent[i].Data["code"], f.sent[i].To
		}
	}
	f.t.Fatalf("no %s message among %v", tmpl, f.templates())
	return "", ""
}

// enrolEmail gives the account an e-mail method at its own address and returns
// a fresh session token.
func (f *fixture) enrolEmail(email string) string {
	f.t.Helper()
	ctx := context.Background()
	res := f.signIn(email)
	c := f.caller(res.SessionToken)
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodEmail})
	if err != nil {
		f.t.Fatal(err)
	}
	code, _ := f.lastCode("code_enrol")
	if _, _, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, code); err != nil {
		f.t.Fatal(err)
	}
	return res.SessionToken
}

func TestEmailMethodJourney(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	ctx := context.Background()
	c := f.caller(f.signIn("joe@example.com").SessionToken)
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodEmail})
	if err != nil {
		t.Fatal(err)
	}
	if nf.Factor.Status != twostep.FactorPending || nf.CodeSent == nil || nf.CodeSent.To != "j•••@example.com" {
		t.Fatalf("new e-mail factor: %+v, sent %+v", nf.Factor, nf.CodeSent)
	}
	code, to := f.lastCode("code_enrol")
	if to != "joe@example.com" || len(code) != 6 {
		t.Fatalf("enrolment code %q to %q", code, to)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	_, _, err = f.svc.VerifyFactor(ctx, c, nf.Factor.ID, wrong)
	var ce *twostep.CodeError
	if !errors.As(err, &ce) || ce.AttemptsLeft != 4 {
		t.Fatalf("wrong enrolment code: %v", err)
	}
	_, codes, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, code)
	if err != nil || len(codes) != 10 {
		t.Fatalf("right enrolment code: %v (%d recovery codes)", err, len(codes))
	}

	res := f.signIn("joe@example.com")
	if res.CodeSent == nil || res.CodeSent.Method != twostep.MethodEmail || res.CodeSent.ExpiresIn != 10*time.Minute || res.CodeSent.ResendAfter != 30*time.Second {
		t.Fatalf("sign-in with e-mail as the default: code_sent %+v", res.CodeSent)
	}
	if diff := cmp.Diff([]twostep.MethodOption{{Method: twostep.MethodEmail, FactorID: nf.Factor.ID, To: "j•••@example.com"}, {Method: twostep.MethodRecoveryCode}}, res.Methods); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
	again, err := f.svc.SignInMethods(ctx, res.SignInToken, "")
	if err != nil || again.CodeSent == nil || again.CodeSent.To != "j•••@example.com" || again.CodeSent.ResendAfter != 30*time.Second {
		t.Errorf("methods of the sign-in: %+v %v, want the live code's place and cooldown", again, err)
	}
	code, _ = f.lastCode("code_sign_in")
	done, err := f.verify(res.SignInToken, twostep.MethodEmail, code)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pwd", "mail"}, done.Session.AMR); diff != "" {
		t.Errorf("amr (-want +got):\n%s", diff)
	}
}

func TestEmailCodeExpiry(t *testing.T) { // OOB-02
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	f.enrolEmail("joe@example.com")
	early := f.signIn("joe@example.com")
	earlyCode, _ := f.lastCode("code_sign_in")
	late := f.signIn("joe@example.com")
	lateCode, _ := f.lastCode("code_sign_in")
	f.clock.Advance(9*time.Minute + 59*time.Second)
	if _, err := f.verify(early.SignInToken, twostep.MethodEmail, earlyCode); err != nil {
		t.Errorf("at 9:59: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	if _, err := f.verify(late.SignInToken, twostep.MethodEmail, lateCode); err == nil {
		t.Error("at 10:01 the code still works")
	}
}

func TestEmailCodeSingleUse(t *testing.T) { // OOB-03
	storetestBackends(t, func(t *testing.T, f *fixture) {
		f.account("joe@example.com")
		f.enrolEmail("joe@example.com")
		res := f.signIn("joe@example.com")
		code, _ := f.lastCode("code_sign_in")
		ok, errs := f.race(20, func(int) error { _, err := f.verify(res.SignInToken, twostep.MethodEmail, code); return err })
		if ok != 1 {
			t.Errorf("%d successes, want 1 (errors %v)", ok, errs)
		}
	})
}

func TestCodePurposeBinding(t *testing.T) { // OOB-04, SU-04
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	ctx := context.Background()
	session := f.enrolEmail("joe@example.com")
	// An enrolment code does not sign in.
	c := f.caller(session)
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodEmail, Address: "other@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	enrolCode, _ := f.lastCode("code_enrol")
	res := f.signIn("joe@example.com")
	if _, err := f.verify(res.SignInToken, twostep.MethodEmail, enrolCode); !errors.Is(err, twostep.ErrInvalidCode) {
		t.Errorf("enrolment code at sign-in: %v, want ErrInvalidCode", err)
	}
	// A sign-in code does not confirm identity, nor finish an enrolment.
	signInCode, _ := f.lastCode("code_sign_in")
	if _, _, err := f.svc.ConfirmIdentity(ctx, c, twostep.ConfirmRequest{Password: password, Method: twostep.MethodEmail, Code: signInCode}); !errors.Is(err, twostep.ErrInvalidCode) {
		t.Errorf("sign-in code to confirm identity: %v, want ErrInvalidCode", err)
	}
	if _, _, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, signInCode); !errors.Is(err, twostep.ErrInvalidCode) && signInCode != enrolCode {
		t.Errorf("sign-in code to enrol: %v, want ErrInvalidCode", err)
	}
	// A confirm-identity code works for that, in that session only.
	if _, err := f.svc.ConfirmIdentitySend(ctx, c, twostep.MethodEmail, ""); err != nil {
		t.Fatal(err)
	}
	confirmCode, _ := f.lastCode("code_confirm_identity")
	other := f.caller(mustSignInWithCode(t, f, "joe@example.com"))
	if _, _, err := f.svc.ConfirmIdentity(ctx, other, twostep.ConfirmRequest{Password: password, Method: twostep.MethodEmail, Code: confirmCode}); !errors.Is(err, twostep.ErrInvalidCode) {
		t.Errorf("confirm code in another session: %v, want ErrInvalidCode", err)
	}
	if _, _, err := f.svc.ConfirmIdentity(ctx, c, twostep.ConfirmRequest{Password: password, Method: twostep.MethodEmail, Code: confirmCode}); err != nil {
		t.Errorf("confirm code in its session: %v", err)
	}
}

func mustSignInWithCode(t *testing.T, f *fixture, email string) string {
	t.Helper()
	res := f.signIn(email)
	code, _ := f.lastCode("code_sign_in")
	done, err := f.verify(res.SignInToken, twostep.MethodEmail, code)
	if err != nil {
		t.Fatal(err)
	}
	return done.SessionToken
}

// TestResend: a resend waits 30 s, kills the earlier code (OOB-06), and does not
// reset the failure count of the sign-in (RL-04).
func TestResend(t *testing.T) { // OOB-06, RL-04
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	f.enrolEmail("joe@example.com")
	ctx := context.Background()
	res := f.signIn("joe@example.com")
	first, _ := f.lastCode("code_sign_in")
	send := func() (*twostep.CodeSent, error) {
		return f.svc.SendSignInCode(ctx, twostep.SendRequest{SignInToken: res.SignInToken, Method: twostep.MethodEmail})
	}
	f.clock.Advance(20 * time.Second)
	if _, err := send(); !errors.Is(err, twostep.ErrResendTooSoon) || twostep.RetryAfter(err) != 10*time.Second {
		t.Fatalf("resend after 20 s: %v (retry after %v), want ErrResendTooSoon in 10s", err, twostep.RetryAfter(err))
	}
	wrong := "000000"
	if first == wrong {
		wrong = "111111"
	}
	for i := 0; i < 3; i++ {
		f.verify(res.SignInToken, twostep.MethodEmail, wrong)
	}
	f.clock.Advance(10 * time.Second)
	if _, err := send(); err != nil {
		t.Fatal(err)
	}
	second, _ := f.lastCode("code_sign_in")
	if second == first {
		t.Skip("the random code repeated (1 in a million)")
	}
	_, err := f.verify(res.SignInToken, twostep.MethodEmail, first)
	var ce *twostep.CodeError
	if !errors.As(err, &ce) || ce.AttemptsLeft != 1 {
		t.Fatalf("the replaced code: %v, want a CodeError with 1 attempt left (the count survived the resend)", err)
	}
	if _, err := f.verify(res.SignInToken, twostep.MethodEmail, second); err != nil {
		t.Errorf("the new code: %v", err)
	}
}

// TestSendCap: at most 10 code e-mails an hour per account; past the cap a
// sign-in still works but sends nothing.
func TestSendCap(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	f.enrolEmail("joe@example.com") // 1 enrolment code
	for i := 0; i < 9; i++ {
		if res := f.signIn("joe@example.com"); res.CodeSent == nil {
			t.Fatalf("sign-in %d sent no code", i+1)
		}
	}
	res := f.signIn("joe@example.com")
	if res.CodeSent != nil || res.Status != twostep.StatusSecondStep {
		t.Fatalf("sign-in past the cap: %+v", res)
	}
	f.clock.Advance(31 * time.Second)
	_, err := f.svc.SendSignInCode(context.Background(), twostep.SendRequest{SignInToken: res.SignInToken, Method: twostep.MethodEmail})
	if !errors.Is(err, twostep.ErrThrottled) || twostep.RetryAfter(err) <= 0 {
		t.Errorf("send past the cap: %v, want ErrThrottled with a retry time", err)
	}
	f.clock.Advance(time.Hour)
	if res := f.signIn("joe@example.com"); res.CodeSent == nil {
		t.Error("an hour later, still no code")
	}
}

func TestDeliveryFailed(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	f.enrolEmail("joe@example.com")
	f.outbox() // only the sign-in code is left to claim
	res := f.signIn("joe@example.com")
	ctx := context.Background()
	if n := f.refuse("550 no such mailbox"); n != 1 {
		t.Fatalf("the provider refused %d messages, want 1", n)
	}
	f.clock.Advance(31 * time.Second)
	if _, err := f.svc.SendSignInCode(ctx, twostep.SendRequest{SignInToken: res.SignInToken, Method: twostep.MethodEmail}); !errors.Is(err, twostep.ErrDeliveryFailed) {
		t.Errorf("send after a permanent failure: %v, want ErrDeliveryFailed", err)
	}
}

func TestChangeEmail(t *testing.T) { // NT-02, SU-01
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	f.account("taken@example.com")
	ctx := context.Background()
	c := f.caller(f.signIn("joe@example.com").SessionToken)
	// A taken address gets a notice, and its code matches nothing (API.md §3.2).
	if _, err := f.svc.ChangeEmail(ctx, c, "Taken@example.com"); err != nil {
		t.Errorf("change to a taken address: %v, want the same answer as for a free one", err)
	}
	if m := f.lastMessage("email", "email_taken"); m.To != "taken@example.com" || m.Data["code"] != "" {
		t.Errorf("notice %+v, want email_taken without a code to the taken address", m)
	}
	f.clock.Advance(twostep.ResendCooldown)
	if _, err := f.svc.ChangeEmail(ctx, c, "new@example.com"); err != nil {
		t.Fatal(err)
	}
	code, to := f.lastCode("code_email_change")
	if to != "new@example.com" {
		t.Errorf("code went to %s, want the new address", to)
	}
	a, err := f.svc.VerifyEmailChange(ctx, c, code)
	if err != nil || a.Email != "new@example.com" {
		t.Fatalf("verify: %v %v", a, err)
	}
	f.outbox()
	last := f.sent[len(f.sent)-1]
	if last.Template != "email_changed" || last.To != "joe@example.com" || last.Data["new_email"] != "new@example.com" {
		t.Errorf("notice %+v, want email_changed to the old address", last)
	}
	if got := f.signIn("new@example.com"); got.Status != twostep.StatusSignedIn {
		t.Errorf("sign-in with the new address: %s", got.Status)
	}
	f.clock.Advance(11 * time.Minute)
	if _, err := f.svc.ChangeEmail(ctx, c, "third@example.com"); !errors.Is(err, twostep.ErrConfirmIdentity) {
		t.Errorf("change without a fresh confirmation: %v", err)
	}
}

func TestChangePassword(t *testing.T) { // SU-02, SU-05
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	ctx := context.Background()
	other := f.signIn("joe@example.com").SessionToken
	c := f.caller(f.signIn("joe@example.com").SessionToken)
	var inv *twostep.InvalidError
	if err := f.svc.ChangePassword(ctx, c, "not it at all", "a brand new password"); !errors.As(err, &inv) || inv.Field != "current_password" {
		t.Errorf("wrong current password: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, c, password, "short"); !errors.As(err, &inv) || inv.Field != "password" {
		t.Errorf("short new password: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, c, password, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, other, "", ""); !errors.Is(err, twostep.ErrUnauthenticated) {
		t.Errorf("other session after a password change: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, c.Session.ID, "", ""); err == nil {
		t.Error("a session id works as a token")
	}
	if !contains(f.templates(), "password_changed") {
		t.Errorf("notices %v lack password_changed", f.templates())
	}
}

func TestPasswordReset(t *testing.T) { // FL-08, FL-09, EN-01
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	ctx := context.Background()
	session := mustVerifyTOTP(t, f, secret)
	if err := f.svc.RequestPasswordReset(ctx, "nobody@example.com", nil); err != nil {
		t.Errorf("unknown address: %v, want the same nil", err)
	}
	before := len(f.templates())
	if err := f.svc.RequestPasswordReset(ctx, "joe@example.com", nil); err != nil {
		t.Fatal(err)
	}
	f.outbox()
	if len(f.sent) != before+1 || f.sent[before].Template != "password_reset" {
		t.Fatalf("messages %v", f.templates()[before:])
	}
	link := f.sent[before].Data["link"]
	if !strings.HasPrefix(link, "https://auth.example.com/reset-password/") {
		t.Fatalf("link %q does not start with the configured base URL", link)
	}
	token := strings.TrimPrefix(link, "https://auth.example.com/reset-password/")
	if err := f.svc.ResetPassword(ctx, token, "a brand new password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, session, "", ""); !errors.Is(err, twostep.ErrUnauthenticated) {
		t.Errorf("session after a reset: %v", err)
	}
	if err := f.svc.ResetPassword(ctx, token, "another new password", nil); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("second use of the link: %v, want ErrExpired", err)
	}
	// The reset neither signed in nor turned two-step off.
	res, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: "a brand new password"})
	if err != nil || res.Status != twostep.StatusSecondStep {
		t.Errorf("sign-in after the reset: %v %v, want second_step", res, err)
	}
	if !contains(f.templates(), "password_reset_done") {
		t.Errorf("notices %v lack password_reset_done", f.templates())
	}
	f.svc.RequestPasswordReset(ctx, "joe@example.com", nil)
	f.outbox()
	late := strings.TrimPrefix(f.sent[len(f.sent)-1].Data["link"], "https://auth.example.com/reset-password/")
	f.clock.Advance(time.Hour + time.Second)
	if err := f.svc.ResetPassword(ctx, late, "yet another password", nil); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("link after an hour: %v, want ErrExpired", err)
	}
}

func mustVerifyTOTP(t *testing.T, f *fixture, secret []byte) string {
	t.Helper()
	res, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, f.code(secret))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	return res.SessionToken
}

func TestLegacyClients(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.rebuild(func(o *twostep.Options) { o.MinClientVersion = "3.1.0" })
	f.account("joe@example.com")
	ctx := context.Background()
	old := twostep.SignInRequest{Email: "joe@example.com", Password: password, ClientVersion: "3.0.9"}
	// Before two-step, an old client signs in like any other.
	if res, err := f.svc.SignIn(ctx, old); err != nil || res.Status != twostep.StatusSignedIn {
		t.Fatalf("old client, two-step off: %v %v", res, err)
	}
	secret, _ := f.enrol("joe@example.com")
	_, err := f.svc.SignIn(ctx, old)
	var ue *twostep.UpgradeError
	if !errors.As(err, &ue) || ue.MinClientVersion != "3.1.0" {
		t.Fatalf("old client, two-step on: %v, want client_upgrade_required 3.1.0", err)
	}
	for _, v := range []string{"3.1.0", "3.10.0", "4", ""} {
		if res, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password, ClientVersion: v}); err != nil || res.Status != twostep.StatusSecondStep {
			t.Errorf("client %q: %v %v, want second_step", v, res, err)
		}
	}
	session := mustVerifyTOTP(t, f, secret)
	if _, err := f.svc.UpdateSettings(ctx, f.caller(session), twostep.Settings{AllowLegacyClients: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.SignIn(ctx, old)
	if err != nil || res.Status != twostep.StatusSignedIn || !cmp.Equal(res.Session.AMR, []string{"pwd"}) {
		t.Fatalf("old client allowed: %v %v", res, err)
	}
	// Such a session never counts as a confirmation (FL-04).
	if _, err := f.svc.RecoveryCodes(ctx, f.caller(res.SessionToken)); !errors.Is(err, twostep.ErrConfirmIdentity) {
		t.Errorf("legacy session regenerating codes: %v, want ErrConfirmIdentity", err)
	}
}

func storetestBackends(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newFixture(t, storetest.SQLite(t), twostep.Limits{})) })
	t.Run("postgres", func(t *testing.T) { fn(t, newFixture(t, storetest.Postgres(t), twostep.Limits{})) })
}

// TestNoticesForEveryChange walks through every security change and checks
// that each queued its notice, to the right address (NT-01, NT-02, RC-05).
func TestNoticesForEveryChange(t *testing.T) { // NT-01, NT-02, RC-05
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	ctx := context.Background()
	secret, _ := f.enrol("joe@example.com") // two_step_enabled
	c := f.caller(mustVerifyTOTP(t, f, secret))
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodEmail})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := f.lastCode("code_enrol")
	if _, _, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, code); err != nil { // factor_added
		t.Fatal(err)
	}
	if _, err := f.svc.RecoveryCodes(ctx, c); err != nil { // recovery_codes_generated
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateSettings(ctx, c, twostep.Settings{AllowLegacyClients: ptr(true)}); err != nil { // legacy_clients_changed
		t.Fatal(err)
	}
	if err := f.svc.RemoveFactor(ctx, c, nf.Factor.ID); err != nil { // factor_removed
		t.Fatal(err)
	}
	if _, err := f.svc.ChangeEmail(ctx, c, "new@example.com"); err != nil {
		t.Fatal(err)
	}
	code, _ = f.lastCode("code_email_change")
	if _, err := f.svc.VerifyEmailChange(ctx, c, code); err != nil { // email_changed, to the old address
		t.Fatal(err)
	}
	if err := f.svc.ChangePassword(ctx, c, password, "another good password"); err != nil { // password_changed
		t.Fatal(err)
	}
	factors, _ := f.svc.Factors(ctx, c)
	if err := f.svc.RemoveFactor(ctx, c, factors[0].ID); err != nil { // two_step_disabled
		t.Fatal(err)
	}
	f.outbox()
	var got []string
	for _, m := range f.sent {
		if !strings.HasPrefix(m.Template, "code_") {
			got = append(got, m.Template+" → "+m.To)
		}
	}
	want := []string{
		"two_step_enabled → joe@example.com", "factor_added → joe@example.com", "recovery_codes_generated → joe@example.com",
		"legacy_clients_changed → joe@example.com", "factor_removed → joe@example.com", "email_changed → joe@example.com",
		"password_changed → new@example.com", "two_step_disabled → new@example.com",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notices (-want +got):\n%s", diff)
	}
}
