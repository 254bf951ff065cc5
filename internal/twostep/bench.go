package twostep

import "context"

// The load generator's seeding (`twostep bench prepare`, internal/loadgen) and
// nothing else uses this file: it writes load-test rows straight into the
// store, skipping the use cases' checks, audit events and notices, so that a
// million accounts take minutes. The domain keeps it because the rows must
// follow its rules (ids, sealed seeds bound to their factor's id); what a load
// test wants (names, passwords, batches, cheap hashes) lives in loadgen.

// LoadAccount is a load-test account: what a client needs to sign in as it.
// Bench use only.
type LoadAccount struct {
	Email    string
	Password string
	Secret   []byte // the authenticator seed
}

// CreateLoadOrg stores a new organisation named name with the slug slug and
// the server's default policy, without an owner. Bench use only: the slug is
// not checked, and ErrConflict says it is taken.
func (s *Service) CreateLoadOrg(ctx context.Context, name, slug string) (*Org, error) {
	now := s.now()
	org := &Org{ID: s.newID("org"), Name: name, Slug: slug, Policy: s.DefaultPolicy(), CreatedAt: now}
	org.Policy.ChangedAt = now
	if err := s.store.CreateOrg(ctx, org); err != nil {
		return nil, err
	}
	return org, nil
}

// CreateLoadAccounts stores, in one transaction, a member of org for each of
// accts with its password hashed with p and an active authenticator app with
// its seed: all of them or, on an error, none. Bench use only: nothing is
// checked (a taken e-mail is ErrConflict from the store), and p may be cheap.
func (s *Service) CreateLoadAccounts(ctx context.Context, org *Org, accts []LoadAccount, p Argon2Params) error {
	now := s.now()
	return s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		for _, la := range accts {
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
		}
		return nil
	})
}
