package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

// testWebAuthn: a webauthn factor keeps its credential whole; a credential id
// belongs to one factor server-wide (WA-05); a challenge's ceremony is taken
// once, by one of many concurrent takers, and a new one replaces it (WA-01);
// the organisation's passkey policy fields are kept.
func testWebAuthn(t *testing.T, db *store.DB) {
	ctx := t.Context()
	ann := newMember(t, db)
	bob := newAccount(t, db, ann.OrgID, "bob@example.com")
	cred := &twostep.Credential{ID: []byte{1, 2, 3}, PublicKey: []byte{0xa5, 1}, SignCount: 41, AAGUID: make([]byte, 16),
		Transports: []string{"usb", "nfc"}, BackupEligible: true, BackupState: true, UserVerified: true, Record: []byte(`{"x":1}`)}
	f := &twostep.Factor{ID: "fac-key", AccountID: ann.ID, Method: twostep.MethodWebAuthn, Status: twostep.FactorPending,
		Label: "YubiKey", CreatedAt: t0}
	ok(t, db.CreateFactor(ctx, f))
	same(t, "pending key", (*twostep.Credential)(nil), get[*twostep.Factor](t)(db.Factor(ctx, f.ID)).Credential)
	_, err := db.FactorByCredentialID(ctx, cred.ID)
	wantErr(t, "FactorByCredentialID before", err, twostep.ErrNotFound)
	f.Status, f.Credential = twostep.FactorActive, cred
	ok(t, db.UpdateFactor(ctx, f))
	got := get[*twostep.Factor](t)(db.FactorByCredentialID(ctx, cred.ID))
	same(t, "factor by credential", f.ID, got.ID)
	same(t, "credential", cred, got.Credential)

	other := &twostep.Factor{ID: "fac-bob", AccountID: bob.ID, Method: twostep.MethodWebAuthn, Status: twostep.FactorPending, CreatedAt: t0}
	ok(t, db.CreateFactor(ctx, other))
	other.Credential = &twostep.Credential{ID: []byte{1, 2, 3}, PublicKey: []byte{9}}
	wantErr(t, "the same credential id for bob", db.UpdateFactor(ctx, other), twostep.ErrConflict)
	dup := &twostep.Factor{ID: "fac-dup", AccountID: bob.ID, Method: twostep.MethodWebAuthn, Status: twostep.FactorActive, CreatedAt: t0,
		Credential: &twostep.Credential{ID: []byte{1, 2, 3}}}
	wantErr(t, "a new factor with a taken credential id", db.CreateFactor(ctx, dup), twostep.ErrConflict)

	c := &twostep.Challenge{ID: "sgn-1", TokenHash: []byte("sgn-1"), Purpose: twostep.PurposeSignIn, AccountID: ann.ID,
		WebAuthn: []byte(`{"kind":"login"}`), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	ok(t, db.CreateChallenge(ctx, c))
	same(t, "first take", []byte(`{"kind":"login"}`), get[[]byte](t)(db.TakeWebAuthn(ctx, c.ID)))
	same(t, "second take", []byte(nil), get[[]byte](t)(db.TakeWebAuthn(ctx, c.ID)))
	_, err = db.TakeWebAuthn(ctx, "nope")
	wantErr(t, "TakeWebAuthn of no challenge", err, twostep.ErrNotFound)

	c.WebAuthn = []byte(`{"kind":"login","n":2}`)
	ok(t, db.UpdateChallenge(ctx, c))
	var mu sync.Mutex
	var wg sync.WaitGroup
	took := 0
	for range 20 {
		wg.Go(func() {
			err := db.Atomic(ctx, func(ctx context.Context, tx twostep.Store) error {
				b, err := tx.TakeWebAuthn(ctx, c.ID)
				if len(b) > 0 {
					mu.Lock()
					took++
					mu.Unlock()
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	same(t, "concurrent takers that got the ceremony", 1, took)

	o := get[*twostep.Org](t)(db.Org(ctx, ann.OrgID))
	o.Policy.AdminsPhishingResistant, o.Policy.WebAuthnOffered = true, true
	ok(t, db.UpdateOrg(ctx, o))
	back := get[*twostep.Org](t)(db.Org(ctx, ann.OrgID))
	same(t, "policy passkey fields", [2]bool{true, true}, [2]bool{back.Policy.AdminsPhishingResistant, back.Policy.WebAuthnOffered})
	same(t, "org ids", []string{ann.OrgID}, get[[]string](t)(db.OrgIDs(ctx)))
}
