package twostep

import (
	"context"
	"errors"
)

// resetsInFlight bounds the password-reset requests being worked on in the
// background; more wait for a slot, whatever their address.
const resetsInFlight = 16

// RequestPasswordReset e-mails a one-time link to reset the password of the
// account with that address, if there is one (and it is not SSO); the new link
// ends any earlier one, and at most 5 links an hour go to one address. Its
// answer is the same either way (EN-01), and so is its time (EN-02): once the
// address is well formed, the lookup and what follows run in the background,
// after the answer, so that an unknown address no longer answers sooner. Only
// a malformed address is an error (or ctx ending while every slot is busy);
// what goes wrong later is logged. Wait waits for that background work.
func (s *Service) RequestPasswordReset(ctx context.Context, email string, c *Caller) error {
	email, err := checkEmail("email", email)
	if err != nil {
		return err
	}
	select {
	case s.resetSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		defer func() { <-s.resetSlots }()
		if err := s.requestPasswordReset(context.WithoutCancel(ctx), email); err != nil {
			s.log.Error("password reset request", "err", err)
		}
	}()
	return nil
}

// Wait returns once the background work started so far (password-reset
// requests) is done: serve calls it before closing the store, and tests before
// they look at the outbox.
func (s *Service) Wait() { s.background.Wait() }

func (s *Service) requestPasswordReset(ctx context.Context, email string) error {
	a, err := s.store.AccountByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) || err == nil && a.SSO {
		return nil
	}
	if err != nil {
		return err
	}
	now := s.now()
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		// At most a few links an hour, silently: the answer must not change.
		t, err := tx.LockThrottle(ctx, "send:reset:"+a.ID)
		if err != nil {
			return err
		}
		if _, locked := t.Locked(now); locked {
			return nil
		}
		if err := tx.PutThrottle(ctx, Limit{PerHour: 5}.Fail(t, now)); err != nil {
			return err
		}
		token, ch, err := s.newPasswordLink(ctx, tx, a.ID, PurposePasswordReset, "rst", PasswordResetTTL)
		if err != nil {
			return err
		}
		data := map[string]string{"link": s.baseURL + "/reset-password/" + token, "minutes": itoa(int(PasswordResetTTL.Minutes())),
			"issuer": s.issuer, "email": a.Email}
		return s.enqueue(ctx, tx, Message{Channel: "email", To: a.Email, Locale: a.Locale, Template: "password_reset", Data: data}, ch.ID, ch.ExpiresAt)
	})
	if err != nil {
		return err
	}
	s.wake()
	return nil
}
