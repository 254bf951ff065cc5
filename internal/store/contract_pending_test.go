package store_test

import (
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

// testPendingActions: a pending action is its session's, taken once, not
// after it expires, and goes with its session.
func testPendingActions(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	newSession(t, db, "s1", acc.ID)
	newSession(t, db, "s2", acc.ID)
	p := &twostep.PendingAction{ID: "pnd1", SessionID: "s1", Method: "POST", Path: "/account/security/recovery-codes",
		Form: "next=%2Faccount", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	ok(t, db.CreatePendingAction(ctx, p))
	same(t, "PendingAction", p, get[*twostep.PendingAction](t)(db.PendingAction(ctx, "pnd1", "s1")))
	_, err := db.PendingAction(ctx, "pnd1", "s2")
	wantErr(t, "another session's", err, twostep.ErrNotFound)
	_, err = db.TakePendingAction(ctx, "pnd1", "s2", t0)
	wantErr(t, "taken by another session", err, twostep.ErrNotFound)
	_, err = db.TakePendingAction(ctx, "pnd1", "s1", t0.Add(10*time.Minute))
	wantErr(t, "taken once expired", err, twostep.ErrNotFound)
	same(t, "TakePendingAction", p, get[*twostep.PendingAction](t)(db.TakePendingAction(ctx, "pnd1", "s1", t0)))
	_, err = db.TakePendingAction(ctx, "pnd1", "s1", t0)
	wantErr(t, "taken twice", err, twostep.ErrNotFound)

	p.ID = "pnd2"
	ok(t, db.CreatePendingAction(ctx, p))
	ok(t, db.DeleteSession(ctx, "s1"))
	_, err = db.PendingAction(ctx, "pnd2", "s1")
	wantErr(t, "after its session ended", err, twostep.ErrNotFound)
}
