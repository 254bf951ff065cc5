package twostep

import (
	"context"
)

// MemberSessions returns the caller's sessions that still work, the most
// recently used first: where the member is signed in.
func (s *Service) MemberSessions(ctx context.Context, c *Caller) ([]*Session, error) {
	if err := requireOwnSession(c); err != nil {
		return nil, err
	}
	all, err := s.store.AccountSessions(ctx, c.Account.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []*Session{}
	for _, ss := range all {
		if now.Before(ss.IdleExpiresAt) && now.Before(ss.ExpiresAt) {
			out = append(out, ss)
		}
	}
	return out, nil
}

// EndSession signs the caller's account out of its session id, another one
// than the caller's own (which signs out instead), as ending other sessions
// does (API.md §3.2): it needs a recent identity confirmation, the products
// signed in through it hear of it (back-channel logout) and it is audited.
// ErrNotFound when the account has no such other session (CS-02).
func (s *Service) EndSession(ctx context.Context, c *Caller, id string) error {
	if err := s.requireConfirmed(c); err != nil {
		return err
	}
	if id == c.Session.ID {
		return ErrNotFound
	}
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := s.endOIDC(ctx, tx, c.Account.ID, id, ""); err != nil {
			return err
		}
		ok, err := tx.DeleteAccountSession(ctx, c.Account.ID, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		return s.audit(ctx, tx, event{detail: &SessionsEnded{Which: "one", Session: id}, account: c.Account, caller: c})
	})
	if err == nil {
		s.wake()
	}
	return err
}
