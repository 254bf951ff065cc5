package twostep_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestDecide holds the one sign-in decision as a table over what the account
// has × the policy × the grace period × what the sign-in has proven
// (SU-07, SU-01, FL-04, ORG-01, ORG-02).
func TestDecide(t *testing.T) { // SU-07
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	all := []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodSMS, twostep.MethodVoice}
	totp := &twostep.Factor{ID: "totp", Method: twostep.MethodTOTP, Status: twostep.FactorActive, Default: true}
	email := &twostep.Factor{ID: "email", Method: twostep.MethodEmail, Status: twostep.FactorActive, Address: "joe@example.com"}
	phone := &twostep.Factor{ID: "phone", Method: twostep.MethodSMS, Status: twostep.FactorActive, Address: "+33612345678",
		Channels: []twostep.Method{twostep.MethodSMS, twostep.MethodVoice}}
	member := &twostep.Account{ID: "joe", Role: twostep.RoleMember, CreatedAt: now.Add(-30 * 24 * time.Hour)}
	admin := &twostep.Account{ID: "ann", Role: twostep.RoleAdmin, CreatedAt: now.Add(-30 * 24 * time.Hour)}
	org := func(required bool, graceDays int, changed time.Duration, allowed ...twostep.Method) *twostep.Org {
		p := twostep.Policy{TwoStep: twostep.PolicyOptional, AllowedMethods: allowed, GracePeriodDays: graceDays, ChangedAt: now.Add(-changed)}
		if required {
			p.TwoStep = twostep.PolicyRequired
		}
		return &twostep.Org{ID: "org", Policy: p}
	}
	optional := org(false, 0, 0, all...)
	inGrace := org(true, 7, 24*time.Hour, all...)
	graceOver := org(true, 7, 8*24*time.Hour, all...)
	type choice struct {
		Method twostep.Method
		Factor string
	}
	type want struct {
		Kind       twostep.NextKind
		Choices    []choice
		Allowed    []twostep.Method
		Grace      bool
		SecondStep twostep.SecondStep
		AMR        []string
		Confirmed  bool
	}
	pwd := []string{"pwd"}
	tests := []struct {
		name    string
		account *twostep.Account
		org     *twostep.Org
		factors []*twostep.Factor
		codes   int
		proven  []string
		legacy  bool
		want    want
	}{
		{"no method, optional: the password is all it has", member, optional, nil, 0, pwd, false,
			want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepNone, AMR: pwd, Confirmed: true}},
		{"a method: prove it first", member, optional, []*twostep.Factor{totp, email}, 10, pwd, false,
			want{Kind: twostep.NextSecondStep, Choices: []choice{{"totp", "totp"}, {"email", "email"}, {"recovery_code", ""}}}},
		{"a phone: each of its channels", member, optional, []*twostep.Factor{phone}, 0, pwd, false,
			want{Kind: twostep.NextSecondStep, Choices: []choice{{"sms", "phone"}, {"voice", "phone"}}}},
		{"recovery codes alone still must be proven", member, optional, nil, 3, pwd, false,
			want{Kind: twostep.NextSecondStep, Choices: []choice{{"recovery_code", ""}}}},
		{"proven: a session that confirms", member, optional, []*twostep.Factor{totp}, 10, []string{"pwd", "otp"}, false,
			want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepProven, AMR: []string{"pwd", "otp"}, Confirmed: true}},
		{"policy bans one of two: only the allowed one is offered", member, org(false, 0, 0, twostep.MethodTOTP),
			[]*twostep.Factor{totp, email}, 10, pwd, false,
			want{Kind: twostep.NextSecondStep, Choices: []choice{{"totp", "totp"}, {"recovery_code", ""}}}},
		{"policy bans a phone's SMS: its voice channel stays", member, org(false, 0, 0, twostep.MethodTOTP, twostep.MethodVoice),
			[]*twostep.Factor{phone}, 0, pwd, false,
			want{Kind: twostep.NextSecondStep, Choices: []choice{{"voice", "phone"}}}},
		{"policy bans all it has: prove what you have", member, org(false, 0, 0, twostep.MethodTOTP),
			[]*twostep.Factor{email}, 10, pwd, false,
			want{Kind: twostep.NextSecondStep, Choices: []choice{{"email", "email"}, {"recovery_code", ""}}}},
		{"…then add an allowed one", member, org(false, 0, 0, twostep.MethodTOTP),
			[]*twostep.Factor{email}, 10, []string{"pwd", "mail"}, false,
			want{Kind: twostep.NextEnrol, Allowed: []twostep.Method{twostep.MethodTOTP}, SecondStep: twostep.SecondStepProven,
				AMR: []string{"pwd", "mail"}, Confirmed: true}},
		{"required, no method, in grace: enrol or go on", member, inGrace, nil, 0, pwd, false,
			want{Kind: twostep.NextEnrol, Allowed: all, Grace: true, SecondStep: twostep.SecondStepNone, AMR: pwd, Confirmed: true}},
		{"required, no method, grace over: enrol", member, graceOver, nil, 0, pwd, false,
			want{Kind: twostep.NextEnrol, Allowed: all, SecondStep: twostep.SecondStepNone, AMR: pwd, Confirmed: true}},
		{"required with grace and a banned method: prove it first", member, org(true, 7, 24*time.Hour, twostep.MethodTOTP),
			[]*twostep.Factor{email}, 0, pwd, false,
			want{Kind: twostep.NextSecondStep, Choices: []choice{{"email", "email"}}}},
		{"required, admin: no grace (ORG-02)", admin, inGrace, nil, 0, pwd, false,
			want{Kind: twostep.NextEnrol, Allowed: all, SecondStep: twostep.SecondStepNone, AMR: pwd, Confirmed: true}},
		{"required, a method proven: a session", member, graceOver, []*twostep.Factor{totp}, 10, []string{"pwd", "otp"}, false,
			want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepProven, AMR: []string{"pwd", "otp"}, Confirmed: true}},
		{"legacy client: exempt, never a confirmation", member, optional, []*twostep.Factor{totp}, 10, pwd, true,
			want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepExempt, AMR: pwd}},
		{"legacy flag without a method changes nothing", member, optional, nil, 0, pwd, true,
			want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepNone, AMR: pwd, Confirmed: true}},
	}
	// A remembered device (API.md §11): it spares the second step of an
	// account that still has an allowed method, satisfying a required policy,
	// but never confirms, and never stands in for an explicit step-up
	// (RequireSecondStep) nor for a method the policy no longer allows.
	remembered := []struct {
		name    string
		org     *twostep.Org
		factors []*twostep.Factor
		codes   int
		require bool
		want    want
	}{
		{"remembered: a session without a code, no confirmation", optional, []*twostep.Factor{totp}, 10, false,
			want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepRemembered, AMR: pwd}},
		{"remembered satisfies a required policy", graceOver, []*twostep.Factor{totp}, 10, false,
			want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepRemembered, AMR: pwd}},
		{"remembered never satisfies an explicit step-up", optional, []*twostep.Factor{totp}, 10, true,
			want{Kind: twostep.NextSecondStep, Choices: []choice{{"totp", "totp"}, {"recovery_code", ""}}}},
		{"remembered, but the policy bans its method: prove it", org(false, 0, 0, twostep.MethodTOTP), []*twostep.Factor{email}, 0, false,
			want{Kind: twostep.NextSecondStep, Choices: []choice{{"email", "email"}}}},
		{"remembered with recovery codes alone: prove one", optional, nil, 3, false,
			want{Kind: twostep.NextSecondStep, Choices: []choice{{"recovery_code", ""}}}},
		{"remembered without any method changes nothing", optional, nil, 0, false,
			want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepNone, AMR: pwd, Confirmed: true}},
	}
	for _, r := range remembered {
		tests = append(tests, struct {
			name    string
			account *twostep.Account
			org     *twostep.Org
			factors []*twostep.Factor
			codes   int
			proven  []string
			legacy  bool
			want    want
		}{r.name, member, r.org, r.factors, r.codes, pwd, false, r.want})
	}
	for i, tt := range tests {
		st := twostep.SignInState{Account: tt.account, Org: tt.org, Offered: all, Factors: tt.factors,
			RecoveryCodes: tt.codes, Proven: tt.proven, Legacy: tt.legacy, Now: now}
		if j := i - (len(tests) - len(remembered)); j >= 0 {
			st.Remembered, st.RequireSecondStep = true, remembered[j].require
		}
		t.Run(tt.name, func(t *testing.T) {
			n := twostep.Decide(st)
			got := want{Kind: n.Kind, Allowed: n.Allowed, Grace: !n.GraceUntil.IsZero()}
			if n.Kind != twostep.NextSecondStep {
				got.SecondStep, got.AMR, got.Confirmed = n.SecondStep, n.AMR, n.Confirmed
			}
			for _, c := range n.Choices {
				id := ""
				if c.Factor != nil {
					id = c.Factor.ID
				}
				got.Choices = append(got.Choices, choice{c.Method, id})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPasswordAloneNeverSkipsTheSecondStep replays the outside review's
// takeover: a password alone, under a policy that no longer allows the
// member's only method (a) or during a grace period (b), got an enrolment token
// and then a confirmed session. Now the method must be proven first, and the
// sign-in token does nothing else (SU-07, SU-01, FL-04, ORG-01).
func TestPasswordAloneNeverSkipsTheSecondStep(t *testing.T) { // SU-07
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.account("owner@example.com")
		ownerSecret, _ := f.enrol("owner@example.com")
		owner := f.caller(mustVerifyTOTPFor(t, f, "owner@example.com", ownerSecret))
		f.member("joe@example.com", twostep.RoleMember)
		f.enrolEmail("joe@example.com")
		f.outbox()
		for _, p := range []twostep.Policy{
			{TwoStep: twostep.PolicyOptional, AllowedMethods: []twostep.Method{twostep.MethodTOTP}},                     // (a)
			{TwoStep: twostep.PolicyRequired, GracePeriodDays: 7, AllowedMethods: []twostep.Method{twostep.MethodTOTP}}, // (b)
		} {
			f.policy(owner, p)
			res := f.signIn("joe@example.com")
			if res.Status != twostep.StatusSecondStep || res.SessionToken != "" {
				t.Fatalf("%s: password alone: %+v", p.TwoStep, res)
			}
			if _, err := f.svc.AuthenticateEnrolment(ctx, res.SignInToken, "", ""); !errors.Is(err, twostep.ErrUnauthenticated) {
				t.Errorf("%s: the second-step token enrols: %v", p.TwoStep, err)
			}
			if _, err := f.svc.CompleteSignIn(ctx, res.SignInToken, "", ""); !errors.Is(err, twostep.ErrExpired) {
				t.Errorf("%s: the second-step token completes: %v", p.TwoStep, err)
			}
			// Proving the method leads to the enrolment of an allowed one, and only then to a confirmed session.
			code, _ := f.lastCode("code_sign_in")
			res, err := f.verify(res.SignInToken, twostep.MethodEmail, code)
			if err != nil || res.Status != twostep.StatusEnrollmentRequired {
				t.Fatalf("%s: after the proof: %+v %v", p.TwoStep, res, err)
			}
			c, err := f.svc.AuthenticateEnrolment(ctx, res.SignInToken, "", "")
			if err != nil {
				t.Fatal(err)
			}
			// The enrolment token adds a method and nothing else.
			if _, err := f.svc.RecoveryCodes(ctx, c); !errors.Is(err, twostep.ErrForbidden) {
				t.Errorf("%s: new recovery codes with an enrolment token: %v", p.TwoStep, err)
			}
			if _, err := f.svc.ChangeEmail(ctx, c, "mallory@example.com"); !errors.Is(err, twostep.ErrForbidden) {
				t.Errorf("%s: e-mail change with an enrolment token: %v", p.TwoStep, err)
			}
			factors, _ := f.svc.Factors(ctx, c)
			if err := f.svc.RemoveFactor(ctx, c, factors[0].ID); !errors.Is(err, twostep.ErrForbidden) {
				t.Errorf("%s: removing a method with an enrolment token: %v", p.TwoStep, err)
			}
			if _, err := f.svc.UpdateFactor(ctx, c, factors[0].ID, twostep.FactorChange{Label: ptr("mine")}); !errors.Is(err, twostep.ErrForbidden) {
				t.Errorf("%s: renaming a method with an enrolment token: %v", p.TwoStep, err)
			}
			if p.TwoStep == twostep.PolicyRequired {
				// In grace, the proven member may go on without the new method.
				done, err := f.svc.CompleteSignIn(ctx, res.SignInToken, "", "")
				if err != nil || done.Session.SecondStep != twostep.SecondStepProven || !cmp.Equal(done.Session.AMR, []string{"pwd", "mail"}) {
					t.Fatalf("complete in grace after the proof: %+v %v", done, err)
				}
			}
		}
	})
}

// TestPolicyBannedMethodsDoNothing: with allowed_methods ["totp"], a member's
// e-mail method is neither offered, sent, accepted at sign-in, nor used to
// confirm identity (SU-07, OOB-07).
func TestPolicyBannedMethodsDoNothing(t *testing.T) { // SU-07, OOB-07
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.account("owner@example.com")
		ownerSecret, _ := f.enrol("owner@example.com")
		owner := f.caller(mustVerifyTOTPFor(t, f, "owner@example.com", ownerSecret))
		f.member("joe@example.com", twostep.RoleMember)
		joe := f.caller(f.enrolEmail("joe@example.com"))
		nf, err := f.svc.AddFactor(ctx, joe, twostep.FactorRequest{Method: twostep.MethodTOTP})
		if err != nil {
			t.Fatal(err)
		}
		secret := decodeSecret(t, nf.Secret)
		if _, _, err := f.svc.VerifyFactor(ctx, joe, nf.Factor.ID, f.code(secret)); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(30 * time.Second)
		// An e-mailed code sent before the policy changed (e-mail is joe's default).
		res := f.signIn("joe@example.com")
		early, _ := f.lastCode("code_sign_in")
		f.policy(owner, twostep.Policy{TwoStep: twostep.PolicyOptional, AllowedMethods: []twostep.Method{twostep.MethodTOTP}})
		f.outbox()

		fresh := f.signIn("joe@example.com")
		var methods []twostep.Method
		for _, m := range fresh.Methods {
			methods = append(methods, m.Method)
		}
		if diff := cmp.Diff([]twostep.Method{twostep.MethodTOTP, twostep.MethodRecoveryCode}, methods); diff != "" {
			t.Errorf("methods offered (-want +got):\n%s", diff)
		}
		if _, err := f.svc.SendSignInCode(ctx, twostep.SendRequest{SignInToken: fresh.SignInToken, Method: twostep.MethodEmail}); !errors.Is(err, twostep.ErrMethodNotAllowed) {
			t.Errorf("send by a banned method: %v", err)
		}
		if got := f.templates(); len(f.outbox()) != 0 || countOf(got, "code_sign_in") != 1 {
			t.Errorf("a banned method sent a code: %v", got)
		}
		if _, err := f.verify(res.SignInToken, twostep.MethodEmail, early); !errors.Is(err, twostep.ErrMethodNotAllowed) {
			t.Errorf("verify by a banned method: %v", err)
		}
		if _, err := f.svc.ConfirmIdentitySend(ctx, joe, twostep.MethodEmail, ""); !errors.Is(err, twostep.ErrMethodNotAllowed) {
			t.Errorf("confirm-identity send by a banned method: %v", err)
		}
		if _, _, err := f.svc.ConfirmIdentity(ctx, joe, twostep.ConfirmRequest{Password: password, Method: twostep.MethodEmail, Code: "123456"}); !errors.Is(err, twostep.ErrMethodNotAllowed) {
			t.Errorf("confirm identity by a banned method: %v", err)
		}
		// The allowed method still works on the same sign-in.
		if done, err := f.verify(res.SignInToken, twostep.MethodTOTP, f.code(secret)); err != nil || done.Status != twostep.StatusSignedIn {
			t.Errorf("verify by the allowed method: %+v %v", done, err)
		}
	})
}

func countOf(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// TestAdminNeedsProvenSession: a legacy client's password-alone session reaches
// no admin function; policy changes and member resets need a fresh identity
// confirmation, like the account's own security changes (FL-04, SU-01).
func TestAdminNeedsProvenSession(t *testing.T) { // FL-04, SU-01
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	ctx := context.Background()
	f.account("owner@example.com")
	secret, _ := f.enrol("owner@example.com")
	ownerToken := mustVerifyTOTPFor(t, f, "owner@example.com", secret)
	owner := f.caller(ownerToken)
	joe := f.member("joe@example.com", twostep.RoleMember)
	if _, err := f.svc.UpdateSettings(ctx, owner, twostep.Settings{AllowLegacyClients: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	f.policy(owner, twostep.Policy{TwoStep: twostep.PolicyOptional, MinClientVersion: "3.0.0", AllowLegacyClients: true})
	res, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "owner@example.com", Password: password, ClientVersion: "2.0.0"})
	if err != nil || res.Status != twostep.StatusSignedIn || res.Session.SecondStep != twostep.SecondStepExempt {
		t.Fatalf("legacy sign-in: %+v %v", res, err)
	}
	legacy := f.caller(res.SessionToken)
	if _, err := f.svc.Members(ctx, legacy); !errors.Is(err, twostep.ErrForbidden) {
		t.Errorf("members with a legacy session: %v", err)
	}
	if err := f.svc.ResetMember(ctx, legacy, joe.ID); !errors.Is(err, twostep.ErrForbidden) {
		t.Errorf("reset with a legacy session: %v", err)
	}
	if _, err := f.svc.SetPolicy(ctx, legacy, twostep.Policy{TwoStep: twostep.PolicyOptional, AllowedMethods: f.svc.Methods()}); !errors.Is(err, twostep.ErrForbidden) {
		t.Errorf("policy with a legacy session: %v", err)
	}
	if _, err := f.svc.Invite(ctx, legacy, "new@example.com", twostep.RoleAdmin, false); !errors.Is(err, twostep.ErrForbidden) {
		t.Errorf("invite with a legacy session: %v", err)
	}
	// A proven session past its confirmation window lists members but must
	// confirm again before a policy change or a reset.
	f.clock.Advance(11 * time.Minute)
	owner = f.caller(ownerToken)
	if _, err := f.svc.Members(ctx, owner); err != nil {
		t.Errorf("members past the confirmation window: %v", err)
	}
	if err := f.svc.ResetMember(ctx, owner, joe.ID); !errors.Is(err, twostep.ErrConfirmIdentity) {
		t.Errorf("reset past the confirmation window: %v", err)
	}
	if _, err := f.svc.SetPolicy(ctx, owner, twostep.Policy{TwoStep: twostep.PolicyRequired, AllowedMethods: f.svc.Methods()}); !errors.Is(err, twostep.ErrConfirmIdentity) {
		t.Errorf("policy past the confirmation window: %v", err)
	}
	token, _, err := f.svc.ConfirmIdentity(ctx, owner, twostep.ConfirmRequest{Password: password, Method: twostep.MethodTOTP, Code: f.code(secret)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ResetMember(ctx, f.caller(token), joe.ID); err != nil {
		t.Errorf("reset after confirming: %v", err)
	}
}

// TestParallelWrongCodesCapped: 200 wrong codes sent at once over 40 sign-in
// tokens are compared at most as often as the account's cap allows, on every
// backend: the attempt is counted and the lock checked in one locked step
// before the comparison (RL-12, RL-01, RL-05, RL-10).
func TestParallelWrongCodesCapped(t *testing.T) { // RL-12
	storetestBackends(t, func(t *testing.T, f *fixture) {
		acct := f.account("joe@example.com")
		secret, _ := f.enrol("joe@example.com")
		const tokens, tries = 40, 200
		signIns := make([]string, tokens)
		for i := range signIns {
			signIns[i] = f.signIn("joe@example.com").SignInToken
		}
		wrong := twostep.TOTPCode(secret, twostep.TOTPStep(f.clock.Now())+5)
		var mu sync.Mutex
		compared := 0
		ok, _ := f.race(tries, func(i int) error {
			_, err := f.verify(signIns[i%tokens], twostep.MethodTOTP, wrong)
			if errors.Is(err, twostep.ErrInvalidCode) {
				mu.Lock()
				compared++
				mu.Unlock()
			}
			return err
		})
		if ok != 0 {
			t.Fatalf("%d wrong codes accepted", ok)
		}
		if free := twostep.DefaultLimits.Account.Free; compared > free {
			t.Errorf("%d codes compared, want at most %d", compared, free)
		}
		th, err := f.db.Throttle(context.Background(), "account:"+acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		if th.Failures != compared {
			t.Errorf("account counted %d failures for %d comparisons", th.Failures, compared)
		}
	})
}

// TestRefusedSMSOffersCall: a provider's permanent refusal of a text message
// (Twilio 21610 "unsubscribed") blocks texts on that sign-in, not the call to
// the same number, and the next sign-in calls first.
func TestRefusedSMSOffersCall(t *testing.T) { // OOB-10
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("owner@example.com")
	ctx := context.Background()
	c := f.caller(f.signIn("owner@example.com").SessionToken)
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodSMS, Phone: "+33612345678"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, f.lastMessage("sms", "code_enrol").Data["code"]); err != nil {
		t.Fatal(err)
	}
	f.outbox()
	res := f.signIn("owner@example.com")
	if res.CodeSent == nil || res.CodeSent.Method != twostep.MethodSMS {
		t.Fatalf("first sign-in: %+v, want a text", res.CodeSent)
	}
	if n := f.refuse("twilio 21610: unsubscribed recipient"); n != 1 {
		t.Fatalf("the provider refused %d messages, want 1", n)
	}
	send := func(m twostep.Method) error {
		_, err := f.svc.SendSignInCode(ctx, twostep.SendRequest{SignInToken: res.SignInToken, Method: m})
		return err
	}
	f.clock.Advance(31 * time.Second)
	if err := send(twostep.MethodSMS); !errors.Is(err, twostep.ErrDeliveryFailed) {
		t.Errorf("another text after the refusal: %v, want ErrDeliveryFailed", err)
	}
	if err := send(twostep.MethodVoice); err != nil {
		t.Errorf("a call after the text was refused: %v", err)
	}
	f.outbox()
	f.clock.Advance(time.Minute)
	next := f.signIn("owner@example.com")
	if next.CodeSent == nil || next.CodeSent.Method != twostep.MethodVoice || next.DefaultMethod != twostep.MethodVoice {
		t.Errorf("next sign-in: default %s, sent %+v; want a call", next.DefaultMethod, next.CodeSent)
	}
}
