package twostep_test

import (
	"context"
	"encoding/base32"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// member creates an account with a role in the fixture's organisation.
func (f *fixture) member(email string, role twostep.Role) *twostep.Account {
	f.t.Helper()
	a, _, err := f.svc.CreateAccount(context.Background(), twostep.NewAccount{Org: f.org, Email: email, Role: role, Password: password})
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *fixture) policy(c *twostep.Caller, p twostep.Policy) {
	f.t.Helper()
	if p.AllowedMethods == nil {
		p.AllowedMethods = []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodSMS, twostep.MethodVoice}
	}
	if _, err := f.svc.SetPolicy(context.Background(), c, p); err != nil {
		f.t.Fatal(err)
	}
}

// TestRequiredPolicyWithGrace: turning "required" on e-mails members without a
// method (not SSO), sends them to enrolment at sign-in, lets them skip during
// the grace period, and refuses them after it; owners get no grace.
func TestRequiredPolicyWithGrace(t *testing.T) { // ORG-01, ORG-02
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("owner@example.com")
	f.member("joe@example.com", twostep.RoleMember)
	sso, _, _ := f.svc.CreateAccount(context.Background(), twostep.NewAccount{Org: f.org, Email: "sso@example.com", SSO: true})
	_ = sso
	ctx := context.Background()
	ownerSecret, _ := f.enrol("owner@example.com")
	owner := f.caller(mustVerifyTOTPFor(t, f, "owner@example.com", ownerSecret))
	f.outbox()
	f.policy(owner, twostep.Policy{TwoStep: twostep.PolicyRequired, GracePeriodDays: 7, AllowLegacyClients: true})
	var told []string
	for _, m := range f.outbox() {
		if m.Template == "two_step_required" {
			told = append(told, m.To)
		}
	}
	if diff := cmp.Diff([]string{"joe@example.com"}, told); diff != "" {
		t.Errorf("told (-want +got):\n%s", diff)
	}

	res := f.signIn("joe@example.com")
	if res.Status != twostep.StatusEnrollmentRequired || res.SessionToken != "" || res.GraceUntil.IsZero() {
		t.Fatalf("member sign-in under a required policy: %+v", res)
	}
	if want := f.clock.Now().Add(7 * 24 * time.Hour); !res.GraceUntil.Equal(want.Truncate(time.Microsecond)) && res.GraceUntil.Sub(want) > time.Second {
		t.Errorf("grace until %v, want about %v", res.GraceUntil, want)
	}
	// The token only enrols: it is not a session.
	if _, err := f.svc.Authenticate(ctx, res.SignInToken, "", ""); !errors.Is(err, twostep.ErrUnauthenticated) {
		t.Errorf("enrolment token as a session: %v", err)
	}
	done, err := f.svc.CompleteSignIn(ctx, res.SignInToken, "", "")
	if err != nil || done.Status != twostep.StatusSignedIn || done.GraceUntil.IsZero() {
		t.Fatalf("complete during the grace period: %+v %v", done, err)
	}
	f.clock.Advance(8 * 24 * time.Hour)
	res = f.signIn("joe@example.com")
	if res.GraceUntil.IsZero() == false {
		t.Errorf("grace until %v after the grace period", res.GraceUntil)
	}
	if _, err := f.svc.CompleteSignIn(ctx, res.SignInToken, "", ""); !errors.Is(err, twostep.ErrPolicyRequiresTwoStep) {
		t.Fatalf("complete after the grace period without enrolling: %v", err)
	}
	// Enrol with the sign-in token, then complete: the session holds the method.
	res = f.signIn("joe@example.com")
	c, err := f.svc.AuthenticateEnrolment(ctx, res.SignInToken, "", "")
	if err != nil {
		t.Fatal(err)
	}
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodTOTP})
	if err != nil {
		t.Fatal(err)
	}
	secret := decodeSecret(t, nf.Secret)
	if _, codes, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, f.code(secret)); err != nil || len(codes) != 10 {
		t.Fatalf("enrol with the sign-in token: %v (%d codes)", err, len(codes))
	}
	done, err = f.svc.CompleteSignIn(ctx, res.SignInToken, "", "")
	if err != nil || !cmp.Equal(done.Session.AMR, []string{"pwd", "otp"}) || !done.GraceUntil.IsZero() {
		t.Fatalf("complete after enrolling: %+v %+v %v", done, done.Session, err)
	}

	// Owners and admins get no grace (ORG-02).
	f.member("admin@example.com", twostep.RoleAdmin)
	res = f.signIn("admin@example.com")
	if res.Status != twostep.StatusEnrollmentRequired || !res.GraceUntil.IsZero() {
		t.Errorf("admin: %+v, want enrollment_required without grace", res)
	}
	if _, err := f.svc.CompleteSignIn(ctx, res.SignInToken, "", ""); !errors.Is(err, twostep.ErrPolicyRequiresTwoStep) {
		t.Errorf("admin completing without enrolling: %v", err)
	}
	// SSO members are not subject to it: they do not sign in with a password at all.
	if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "sso@example.com", Password: password}); !errors.Is(err, twostep.ErrSSOManaged) {
		t.Errorf("SSO sign-in: %v", err)
	}
}

func decodeSecret(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustVerifyTOTPFor(t *testing.T, f *fixture, email string, secret []byte) string {
	t.Helper()
	res, err := f.verify(f.signIn(email).SignInToken, twostep.MethodTOTP, f.code(secret))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	return res.SessionToken
}

// TestAllowedMethods: methods the policy leaves out cannot be added, are not
// offered at sign-in, and a member left with none must enrol again; the last
// method cannot go while two-step is required. An organisation can so ban
// e-mail and SMS codes, the weaker methods (OOB-07, OOB-08, ORG-03 short of
// WebAuthn, which comes later).
func TestAllowedMethods(t *testing.T) { // OOB-07, OOB-08, ORG-03
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("owner@example.com")
	ctx := context.Background()
	ownerSecret, _ := f.enrol("owner@example.com")
	owner := f.caller(mustVerifyTOTPFor(t, f, "owner@example.com", ownerSecret))
	f.member("joe@example.com", twostep.RoleMember)
	joeSession := f.enrolEmail("joe@example.com")
	f.policy(owner, twostep.Policy{TwoStep: twostep.PolicyOptional, AllowedMethods: []twostep.Method{twostep.MethodTOTP}})
	if _, err := f.svc.AddFactor(ctx, f.caller(joeSession), twostep.FactorRequest{Method: twostep.MethodEmail}); !errors.Is(err, twostep.ErrMethodNotAllowed) {
		t.Errorf("adding a method the policy leaves out: %v", err)
	}
	// SU-07: the member proves the method they have, then adds an allowed one.
	res := f.signIn("joe@example.com")
	if res.Status != twostep.StatusSecondStep || res.CodeSent == nil || res.CodeSent.Method != twostep.MethodEmail {
		t.Fatalf("sign-in with only a method no longer allowed: %+v", res)
	}
	code, _ := f.lastCode("code_sign_in")
	res, err := f.verify(res.SignInToken, twostep.MethodEmail, code)
	if err != nil || res.Status != twostep.StatusEnrollmentRequired || !cmp.Equal(res.AllowedMethods, []twostep.Method{twostep.MethodTOTP}) {
		t.Errorf("after proving the method no longer allowed: %+v %v", res, err)
	}
	// With TOTP allowed and required, the owner's last method stays.
	f.policy(owner, twostep.Policy{TwoStep: twostep.PolicyRequired, AllowedMethods: []twostep.Method{twostep.MethodTOTP}})
	factors, _ := f.svc.Factors(ctx, owner)
	if err := f.svc.RemoveFactor(ctx, owner, factors[0].ID); !errors.Is(err, twostep.ErrPolicyRequiresTwoStep) {
		t.Errorf("removing the last method under a required policy: %v", err)
	}
	var inv *twostep.InvalidError
	if _, err := f.svc.SetPolicy(ctx, owner, twostep.Policy{TwoStep: "sometimes", AllowedMethods: []twostep.Method{twostep.MethodTOTP}}); !errors.As(err, &inv) || inv.Field != "two_step" {
		t.Errorf("bad two_step: %v", err)
	}
	if _, err := f.svc.SetPolicy(ctx, owner, twostep.Policy{TwoStep: "optional", AllowedMethods: []twostep.Method{"webauthn"}}); !errors.As(err, &inv) ||
		!cmp.Equal(inv, &twostep.InvalidError{Field: "allowed_methods", Code: twostep.ReasonMethodNotOffered, Args: map[string]string{"Method": "webauthn", "Methods": "totp, email, sms, voice"}}) {
		t.Errorf("a method the server does not offer: %v", err)
	}
	evs, _ := f.db.Events(ctx, twostep.EventFilter{OrgID: owner.Account.OrgID, Type: "policy.changed"})
	if len(evs) != 2 || evs[0].Detail["before"].(map[string]any)["two_step"] != "optional" || evs[0].Detail["after"].(map[string]any)["two_step"] != "required" {
		t.Errorf("policy.changed events %+v", evs)
	}
}

// TestRoles: members cannot manage; admins manage members but not admins and
// owners; the organisation keeps one owner (CS-02 for other organisations).
func TestRoles(t *testing.T) { // CS-02
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("owner@example.com")
	ctx := context.Background()
	owner := f.caller(f.signIn("owner@example.com").SessionToken)
	admin := f.member("admin@example.com", twostep.RoleAdmin)
	joe := f.member("joe@example.com", twostep.RoleMember)
	adminC := f.caller(f.signIn("admin@example.com").SessionToken)
	joeC := f.caller(f.signIn("joe@example.com").SessionToken)
	if _, err := f.svc.Members(ctx, joeC); !errors.Is(err, twostep.ErrForbidden) {
		t.Errorf("member listing members: %v", err)
	}
	if _, err := f.svc.Members(ctx, adminC); err != nil {
		t.Errorf("admin listing members: %v", err)
	}
	role := func(r twostep.Role) *twostep.Role { return &r }
	if _, err := f.svc.UpdateMember(ctx, adminC, joe.ID, twostep.MemberChange{Role: role(twostep.RoleAdmin)}); !errors.Is(err, twostep.ErrForbidden) {
		t.Errorf("admin granting admin: %v", err)
	}
	if err := f.svc.ResetMember(ctx, adminC, owner.Account.ID); !errors.Is(err, twostep.ErrForbidden) {
		t.Errorf("admin resetting the owner: %v", err)
	}
	// Nobody acts on themselves from the administration, not even an owner.
	if _, err := f.svc.UpdateMember(ctx, owner, owner.Account.ID, twostep.MemberChange{Role: role(twostep.RoleAdmin)}); !errors.Is(err, twostep.ErrForbidden) {
		t.Errorf("the owner demoting themselves: %v", err)
	}
	if _, err := f.svc.UpdateMember(ctx, owner, admin.ID, twostep.MemberChange{Role: role(twostep.RoleOwner)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateMember(ctx, f.caller(mustToken(t, f, "admin@example.com")), owner.Account.ID, twostep.MemberChange{Role: role(twostep.RoleMember)}); err != nil {
		t.Errorf("an owner demoting the other owner: %v", err)
	}
	// The demotion takes effect on the next request.
	if _, err := f.svc.Members(ctx, f.caller(mustToken(t, f, "owner@example.com"))); !errors.Is(err, twostep.ErrForbidden) {
		t.Errorf("former owner listing members: %v", err)
	}

	// Another organisation's admin finds nothing here.
	other, otherOwner, _, err := f.svc.CreateOrg(ctx, twostep.NewOrg{Name: "Other", OwnerEmail: "boss@other.example", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = other, otherOwner
	bossC := f.caller(f.signIn("boss@other.example").SessionToken)
	if err := f.svc.ResetMember(ctx, bossC, joe.ID); !errors.Is(err, twostep.ErrNotFound) {
		t.Errorf("other organisation's owner resetting joe: %v", err)
	}
	if _, err := f.svc.UpdateMember(ctx, bossC, joe.ID, twostep.MemberChange{Role: role(twostep.RoleOwner)}); !errors.Is(err, twostep.ErrNotFound) {
		t.Errorf("other organisation's owner changing joe: %v", err)
	}
}

func mustToken(t *testing.T, f *fixture, email string) string {
	t.Helper()
	return f.signIn(email).SessionToken
}

func TestAdminResetAndActions(t *testing.T) { // ADM-01, ADM-02, RL-11
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("owner@example.com")
	ctx := context.Background()
	owner := f.caller(f.signIn("owner@example.com").SessionToken)
	joe := f.member("joe@example.com", twostep.RoleMember)
	secret, _ := f.enrol("joe@example.com")
	joeSession := mustVerifyTOTPFor(t, f, "joe@example.com", secret)
	wrong := twostep.TOTPCode(secret, twostep.TOTPStep(f.clock.Now())+5)
	for i := 0; i < 10; i++ {
		f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, wrong)
	}
	members, _ := f.svc.Members(ctx, owner)
	var locked time.Time
	for _, m := range members {
		if m.Account.ID == joe.ID {
			locked = m.LockedUntil
			if !cmp.Equal(m.Methods, []twostep.Method{twostep.MethodTOTP}) {
				t.Errorf("joe's methods %v", m.Methods)
			}
		}
	}
	if locked.IsZero() {
		t.Fatal("joe is not shown as locked")
	}
	if err := f.svc.UnlockMember(ctx, owner, joe.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, f.code(secret)); err != nil {
		t.Errorf("after unlock: %v", err)
	}
	f.outbox()
	if err := f.svc.ResetMember(ctx, owner, joe.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, joeSession, "", ""); !errors.Is(err, twostep.ErrUnauthenticated) {
		t.Errorf("joe's session after reset: %v", err)
	}
	msgs := f.outbox()
	if len(msgs) != 1 || msgs[0].Template != "two_step_reset" || msgs[0].To != "joe@example.com" {
		t.Errorf("messages after reset: %+v", msgs)
	}
	evs, _ := f.svc.OrgEvents(ctx, owner, twostep.EventFilter{AccountID: joe.ID, Type: "two_step.reset_by_admin"})
	if len(evs) != 1 || evs[0].ActorID != owner.Account.ID {
		t.Errorf("reset events %+v, want one by the owner", evs)
	}
	if res := f.signIn("joe@example.com"); res.Status != twostep.StatusSignedIn {
		t.Errorf("joe's sign-in after reset: %s", res.Status)
	}
	if err := f.svc.EndMemberSessions(ctx, owner, joe.ID); err != nil {
		t.Fatal(err)
	}
}

func TestInvitation(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("owner@example.com")
	ctx := context.Background()
	owner := f.caller(f.signIn("owner@example.com").SessionToken)
	if _, err := f.svc.Invite(ctx, owner, "owner@example.com", twostep.RoleMember, false); !errors.Is(err, twostep.ErrConflict) {
		t.Errorf("inviting an existing e-mail: %v", err)
	}
	if _, err := f.svc.Invite(ctx, owner, "new@example.com", twostep.RoleMember, false); err != nil {
		t.Fatal(err)
	}
	m := f.lastMessage("email", "invitation")
	token := strings.TrimPrefix(m.Data["link"], "https://auth.example.com/invite/")
	if token == m.Data["link"] || m.To != "new@example.com" {
		t.Fatalf("invitation %+v", m)
	}
	if a, _, err := f.svc.SetPasswordAccount(ctx, token); err != nil || a.Email != "new@example.com" {
		t.Fatalf("invitation opens %v %v", a, err)
	}
	ok, errs := f.race(20, func(int) error { return f.svc.SetPassword(ctx, token, password, nil) })
	if ok != 1 {
		t.Errorf("%d parallel uses of one invitation succeeded, want 1 (%v)", ok, errs)
	}
	if res := f.signIn("new@example.com"); res.Status != twostep.StatusSignedIn {
		t.Errorf("sign-in after accepting: %s", res.Status)
	}
	f.svc.Invite(ctx, owner, "late@example.com", twostep.RoleMember, false)
	late := strings.TrimPrefix(f.lastMessage("email", "invitation").Data["link"], "https://auth.example.com/invite/")
	f.clock.Advance(twostep.InviteTTL + time.Second)
	if err := f.svc.SetPassword(ctx, late, "a good new password", nil); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("invitation after 7 days: %v", err)
	}
	// Inviting again sends a new link that works; someone with a password is taken.
	if _, err := f.svc.Invite(ctx, owner, "late@example.com", twostep.RoleMember, false); err != nil {
		t.Fatalf("inviting again: %v", err)
	}
	again := strings.TrimPrefix(f.lastMessage("email", "invitation").Data["link"], "https://auth.example.com/invite/")
	if again == late || f.svc.SetPassword(ctx, again, password, nil) != nil {
		t.Error("the new invitation link does not work")
	}
	if _, err := f.svc.Invite(ctx, owner, "late@example.com", twostep.RoleMember, false); !errors.Is(err, twostep.ErrConflict) {
		t.Errorf("inviting someone who has a password: %v", err)
	}
	// An SSO member gets no link and cannot enrol.
	sso, err := f.svc.Invite(ctx, owner, "sso@example.com", twostep.RoleMember, true)
	if err != nil {
		t.Fatal(err)
	}
	if m := f.lastMessage("email", "invitation"); m.To != "sso@example.com" || m.Data["link"] != "" {
		t.Errorf("SSO invitation %+v", m)
	}
	_ = sso
}
