package twostep_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestSessionLifetime: idle expiry moves with use, absolute expiry does not (FL-06, FL-07).
func TestSessionLifetime(t *testing.T) { // FL-06, FL-07
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	token := f.signIn("joe@example.com").SessionToken
	ctx := context.Background()
	// Used every 50 minutes, the session lives until its 24 hours are over.
	for elapsed := time.Duration(0); elapsed < 24*time.Hour-50*time.Minute; elapsed += 50 * time.Minute {
		f.clock.Advance(50 * time.Minute)
		if _, err := f.svc.Authenticate(ctx, token, "", ""); err != nil {
			t.Fatalf("after %v of use: %v", elapsed+50*time.Minute, err)
		}
	}
	f.clock.Advance(50 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, token, "", ""); !errors.Is(err, twostep.ErrUnauthenticated) {
		t.Errorf("after 24 h: %v, want ErrUnauthenticated", err)
	}
	// Left alone for an hour, a session ends.
	token = f.signIn("joe@example.com").SessionToken
	f.clock.Advance(time.Hour)
	if _, err := f.svc.Authenticate(ctx, token, "", ""); !errors.Is(err, twostep.ErrUnauthenticated) {
		t.Errorf("after 1 h idle: %v, want ErrUnauthenticated", err)
	}
}

func TestSignInTokenExpiry(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	ok := f.signIn("joe@example.com").SignInToken
	late := f.signIn("joe@example.com").SignInToken
	f.clock.Advance(9*time.Minute + 59*time.Second)
	if _, err := f.verify(ok, twostep.MethodTOTP, f.code(secret)); err != nil {
		t.Errorf("at 9:59: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	if _, err := f.verify(late, twostep.MethodTOTP, twostep.TOTPCode(secret, twostep.TOTPStep(f.clock.Now())+1)); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("at 10:01: %v, want ErrExpired", err)
	}
}

func TestRemoveLastFactor(t *testing.T) { // NT-01
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	acct := f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	res, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, f.code(secret))
	if err != nil {
		t.Fatal(err)
	}
	c := f.caller(res.SessionToken)
	ctx := context.Background()
	if _, err := f.svc.UpdateSettings(ctx, c, twostep.Settings{AllowLegacyClients: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	factors, _ := f.svc.Factors(ctx, c)
	f.clock.Advance(11 * time.Minute)
	if err := f.svc.RemoveFactor(ctx, f.caller(res.SessionToken), factors[0].ID); !errors.Is(err, twostep.ErrConfirmIdentity) {
		t.Fatalf("remove without a fresh confirmation: %v", err)
	}
	token, _, err := f.svc.ConfirmIdentity(ctx, f.caller(res.SessionToken), twostep.ConfirmRequest{Password: password, Method: twostep.MethodTOTP, Code: f.code(secret)})
	if err != nil {
		t.Fatal(err)
	}
	c = f.caller(token)
	if err := f.svc.RemoveFactor(ctx, c, factors[0].ID); err != nil {
		t.Fatal(err)
	}
	info, err := f.svc.AccountInfo(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if info.Account.TwoStepEnabled() || info.Account.AllowLegacyClients || info.RecoveryCodesLeft != 0 || len(info.Factors) != 0 {
		t.Errorf("after removing the last method: %+v, %d codes, %d factors", info.Account, info.RecoveryCodesLeft, len(info.Factors))
	}
	if got := f.signIn("joe@example.com"); got.Status != twostep.StatusSignedIn {
		t.Errorf("sign-in after two-step went off: %s", got.Status)
	}
	want := []string{"two_step_enabled", "legacy_clients_changed", "two_step_disabled"}
	if diff := cmp.Diff(want, f.templates()); diff != "" {
		t.Errorf("notices (-want +got):\n%s", diff)
	}
	if types := f.eventTypes(acct.ID); !contains(types, "two_step.disabled") || !contains(types, "identity.confirmed") {
		t.Errorf("events %v lack two_step.disabled or identity.confirmed", types)
	}
}

func ptr[T any](v T) *T { return &v }

func TestResetTwoStep(t *testing.T) { // ADM-01, ADM-02
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	acct := f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	res, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, f.code(secret))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.svc.ResetTwoStep(ctx, "Joe@Example.com", twostep.OperatorActor, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, res.SessionToken, "", ""); !errors.Is(err, twostep.ErrUnauthenticated) {
		t.Errorf("session after reset: %v, want ErrUnauthenticated", err)
	}
	if got := f.signIn("joe@example.com"); got.Status != twostep.StatusSignedIn {
		t.Errorf("sign-in after reset: %s, want signed_in (set up two-step again)", got.Status)
	}
	evs, _ := f.db.Events(ctx, twostep.EventFilter{AccountID: acct.ID, Type: "two_step.reset_by_admin"})
	if len(evs) != 1 || evs[0].ActorID != twostep.OperatorActor {
		t.Errorf("reset events %+v, want one by the operator", evs)
	}
	if got := f.templates(); got[len(got)-1] != "two_step_reset" {
		t.Errorf("last notice %v, want two_step_reset", got)
	}
}

func TestSetupAndSetPassword(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	ctx := context.Background()
	token, err := f.svc.SetupToken(ctx)
	if err != nil || token == "" {
		t.Fatalf("setup token: %q %v", token, err)
	}
	bad := twostep.NewOrg{Name: "Cloud Legal", OwnerEmail: "owner@example.com", Password: "short"}
	var inv *twostep.InvalidError
	if _, err := f.svc.Setup(ctx, token, bad, nil); !errors.As(err, &inv) || inv.Field != "password" {
		t.Fatalf("setup with a short password: %v", err)
	}
	good := twostep.NewOrg{Name: "Cloud Legal", OwnerEmail: "owner@example.com", Password: password}
	res, err := f.svc.Setup(ctx, token, good, nil)
	if err != nil || res.Status != twostep.StatusSignedIn {
		t.Fatalf("setup: %v %v", res, err)
	}
	// A setup link works once, and no new one is made once an organisation exists.
	good.OwnerEmail = "other@example.com"
	if _, err := f.svc.Setup(ctx, token, good, nil); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("second setup: %v, want ErrExpired", err)
	}
	if again, err := f.svc.SetupToken(ctx); again != "" || err != nil {
		t.Errorf("setup token with an organisation: %q %v", again, err)
	}

	acct, link, err := f.svc.CreateAccount(ctx, twostep.NewAccount{Org: "cloud-legal", Email: "new@example.com"})
	if err != nil || link == "" {
		t.Fatalf("create account: %v %q", err, link)
	}
	if got, _, err := f.svc.SetPasswordAccount(ctx, link); err != nil || got.ID != acct.ID {
		t.Errorf("set-password link opens %v %v", got, err)
	}
	if err := f.svc.SetPassword(ctx, link, password, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetPassword(ctx, link, password, nil); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("second use of a set-password link: %v, want ErrExpired", err)
	}
	if got := f.signIn("new@example.com"); got.Status != twostep.StatusSignedIn {
		t.Errorf("sign-in with the new password: %s", got.Status)
	}
	_, link, _ = f.svc.CreateAccount(ctx, twostep.NewAccount{Org: "cloud-legal", Email: "late@example.com"})
	f.clock.Advance(twostep.SetPasswordTTL + time.Second)
	if err := f.svc.SetPassword(ctx, link, password, nil); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("set-password link after 7 days: %v, want ErrExpired", err)
	}
}

// TestReseal: after a new key becomes active, Reseal moves every seed and
// queued message under it, and codes keep working.
func TestReseal(t *testing.T) { // OTP-12: seeds, the Verify API's too, stay encrypted under the active key
	storetestBackends(t, func(t *testing.T, f *fixture) {
		f.account("joe@example.com")
		secret, _ := f.enrol("joe@example.com")
		ctx := context.Background()
		f.svc.RequestPasswordReset(ctx, "joe@example.com", nil) // a queued message
		f.svc.Wait()
		// A Verify API factor: its seed is sealed too.
		key, _, err := f.svc.CreateAPIKey(ctx, nil, f.org, "rotation")
		if err != nil {
			t.Fatal(err)
		}
		k := &twostep.KeyCaller{Key: key}
		vs, err := f.svc.CreateVerifyService(ctx, k, "Rotation", 6)
		if err != nil {
			t.Fatal(err)
		}
		vf, err := f.svc.CreateVerifyFactor(ctx, k, vs.SID, "ann", "totp", "Ann's phone")
		if err != nil {
			t.Fatal(err)
		}
		vseed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(vf.Secret)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := twostep.NewKeyLine("k2", rand.Reader)
		k2, _ := twostep.ParseKeys([]byte(line))
		if err := f.sealer.SetKeys(append(k2, f.keys...)); err != nil {
			t.Fatal(err)
		}
		n, err := f.svc.Reseal(ctx)
		if err != nil || n.Factors != 1 || n.Messages < 2 || n.VerifyFactors != 1 {
			t.Fatalf("reseal: %+v %v, want 1 seed, the queued messages and 1 Verify seed", n, err)
		}
		if again, _ := f.svc.Reseal(ctx); again != (twostep.Resealed{}) {
			t.Errorf("second reseal did %+v, want nothing", again)
		}
		if err := f.sealer.SetKeys(k2); err != nil { // the old key gone: all must be under k2
			t.Fatal(err)
		}
		if _, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, f.code(secret)); err != nil {
			t.Errorf("sign-in after reseal with only the new key: %v", err)
		}
		if msgs := f.outbox(); len(msgs) == 0 {
			t.Error("queued messages no longer open")
		}
		code := twostep.TOTPCode(vseed, twostep.TOTPStep(f.clock.Now()))
		if got, err := f.svc.VerifyFactorCode(ctx, k, vs.SID, "ann", vf.Factor.SID, code); err != nil || got.Status != twostep.FactorVerified {
			t.Errorf("Verify factor after reseal with only the new key: %+v %v, want verified", got, err)
		}
	})
}

// TestNoticeLabels: a notice about a method names it by the label its owner
// gave, and passes no label for an app left unnamed: its default label is
// English, and the notice names the method in the reader's language (NT-01).
func TestNoticeLabels(t *testing.T) { // NT-01
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	res, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, f.code(secret))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := f.caller(res.SessionToken)
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodTOTP, Label: "Pixel"})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	pixel, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(nf.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, f.code(pixel)); err != nil {
		t.Fatal(err)
	}
	factors, err := f.svc.Factors(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, fa := range factors {
		if fa.ID != nf.Factor.ID {
			if err := f.svc.RemoveFactor(ctx, c, fa.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.outbox()
	var got []map[string]string
	for _, m := range f.sent {
		if m.Template == "factor_added" || m.Template == "factor_removed" {
			got = append(got, map[string]string{"template": m.Template, "method": m.Data["method"], "label": m.Data["label"]})
		}
	}
	want := []map[string]string{{"template": "factor_added", "method": "totp", "label": "Pixel"},
		{"template": "factor_removed", "method": "totp", "label": ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notices (-want +got):\n%s", diff)
	}
}
