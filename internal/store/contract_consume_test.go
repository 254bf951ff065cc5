package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

// testConsumeChallenges: ConsumeChallenges marks the account's unconsumed
// challenges of the given purposes consumed, and nothing else: not other
// purposes, not other accounts, not those consumed before (their time stays).
// Password changes and resets end sign-ins with it (SU-01, item 14), and new
// links end older ones (item 9).
func testConsumeChallenges(t *testing.T, db *store.DB) {
	ctx := t.Context()
	ann := newMember(t, db)
	bob := newAccount(t, db, ann.OrgID, "bob@example.com")
	create := func(id, accountID string, p twostep.Purpose) {
		t.Helper()
		ok(t, db.CreateChallenge(ctx, &twostep.Challenge{ID: id, TokenHash: []byte(id), Purpose: p, AccountID: accountID,
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	}
	create("ann-sign-in", ann.ID, twostep.PurposeSignIn)
	create("ann-sign-in-2", ann.ID, twostep.PurposeSignIn)
	create("ann-enrol-sign-in", ann.ID, twostep.PurposeEnrolSignIn)
	create("ann-confirm", ann.ID, twostep.PurposeConfirmIdentity)
	create("ann-email", ann.ID, twostep.PurposeEmailChange)
	create("ann-old", ann.ID, twostep.PurposeSignIn)
	create("bob-sign-in", bob.ID, twostep.PurposeSignIn)
	create("setup", "", twostep.PurposeSignIn)
	earlier := t0.Add(-time.Minute)
	ok(t, second(db.ConsumeChallenge(ctx, "ann-old", earlier)))

	at := t0.Add(time.Minute)
	ok(t, db.ConsumeChallenges(ctx, ann.ID, at, twostep.PurposeSignIn, twostep.PurposeEnrolSignIn, twostep.PurposeConfirmIdentity))
	ok(t, db.ConsumeChallenges(ctx, ann.ID, at)) // no purposes: nothing
	consumed := func(id string) time.Time {
		t.Helper()
		return get[*twostep.Challenge](t)(db.Challenge(ctx, id)).ConsumedAt
	}
	for id, want := range map[string]time.Time{
		"ann-sign-in": at, "ann-sign-in-2": at, "ann-enrol-sign-in": at, "ann-confirm": at,
		"ann-email": {}, "ann-old": earlier, "bob-sign-in": {}, "setup": {},
	} {
		same(t, "consumed_at of "+id, want, consumed(id))
	}
	// Consumed ones no longer count or consume.
	_, err := db.CountChallengeAttempt(ctx, "ann-sign-in")
	wantErr(t, "CountChallengeAttempt after ConsumeChallenges", err, twostep.ErrNotFound)
	same(t, "ConsumeChallenge after ConsumeChallenges", false, get[bool](t)(db.ConsumeChallenge(ctx, "ann-sign-in-2", at)))

	ok(t, db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error { // and inside a transaction
		return s.ConsumeChallenges(ctx, bob.ID, at, twostep.PurposeSignIn)
	}))
	same(t, "consumed_at of bob-sign-in", at, consumed("bob-sign-in"))
	if err := db.ConsumeChallenges(ctx, ann.ID, time.Time{}, twostep.PurposeEmailChange); err == nil {
		t.Error("ConsumeChallenges with a zero time: no error")
	}
	same(t, "consumed_at of ann-email after a refused call", time.Time{}, consumed("ann-email"))
}
