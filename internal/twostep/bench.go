package twostep

import (
	"context"
	"fmt"
)

// LoadAccount is an account made for load tests, with what a client needs to
// sign in as it.
type LoadAccount struct {
	Email    string
	Password string
	Secret   []byte // the authenticator seed
}

// CheapArgon2 are argon2id parameters for load-test accounts only: a sign-in
// with them measures Twostep, not the password hash. The parameters live in
// each hash, so the server's own defaults stay as they are.
var CheapArgon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1}

// PrepareLoadAccounts creates a new organisation with n accounts, each with a
// password hashed with p and an active authenticator app, straight into the
// store in batches, and returns them. progress, if set, hears how many are done.
func (s *Service) PrepareLoadAccounts(ctx context.Context, orgName string, n int, p Argon2Params, progress func(int)) ([]LoadAccount, error) {
	if n < 1 {
		return nil, invalid("accounts", "must be 1 or more")
	}
	now := s.now()
	suffix := make([]byte, 4) // 30 random bits in the slug, so that each run makes a new org
	s.mustRead(suffix)
	org := &Org{ID: s.newID("org"), Name: orgName, Slug: Slugify(orgName) + "-" + idEncoding.EncodeToString(suffix)[:6],
		Policy: s.DefaultPolicy(), CreatedAt: now}
	org.Policy.ChangedAt = now
	if err := s.store.CreateOrg(ctx, org); err != nil {
		return nil, err
	}
	out := make([]LoadAccount, 0, n)
	for start := 0; start < n; start += 500 {
		end := min(start+500, n)
		err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
			for i := start; i < end; i++ {
				la := LoadAccount{Email: fmt.Sprintf("load%07d@%s.invalid", i, org.Slug), Password: fmt.Sprintf("load-password-%07d", i),
					Secret: make([]byte, totpSecretSize)}
				s.mustRead(la.Secret)
				hash, err := s.hasher.HashWith(ctx, la.Password, p)
				if err != nil {
					return err
				}
				a := &Account{ID: s.newID("acc"), OrgID: org.ID, Email: la.Email, PasswordHash: hash, Role: RoleMember,
					Locale: "en", TwoStepSince: now, CreatedAt: now}
				if err := tx.CreateAccount(ctx, a); err != nil {
					return err
				}
				f := &Factor{ID: s.newID("fac"), AccountID: a.ID, Method: MethodTOTP, Status: FactorActive, Label: "Load test",
					Default: true, CreatedAt: now, ConfirmedAt: now}
				if f.Secret, err = s.sealer.Seal(la.Secret, []byte(f.ID)); err != nil {
					return err
				}
				if err := tx.CreateFactor(ctx, f); err != nil {
					return err
				}
				out = append(out, la)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(end)
		}
	}
	return out, nil
}
