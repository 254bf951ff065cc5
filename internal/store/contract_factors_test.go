package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

func testFactors(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	totp := &twostep.Factor{ID: "f1", AccountID: acc.ID, Method: twostep.MethodTOTP, Status: twostep.FactorActive,
		Label: "phone", Secret: []byte{1, 2, 3}, LastTOTPStep: 7, Default: true,
		CreatedAt: t0, ConfirmedAt: t0, LastUsedAt: t0}
	email := &twostep.Factor{ID: "f0", AccountID: acc.ID, Method: twostep.MethodEmail, Status: twostep.FactorPending,
		Address: "ann@example.com", CreatedAt: t0}
	older := &twostep.Factor{ID: "f2", AccountID: acc.ID, Method: twostep.MethodSMS, Status: twostep.FactorActive,
		Address: "+33600000000", Channels: []twostep.Method{twostep.MethodSMS, twostep.MethodVoice}, CreatedAt: t0.Add(-time.Hour)}
	for _, f := range []*twostep.Factor{totp, email, older} {
		ok(t, db.CreateFactor(ctx, f))
	}
	wantErr(t, "duplicate id", db.CreateFactor(ctx, &twostep.Factor{ID: "f1", AccountID: acc.ID}), twostep.ErrConflict)
	same(t, "Factor", totp, get[*twostep.Factor](t)(db.Factor(ctx, "f1")))
	// Oldest first; f1 and f0 share a creation time and keep their insertion order.
	same(t, "Factors", []*twostep.Factor{older, totp, email}, get[[]*twostep.Factor](t)(db.Factors(ctx, acc.ID)))

	email.Status, email.Label, email.Default, email.ConfirmedAt, email.LastUsedAt = twostep.FactorActive, "work", true, t0, t0
	email.Channels = []twostep.Method{twostep.MethodVoice}
	email.LastTOTPStep = 99 // not written: only UseTOTPStep moves it
	ok(t, db.UpdateFactor(ctx, email))
	email.LastTOTPStep = 0
	same(t, "updated Factor", email, get[*twostep.Factor](t)(db.Factor(ctx, "f0")))

	at := t0.Add(time.Minute)
	for _, tt := range []struct {
		step int64
		want bool
	}{{8, true}, {8, false}, {7, false}, {6, false}, {10, true}, {9, false}} {
		if got := get[bool](t)(db.UseTOTPStep(ctx, "f1", tt.step, at)); got != tt.want {
			t.Errorf("UseTOTPStep(%d) = %v, want %v", tt.step, got, tt.want)
		}
	}
	totp.LastTOTPStep, totp.LastUsedAt = 10, at
	same(t, "used Factor", totp, get[*twostep.Factor](t)(db.Factor(ctx, "f1")))
	same(t, "UseTOTPStep of a missing factor", false, get[bool](t)(db.UseTOTPStep(ctx, "nope", 1, at)))

	ok(t, db.DeleteFactor(ctx, "f2"))
	wantErr(t, "DeleteFactor again", db.DeleteFactor(ctx, "f2"), twostep.ErrNotFound)
	_, err := db.Factor(ctx, "f2")
	wantErr(t, "Factor", err, twostep.ErrNotFound)
	wantErr(t, "UpdateFactor", db.UpdateFactor(ctx, older), twostep.ErrNotFound)
	ok(t, db.DeleteFactors(ctx, acc.ID))
	same(t, "Factors after DeleteFactors", nil, get[[]*twostep.Factor](t)(db.Factors(ctx, acc.ID)))
}

func testRecoveryCodes(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	codes := func(prefix string) []*twostep.RecoveryCode {
		var cs []*twostep.RecoveryCode
		for i := range 3 {
			cs = append(cs, &twostep.RecoveryCode{ID: fmt.Sprintf("%s%d", prefix, i), AccountID: acc.ID, KeyID: "k1",
				Salt: []byte{byte(i)}, Hash: []byte{9, byte(i)}, CreatedAt: t0})
		}
		return cs
	}
	first := codes("a")
	ok(t, db.ReplaceRecoveryCodes(ctx, acc.ID, first))
	same(t, "RecoveryCodes", first, get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, acc.ID)))

	same(t, "UseRecoveryCode", true, get[bool](t)(db.UseRecoveryCode(ctx, "a1", t0)))
	same(t, "UseRecoveryCode again", false, get[bool](t)(db.UseRecoveryCode(ctx, "a1", t0)))
	same(t, "RecoveryCodes after use", []*twostep.RecoveryCode{first[0], first[2]},
		get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, acc.ID)))
	if _, err := db.UseRecoveryCode(ctx, "a0", time.Time{}); err == nil {
		t.Error("UseRecoveryCode with the zero time succeeded")
	}

	second := codes("b")
	ok(t, db.ReplaceRecoveryCodes(ctx, acc.ID, second))
	same(t, "RecoveryCodes after replace", second, get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, acc.ID)))
	same(t, "UseRecoveryCode of a replaced code", false, get[bool](t)(db.UseRecoveryCode(ctx, "a0", t0)))

	// A failed replace keeps the old codes.
	wantErr(t, "replace with duplicate ids", db.ReplaceRecoveryCodes(ctx, acc.ID, append(codes("c"), codes("c")...)), twostep.ErrConflict)
	same(t, "RecoveryCodes after failed replace", second, get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, acc.ID)))

	ok(t, db.DeleteRecoveryCodes(ctx, acc.ID))
	same(t, "RecoveryCodes after delete", nil, get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, acc.ID)))
}
