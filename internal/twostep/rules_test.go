package twostep_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestCodesAreRandomDigits: codes are 6 ASCII digits and vary (OOB-01), and
// the store holds only a keyed hash of the live one (OOB-05).
func TestCodesAreRandomDigits(t *testing.T) { // OOB-01, OOB-05
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	f.enrolEmail("joe@example.com")
	ctx := context.Background()
	seen := map[string]bool{}
	for i := 0; i < 8; i++ {
		res := f.signIn("joe@example.com")
		code, _ := f.lastCode("code_sign_in")
		if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
			t.Fatalf("code %q is not 6 digits", code)
		}
		seen[code] = true
		c, err := f.db.ChallengeByToken(ctx, twostep.HashToken(res.SignInToken))
		if err != nil {
			t.Fatal(err)
		}
		plain := sha256.Sum256([]byte(code))
		if strings.Contains(string(c.CodeHash), code) || strings.Contains(string(c.CodeHash), string(plain[:])) || len(c.CodeHash) < 32 {
			t.Errorf("stored code hash %x reveals the code", c.CodeHash)
		}
	}
	if len(seen) < 7 {
		t.Errorf("8 codes, %d different", len(seen))
	}
}

// TestRecoveryCodesStoredHashed: each code has its own 128-bit salt and only
// an HMAC is kept (RC-02); wrong recovery codes count on the account's
// throttle like any second step (RC-04).
func TestRecoveryCodesStoredHashed(t *testing.T) { // RC-02, RC-04
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	acct := f.account("joe@example.com")
	_, codes := f.enrol("joe@example.com")
	stored, err := f.db.RecoveryCodes(context.Background(), acct.ID)
	if err != nil || len(stored) != 10 {
		t.Fatalf("stored codes: %d %v", len(stored), err)
	}
	salts := map[string]bool{}
	for _, rc := range stored {
		salts[string(rc.Salt)] = true
		if len(rc.Salt) < 16 || len(rc.Hash) != 32 {
			t.Errorf("salt of %d bytes, hash of %d", len(rc.Salt), len(rc.Hash))
		}
		for _, c := range codes {
			if strings.Contains(string(rc.Hash), c) || strings.Contains(string(rc.Hash), strings.ReplaceAll(c, "-", "")) {
				t.Error("a stored hash holds a code")
			}
		}
	}
	if len(salts) != 10 {
		t.Errorf("%d different salts for 10 codes", len(salts))
	}
	for i := 0; i < 10; i++ {
		f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodRecoveryCode, "aaaa-bbbb-cccc-dddd")
	}
	_, err = f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodRecoveryCode, codes[0])
	if !errors.Is(err, twostep.ErrThrottled) {
		t.Errorf("a right recovery code after 10 wrong ones: %v, want ErrThrottled", err)
	}
}

// TestAddingNeedsConfirmation: binding a new method needs a recent proof of
// the account's factors (SU-03), and the binding is recorded with where it
// came from (AU-03).
func TestAddingNeedsConfirmation(t *testing.T) { // SU-03, AU-03
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	acct := f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	ctx := context.Background()
	c := f.caller(mustVerifyTOTP(t, f, secret))
	f.clock.Advance(11 * time.Minute)
	for _, r := range []twostep.FactorRequest{{Method: twostep.MethodTOTP}, {Method: twostep.MethodEmail}, {Method: twostep.MethodSMS, Phone: "+33612345678"}} {
		if _, err := f.svc.AddFactor(ctx, c, r); !errors.Is(err, twostep.ErrConfirmIdentity) {
			t.Errorf("adding %s 11 minutes after the sign-in: %v, want ErrConfirmIdentity", r.Method, err)
		}
	}
	evs, _ := f.db.Events(ctx, twostep.EventFilter{AccountID: acct.ID, Type: "factor.added"})
	if len(evs) != 1 || evs[0].IP != "192.0.2.1" || evs[0].UserAgent != "test" || evs[0].At.IsZero() || evs[0].Detail["method"] != "totp" {
		t.Errorf("factor.added events %+v, want one with the address, device, time and method", evs)
	}
}

// TestLockNotice: the right password followed by wrong codes until the account
// pauses tells the holder, once (NT-04).
func TestLockNotice(t *testing.T) { // NT-04
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	f.outbox()
	wrong := twostep.TOTPCode(secret, twostep.TOTPStep(f.clock.Now())+5)
	for i := 0; i < 10; i++ {
		f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, wrong)
	}
	f.clock.Advance(31 * time.Second)
	f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, wrong) // locks again, longer
	var locks int
	for _, m := range f.outbox() {
		if m.Template == "second_step_locked" {
			locks++
		}
	}
	if locks != 1 {
		t.Errorf("%d lock notices, want 1", locks)
	}
}
