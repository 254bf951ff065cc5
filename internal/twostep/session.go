package twostep

import (
	"context"
	"errors"
	"time"
)

// Authenticate returns the caller a session token belongs to, moving its idle
// expiry forward. It returns ErrUnauthenticated for an unknown or ended session.
func (s *Service) Authenticate(ctx context.Context, token, ip, userAgent string) (*Caller, error) {
	if token == "" {
		return nil, ErrUnauthenticated
	}
	sess, err := s.store.SessionByToken(ctx, HashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || !now.Before(sess.IdleExpiresAt) {
		return nil, ErrUnauthenticated
	}
	if err := s.touchSession(ctx, sess); err != nil {
		return nil, err
	}
	acct, err := s.store.Account(ctx, sess.AccountID)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	return &Caller{Account: acct, Session: sess, IP: ip, UserAgent: userAgent}, nil
}

// touchSession moves a live session's idle expiry forward, at most once a
// minute: idle expiry need not be exact to the second, and a write per
// request would make every read a write (FL-06, FL-07).
func (s *Service) touchSession(ctx context.Context, sess *Session) error {
	now := s.now()
	if now.Sub(sess.LastSeenAt) < time.Minute {
		return nil
	}
	sess.LastSeenAt = now
	sess.IdleExpiresAt = minTime(now.Add(s.sessionIdle), sess.ExpiresAt)
	return s.store.TouchSession(ctx, sess.ID, sess.LastSeenAt, sess.IdleExpiresAt)
}

// SignOut ends the caller's session.
// Products signed in through the session hear of it (back-channel logout).
func (s *Service) SignOut(ctx context.Context, c *Caller) error {
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := s.endOIDC(ctx, tx, c.Account.ID, c.Session.ID, ""); err != nil {
			return err
		}
		return tx.DeleteSession(ctx, c.Session.ID)
	})
	if err == nil {
		s.wake()
	}
	return err
}

// signedIn starts the session that next (NextSession, or NextEnrol within its
// grace period) says the sign-in has earned, and gives its client a device token.
func (s *Service) signedIn(ctx context.Context, tx Store, a *Account, next Next, c *Caller) (*SignInResult, error) {
	// Every way in (password, SSO, a link) passes here: the first one that
	// knows the browser's language gives it to an account without one.
	if err := s.adoptLocale(ctx, tx, a, c); err != nil {
		return nil, err
	}
	token, sess, err := s.startSession(ctx, tx, a, next.AMR, next.SecondStep, next.Confirmed, next.AppPasswordID, c)
	if err != nil {
		return nil, err
	}
	device, dev, err := s.issueDevice(ctx, tx, a, c)
	if err != nil {
		return nil, err
	}
	a.LastSignInAt = sess.CreatedAt
	if err := tx.SetLastSignIn(ctx, a.ID, a.LastSignInAt); err != nil {
		return nil, err
	}
	return &SignInResult{Status: StatusSignedIn, Account: a, SessionToken: token, Session: sess, ExpiresAt: sess.ExpiresAt,
		DeviceToken: device, Device: dev}, nil
}

// startSession stores a new session with a fresh token (FL-02, FL-03), recording
// how its second step was met. A confirmed session counts as a fresh identity
// confirmation for the confirmation window.
func (s *Service) startSession(ctx context.Context, tx Store, a *Account, amr []string, step SecondStep, confirmed bool, appPassword string, c *Caller) (string, *Session, error) {
	token, sess := s.newSession(a, amr, step, confirmed, appPassword, c)
	if err := tx.CreateSession(ctx, sess); err != nil {
		return "", nil, err
	}
	if err := s.issueForward(ctx, tx, sess); err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

// newSession returns a new session of a, not stored yet, and its token. A
// session signed in with an app password (appPassword its id) never counts as
// a confirmation.
func (s *Service) newSession(a *Account, amr []string, step SecondStep, confirmed bool, appPassword string, c *Caller) (string, *Session) {
	now := s.now()
	token, hash := s.newToken()
	sess := &Session{
		ID: s.newID("ses"), TokenHash: hash, AccountID: a.ID, AMR: amr, SecondStep: step,
		// Exempt without being legacy: an SSO sign-in under "never" (no SSO
		// account signs in with a password, so none is a legacy client's).
		Legacy:    step == SecondStepExempt && !a.SSO,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.sessionMax), AppPasswordID: appPassword,
	}
	sess.IdleExpiresAt = minTime(now.Add(s.sessionIdle), sess.ExpiresAt)
	if confirmed && step != SecondStepExempt && appPassword == "" {
		sess.ConfirmedUntil = now.Add(s.confirmWindow)
	}
	if c != nil {
		sess.IP, sess.UserAgent = c.IP, truncate(c.UserAgent, 512)
	}
	return token, sess
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
