package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

// errLost is what a racer returns when the statement said another call had
// used the thing first.
var errLost = errors.New("used by another call")

// testRacesInAtomic: the single-use statements let one call through inside
// transactions too, as the domain calls them (OTP-09, RC-03, OOB-03). On
// SQLite, twosteptest.Race puts the 30 calls in one shared transaction: a
// statement that decided on a read made outside it (a reader sees only
// committed rows) would let them all through; testRaces, outside Atomic, sees
// that only when the timing happens to interleave the calls.
func testRacesInAtomic(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	ok(t, db.CreateFactor(ctx, &twostep.Factor{ID: "f1", AccountID: acc.ID, Method: twostep.MethodTOTP, Status: twostep.FactorActive}))
	ok(t, db.ReplaceRecoveryCodes(ctx, acc.ID, []*twostep.RecoveryCode{{ID: "r1", Hash: []byte{1}}}))
	newChallenge(t, db, "consume", acc.ID)
	tests := []struct {
		name string
		use  func(s twostep.Store) (bool, error)
	}{
		{"UseTOTPStep", func(s twostep.Store) (bool, error) { return s.UseTOTPStep(ctx, "f1", 1000, t0) }},          // OTP-09
		{"UseRecoveryCode", func(s twostep.Store) (bool, error) { return s.UseRecoveryCode(ctx, "r1", t0) }},        // RC-03
		{"ConsumeChallenge", func(s twostep.Store) (bool, error) { return s.ConsumeChallenge(ctx, "consume", t0) }}, // OOB-03
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			won, errs := twosteptest.Race(t, db, 30, func(int) error {
				return db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error {
					used, err := tt.use(s)
					if err == nil && !used {
						return errLost
					}
					return err
				})
			})
			same(t, tt.name+" successes", 1, won)
			for _, err := range errs {
				if !errors.Is(err, errLost) {
					t.Errorf("%s: %v", tt.name, err)
				}
			}
		})
	}
}
