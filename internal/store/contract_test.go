package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

func testFactors(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	totp := &twostep.Factor{ID: "f1", AccountID: acc.ID, Method: twostep.MethodTOTP, Status: twostep.FactorActive,
		Label: "phone", Secret: []byte{1, 2, 3}, LastTOTPStep: 7, Default: true,
		CreatedAt: t0, ConfirmedAt: t0, LastUsedAt: t0}
	email := &twostep.Factor{ID: "f0", AccountID: acc.ID, Method: twostep.MethodEmail, Status: twostep.FactorPending,
		Address: "ann@example.com", CreatedAt: t0}
	older := &twostep.Factor{ID: "f2", AccountID: acc.ID, Method: twostep.MethodSMS, Status: twostep.FactorActive,
		Address: "+33600000000", Channels: []twostep.Method{twostep.MethodSMS, twostep.MethodVoice}, CreatedAt: t0.Add(-time.Hour)}
	for _, f := range []*twostep.Factor{totp, email, older} {
		ok(t, db.CreateFactor(ctx, f))
	}
	wantErr(t, "duplicate id", db.CreateFactor(ctx, &twostep.Factor{ID: "f1", AccountID: acc.ID}), twostep.ErrConflict)
	same(t, "Factor", totp, get[*twostep.Factor](t)(db.Factor(ctx, "f1")))
	// Oldest first; f1 and f0 share a creation time and keep their insertion order.
	same(t, "Factors", []*twostep.Factor{older, totp, email}, get[[]*twostep.Factor](t)(db.Factors(ctx, acc.ID)))

	email.Status, email.Label, email.Default, email.ConfirmedAt, email.LastUsedAt = twostep.FactorActive, "work", true, t0, t0
	email.Channels = []twostep.Method{twostep.MethodVoice}
	email.LastTOTPStep = 99 // not written: only UseTOTPStep moves it
	ok(t, db.UpdateFactor(ctx, email))
	email.LastTOTPStep = 0
	same(t, "updated Factor", email, get[*twostep.Factor](t)(db.Factor(ctx, "f0")))

	at := t0.Add(time.Minute)
	for _, tt := range []struct {
		step int64
		want bool
	}{{8, true}, {8, false}, {7, false}, {6, false}, {10, true}, {9, false}} {
		if got := get[bool](t)(db.UseTOTPStep(ctx, "f1", tt.step, at)); got != tt.want {
			t.Errorf("UseTOTPStep(%d) = %v, want %v", tt.step, got, tt.want)
		}
	}
	totp.LastTOTPStep, totp.LastUsedAt = 10, at
	same(t, "used Factor", totp, get[*twostep.Factor](t)(db.Factor(ctx, "f1")))
	same(t, "UseTOTPStep of a missing factor", false, get[bool](t)(db.UseTOTPStep(ctx, "nope", 1, at)))

	ok(t, db.DeleteFactor(ctx, "f2"))
	wantErr(t, "DeleteFactor again", db.DeleteFactor(ctx, "f2"), twostep.ErrNotFound)
	_, err := db.Factor(ctx, "f2")
	wantErr(t, "Factor", err, twostep.ErrNotFound)
	wantErr(t, "UpdateFactor", db.UpdateFactor(ctx, older), twostep.ErrNotFound)
	ok(t, db.DeleteFactors(ctx, acc.ID))
	same(t, "Factors after DeleteFactors", nil, get[[]*twostep.Factor](t)(db.Factors(ctx, acc.ID)))
}

func testRecoveryCodes(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	codes := func(prefix string) []*twostep.RecoveryCode {
		var cs []*twostep.RecoveryCode
		for i := range 3 {
			cs = append(cs, &twostep.RecoveryCode{ID: fmt.Sprintf("%s%d", prefix, i), AccountID: acc.ID, KeyID: "k1",
				Salt: []byte{byte(i)}, Hash: []byte{9, byte(i)}, CreatedAt: t0})
		}
		return cs
	}
	first := codes("a")
	ok(t, db.ReplaceRecoveryCodes(ctx, acc.ID, first))
	same(t, "RecoveryCodes", first, get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, acc.ID)))

	same(t, "UseRecoveryCode", true, get[bool](t)(db.UseRecoveryCode(ctx, "a1", t0)))
	same(t, "UseRecoveryCode again", false, get[bool](t)(db.UseRecoveryCode(ctx, "a1", t0)))
	same(t, "RecoveryCodes after use", []*twostep.RecoveryCode{first[0], first[2]},
		get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, acc.ID)))
	if _, err := db.UseRecoveryCode(ctx, "a0", time.Time{}); err == nil {
		t.Error("UseRecoveryCode with the zero time succeeded")
	}

	second := codes("b")
	ok(t, db.ReplaceRecoveryCodes(ctx, acc.ID, second))
	same(t, "RecoveryCodes after replace", second, get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, acc.ID)))
	same(t, "UseRecoveryCode of a replaced code", false, get[bool](t)(db.UseRecoveryCode(ctx, "a0", t0)))

	// A failed replace keeps the old codes.
	wantErr(t, "replace with duplicate ids", db.ReplaceRecoveryCodes(ctx, acc.ID, append(codes("c"), codes("c")...)), twostep.ErrConflict)
	same(t, "RecoveryCodes after failed replace", second, get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, acc.ID)))

	ok(t, db.DeleteRecoveryCodes(ctx, acc.ID))
	same(t, "RecoveryCodes after delete", nil, get[[]*twostep.RecoveryCode](t)(db.RecoveryCodes(ctx, acc.ID)))
}

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

	ok(t, db.Atomic(ctx, func(s twostep.Store) error {
		same(t, "LockThrottle", th, get[twostep.Throttle](t)(s.LockThrottle(ctx, "ip:x")))
		same(t, "LockThrottle of a new key", twostep.Throttle{Key: "ip:y"}, get[twostep.Throttle](t)(s.LockThrottle(ctx, "ip:y")))
		return nil
	}))
}

func testEvents(t *testing.T, db *store.DB) {
	ctx := t.Context()
	events := []*twostep.AuditEvent{
		{At: t0, Type: "sign_in", OrgID: "o1", AccountID: "a1", ActorID: "a1", IP: "192.0.2.1", UserAgent: "ua",
			Detail: map[string]any{"method": "totp", "count": 2.0, "nested": map[string]any{"ok": true}}},
		{At: t0, Type: "sign_in", OrgID: "o1", AccountID: "a2"},
		{At: t0, Type: "policy", OrgID: "o1", ActorID: "a1"},
		{At: t0, Type: "sign_in", OrgID: "o2", AccountID: "a3"},
		{At: t0, Type: "reset", OrgID: "o1", AccountID: "a2", ActorID: "a1"},
	}
	for i, e := range events {
		ok(t, db.AppendEvent(ctx, e))
		if i > 0 && e.ID <= events[i-1].ID {
			t.Fatalf("event ids %d then %d, want growing", events[i-1].ID, e.ID)
		}
	}
	pick := func(is ...int) []*twostep.AuditEvent { // newest first
		var es []*twostep.AuditEvent
		for _, i := range is {
			es = append(es, events[i])
		}
		return es
	}
	tests := []struct {
		name string
		f    twostep.EventFilter
		want []*twostep.AuditEvent
	}{
		{"all", twostep.EventFilter{}, pick(4, 3, 2, 1, 0)},
		{"org", twostep.EventFilter{OrgID: "o1"}, pick(4, 2, 1, 0)},
		{"account", twostep.EventFilter{AccountID: "a2"}, pick(4, 1)},
		{"type", twostep.EventFilter{Type: "sign_in"}, pick(3, 1, 0)},
		{"org and type", twostep.EventFilter{OrgID: "o1", Type: "sign_in"}, pick(1, 0)},
		{"limit", twostep.EventFilter{Limit: 2}, pick(4, 3)},
		{"next page", twostep.EventFilter{Before: events[3].ID, Limit: 2}, pick(2, 1)},
		{"last page", twostep.EventFilter{Before: events[1].ID, Limit: 2}, pick(0)},
		{"org page", twostep.EventFilter{OrgID: "o1", Before: events[4].ID, Limit: 2}, pick(2, 1)},
		{"none", twostep.EventFilter{OrgID: "o3"}, nil},
	}
	for _, tt := range tests {
		same(t, "Events "+tt.name, tt.want, get[[]*twostep.AuditEvent](t)(db.Events(ctx, tt.f)))
	}

	// AU-04: the database itself refuses to change or remove an event.
	for _, q := range []string{
		"UPDATE audit_events SET type = 'forged'",
		"UPDATE audit_events SET detail = NULL WHERE account_id = 'a1'",
		"DELETE FROM audit_events WHERE account_id = 'a2'",
		"DELETE FROM audit_events",
	} {
		if err := db.ExecForTest(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused as append-only", q, err)
		}
	}
	same(t, "Events after the refused changes", pick(4, 3, 2, 1, 0), get[[]*twostep.AuditEvent](t)(db.Events(ctx, twostep.EventFilter{})))

	ok(t, db.Atomic(ctx, func(s twostep.Store) error {
		for range 250 {
			ok(t, s.AppendEvent(ctx, &twostep.AuditEvent{At: t0, Type: "bulk"}))
		}
		return nil
	}))
	for _, tt := range []struct{ limit, want int }{{0, 50}, {-1, 50}, {10, 10}, {200, 200}, {1000, 200}} {
		got := get[[]*twostep.AuditEvent](t)(db.Events(ctx, twostep.EventFilter{Type: "bulk", Limit: tt.limit}))
		if len(got) != tt.want {
			t.Errorf("Events with limit %d: %d events, want %d", tt.limit, len(got), tt.want)
		}
	}
}

func testDevMessages(t *testing.T, db *store.DB) {
	ctx := t.Context()
	var msgs []*twostep.DevMessage
	for _, id := range []string{"m2", "m1", "m3"} { // ids out of order, times equal: newest is last added
		m := &twostep.DevMessage{ID: id, Channel: "email", To: "ann@example.com", Subject: "Code " + id, Text: "123456", At: t0}
		ok(t, db.AddDevMessage(ctx, m))
		msgs = append([]*twostep.DevMessage{m}, msgs...)
	}
	same(t, "DevMessages", msgs, get[[]*twostep.DevMessage](t)(db.DevMessages(ctx, 0)))
	same(t, "DevMessages(2)", msgs[:2], get[[]*twostep.DevMessage](t)(db.DevMessages(ctx, 2)))
	wantErr(t, "duplicate id", db.AddDevMessage(ctx, &twostep.DevMessage{ID: "m1", Channel: "sms", To: "x"}), twostep.ErrConflict)
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
	err := db.Atomic(ctx, func(s twostep.Store) error {
		acc := newMember(t, s)
		same(t, "Account inside the transaction", acc, get[*twostep.Account](t)(s.Account(ctx, acc.ID)))
		ok(t, s.AppendEvent(ctx, &twostep.AuditEvent{At: t0, Type: "x"}))
		ok(t, s.PutThrottle(ctx, twostep.Throttle{Key: "k", Failures: 1}))
		ok(t, s.Atomic(ctx, func(s twostep.Store) error { // joins the outer transaction
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

	ok(t, db.Atomic(ctx, func(s twostep.Store) error {
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
		return struct{}{}, db.Atomic(ctx, func(s twostep.Store) error {
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

	ok(t, db.Atomic(ctx, func(s twostep.Store) error { // and inside a transaction
		c := &twostep.Challenge{ID: "in-tx", TokenHash: []byte("in-tx"), Purpose: twostep.PurposeEmailChange,
			AccountID: acc.ID, CreatedAt: t0}
		ok(t, s.CreateChallenge(ctx, c))
		same(t, "LatestChallenge inside Atomic", c, get[*twostep.Challenge](t)(s.LatestChallenge(ctx, acc.ID, twostep.PurposeEmailChange)))
		return nil
	}))
}

// message returns a pending message for the outbox tests.
func message(id string, due time.Time) *twostep.OutboxMessage {
	return &twostep.OutboxMessage{ID: id, Channel: "email", To: "ann@example.com", Locale: "en", Template: "code",
		Payload: []byte("sealed " + id), ChallengeID: "ch-" + id, NextAttemptAt: due, CreatedAt: t0,
		ExpiresAt: t0.Add(24 * time.Hour)}
}

// lastMessage returns the newest message of challenge ch-id, as message names it.
func lastMessage(t testing.TB, db twostep.Store, id string) *twostep.OutboxMessage {
	t.Helper()
	return get[*twostep.OutboxMessage](t)(db.LastMessage(t.Context(), "ch-"+id, ""))
}

func ids(ms []*twostep.OutboxMessage) []string {
	var s []string
	for _, m := range ms {
		s = append(s, m.ID)
	}
	return s
}

func testOutbox(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	ch := newChallenge(t, db, "c1", acc.ID)
	m := &twostep.OutboxMessage{ID: "m1", Channel: "sms", To: "+33600000000", Locale: "fr", Template: "sign_in_code",
		Payload: []byte{0, 1, 2, 255}, ChallengeID: ch.ID, Attempts: 2, NextAttemptAt: t0.Add(time.Second),
		LeaseUntil: t0.Add(2 * time.Hour), ExpiresAt: t0.Add(10 * time.Minute), Error: "smtp: 451", Permanent: true,
		ProviderID: "prov-1", CreatedAt: t0, SentAt: t0.Add(2 * time.Second)}
	ok(t, db.EnqueueMessage(ctx, m))
	same(t, "Status set by EnqueueMessage", twostep.MessagePending, m.Status)
	same(t, "LastMessage", m, get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, ch.ID, "")))

	// The zero due time means at once, and stays zero; no challenge, no payload.
	bare := &twostep.OutboxMessage{ID: "m2", Channel: "email", To: "ann@example.com", Template: "welcome",
		Status: twostep.MessagePending}
	ok(t, db.EnqueueMessage(ctx, bare))
	same(t, "claimed bare message", []string{"m2"}, ids(get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, t0, t0.Add(time.Minute), 10))))
	bare.Attempts, bare.LeaseUntil = 1, t0.Add(time.Minute)
	claimed := get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, t0.Add(time.Minute), t0.Add(2*time.Minute), 10))
	bare.Attempts, bare.LeaseUntil = 2, t0.Add(2*time.Minute)
	same(t, "bare message claimed again", []*twostep.OutboxMessage{bare}, claimed)
	// The first worker's lease ran out and a second one claimed the message:
	// the first one's outcome must not overwrite the second one's.
	stale := *bare
	stale.Attempts, stale.Status, stale.Error, stale.NextAttemptAt = 1, twostep.MessagePending, "timeout", t0.Add(time.Hour)
	wantErr(t, "FinishMessage after the lease ran out", db.FinishMessage(ctx, &stale), twostep.ErrConflict)
	// Still pending, without the stale error, and claimable once the second lease ends.
	bare.Attempts, bare.LeaseUntil = 3, t0.Add(3*time.Minute)
	same(t, "message after a stale FinishMessage", []*twostep.OutboxMessage{bare},
		get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, t0.Add(2*time.Minute), t0.Add(3*time.Minute), 10)))

	wantErr(t, "duplicate id", db.EnqueueMessage(ctx, message("m1", t0)), twostep.ErrConflict)
	sent := message("m3", t0)
	sent.Status = twostep.MessageSent
	if err := db.EnqueueMessage(ctx, sent); err == nil {
		t.Error("EnqueueMessage of a sent message succeeded")
	}
	same(t, "PendingMessages", 2, get[int](t)(db.PendingMessages(ctx)))

	// The challenge goes, its message stays.
	ok(t, db.DeleteExpired(ctx, t0.Add(time.Hour)))
	_, err := db.Challenge(ctx, ch.ID)
	wantErr(t, "Challenge after DeleteExpired", err, twostep.ErrNotFound)
	same(t, "LastMessage after DeleteExpired", m, get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, ch.ID, "")))
	same(t, "PendingMessages after DeleteExpired", 2, get[int](t)(db.PendingMessages(ctx)))

	wantErr(t, "FinishMessage of a missing message", db.FinishMessage(ctx, &twostep.OutboxMessage{ID: "nope",
		Status: twostep.MessageSent}), twostep.ErrNotFound)
	if err := db.FinishMessage(ctx, &twostep.OutboxMessage{ID: "m1", Status: "lost"}); err == nil {
		t.Error("FinishMessage with an unknown status succeeded")
	}
	_, err = db.LastMessage(ctx, "nope", "")
	wantErr(t, "LastMessage of a challenge without messages", err, twostep.ErrNotFound)
	_, err = db.LastMessage(ctx, "", "")
	wantErr(t, "LastMessage of no challenge", err, twostep.ErrNotFound)
}

func testClaimMessages(t *testing.T, db *store.DB) {
	ctx := t.Context()
	now := t0.Add(time.Hour)
	claim := func(now, leaseUntil time.Time, limit int) []*twostep.OutboxMessage {
		t.Helper()
		return get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, now, leaseUntil, limit))
	}
	// Enqueued out of due order; b and c are due together and keep their insertion order.
	msgs := map[string]*twostep.OutboxMessage{}
	for _, m := range []*twostep.OutboxMessage{
		message("d", now), // due exactly now
		message("b", now.Add(-time.Minute)),
		message("e", now.Add(time.Second)), // not due yet
		message("c", now.Add(-time.Minute)),
		message("a", time.Time{}), // due at once
		message("sent", t0),
		message("failed", t0),
	} {
		ok(t, db.EnqueueMessage(ctx, m))
		msgs[m.ID] = m
	}
	for _, id := range []string{"sent", "failed"} {
		m := msgs[id]
		m.Status, m.SentAt, m.ProviderID = id, now, "p-"+id
		ok(t, db.FinishMessage(ctx, m))
	}
	same(t, "PendingMessages", 5, get[int](t)(db.PendingMessages(ctx)))

	lease := now.Add(time.Minute)
	got := claim(now, lease, 2)
	same(t, "first claim", []string{"a", "b"}, ids(got))
	for _, m := range got {
		want := *msgs[m.ID]
		want.Attempts, want.LeaseUntil = 1, lease
		same(t, "claimed "+m.ID, &want, m)
		same(t, "stored "+m.ID, &want, lastMessage(t, db, m.ID))
	}
	same(t, "second claim, passing over the leased", []string{"c", "d"}, ids(claim(now, lease, 10)))
	same(t, "third claim", []string(nil), ids(claim(now, lease, 10)))
	same(t, "claim of none", []string(nil), ids(claim(now.Add(time.Hour), lease, 0)))
	same(t, "PendingMessages counts leased messages", 5, get[int](t)(db.PendingMessages(ctx)))

	// A lease that ran out (its worker died) makes the message due again.
	lease2 := lease.Add(time.Minute)
	got = claim(lease, lease2, 10)
	same(t, "claim after the leases ran out", []string{"a", "b", "c", "d", "e"}, ids(got))
	for _, m := range got {
		want := 2
		if m.ID == "e" {
			want = 1
		}
		same(t, "attempts of "+m.ID, want, m.Attempts)
	}

	// a is sent, b retried later, c failed for good.
	a := lastMessage(t, db, "a")
	a.Status, a.SentAt, a.ProviderID, a.Error = twostep.MessageSent, lease, "prov-a", ""
	ok(t, db.FinishMessage(ctx, a))
	same(t, "payload left in a", []byte(nil), a.Payload)
	same(t, "lease left in a", time.Time{}, a.LeaseUntil)
	same(t, "sent a", a, lastMessage(t, db, "a"))

	b := lastMessage(t, db, "b")
	b.NextAttemptAt, b.Error = lease2.Add(5*time.Minute), "connection refused"
	ok(t, db.FinishMessage(ctx, b))
	same(t, "retried b keeps its payload", []byte("sealed b"), b.Payload)
	same(t, "retried b", b, lastMessage(t, db, "b"))

	c := lastMessage(t, db, "c")
	c.Status, c.Error, c.Permanent = twostep.MessageFailed, "550 no such user", true
	ok(t, db.FinishMessage(ctx, c))
	same(t, "failed c", c, lastMessage(t, db, "c"))
	same(t, "payload of failed c", []byte(nil), c.Payload)
	for _, id := range []string{"sent", "failed"} {
		same(t, "payload of "+id, []byte(nil), lastMessage(t, db, id).Payload)
	}
	same(t, "PendingMessages after finishing", 3, get[int](t)(db.PendingMessages(ctx)))

	// Sent and failed messages are never claimed again; b is due at its new time.
	same(t, "claim before b is due", []string{"d", "e"}, ids(claim(lease2, lease2.Add(time.Hour), 10)))
	same(t, "claim once b is due", []string{"b"}, ids(claim(b.NextAttemptAt, b.NextAttemptAt.Add(time.Minute), 10)))
	same(t, "attempts of b", 3, lastMessage(t, db, "b").Attempts)
	same(t, "claim much later", []string{"d", "e", "b"}, ids(claim(now.Add(24*time.Hour), now.Add(25*time.Hour), 10)))
}

func testClaimMessagesAtomic(t *testing.T, db *store.DB) {
	ctx := t.Context()
	for _, id := range []string{"a", "b", "c", "d"} {
		ok(t, db.EnqueueMessage(ctx, message(id, t0)))
	}
	lease := t0.Add(time.Minute)
	boom := errors.New("boom")
	err := db.Atomic(ctx, func(s twostep.Store) error {
		same(t, "claim inside Atomic", []string{"a", "b"}, ids(get[[]*twostep.OutboxMessage](t)(s.ClaimMessages(ctx, t0, lease, 2))))
		return boom
	})
	wantErr(t, "Atomic", err, boom)
	same(t, "attempts after rollback", 0, lastMessage(t, db, "a").Attempts)

	var outside []*twostep.OutboxMessage
	ok(t, db.Atomic(ctx, func(s twostep.Store) error {
		same(t, "claim inside Atomic", []string{"a", "b"}, ids(get[[]*twostep.OutboxMessage](t)(s.ClaimMessages(ctx, t0, lease, 2))))
		if db.DialectForTest() == "postgres" {
			// A claim beside the transaction passes over the rows it holds
			// instead of waiting for them (SKIP LOCKED).
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			outside = get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, t0, lease, 10))
		}
		return nil
	}))
	if outside == nil { // SQLite: the writer is free once the transaction ends
		outside = get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, t0, lease, 10))
	}
	same(t, "claim beside Atomic", []string{"c", "d"}, ids(outside))
	same(t, "attempts after commit", 1, lastMessage(t, db, "a").Attempts)
}

func testLastMessage(t *testing.T, db *store.DB) {
	ctx := t.Context()
	enqueue := func(id, challengeID string, created time.Time) {
		t.Helper()
		m := message(id, t0)
		m.ChallengeID, m.CreatedAt = challengeID, created
		ok(t, db.EnqueueMessage(ctx, m))
	}
	enqueue("x1", "c1", t0.Add(time.Minute))
	enqueue("x2", "c1", t0) // added later, created earlier
	enqueue("x3", "c1", t0.Add(time.Minute))
	enqueue("a0", "c1", t0.Add(time.Minute)) // the same microsecond, added last: newest whatever its id
	enqueue("y1", "c2", t0.Add(time.Hour))
	enqueue("z1", "", t0.Add(time.Hour))
	same(t, "LastMessage", "a0", get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, "c1", "")).ID)
	same(t, "LastMessage of c2", "y1", get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, "c2", "")).ID)

	// By channel: an SMS refused on a sign-in says nothing about its call.
	voice := message("v1", t0)
	voice.ChallengeID, voice.CreatedAt, voice.Channel = "c1", t0.Add(2*time.Minute), "voice"
	ok(t, db.EnqueueMessage(ctx, voice))
	same(t, "LastMessage of c1, any channel", "v1", get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, "c1", "")).ID)
	same(t, "LastMessage of c1 by voice", "v1", get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, "c1", "voice")).ID)
	same(t, "LastMessage of c1 by "+message("", t0).Channel, "a0",
		get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, "c1", message("", t0).Channel)).ID)
	_, err := db.LastMessage(ctx, "c2", "voice")
	wantErr(t, "LastMessage of c2 by voice", err, twostep.ErrNotFound)

	// To an address, whatever the challenge: the newest on that channel.
	same(t, "LastMessageTo by e-mail", "z1", get[*twostep.OutboxMessage](t)(db.LastMessageTo(ctx, "email", voice.To)).ID)
	same(t, "LastMessageTo by voice", "v1", get[*twostep.OutboxMessage](t)(db.LastMessageTo(ctx, "voice", voice.To)).ID)
	_, err = db.LastMessageTo(ctx, "voice", "nobody@example.com")
	wantErr(t, "LastMessageTo an unknown address", err, twostep.ErrNotFound)
}

// testClaimRace: each queued message is delivered once, however many workers
// claim at the same time.
func testClaimRace(t *testing.T, db *store.DB) {
	ctx := t.Context()
	const n, workers, batch = 40, 4, 3
	for i := range n {
		ok(t, db.EnqueueMessage(ctx, message(fmt.Sprintf("m%02d", i), t0.Add(time.Duration(i%5)*time.Millisecond))))
	}
	now, lease := t0.Add(time.Minute), t0.Add(time.Hour)
	claims := race(t, workers, func() ([]string, error) {
		var got []string
		for {
			ms, err := db.ClaimMessages(ctx, now, lease, batch)
			if err != nil {
				return got, err
			}
			if len(ms) == 0 {
				return got, nil
			}
			if len(ms) > batch {
				return got, fmt.Errorf("claimed %d messages, limit %d", len(ms), batch)
			}
			for _, m := range ms {
				if m.Attempts != 1 || !m.LeaseUntil.Equal(lease) {
					return got, fmt.Errorf("claimed %s with %d attempts, lease %v", m.ID, m.Attempts, m.LeaseUntil)
				}
				got = append(got, m.ID)
			}
		}
	})
	times := map[string]int{}
	for _, got := range claims {
		for _, id := range got {
			times[id]++
		}
	}
	for i := range n {
		id := fmt.Sprintf("m%02d", i)
		if times[id] != 1 {
			t.Errorf("message %s claimed %d times, want once", id, times[id])
		}
	}
	same(t, "messages claimed", n, len(times))
	same(t, "claim after the race", []string(nil), ids(get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, now, lease, batch))))
	same(t, "PendingMessages after the race", n, get[int](t)(db.PendingMessages(ctx)))
}
