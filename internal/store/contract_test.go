package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

// t0 has a fraction of a second that microseconds hold exactly.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

// testStore is the contract every backend passes; open returns a fresh, migrated,
// empty database.
func testStore(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		run  func(t *testing.T, db *store.DB)
	}{
		{"Orgs", testOrgs},
		{"Accounts", testAccounts},
		{"Times", testTimes},
		{"Factors", testFactors},
		{"RecoveryCodes", testRecoveryCodes},
		{"Challenges", testChallenges},
		{"LatestChallenge", testLatestChallenge},
		{"ConsumeChallenges", testConsumeChallenges},
		{"Sessions", testSessions},
		{"PendingActions", testPendingActions},
		{"DeleteExpired", testDeleteExpired},
		{"Throttles", testThrottles},
		{"ThrottlesByKeys", testThrottlesByKeys},
		{"Devices", testDevices},
		{"Events", testEvents},
		{"DevMessages", testDevMessages},
		{"Outbox", testOutbox},
		{"ClaimMessages", testClaimMessages},
		{"ClaimMessagesAtomic", testClaimMessagesAtomic},
		{"LastMessage", testLastMessage},
		{"Cascade", testCascade},
		{"Atomic", testAtomic},
		{"Races", testRaces},
		{"RacesInAtomic", testRacesInAtomic},
		{"ClaimRace", testClaimRace},
		{"OIDC", testOIDC},
		{"WebAuthn", testWebAuthn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
	}
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func same[T any](t testing.TB, what string, want, got T) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

func get[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		ok(t, err)
		return v
	}
}

func newOrg(t testing.TB, db twostep.Store, slug string) *twostep.Org {
	t.Helper()
	o := &twostep.Org{ID: "org-" + slug, Name: "Org " + slug, Slug: slug, CreatedAt: t0,
		Policy: twostep.Policy{TwoStep: twostep.PolicyOptional}}
	ok(t, db.CreateOrg(t.Context(), o))
	return o
}

func newAccount(t testing.TB, db twostep.Store, orgID, email string) *twostep.Account {
	t.Helper()
	a := &twostep.Account{ID: "acc-" + email, OrgID: orgID, Email: email, Role: twostep.RoleMember, CreatedAt: t0}
	ok(t, db.CreateAccount(t.Context(), a))
	return a
}

// newMember makes an org and an account in it.
func newMember(t testing.TB, db twostep.Store) *twostep.Account {
	t.Helper()
	return newAccount(t, db, newOrg(t, db, "acme").ID, "ann@example.com")
}

func newChallenge(t testing.TB, db twostep.Store, id, accountID string) *twostep.Challenge {
	t.Helper()
	c := &twostep.Challenge{ID: id, TokenHash: []byte("token-" + id), Purpose: twostep.PurposeSignIn,
		AccountID: accountID, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	ok(t, db.CreateChallenge(t.Context(), c))
	return c
}

func newSession(t testing.TB, db twostep.Store, id, accountID string) *twostep.Session {
	t.Helper()
	s := &twostep.Session{ID: id, TokenHash: []byte("token-" + id), AccountID: accountID, AMR: []string{"pwd"},
		CreatedAt: t0, LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour)}
	ok(t, db.CreateSession(t.Context(), s))
	return s
}

func testOrgs(t *testing.T, db *store.DB) {
	ctx := t.Context()
	o := &twostep.Org{ID: "o1", Name: "Acme", Slug: "acme", CreatedAt: t0, Policy: twostep.Policy{
		TwoStep: twostep.PolicyRequired, GracePeriodDays: 7,
		AllowedMethods:   []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail},
		MinClientVersion: "2.1.0", AllowLegacyClients: true, ChangedAt: t0,
	}}
	ok(t, db.CreateOrg(ctx, o))
	same(t, "Org", o, get[*twostep.Org](t)(db.Org(ctx, "o1")))
	same(t, "OrgBySlug", o, get[*twostep.Org](t)(db.OrgBySlug(ctx, "acme")))

	other := newOrg(t, db, "other")
	wantErr(t, "duplicate slug", db.CreateOrg(ctx, &twostep.Org{ID: "o3", Slug: "acme"}), twostep.ErrConflict)
	wantErr(t, "duplicate id", db.CreateOrg(ctx, &twostep.Org{ID: "o1", Slug: "new"}), twostep.ErrConflict)
	other.Slug = "acme"
	wantErr(t, "update to a taken slug", db.UpdateOrg(ctx, other), twostep.ErrConflict)

	o.Name, o.Slug = "Acme Inc", "acme-inc"
	o.Policy = twostep.Policy{TwoStep: twostep.PolicyOptional, ChangedAt: t0.Add(time.Hour)}
	ok(t, db.UpdateOrg(ctx, o))
	same(t, "updated Org", o, get[*twostep.Org](t)(db.Org(ctx, "o1")))
	same(t, "CountOrgs", 2, get[int](t)(db.CountOrgs(ctx)))

	_, err := db.Org(ctx, "nope")
	wantErr(t, "Org", err, twostep.ErrNotFound)
	_, err = db.OrgBySlug(ctx, "acme")
	wantErr(t, "OrgBySlug of the old slug", err, twostep.ErrNotFound)
	wantErr(t, "UpdateOrg", db.UpdateOrg(ctx, &twostep.Org{ID: "nope", Slug: "nope"}), twostep.ErrNotFound)
}

func testAccounts(t *testing.T, db *store.DB) {
	ctx := t.Context()
	org := newOrg(t, db, "acme")
	a := &twostep.Account{ID: "a1", OrgID: org.ID, Email: "Ann@Example.com", PasswordHash: "$argon2id$…",
		Role: twostep.RoleOwner, SSO: true, Locale: "fr", AllowLegacyClients: true,
		TwoStepSince: t0, CreatedAt: t0, LastSignInAt: t0.Add(time.Minute)}
	ok(t, db.CreateAccount(ctx, a))
	same(t, "Account", a, get[*twostep.Account](t)(db.Account(ctx, "a1")))
	for _, email := range []string{"Ann@Example.com", "ann@example.com", "ANN@EXAMPLE.COM"} {
		same(t, "AccountByEmail "+email, a, get[*twostep.Account](t)(db.AccountByEmail(ctx, email)))
	}
	for _, email := range []string{"Ann@Example.com", "ann@example.com", "ANN@example.COM"} {
		err := db.CreateAccount(ctx, &twostep.Account{ID: "a-" + email, OrgID: org.ID, Email: email, Role: twostep.RoleMember})
		wantErr(t, "duplicate e-mail "+email, err, twostep.ErrConflict)
	}

	b := newAccount(t, db, org.ID, "bob@example.com")
	b.Email = "ANN@example.com"
	wantErr(t, "update to a taken e-mail", db.UpdateAccount(ctx, b), twostep.ErrConflict)

	a.Email, a.PasswordHash, a.Role, a.SSO, a.Locale = "ann@new.example", "", twostep.RoleAdmin, false, "ja"
	a.AllowLegacyClients, a.TwoStepSince, a.LastSignInAt = false, time.Time{}, t0.Add(time.Hour)
	ok(t, db.UpdateAccount(ctx, a))
	same(t, "updated Account", a, get[*twostep.Account](t)(db.AccountByEmail(ctx, "Ann@New.Example")))

	_, err := db.AccountByEmail(ctx, "ann@example.com")
	wantErr(t, "AccountByEmail of the old e-mail", err, twostep.ErrNotFound)
	_, err = db.Account(ctx, "nope")
	wantErr(t, "Account", err, twostep.ErrNotFound)
	wantErr(t, "UpdateAccount", db.UpdateAccount(ctx, &twostep.Account{ID: "nope", Email: "x@y"}), twostep.ErrNotFound)

	// SetLastSignIn moves that one field and leaves the rest as it is.
	a.LastSignInAt = t0.Add(2 * time.Hour)
	ok(t, db.SetLastSignIn(ctx, a.ID, a.LastSignInAt))
	same(t, "Account after SetLastSignIn", a, get[*twostep.Account](t)(db.Account(ctx, a.ID)))
	wantErr(t, "SetLastSignIn", db.SetLastSignIn(ctx, "nope", t0), twostep.ErrNotFound)

	// AdoptLocale fills a locale not chosen yet, and never replaces a choice.
	if did, err := db.AdoptLocale(ctx, a.ID, "fr"); err != nil || did {
		t.Errorf("AdoptLocale over the chosen %q: %v, %v", a.Locale, did, err)
	}
	same(t, "Account after AdoptLocale over a choice", a, get[*twostep.Account](t)(db.Account(ctx, a.ID)))
	b.Email = "bob@example.com"
	if did, err := db.AdoptLocale(ctx, b.ID, "fr"); err != nil || !did {
		t.Errorf("AdoptLocale of an account without one: %v, %v", did, err)
	}
	b.Locale = "fr"
	same(t, "Account after AdoptLocale", b, get[*twostep.Account](t)(db.Account(ctx, b.ID)))

	other := newOrg(t, db, "other")
	newAccount(t, db, other.ID, "zed@example.com")
	b.Email = "bob@example.com" // the update was refused
	same(t, "Accounts", []*twostep.Account{a, b}, get[[]*twostep.Account](t)(db.Accounts(ctx, org.ID)))
	same(t, "Accounts of an empty org", []*twostep.Account(nil), get[[]*twostep.Account](t)(db.Accounts(ctx, "none")))
}

// testTimes checks that the zero time stays zero and others come back in UTC,
// truncated to microseconds.
func testTimes(t *testing.T, db *store.DB) {
	org := newOrg(t, db, "acme")
	tests := []struct{ in, want time.Time }{
		{time.Time{}, time.Time{}},
		{t0, t0},
		{time.Date(2025, 1, 1, 12, 0, 0, 999999999, time.FixedZone("X", 2*3600)), time.Date(2025, 1, 1, 10, 0, 0, 999999000, time.UTC)},
		{time.Unix(0, 0), time.Unix(0, 0).UTC()},
	}
	for i, tt := range tests {
		a := &twostep.Account{ID: fmt.Sprint(i), OrgID: org.ID, Email: fmt.Sprintf("%d@example.com", i), CreatedAt: tt.in}
		ok(t, db.CreateAccount(t.Context(), a))
		got := get[*twostep.Account](t)(db.Account(t.Context(), a.ID)).CreatedAt
		if got != tt.want { // ==, not Equal: the location must be UTC too
			t.Errorf("%v came back as %v, want %v", tt.in, got, tt.want)
		}
	}
}

func testCascade(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	other := newAccount(t, db, acc.OrgID, "bob@example.com")
	for _, a := range []*twostep.Account{acc, other} {
		ok(t, db.CreateFactor(ctx, &twostep.Factor{ID: "f-" + a.ID, AccountID: a.ID, Method: twostep.MethodTOTP, Status: twostep.FactorActive}))
		ok(t, db.ReplaceRecoveryCodes(ctx, a.ID, []*twostep.RecoveryCode{{ID: "r-" + a.ID, Hash: []byte{1}}}))
		newChallenge(t, db, "c-"+a.ID, a.ID)
		newSession(t, db, "s-"+a.ID, a.ID)
		newDevice(t, db, "d-"+a.ID, a.ID, t0.Add(time.Hour))
	}
	left := func(a *twostep.Account) int {
		t.Helper()
		n := 0
		for _, err := range []error{
			second(db.Account(ctx, a.ID)),
			second(db.Factor(ctx, "f-"+a.ID)),
			second(db.Challenge(ctx, "c-"+a.ID)),
			second(db.SessionByToken(ctx, []byte("token-s-"+a.ID))),
			second(db.DeviceByToken(ctx, []byte("token-d-"+a.ID))),
		} {
			if err == nil {
				n++
			} else if !errors.Is(err, twostep.ErrNotFound) {
				t.Fatal(err)
			}
		}
		return n + len(get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, a.ID)))
	}
	ok(t, db.ExecForTest(ctx, "DELETE FROM accounts WHERE id = ?", acc.ID))
	same(t, "rows left of the deleted account", 0, left(acc))
	same(t, "rows left of the other account", 6, left(other))
	ok(t, db.ExecForTest(ctx, "DELETE FROM orgs WHERE id = ?", acc.OrgID))
	same(t, "rows left after deleting the org", 0, left(other))
}

func second[T any](_ T, err error) error { return err }

func testAtomic(t *testing.T, db *store.DB) {
	ctx := t.Context()
	boom := errors.New("boom")
	err := db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error {
		acc := newMember(t, s)
		same(t, "Account inside the transaction", acc, get[*twostep.Account](t)(s.Account(ctx, acc.ID)))
		ok(t, s.AppendEvent(ctx, &twostep.AuditEvent{At: t0, Type: "x"}))
		ok(t, s.PutThrottle(ctx, twostep.Throttle{Key: "k", Failures: 1}))
		ok(t, s.Atomic(ctx, func(ctx context.Context, s twostep.Store) error { // joins the outer transaction
			return s.ReplaceRecoveryCodes(ctx, acc.ID, []*twostep.RecoveryCode{{ID: "r1"}})
		}))
		return boom
	})
	wantErr(t, "Atomic", err, boom)
	same(t, "CountOrgs after rollback", 0, get[int](t)(db.CountOrgs(ctx)))
	_, err = db.AccountByEmail(ctx, "ann@example.com")
	wantErr(t, "Account after rollback", err, twostep.ErrNotFound)
	same(t, "Events after rollback", nil, get[[]*twostep.AuditEvent](t)(db.Events(ctx, twostep.EventFilter{})))
	same(t, "Throttle after rollback", twostep.Throttle{Key: "k"}, get[twostep.Throttle](t)(db.Throttle(ctx, "k")))
	same(t, "RecoveryCodes after rollback", nil, get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, "acc-ann@example.com")))

	ok(t, db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error {
		newMember(t, s)
		return nil
	}))
	same(t, "CountOrgs after commit", 1, get[int](t)(db.CountOrgs(ctx)))
	ok(t, db.Ping(ctx))
}

// race runs f n times at once and returns what each call returned.
func race[T any](t testing.TB, n int, f func() (T, error)) []T {
	t.Helper()
	results := make([]T, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			v, err := f()
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		})
	}
	close(start)
	wg.Wait()
	return results
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func testRaces(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	ok(t, db.CreateFactor(ctx, &twostep.Factor{ID: "f1", AccountID: acc.ID, Method: twostep.MethodTOTP, Status: twostep.FactorActive}))
	ok(t, db.ReplaceRecoveryCodes(ctx, acc.ID, []*twostep.RecoveryCode{{ID: "r1", Hash: []byte{1}}}))
	newChallenge(t, db, "consume", acc.ID)
	newChallenge(t, db, "count", acc.ID)

	// OTP-09: a TOTP step is accepted once, however many submit it together.
	used := race(t, 30, func() (bool, error) { return db.UseTOTPStep(ctx, "f1", 1000, t0) })
	same(t, "UseTOTPStep successes", 1, countTrue(used))

	// RC-03: a recovery code is used once.
	used = race(t, 30, func() (bool, error) { return db.UseRecoveryCode(ctx, "r1", t0) })
	same(t, "UseRecoveryCode successes", 1, countTrue(used))

	// OOB-03: a challenge (and the code it holds) is consumed once.
	used = race(t, 30, func() (bool, error) { return db.ConsumeChallenge(ctx, "consume", t0) })
	same(t, "ConsumeChallenge successes", 1, countTrue(used))

	// RL-05: every attempt is counted, each caller sees its own count.
	counts := race(t, 50, func() (int, error) {
		c, err := db.CountChallengeAttempt(ctx, "count")
		if err != nil {
			return 0, err
		}
		return c.Attempts, nil
	})
	slices.Sort(counts)
	want := make([]int, 50)
	for i := range want {
		want[i] = i + 1
	}
	same(t, "CountChallengeAttempt counts", want, counts)
	same(t, "attempts", 50, get[*twostep.Challenge](t)(db.Challenge(ctx, "count")).Attempts)

	// Throttle increments under LockThrottle are not lost.
	race(t, 30, func() (struct{}, error) {
		return struct{}{}, db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error {
			th, err := s.LockThrottle(ctx, "account:"+acc.ID)
			if err != nil {
				return err
			}
			th.Failures++
			return s.PutThrottle(ctx, th)
		})
	})
	same(t, "throttle failures", 30, get[twostep.Throttle](t)(db.Throttle(ctx, "account:"+acc.ID)).Failures)
}
