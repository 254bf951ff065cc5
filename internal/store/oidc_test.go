package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

// testOIDC is the contract of the OpenID Connect provider's tables: what is
// stored comes back whole, single-use writes succeed once even in parallel
// (OP-01, OP-03), revocation reaches a chain, an account or a session, and
// deleting a client or session takes what hangs on it.
func testOIDC(t *testing.T, db *store.DB) {
	ctx := context.Background()
	a := newMember(t, db)
	sess := newSession(t, db, "ses_1", a.ID)
	cl := &twostep.OIDCClient{ID: "cli_1", OrgID: a.OrgID, Name: "Notes", SecretHash: []byte{1, 2},
		RedirectURIs: []string{"https://n.example/cb", "https://n.example/cb2"}, PostLogoutRedirectURIs: []string{"https://n.example/bye"},
		BackchannelLogoutURI: "https://n.example/bc", RequireTwoStep: true, CreatedAt: t0}
	ok(t, db.CreateOIDCClient(ctx, cl))
	pub := &twostep.OIDCClient{ID: "cli_2", Name: "SPA", RedirectURIs: []string{"https://s.example/cb"}, CreatedAt: t0.Add(time.Second)}
	ok(t, db.CreateOIDCClient(ctx, pub))
	got, err := db.OIDCClient(ctx, "cli_1")
	ok(t, err)
	if diff := cmp.Diff(cl, got); diff != "" {
		t.Errorf("client (-want +got):\n%s", diff)
	}
	all, err := db.OIDCClients(ctx, "")
	ok(t, err)
	mine, err := db.OIDCClients(ctx, a.OrgID)
	ok(t, err)
	if len(all) != 2 || len(mine) != 1 || !all[1].Public() {
		t.Errorf("clients: all %d, the organisation's %d", len(all), len(mine))
	}

	r := &twostep.AuthRequest{ID: "oar_1", ClientID: "cli_1", RedirectURI: "https://n.example/cb", Scopes: []string{"openid", "email"},
		State: "s", Nonce: "n", CodeChallenge: "c", CodeChallengeMethod: "S256", Prompt: []string{"login"}, MaxAge: -1,
		ACRValues: []string{twostep.ACRTwoStep}, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	ok(t, db.CreateAuthRequest(ctx, r))
	if did, err := db.SetAuthCode(ctx, r.ID, []byte("h"), t0.Add(time.Minute)); err != nil || did {
		t.Errorf("a code for a request not done: %t %v", did, err)
	}
	r.AccountID, r.SessionID, r.AMR, r.ACR, r.AuthTime, r.DoneAt = a.ID, sess.ID, []string{"pwd", "otp"}, twostep.ACRTwoStep, t0, t0
	if did, err := db.FinishAuthRequest(ctx, r); err != nil || !did {
		t.Fatalf("finish: %t %v", did, err)
	}
	if did, _ := db.FinishAuthRequest(ctx, r); did {
		t.Error("a request finished twice")
	}
	if did, err := db.SetAuthCode(ctx, r.ID, []byte("h"), t0.Add(time.Minute)); err != nil || !did {
		t.Fatalf("set code: %t %v", did, err)
	}
	if did, _ := db.SetAuthCode(ctx, r.ID, []byte("h2"), t0.Add(time.Minute)); did {
		t.Error("a second code for one request (OP-01)")
	}
	byCode, err := db.AuthRequestByCode(ctx, []byte("h"))
	ok(t, err)
	r.CodeHash, r.CodeExpiresAt = []byte("h"), t0.Add(time.Minute)
	if diff := cmp.Diff(r, byCode); diff != "" {
		t.Errorf("request by code (-want +got):\n%s", diff)
	}
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if did, err := db.UseAuthCode(ctx, r.ID, t0); err == nil && did {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("a code was used %d times in parallel, want once (OP-01)", wins)
	}

	tok := func(id, kind, chain, session string, hash []byte) *twostep.OIDCToken {
		tk := &twostep.OIDCToken{ID: id, Kind: kind, TokenHash: hash, ChainID: chain, ClientID: "cli_1", AccountID: a.ID, SessionID: session,
			Scopes: []string{"openid"}, AMR: []string{"pwd", "otp"}, ACR: twostep.ACRTwoStep, Nonce: "n", AuthTime: t0, CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour)}
		ok(t, db.CreateOIDCToken(ctx, tk))
		return tk
	}
	at := tok("oat_1", twostep.TokenAccess, "oar_1", sess.ID, nil)
	rt := tok("ort_1", twostep.TokenRefresh, "oar_1", sess.ID, []byte("r1"))
	other := tok("ort_2", twostep.TokenRefresh, "oar_2", "ses_other", []byte("r2"))
	if g, err := db.OIDCTokenByHash(ctx, []byte("r1")); err != nil || !cmp.Equal(g, rt) {
		t.Errorf("refresh by hash: %v %v", g, err)
	}
	if g, err := db.OIDCToken(ctx, at.ID); err != nil || !cmp.Equal(g, at) {
		t.Errorf("access token: %v %v", g, err)
	}
	if did, _ := db.UseRefreshToken(ctx, rt.ID, t0); !did {
		t.Error("use refresh")
	}
	if did, _ := db.UseRefreshToken(ctx, rt.ID, t0); did {
		t.Error("a refresh token used twice (OP-03)")
	}
	ok(t, db.RevokeOIDCChain(ctx, "oar_1", t0))
	for _, id := range []string{at.ID, rt.ID} {
		if g, _ := db.OIDCToken(ctx, id); g.RevokedAt.IsZero() {
			t.Errorf("%s survived its chain's revocation", id)
		}
	}
	if g, _ := db.OIDCToken(ctx, other.ID); !g.RevokedAt.IsZero() {
		t.Error("another chain was revoked")
	}
	ok(t, db.RevokeAccountOIDCTokens(ctx, a.ID, "ses_nope", t0))
	if g, _ := db.OIDCToken(ctx, other.ID); !g.RevokedAt.IsZero() {
		t.Error("another session's token was revoked")
	}
	ok(t, db.RevokeAccountOIDCTokens(ctx, a.ID, "", t0))
	if g, _ := db.OIDCToken(ctx, other.ID); g.RevokedAt.IsZero() {
		t.Error("the account's tokens survived")
	}

	link := &twostep.SessionClient{SessionID: sess.ID, ClientID: "cli_1", AccountID: a.ID, CreatedAt: t0}
	ok(t, db.AddSessionClient(ctx, link))
	ok(t, db.AddSessionClient(ctx, link)) // again: no error
	links, err := db.SessionClients(ctx, a.ID)
	ok(t, err)
	if diff := cmp.Diff([]*twostep.SessionClient{link}, links); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	ok(t, db.DeleteSession(ctx, sess.ID))
	if links, _ := db.SessionClients(ctx, a.ID); len(links) != 0 {
		t.Error("a session's links outlived it")
	}

	k1 := &twostep.SigningKeyRecord{ID: "sig_1", Private: []byte("p1"), Public: []byte("P1"), CreatedAt: t0}
	k2 := &twostep.SigningKeyRecord{ID: "sig_2", Private: []byte("p2"), Public: []byte("P2"), CreatedAt: t0.Add(time.Second)}
	ok(t, db.CreateSigningKey(ctx, k1))
	ok(t, db.CreateSigningKey(ctx, k2))
	ok(t, db.RetireSigningKeys(ctx, "sig_2", t0, t0.Add(time.Hour)))
	keys, err := db.SigningKeys(ctx, t0.Add(time.Minute))
	ok(t, err)
	if len(keys) != 2 || keys[0].ID != "sig_2" || !keys[0].RetiredAt.IsZero() || keys[1].RetiredAt.IsZero() {
		t.Errorf("keys while the old one is published: %+v", keys)
	}
	if keys, _ := db.SigningKeys(ctx, t0.Add(2*time.Hour)); len(keys) != 1 {
		t.Errorf("the retired key is still published after its tokens expired (OP-05): %d keys", len(keys))
	}
	if did, _ := db.ResealSigningKey(ctx, "sig_2", []byte("p2"), []byte("q2")); !did {
		t.Error("reseal")
	}
	if did, _ := db.ResealSigningKey(ctx, "sig_2", []byte("p2"), []byte("q3")); did {
		t.Error("a reseal over a newer value")
	}

	ok(t, db.DeleteOIDCClient(ctx, "cli_1"))
	if _, err := db.OIDCToken(ctx, at.ID); !errors.Is(err, twostep.ErrNotFound) {
		t.Errorf("a deleted client's token: %v", err)
	}
	if _, err := db.AuthRequest(ctx, r.ID); !errors.Is(err, twostep.ErrNotFound) {
		t.Errorf("a deleted client's request: %v", err)
	}
	if err := db.DeleteOIDCClient(ctx, "cli_1"); !errors.Is(err, twostep.ErrNotFound) {
		t.Errorf("deleting a deleted client: %v", err)
	}
}
