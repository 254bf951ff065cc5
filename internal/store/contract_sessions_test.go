package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

func testSessions(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	s := &twostep.Session{ID: "s1", TokenHash: []byte("token-s1"), AccountID: acc.ID, AMR: []string{"pwd", "otp"},
		SecondStep: twostep.SecondStepExempt, Legacy: true, ConfirmedUntil: t0.Add(10 * time.Minute), CreatedAt: t0, LastSeenAt: t0,
		IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour), IP: "192.0.2.1", UserAgent: "test"}
	ok(t, db.CreateSession(ctx, s))
	same(t, "SessionByToken", s, get[*twostep.Session](t)(db.SessionByToken(ctx, []byte("token-s1"))))
	wantErr(t, "duplicate token", db.CreateSession(ctx, &twostep.Session{ID: "s9", TokenHash: []byte("token-s1"), AccountID: acc.ID}),
		twostep.ErrConflict)

	s.LastSeenAt, s.IdleExpiresAt = t0.Add(time.Minute), t0.Add(2*time.Hour)
	ok(t, db.TouchSession(ctx, "s1", s.LastSeenAt, s.IdleExpiresAt))
	same(t, "touched Session", s, get[*twostep.Session](t)(db.SessionByToken(ctx, []byte("token-s1"))))
	ok(t, db.TouchSession(ctx, "nope", t0, t0))

	newSession(t, db, "s2", acc.ID)
	newSession(t, db, "s3", acc.ID)
	bob := newAccount(t, db, acc.OrgID, "bob@example.com")
	newSession(t, db, "s4", bob.ID)
	// The account's own sessions only, the most recently seen first.
	mine := get[[]*twostep.Session](t)(db.AccountSessions(ctx, acc.ID))
	var ids []string
	for _, x := range mine {
		ids = append(ids, x.ID)
	}
	if slices.Contains(ids, "s4") || len(ids) != 3 || !slices.Contains(ids, "s1") {
		t.Errorf("AccountSessions = %v, want s1, s2, s3", ids)
	}
	for i := 1; i < len(mine); i++ {
		if mine[i].LastSeenAt.After(mine[i-1].LastSeenAt) {
			t.Errorf("AccountSessions not newest first: %v", ids)
		}
	}
	// Another account's session is not the account's to delete (CS-02).
	if did, err := db.DeleteAccountSession(ctx, acc.ID, "s4"); err != nil || did {
		t.Errorf("DeleteAccountSession(another's) = %v, %v; want false", did, err)
	}
	newSession(t, db, "s5", acc.ID)
	if did, err := db.DeleteAccountSession(ctx, acc.ID, "s5"); err != nil || !did {
		t.Errorf("DeleteAccountSession(own) = %v, %v; want true", did, err)
	}
	ok(t, db.DeleteSessions(ctx, acc.ID, "s1"))
	for id, want := range map[string]error{"s1": nil, "s2": twostep.ErrNotFound, "s3": twostep.ErrNotFound, "s4": nil} {
		_, err := db.SessionByToken(ctx, []byte("token-"+id))
		wantErr(t, "after DeleteSessions, "+id, err, want)
	}
	ok(t, db.DeleteSession(ctx, "s1"))
	_, err := db.SessionByToken(ctx, []byte("token-s1"))
	wantErr(t, "after DeleteSession", err, twostep.ErrNotFound)
	ok(t, db.DeleteSession(ctx, "s1"))
	ok(t, db.DeleteSessions(ctx, bob.ID, ""))
	_, err = db.SessionByToken(ctx, []byte("token-s4"))
	wantErr(t, "after DeleteSessions without exception", err, twostep.ErrNotFound)
}

func testDeleteExpired(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	now := t0.Add(time.Hour)
	challenges := map[string]time.Time{"expired": now.Add(-time.Second), "live": now, "forever": {}}
	for id, exp := range challenges {
		ok(t, db.CreateChallenge(ctx, &twostep.Challenge{ID: id, TokenHash: []byte(id), Purpose: twostep.PurposeSignIn,
			AccountID: acc.ID, ExpiresAt: exp}))
	}
	sessions := map[string][2]time.Time{ // idle, absolute
		"expired": {now.Add(time.Hour), now.Add(-time.Second)},
		"idle":    {now.Add(-time.Second), now.Add(time.Hour)},
		"live":    {now, now},
		"forever": {},
	}
	for id, exp := range sessions {
		ok(t, db.CreateSession(ctx, &twostep.Session{ID: id, TokenHash: []byte(id), AccountID: acc.ID,
			IdleExpiresAt: exp[0], ExpiresAt: exp[1]}))
	}
	day := 24 * time.Hour
	messages := map[string][2]any{ // status, created
		"sent-old": {twostep.MessageSent, now.Add(-8 * day)}, "sent-recent": {twostep.MessageSent, now.Add(-6 * day)},
		"failed-old": {twostep.MessageFailed, now.Add(-8 * day)}, "pending-old": {twostep.MessagePending, now.Add(-8 * day)},
	}
	for id, m := range messages {
		om := &twostep.OutboxMessage{ID: id, Channel: "email", To: "a@example.com", Template: "x", Payload: []byte("p"),
			ChallengeID: "c-" + id, CreatedAt: m[1].(time.Time), NextAttemptAt: now}
		ok(t, db.EnqueueMessage(ctx, om))
		if st := m[0].(string); st != twostep.MessagePending {
			om.Status = st
			ok(t, db.FinishMessage(ctx, om))
		}
	}
	throttles := map[string]twostep.Throttle{
		"idle":   {Failures: 3, HourStart: now.Add(-8 * day)},
		"recent": {Failures: 3, HourStart: now.Add(-time.Hour)},
		"locked": {Failures: 30, HourStart: now.Add(-8 * day), LockedUntil: now.Add(time.Hour)},
	}
	for key, th := range throttles {
		th.Key = key
		ok(t, db.PutThrottle(ctx, th))
	}
	devices := map[string]time.Time{"expired": now.Add(-time.Second), "live": now}
	for id, exp := range devices {
		newDevice(t, db, id, acc.ID, exp)
	}
	ok(t, db.DeleteExpired(ctx, now))
	var kept []string
	for id := range devices {
		if _, err := db.DeviceByToken(ctx, []byte("token-"+id)); err == nil {
			kept = append(kept, "device "+id)
		}
	}
	for id := range messages {
		if _, err := db.LastMessage(ctx, "c-"+id, ""); err == nil {
			kept = append(kept, "message "+id)
		}
	}
	for key := range throttles {
		if th, _ := db.Throttle(ctx, key); th.Failures > 0 {
			kept = append(kept, "throttle "+key)
		}
	}
	for id := range challenges {
		if _, err := db.Challenge(ctx, id); err == nil {
			kept = append(kept, "challenge "+id)
		}
	}
	for id := range sessions {
		if _, err := db.SessionByToken(ctx, []byte(id)); err == nil {
			kept = append(kept, "session "+id)
		}
	}
	slices.Sort(kept)
	same(t, "kept", []string{"challenge forever", "challenge live", "device live", "message pending-old", "message sent-recent",
		"session forever", "session live", "throttle locked", "throttle recent"}, kept)
}

func testThrottles(t *testing.T, db *store.DB) {
	ctx := t.Context()
	same(t, "missing Throttle", twostep.Throttle{Key: "ip:x"}, get[twostep.Throttle](t)(db.Throttle(ctx, "ip:x")))
	th := twostep.Throttle{Key: "ip:x", Failures: 3, HourStart: t0, HourFailures: 4, LockedUntil: t0.Add(time.Minute)}
	ok(t, db.PutThrottle(ctx, th))
	same(t, "Throttle", th, get[twostep.Throttle](t)(db.Throttle(ctx, "ip:x")))
	th.Failures, th.LockedUntil = 0, time.Time{}
	ok(t, db.PutThrottle(ctx, th))
	same(t, "overwritten Throttle", th, get[twostep.Throttle](t)(db.Throttle(ctx, "ip:x")))

	ok(t, db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error {
		same(t, "LockThrottle", th, get[twostep.Throttle](t)(s.LockThrottle(ctx, "ip:x")))
		same(t, "LockThrottle of a new key", twostep.Throttle{Key: "ip:y"}, get[twostep.Throttle](t)(s.LockThrottle(ctx, "ip:y")))
		return nil
	}))
	// Whether LockThrottle left a row of defaults (PostgreSQL) or none (SQLite), it reads the same.
	same(t, "a new key after LockThrottle", twostep.Throttle{Key: "ip:y"}, get[twostep.Throttle](t)(db.Throttle(ctx, "ip:y")))
}
