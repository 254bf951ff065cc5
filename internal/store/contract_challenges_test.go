package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

func testChallenges(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	c := &twostep.Challenge{ID: "c1", TokenHash: []byte("tok"), Purpose: twostep.PurposeEmailChange, AccountID: acc.ID,
		SessionID: "s1", FactorID: "f1", Method: twostep.MethodSMS, Address: "ann@new.example", CodeHash: []byte("code"),
		CodeExpiresAt: t0.Add(5 * time.Minute), Attempts: 1, Sends: 1, LastSentAt: t0, LastChannel: "sms",
		AMR: []string{"pwd"}, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	ok(t, db.CreateChallenge(ctx, c))
	same(t, "Challenge", c, get[*twostep.Challenge](t)(db.Challenge(ctx, "c1")))
	same(t, "ChallengeByToken", c, get[*twostep.Challenge](t)(db.ChallengeByToken(ctx, []byte("tok"))))
	withC, withA, err := db.ChallengeWithAccount(ctx, []byte("tok"))
	ok(t, err)
	same(t, "ChallengeWithAccount challenge", c, withC)
	same(t, "ChallengeWithAccount account", get[*twostep.Account](t)(db.Account(ctx, acc.ID)), withA)

	setup := &twostep.Challenge{ID: "c2", TokenHash: []byte("setup"), Purpose: twostep.PurposeSetup, CreatedAt: t0}
	ok(t, db.CreateChallenge(ctx, setup))
	same(t, "setup Challenge", setup, get[*twostep.Challenge](t)(db.Challenge(ctx, "c2")))
	_, _, err = db.ChallengeWithAccount(ctx, []byte("setup"))
	wantErr(t, "ChallengeWithAccount of a challenge without account", err, twostep.ErrNotFound)
	wantErr(t, "duplicate token", db.CreateChallenge(ctx, &twostep.Challenge{ID: "c3", TokenHash: []byte("tok")}), twostep.ErrConflict)
	for _, id := range []string{"c4", "c5"} { // many challenges may have no token
		ok(t, db.CreateChallenge(ctx, &twostep.Challenge{ID: id, Purpose: twostep.PurposeSetup}))
	}

	changed := *c
	changed.FactorID, changed.Method, changed.CodeHash, changed.Sends = "f2", twostep.MethodVoice, []byte("new"), 2
	changed.LastSentAt, changed.AMR, changed.ExpiresAt = t0.Add(time.Minute), []string{"pwd", "otp"}, t0.Add(time.Hour)
	changed.SessionID, changed.Address, changed.CodeExpiresAt, changed.LastChannel = "s2", "+33600000000", t0.Add(6*time.Minute), "voice"
	wrong := changed // with fields UpdateChallenge must not write
	wrong.Attempts, wrong.ConsumedAt, wrong.Purpose, wrong.TokenHash = 4, t0, twostep.PurposeEnrol, []byte("x")
	ok(t, db.UpdateChallenge(ctx, &wrong))
	same(t, "updated Challenge", &changed, get[*twostep.Challenge](t)(db.Challenge(ctx, "c1")))

	cleared := changed // UpdateChallenge clears what it writes, too
	cleared.SessionID, cleared.FactorID, cleared.Method, cleared.Address, cleared.CodeHash = "", "", "", "", nil
	cleared.CodeExpiresAt, cleared.LastSentAt, cleared.LastChannel, cleared.AMR = time.Time{}, time.Time{}, "", nil
	ok(t, db.UpdateChallenge(ctx, &cleared))
	same(t, "cleared Challenge", &cleared, get[*twostep.Challenge](t)(db.Challenge(ctx, "c1")))
	ok(t, db.UpdateChallenge(ctx, &changed))

	same(t, "CountChallengeAttempt", 2, get[*twostep.Challenge](t)(db.CountChallengeAttempt(ctx, "c1")).Attempts)
	counted := get[*twostep.Challenge](t)(db.CountChallengeAttempt(ctx, "c1"))
	same(t, "CountChallengeAttempt", 3, counted.Attempts)
	same(t, "CountChallengeAttempt returns the row", get[*twostep.Challenge](t)(db.Challenge(ctx, "c1")), counted)
	same(t, "ConsumeChallenge", true, get[bool](t)(db.ConsumeChallenge(ctx, "c1", t0)))
	same(t, "ConsumeChallenge again", false, get[bool](t)(db.ConsumeChallenge(ctx, "c1", t0)))
	_, err = db.CountChallengeAttempt(ctx, "c1")
	wantErr(t, "CountChallengeAttempt after consume", err, twostep.ErrNotFound)
	changed.Attempts, changed.ConsumedAt = 3, t0
	same(t, "consumed Challenge", &changed, get[*twostep.Challenge](t)(db.Challenge(ctx, "c1")))

	_, err = db.Challenge(ctx, "nope")
	wantErr(t, "Challenge", err, twostep.ErrNotFound)
	_, err = db.ChallengeByToken(ctx, []byte("nope"))
	wantErr(t, "ChallengeByToken", err, twostep.ErrNotFound)
	_, _, err = db.ChallengeWithAccount(ctx, []byte("nope"))
	wantErr(t, "ChallengeWithAccount", err, twostep.ErrNotFound)
	wantErr(t, "UpdateChallenge", db.UpdateChallenge(ctx, &twostep.Challenge{ID: "nope"}), twostep.ErrNotFound)
	_, err = db.CountChallengeAttempt(ctx, "nope")
	wantErr(t, "CountChallengeAttempt", err, twostep.ErrNotFound)
	same(t, "ConsumeChallenge of a missing one", false, get[bool](t)(db.ConsumeChallenge(ctx, "nope", t0)))
}

func testLatestChallenge(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	bob := newAccount(t, db, acc.OrgID, "bob@example.com")
	create := func(id, accountID string, p twostep.Purpose, created, expires time.Time) *twostep.Challenge {
		t.Helper()
		c := &twostep.Challenge{ID: id, TokenHash: []byte(id), Purpose: p, AccountID: accountID,
			CreatedAt: created, ExpiresAt: expires}
		ok(t, db.CreateChallenge(ctx, c))
		return c
	}
	later := t0.Add(time.Hour)
	signIn := create("sign-in", acc.ID, twostep.PurposeSignIn, t0.Add(-time.Minute), later)
	older := create("older", acc.ID, twostep.PurposeEmailChange, t0.Add(-time.Second), later)
	first := create("z-first", acc.ID, twostep.PurposeEmailChange, t0, later)
	// Created in the same microsecond, after first (and with a smaller id): newer.
	// Long expired: the domain, not the store, looks at expiry.
	newest := create("a-newest", acc.ID, twostep.PurposeEmailChange, t0, t0.Add(-time.Hour))
	create("reset", acc.ID, twostep.PurposePasswordReset, t0.Add(time.Minute), later)
	create("bob", bob.ID, twostep.PurposeEmailChange, t0.Add(time.Minute), later)
	create("setup", "", twostep.PurposeEmailChange, t0.Add(time.Minute), later)
	latest := func(accountID string, p twostep.Purpose) string {
		t.Helper()
		c, err := db.LatestChallenge(ctx, accountID, p)
		if errors.Is(err, twostep.ErrNotFound) {
			return "none"
		}
		ok(t, err)
		return c.ID
	}

	same(t, "LatestChallenge", newest, get[*twostep.Challenge](t)(db.LatestChallenge(ctx, acc.ID, twostep.PurposeEmailChange)))
	same(t, "LatestChallenge sign_in", signIn.ID, latest(acc.ID, twostep.PurposeSignIn))
	same(t, "LatestChallenge password_reset of bob", "none", latest(bob.ID, twostep.PurposePasswordReset))
	same(t, "LatestChallenge set_password", "none", latest(acc.ID, twostep.PurposeSetPassword))
	same(t, "LatestChallenge of no account", "none", latest("", twostep.PurposeEmailChange))

	// A consumed challenge is passed over.
	ok(t, second(db.ConsumeChallenge(ctx, newest.ID, t0)))
	same(t, "LatestChallenge after consuming the newest", first.ID, latest(acc.ID, twostep.PurposeEmailChange))
	ok(t, second(db.ConsumeChallenge(ctx, first.ID, t0)))
	same(t, "LatestChallenge after consuming two", older.ID, latest(acc.ID, twostep.PurposeEmailChange))
	ok(t, second(db.ConsumeChallenge(ctx, older.ID, t0)))
	same(t, "LatestChallenge with all consumed", "none", latest(acc.ID, twostep.PurposeEmailChange))

	ok(t, db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error { // and inside a transaction
		c := &twostep.Challenge{ID: "in-tx", TokenHash: []byte("in-tx"), Purpose: twostep.PurposeEmailChange,
			AccountID: acc.ID, CreatedAt: t0}
		ok(t, s.CreateChallenge(ctx, c))
		same(t, "LatestChallenge inside Atomic", c, get[*twostep.Challenge](t)(s.LatestChallenge(ctx, acc.ID, twostep.PurposeEmailChange)))
		return nil
	}))
}
