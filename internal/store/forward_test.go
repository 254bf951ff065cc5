package store_test

import (
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestForwardSessions: a forward-auth token is found by its hash with what
// the proxy is told, is replaced by a new one, and ends with its session
// (API.md §8), on both backends.
func TestForwardSessions(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		acc := newMember(t, db)
		s := &twostep.Session{ID: "s1", TokenHash: []byte("session-s1"), AccountID: acc.ID, AMR: []string{"pwd", "otp"},
			SecondStep: twostep.SecondStepProven, CreatedAt: t0, LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Hour),
			ExpiresAt: t0.Add(24 * time.Hour)}
		ok(t, db.CreateSession(ctx, s))
		// Sessions without a token: NULLs do not collide in the unique index.
		ok(t, db.CreateSession(ctx, &twostep.Session{ID: "s2", TokenHash: []byte("session-s2"), AccountID: acc.ID, CreatedAt: t0}))
		ok(t, db.CreateSession(ctx, &twostep.Session{ID: "s3", TokenHash: []byte("session-s3"), AccountID: acc.ID, CreatedAt: t0}))

		_, err := db.ForwardSession(ctx, []byte("fa-1"))
		wantErr(t, "ForwardSession before a token", err, twostep.ErrNotFound)
		wantErr(t, "SetSessionForward of no session", db.SetSessionForward(ctx, "nope", []byte("fa-0")), twostep.ErrNotFound)
		ok(t, db.SetSessionForward(ctx, "s1", []byte("fa-1")))
		want := &twostep.ForwardSession{Session: twostep.Session{ID: "s1", AccountID: acc.ID, AMR: []string{"pwd", "otp"},
			SecondStep: twostep.SecondStepProven, LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour)},
			Email: acc.Email, Role: acc.Role, OrgSlug: "acme", OrgTwoStep: twostep.PolicyOptional}
		same(t, "ForwardSession", want, get[*twostep.ForwardSession](t)(db.ForwardSession(ctx, []byte("fa-1"))))
		wantErr(t, "a token taken by another session", db.SetSessionForward(ctx, "s2", []byte("fa-1")), twostep.ErrConflict)

		ok(t, db.SetSessionForward(ctx, "s1", []byte("fa-2")))
		_, err = db.ForwardSession(ctx, []byte("fa-1"))
		wantErr(t, "ForwardSession of a replaced token", err, twostep.ErrNotFound)
		same(t, "ForwardSession of the new token", "s1", get[*twostep.ForwardSession](t)(db.ForwardSession(ctx, []byte("fa-2"))).Session.ID)

		ok(t, db.DeleteSession(ctx, "s1"))
		_, err = db.ForwardSession(ctx, []byte("fa-2"))
		wantErr(t, "ForwardSession after the session ended", err, twostep.ErrNotFound)
	})
}
