package twostep

import (
	"context"
	"slices"
	"time"
)

// passwordLinks are the purposes of the one-time links that set a password.
// At most one of them is alive per account: a new one ends the others, and
// each dies once the account's password or e-mail changes by any path, so that
// an old message (an invitation at a former address, a forgotten reset e-mail)
// can never set the password of an account that moved on (SU-01).
var passwordLinks = []Purpose{PurposeSetPassword, PurposeInvite, PurposePasswordReset}

// pendingSignIns are the purposes of the challenges that a password earned:
// sign-ins waiting for their second step or enrolment, and identity
// confirmation codes. They die with that password, so that a token got with
// an old password never completes after a reset or change, nor after an admin
// reset (issue 11, item 14).
var pendingSignIns = []Purpose{PurposeSignIn, PurposeEnrolSignIn, PurposeConfirmIdentity}

// newPasswordLink ends the account's live password links and makes a new one
// of purpose p, living ttl, in tx. It returns the token for the link and the
// challenge, whose id the audit trail may name (never the token).
func (s *Service) newPasswordLink(ctx context.Context, tx Store, accountID string, p Purpose, prefix string, ttl time.Duration) (string, *Challenge, error) {
	now := s.now()
	if err := tx.ConsumeChallenges(ctx, accountID, now, passwordLinks...); err != nil {
		return "", nil, err
	}
	token, hash := s.newToken()
	ch := &Challenge{ID: s.newID(prefix), TokenHash: hash, Purpose: p, AccountID: accountID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	return token, ch, tx.CreateChallenge(ctx, ch)
}

// passwordReplaced ends, in tx, everything the account's old password or
// links could still do: pending sign-ins, enrolment tokens, identity
// confirmation codes and password links, and its app passwords, which stand
// in for the password in old clients: a member who changes a password that
// leaked must not leave a way in made with it (each revocation audited). Every
// path that gives the account a password calls it (a link, a change).
func (s *Service) passwordReplaced(ctx context.Context, tx Store, a *Account, c *Caller) error {
	if err := tx.ConsumeChallenges(ctx, a.ID, s.now(), slices.Concat(pendingSignIns, passwordLinks)...); err != nil {
		return err
	}
	apps, err := tx.AppPasswords(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, p := range apps {
		ok, err := tx.DeleteAppPassword(ctx, a.ID, p.ID)
		if err != nil {
			return err
		}
		if ok {
			if err := s.audit(ctx, tx, event{detail: &AppPasswordRevoked{AppPassword: p.ID}, account: a, caller: c}); err != nil {
				return err
			}
		}
	}
	return nil
}
