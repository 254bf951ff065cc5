package store_test

import (
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestRenewSession: a renewed session keeps its id (the sid products hold)
// and its links to the products signed in through it (OP-06), gets every
// other field anew, and answers only under its own token; a session of
// another account or one gone is not renewed.
func TestRenewSession(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		a := newMember(t, db)
		newSession(t, db, "ses_1", a.ID)
		ok(t, db.CreateOIDCClient(ctx, &twostep.OIDCClient{ID: "cli_1", Name: "Notes", RedirectURIs: []string{"https://n.example/cb"}, CreatedAt: t0}))
		link := &twostep.SessionClient{SessionID: "ses_1", ClientID: "cli_1", AccountID: a.ID, CreatedAt: t0}
		ok(t, db.AddSessionClient(ctx, link))

		t1 := t0.Add(time.Minute)
		renewed := &twostep.Session{ID: "ses_1", TokenHash: []byte("token-new"), AccountID: a.ID, AMR: []string{"pwd", "otp"},
			SecondStep: twostep.SecondStepProven, ConfirmedUntil: t1.Add(10 * time.Minute), CreatedAt: t1, LastSeenAt: t1,
			IdleExpiresAt: t1.Add(time.Hour), ExpiresAt: t1.Add(24 * time.Hour), IP: "192.0.2.9", UserAgent: "renewed"}
		did, err := db.RenewSession(ctx, renewed)
		ok(t, err)
		if !did {
			t.Fatal("the session was not renewed")
		}
		same(t, "renewed session", renewed, get[*twostep.Session](t)(db.SessionByToken(ctx, []byte("token-new"))))
		_, err = db.SessionByToken(ctx, []byte("token-ses_1"))
		wantErr(t, "the token before the renewal", err, twostep.ErrNotFound)
		links, err := db.SessionClients(ctx, a.ID)
		ok(t, err)
		same(t, "links after the renewal", []*twostep.SessionClient{link}, links)

		bob := newAccount(t, db, a.OrgID, "bob@example.com")
		for _, s := range []*twostep.Session{
			{ID: "ses_1", TokenHash: []byte("token-bob"), AccountID: bob.ID},
			{ID: "ses_gone", TokenHash: []byte("token-gone"), AccountID: a.ID},
		} {
			did, err := db.RenewSession(ctx, s)
			ok(t, err)
			if did {
				t.Errorf("renewed %s of %s", s.ID, s.AccountID)
			}
		}
	})
}
