package twostep

import (
	"context"
	"errors"
	"time"
)

// PasswordResetTTL is how long a password-reset link works.
const PasswordResetTTL = time.Hour

// SendRequest asks for a (new) code for a sign-in in progress.
type SendRequest struct {
	SignInToken string
	Method      Method
	FactorID    string
	IP          string
	UserAgent   string
}

// SendSignInCode sends a new code for a sign-in by method, to factorID or else
// the default (else the newest) factor of that method; the new code replaces
// any earlier one of this sign-in. It returns ErrResendTooSoon within the
// channel's cooldown, a *ThrottledError when a sending cap is reached, and
// ErrDeliveryFailed when the last delivery of this sign-in failed for good.
func (s *Service) SendSignInCode(ctx context.Context, r SendRequest) (*CodeSent, error) {
	c, acct, err := s.liveSignIn(ctx, s.store, r.SignInToken)
	if err != nil {
		return nil, err
	}
	st, err := s.challengeState(ctx, s.store, acct, c)
	if err != nil {
		return nil, err
	}
	if r.Method == MethodWebAuthn {
		// The challenge as it is now, in the transaction: a code sent
		// meanwhile must not be written back over.
		return s.sendWebAuthn(ctx, st, func(ctx context.Context, tx Store) (*Challenge, error) { return tx.Challenge(ctx, c.ID) })
	}
	f, err := deliveryFactor(st, r.Method, r.FactorID)
	if err != nil {
		return nil, err
	}
	if err := s.lastDeliveryFailed(ctx, c.ID, r.Method); err != nil {
		return nil, err
	}
	caller := &Caller{Account: acct, IP: r.IP, UserAgent: r.UserAgent}
	var cs *CodeSent
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		var err error
		cs, err = s.sendCode(ctx, tx, acct, c, r.Method, f.ID, f.Address, caller)
		return err
	})
	if err != nil {
		return nil, s.recordCap(ctx, err, acct, caller)
	}
	s.wake()
	return cs, nil
}

// lastDeliveryFailed returns ErrDeliveryFailed when the provider refused the
// last message of the challenge by channel m for good (a resend by the same
// channel would meet the same fate; another channel may still get through).
func (s *Service) lastDeliveryFailed(ctx context.Context, challengeID string, m Method) error {
	msg, err := s.store.LastMessage(ctx, challengeID, string(m))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if msg.Status == MessageFailed && msg.Permanent {
		return ErrDeliveryFailed
	}
	return nil
}

// refused reports whether the provider refused the last message by channel m
// to address for good.
func (s *Service) refused(ctx context.Context, m Method, address string) (bool, error) {
	msg, err := s.store.LastMessageTo(ctx, string(m), address)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return msg.Status == MessageFailed && msg.Permanent, nil
}

// deliveryFactor picks the factor that takes method m among those the sign-in
// decision offers in st (SU-07: a method the policy bans sends nothing):
// factorID if given, else the default, else the newest.
func deliveryFactor(st SignInState, m Method, factorID string) (*Factor, error) {
	if m == "" {
		return nil, invalid("method", ReasonRequired)
	}
	if !m.delivers() {
		return nil, invalid("method", ReasonMethodNotSending)
	}
	next := Decide(st)
	if err := offered(st, next, m, factorID); err != nil {
		return nil, err
	}
	var pick *Factor
	for _, c := range next.Choices {
		f := c.Factor
		if c.Method != m || factorID != "" && f.ID != factorID {
			continue
		}
		if pick == nil || f.Default || !pick.Default && f.CreatedAt.After(pick.CreatedAt) {
			pick = f
		}
	}
	return pick, nil
}

// ConfirmIdentitySend sends a code to confirm the caller's identity by a method
// that delivers codes. The code works only for ConfirmIdentity in this session.
func (s *Service) ConfirmIdentitySend(ctx context.Context, c *Caller, m Method, factorID string) (*CodeSent, error) {
	if c.Session == nil {
		return nil, ErrUnauthenticated
	}
	if err := notAppPassword(c); err != nil {
		return nil, err
	}
	st, err := s.signInState(ctx, s.store, c.Account, nil, []string{"pwd"})
	if err != nil {
		return nil, err
	}
	if m == MethodWebAuthn {
		return s.sendWebAuthn(ctx, st, func(ctx context.Context, tx Store) (*Challenge, error) {
			return s.sessionChallenge(ctx, tx, c, PurposeConfirmIdentity)
		})
	}
	f, err := deliveryFactor(st, m, factorID)
	if err != nil {
		return nil, err
	}
	var cs *CodeSent
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		ch, err := s.sessionChallenge(ctx, tx, c, PurposeConfirmIdentity)
		if err != nil {
			return err
		}
		cs, err = s.sendCode(ctx, tx, c.Account, ch, m, f.ID, f.Address, c)
		return err
	})
	if err != nil {
		return nil, s.recordCap(ctx, err, c.Account, c)
	}
	s.wake()
	return cs, nil
}

// sessionChallenge returns the live challenge of purpose p for the caller's
// session, making one when there is none (so that resends keep one live code
// and one attempt count: RL-04).
func (s *Service) sessionChallenge(ctx context.Context, tx Store, c *Caller, p Purpose) (*Challenge, error) {
	now := s.now()
	ch, err := tx.LatestChallenge(ctx, c.Account.ID, p)
	if err == nil && ch.SessionID == c.Session.ID && now.Before(ch.ExpiresAt) && ch.Attempts < s.limits.Attempts {
		return ch, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	ch = &Challenge{ID: s.newID("chl"), Purpose: p, AccountID: c.Account.ID, SessionID: c.Session.ID,
		CreatedAt: now, ExpiresAt: now.Add(CodeTTL)}
	return ch, tx.CreateChallenge(ctx, ch)
}

// ChangeEmail starts a change of the caller's e-mail address: a code goes to
// the new address, and VerifyEmailChange finishes it. It needs a recent
// identity confirmation. When another account has the address, that address
// gets the notice email_taken instead of a code, and the caller the same
// answer as for a free address (API.md §3.2): which addresses have accounts,
// in any organisation, is not the caller's to learn. The code then asked for
// matches nothing.
func (s *Service) ChangeEmail(ctx context.Context, c *Caller, email string) (*CodeSent, error) {
	email, err := checkEmail("email", email)
	if err != nil {
		return nil, err
	}
	if email == c.Account.Email {
		return nil, invalid("email", ReasonEmailSame)
	}
	if err := s.requireConfirmed(c); err != nil {
		return nil, err
	}
	var instead *Message
	if other, err := s.store.AccountByEmail(ctx, email); err == nil {
		instead = &Message{Channel: "email", To: email, Locale: other.Locale, Template: "email_taken",
			Data: map[string]string{"email": email, "issuer": s.issuer}}
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var cs *CodeSent
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		ch, err := s.sessionChallenge(ctx, tx, c, PurposeEmailChange)
		if err != nil {
			return err
		}
		if ch.Address != "" && ch.Address != email {
			ch.LastChannel = "" // a new address is a new send, not a resend
		}
		cs, err = s.sendCodeOr(ctx, tx, c.Account, ch, MethodEmail, "", email, c, instead)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	return cs, nil
}

// VerifyEmailChange finishes an e-mail change with the code sent to the new
// address; a notice goes to the old one (NT-02). A wrong code is a *CodeError.
func (s *Service) VerifyEmailChange(ctx context.Context, c *Caller, code string) (*Account, error) {
	code, err := checkCodeFormat(MethodEmail, code)
	if err != nil {
		return nil, err
	}
	a := *c.Account
	old := a.Email
	err = s.atomically(ctx, func(ctx context.Context, tx Store) (error, error) {
		ch, err := tx.LatestChallenge(ctx, a.ID, PurposeEmailChange)
		if errors.Is(err, ErrNotFound) || err == nil && ch.SessionID != c.Session.ID {
			return nil, invalid("code", ReasonNoEmailChange)
		}
		if err != nil {
			return nil, err
		}
		if ch, err = tx.CountChallengeAttempt(ctx, ch.ID); errors.Is(err, ErrNotFound) || err == nil && ch.Attempts > s.limits.Attempts {
			return ErrExpired, nil
		}
		if err != nil {
			return nil, err
		}
		n := ch.Attempts
		if !s.matchCode(ch, MethodEmail, "", code) {
			return &CodeError{AttemptsLeft: s.limits.Attempts - n}, nil
		}
		if ok, err := tx.ConsumeChallenge(ctx, ch.ID, s.now()); err != nil || !ok {
			return nil, cmpErr(err, ErrExpired)
		}
		a.Email = ch.Address
		if err := tx.UpdateAccount(ctx, &a); err != nil {
			return nil, err
		}
		// Links sent to the old address must not outlive it (SU-01).
		if err := tx.ConsumeChallenges(ctx, a.ID, s.now(), passwordLinks...); err != nil {
			return nil, err
		}
		if err := s.audit(ctx, tx, event{detail: &EmailChanged{From: old, To: a.Email}, account: &a, caller: c}); err != nil {
			return nil, err
		}
		return nil, s.noticeTo(ctx, tx, &a, old, "email_changed", map[string]string{"new_email": a.Email})
	})
	if errors.Is(err, ErrConflict) {
		return nil, ErrConflict
	}
	if err != nil {
		return nil, err
	}
	s.wake()
	*c.Account = a
	return &a, nil
}

// ChangePassword replaces the caller's password, given the current one (SU-02),
// ends every other session and tells the holder. It needs a recent identity
// confirmation. Wrong current passwords count per account, as in
// ConfirmIdentity; a *ThrottledError while those are locked (RL-09).
func (s *Service) ChangePassword(ctx context.Context, c *Caller, current, password string) error {
	if current == "" {
		return invalid("current_password", ReasonRequired)
	}
	if err := CheckPassword("password", password); err != nil {
		return err
	}
	if err := s.requireConfirmed(c); err != nil {
		return err
	}
	a := c.Account
	t, err := s.store.Throttle(ctx, reauthKey(a.ID))
	if err != nil {
		return err
	}
	if wait, locked := t.Locked(s.now()); locked {
		return throttled(ErrThrottled, wait)
	}
	ok, err := s.checkPassword(ctx, current, a.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.passwordFailed(ctx, []string{reauthKey(a.ID)}, c); err != nil && !errors.Is(err, ErrInvalidCredentials) {
			return err
		}
		return invalid("current_password", ReasonCurrentPassword)
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		a.PasswordHash = hash
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return err
		}
		if err := s.endOIDC(ctx, tx, a.ID, "", c.Session.ID); err != nil {
			return err
		}
		if err := tx.DeleteSessions(ctx, a.ID, c.Session.ID); err != nil {
			return err
		}
		if err := s.passwordReplaced(ctx, tx, a, c); err != nil {
			return err
		}
		if err := s.forgetDevices(ctx, tx, a, ForgotPasswordChange, "", c); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, event{detail: &PasswordChanged{}, account: a, caller: c}); err != nil {
			return err
		}
		return s.notice(ctx, tx, a, "password_changed", nil)
	})
	if err != nil {
		return err
	}
	s.wake()
	return nil
}

// PasswordResetAccount returns the account a live reset link is for, or ErrExpired.
func (s *Service) PasswordResetAccount(ctx context.Context, token string) (*Account, *Org, error) {
	ch, err := s.liveToken(ctx, token, PurposePasswordReset)
	if err != nil {
		return nil, nil, err
	}
	a, err := s.store.Account(ctx, ch.AccountID)
	if err != nil {
		return nil, nil, err
	}
	org, err := s.store.Org(ctx, a.OrgID)
	return a, org, err
}

// ResetPassword sets a new password with a reset link. It never signs anyone
// in and never touches two-step verification (FL-08); every session ends and
// the holder is told.
func (s *Service) ResetPassword(ctx context.Context, token, password string, c *Caller) error {
	return s.passwordByLink(ctx, token, password, c, []Purpose{PurposePasswordReset}, func(tx Store, a *Account, ch *Challenge) error {
		if err := s.audit(ctx, tx, event{detail: &PasswordReset{Via: "link", Link: ch.Purpose, ChallengeID: ch.ID}, account: a, caller: c}); err != nil {
			return err
		}
		return s.notice(ctx, tx, a, "password_reset_done", nil)
	})
}
