package twostep_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

// browserSignIn is one browser signing in: it keeps the device token every
// successful sign-in hands it, as the pages' cookie does.
type browserSignIn struct {
	f     *fixture
	token string
}

// signIn gives the password; when the second step is asked and secret is not
// nil, it proves it with a TOTP code, asking to remember the device when
// remember is set. It returns the final result.
func (b *browserSignIn) signIn(email string, secret []byte, remember bool) *twostep.SignInResult {
	b.f.t.Helper()
	ctx := context.Background()
	res, err := b.f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: password, IP: "192.0.2.1", UserAgent: firefox,
		DeviceToken: b.token})
	if err != nil {
		b.f.t.Fatalf("sign in %s: %v", email, err)
	}
	if res.Status == twostep.StatusSecondStep && secret != nil {
		b.f.clock.Advance(30 * time.Second) // a TOTP step not used before
		res, err = b.f.svc.VerifySignIn(ctx, twostep.VerifyRequest{SignInToken: res.SignInToken, Method: twostep.MethodTOTP,
			Code: b.f.code(secret), IP: "192.0.2.1", UserAgent: firefox, DeviceToken: b.token, RememberDevice: remember})
		if err != nil {
			b.f.t.Fatalf("second step of %s: %v", email, err)
		}
	}
	if res.DeviceToken != "" {
		b.token = res.DeviceToken
	}
	return res
}

// TestRememberedDevice: a member who ticks "don't ask again" signs in on that
// browser with the password alone until the policy's limit, in a session that
// records it (remembered, amr pwd, the device in the audit) and confirms
// nothing; another account on the same browser is still asked; the limit, a
// lower policy and a policy of 0 all end it. The first remembering sends a
// notice, a renewal does not (API.md §11; SU-01: a remembered session is no
// identity confirmation).
func TestRememberedDevice(t *testing.T) { // SU-01, SU-07
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner := f.account("owner@example.com")
		ownerCaller := f.caller(f.signIn("owner@example.com").SessionToken)
		setDays := func(days int) {
			t.Helper()
			ownerCaller = f.caller(f.signIn("owner@example.com").SessionToken) // a fresh confirmation
			f.policy(ownerCaller, twostep.Policy{TwoStep: twostep.PolicyOptional, AllowLegacyClients: true, AllowAppPasswords: true,
				RememberDeviceDays: days})
		}
		joe := f.account("joe@example.com")
		joeSecret, _ := f.enrol("joe@example.com")
		f.account("ann@example.com")
		annSecret, _ := f.enrol("ann@example.com")
		_ = owner

		// Off by default: the box asks for nothing.
		b := &browserSignIn{f: f}
		res := b.signIn("joe@example.com", joeSecret, true)
		if res.Status != twostep.StatusSignedIn || !res.RememberedUntil.IsZero() {
			t.Fatalf("remember with the policy off: %s, remembered until %v; want signed in, not remembered", res.Status, res.RememberedUntil)
		}
		if res := b.signIn("joe@example.com", nil, false); res.Status != twostep.StatusSecondStep {
			t.Fatalf("after asking with the policy off: %s, want second_step", res.Status)
		}

		setDays(30)
		if res := b.signIn("joe@example.com", joeSecret, false); res.Status != twostep.StatusSignedIn {
			t.Fatalf("second step without the box: %s", res.Status)
		}
		if res := b.signIn("joe@example.com", nil, false); res.Status != twostep.StatusSecondStep {
			t.Fatalf("without ticking the box: %s, want second_step", res.Status)
		}
		f.outbox()
		sentBefore := len(f.sent)
		rememberedAt := f.clock.Now().Add(30 * time.Second)
		res = b.signIn("joe@example.com", joeSecret, true)
		if want := rememberedAt.Add(30 * 24 * time.Hour); !res.RememberedUntil.Equal(want) {
			t.Fatalf("remembered until %v, want %v", res.RememberedUntil, want)
		}
		f.outbox()
		var notices []string
		for _, m := range f.sent[sentBefore:] {
			notices = append(notices, m.Template)
			if m.Template == "device_remembered" && (m.Data["browser"] != "Firefox" || m.Data["platform"] != "Linux") {
				t.Errorf("notice data %v, want Firefox on Linux", m.Data)
			}
		}
		if diff := cmp.Diff([]string{"device_remembered"}, notices); diff != "" {
			t.Errorf("messages when a device is first remembered (-want +got):\n%s", diff)
		}
		evs := f.events(joe.ID, "device.remembered")
		if len(evs) != 1 {
			t.Fatalf("device.remembered events: %d, want 1", len(evs))
		}

		// Remembered: the password alone, a session that says so.
		res = b.signIn("joe@example.com", nil, false)
		if res.Status != twostep.StatusSignedIn {
			t.Fatalf("remembered browser: %s, want signed_in without a code", res.Status)
		}
		if diff := cmp.Diff([]string{"pwd"}, res.Session.AMR); diff != "" || res.Session.SecondStep != twostep.SecondStepRemembered {
			t.Errorf("remembered session: amr %v, second step %s; want [pwd], remembered", res.Session.AMR, res.Session.SecondStep)
		}
		d, err := twostep.DetailOf(f.events(joe.ID, "sign_in.succeeded")[0])
		if err != nil {
			t.Fatal(err)
		}
		if got := d.(*twostep.SignInSucceeded); got.Device != evs[0].Detail["device"] || got.SecondStep != twostep.SecondStepRemembered {
			t.Errorf("sign-in audit %+v, want the remembered device %v", got, evs[0].Detail["device"])
		}
		// SU-01: no identity confirmation comes with it.
		if _, err := f.svc.AddFactor(ctx, f.caller(res.SessionToken), twostep.FactorRequest{Method: twostep.MethodTOTP}); !errors.Is(err, twostep.ErrConfirmIdentity) {
			t.Errorf("adding a method from a remembered session: %v, want ErrConfirmIdentity", err)
		}

		// Another account on the same browser is asked, and Joe's device record
		// stays his (the pages' cookie then holds Ann's token, so Joe is asked
		// again there: one device token per browser).
		other := &browserSignIn{f: f, token: b.token}
		if res := other.signIn("ann@example.com", nil, false); res.Status != twostep.StatusSecondStep {
			t.Errorf("another account on the remembered browser: %s, want second_step", res.Status)
		}
		if res := other.signIn("ann@example.com", annSecret, false); res.Status != twostep.StatusSignedIn {
			t.Fatalf("ann's second step: %s", res.Status)
		}
		if res := b.signIn("joe@example.com", nil, false); res.Status != twostep.StatusSignedIn {
			t.Errorf("joe after ann signed in on the same browser: %s, want still remembered", res.Status)
		}

		// Remembering again while remembered: no second notice.
		f.outbox()
		sentBefore = len(f.sent)
		f.clock.Advance(24 * time.Hour)
		setDays(30)
		b.signIn("joe@example.com", nil, false)
		f.outbox()
		for _, m := range f.sent[sentBefore:] {
			if m.Template == "device_remembered" {
				t.Errorf("a remembered device's sign-in sent a device_remembered notice")
			}
		}

		// The limit: 30 days after it was remembered, asked again.
		f.clock.Advance(rememberedAt.Add(30*24*time.Hour - time.Minute).Sub(f.clock.Now()))
		if res := b.signIn("joe@example.com", nil, false); res.Status != twostep.StatusSignedIn {
			t.Errorf("a minute before the limit: %s, want signed_in", res.Status)
		}
		f.clock.Advance(rememberedAt.Add(30 * 24 * time.Hour).Sub(f.clock.Now()))
		if res := b.signIn("joe@example.com", nil, false); res.Status != twostep.StatusSecondStep {
			t.Errorf("at the limit: %s, want second_step", res.Status)
		}

		// A lower policy shortens it; 0 ends it.
		b.signIn("joe@example.com", joeSecret, true)
		f.clock.Advance(8 * 24 * time.Hour)
		setDays(7)
		if res := b.signIn("joe@example.com", nil, false); res.Status != twostep.StatusSecondStep {
			t.Errorf("8 days after remembering, policy lowered to 7: %s, want second_step", res.Status)
		}
		b.signIn("joe@example.com", joeSecret, true)
		setDays(0)
		if res := b.signIn("joe@example.com", nil, false); res.Status != twostep.StatusSecondStep {
			t.Errorf("policy turned off: %s, want second_step", res.Status)
		}
	})
}

// TestRememberDaysBounded: remember_device_days is 0 to 90, and the refusal names the field.
func TestRememberDaysBounded(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("owner@example.com")
	c := f.caller(f.signIn("owner@example.com").SessionToken)
	for _, days := range []int{-1, 91} {
		_, err := f.svc.SetPolicy(context.Background(), c, twostep.Policy{TwoStep: twostep.PolicyOptional,
			AllowedMethods: []twostep.Method{twostep.MethodTOTP}, RememberDeviceDays: days})
		var ie *twostep.InvalidError
		if !errors.As(err, &ie) || ie.Field != "remember_device_days" || ie.Code != twostep.ReasonRememberDays {
			t.Errorf("remember_device_days %d: %v, want invalid remember_device_days", days, err)
		}
	}
}

// TestRememberedDeviceForgotten: each way a remembered device is forgotten
// makes that browser asked for the second step again at its next sign-in,
// with an audit event saying why: the member forgets it or all of them, a
// password change, a password reset, an administrator ends the member's
// sessions or resets their two-step, a method is removed (API.md §11).
func TestRememberedDeviceForgotten(t *testing.T) { // SU-01, ADM-01, ADM-02
	tests := []struct {
		name string
		why  string
		// forget does it; proven is a session of joe's that proved the second
		// step (a confirmation), owner the owner's.
		forget func(f *fixture, joe *twostep.Account, proven, owner *twostep.Caller) error
		// asked: joe still has a method, so the browser is asked again.
		asked bool
	}{
		{"the member forgets that device", twostep.ForgotByMember, func(f *fixture, joe *twostep.Account, proven, _ *twostep.Caller) error {
			ds, err := f.svc.MemberDevices(context.Background(), proven)
			if err != nil {
				return err
			}
			for _, d := range ds {
				if !d.RememberedAt.IsZero() {
					return f.svc.ForgetDevice(context.Background(), proven, d.ID)
				}
			}
			return errors.New("no remembered device in the member's list")
		}, true},
		{"the member forgets all", twostep.ForgotByMember, func(f *fixture, _ *twostep.Account, proven, _ *twostep.Caller) error {
			_, err := f.svc.ForgetAllDevices(context.Background(), proven)
			return err
		}, true},
		{"a password change", twostep.ForgotPasswordChange, func(f *fixture, _ *twostep.Account, proven, _ *twostep.Caller) error {
			return f.svc.ChangePassword(context.Background(), proven, password, "an entirely new password")
		}, true},
		{"a password reset", twostep.ForgotPasswordChange, func(f *fixture, joe *twostep.Account, _, _ *twostep.Caller) error {
			return f.svc.ResetPassword(context.Background(), f.resetLink(joe.Email), "an entirely new password", nil)
		}, true},
		{"an admin ends the member's sessions", twostep.ForgotSessionsEnded, func(f *fixture, joe *twostep.Account, _, owner *twostep.Caller) error {
			return f.svc.EndMemberSessions(context.Background(), owner, joe.ID)
		}, true},
		{"an admin resets the member's two-step", twostep.ForgotResetByAdmin, func(f *fixture, joe *twostep.Account, _, owner *twostep.Caller) error {
			return f.svc.ResetMember(context.Background(), owner, joe.ID)
		}, false},
		{"a method is removed", twostep.ForgotFactorRemoved, func(f *fixture, _ *twostep.Account, proven, _ *twostep.Caller) error {
			ctx := context.Background()
			nf, err := f.svc.AddFactor(ctx, proven, twostep.FactorRequest{Method: twostep.MethodEmail})
			if err != nil {
				return err
			}
			code, _ := f.lastCode("code_enrol")
			if _, _, err := f.svc.VerifyFactor(ctx, proven, nf.Factor.ID, code); err != nil {
				return err
			}
			return f.svc.RemoveFactor(ctx, proven, nf.Factor.ID)
		}, true},
	}
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.account("owner@example.com")
		owner := f.caller(f.signIn("owner@example.com").SessionToken)
		f.policy(owner, twostep.Policy{TwoStep: twostep.PolicyOptional, AllowLegacyClients: true, RememberDeviceDays: 30})
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				email := fmt.Sprintf("joe%d@example.com", i)
				joe := f.account(email)
				secret, _ := f.enrol(email)
				b := &browserSignIn{f: f}
				b.signIn(email, secret, true)
				if res := b.signIn(email, nil, false); res.Status != twostep.StatusSignedIn {
					t.Fatalf("remembered: %s, want signed_in", res.Status)
				}
				owner = f.caller(f.signIn("owner@example.com").SessionToken) // a fresh confirmation
				proven := f.caller((&browserSignIn{f: f}).signIn(email, secret, false).SessionToken)
				if err := tt.forget(f, joe, proven, owner); err != nil {
					t.Fatal(err)
				}
				ds, err := f.db.Devices(ctx, joe.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range ds {
					if d.Remembers(twostep.Policy{RememberDeviceDays: 30}, f.clock.Now()) {
						t.Errorf("device %s still remembered", d.ID)
					}
				}
				evs := f.events(joe.ID, "device.forgotten")
				if len(evs) != 1 || evs[0].Detail["why"] != tt.why {
					t.Errorf("device.forgotten events %v, want one for %s", evs, tt.why)
				}
				if !tt.asked {
					return
				}
				res, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: password, DeviceToken: b.token, UserAgent: firefox})
				if errors.Is(err, twostep.ErrInvalidCredentials) {
					res, err = f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: "an entirely new password", DeviceToken: b.token, UserAgent: firefox})
				}
				if err != nil || res.Status != twostep.StatusSecondStep {
					t.Errorf("the browser after: %v %+v, want second_step", err, res)
				}
			})
		}
	})
}
