package twostep

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// NewFactor is a factor just added, with what the person needs to finish
// enrolment. For TOTP, Secret (Base32) and OTPAuthURI are given only while the
// factor is pending (OTP-12).
type NewFactor struct {
	Factor     *Factor
	Secret     string
	OTPAuthURI string
}

// AddFactor starts enrolment of a method. It needs a recent identity
// confirmation (SU-01, SU-03). TOTP only for now; a method this server does not
// offer is an *InvalidError, one the organisation does not allow ErrMethodNotAllowed.
func (s *Service) AddFactor(ctx context.Context, c *Caller, m Method, label string) (*NewFactor, error) {
	a := c.Account
	if a.SSO {
		return nil, ErrSSOManaged
	}
	if m == "" {
		return nil, invalid("method", "is required")
	}
	if !s.offered(m) || m != MethodTOTP {
		return nil, invalid("method", "this server offers "+joinMethods(s.methods))
	}
	if utf8.RuneCountInString(label) > 64 {
		return nil, invalid("label", "must be at most 64 characters")
	}
	if err := s.requireConfirmed(c); err != nil {
		return nil, err
	}
	org, err := s.store.Org(ctx, a.OrgID)
	if err != nil {
		return nil, err
	}
	if !containsMethod(s.allowed(org), m) {
		return nil, ErrMethodNotAllowed
	}
	if strings.TrimSpace(label) == "" {
		label = "Authenticator app"
	}
	secret := make([]byte, totpSecretSize)
	s.mustRead(secret)
	f := &Factor{ID: s.newID("fac"), AccountID: a.ID, Method: MethodTOTP, Status: FactorPending,
		Label: strings.TrimSpace(label), CreatedAt: s.now()}
	if f.Secret, err = s.sealer.Seal(secret, []byte(f.ID)); err != nil {
		return nil, err
	}
	err = s.store.Atomic(ctx, func(tx Store) error {
		// One pending app at a time: starting over replaces an unfinished one.
		all, err := tx.Factors(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, old := range all {
			if old.Status == FactorPending && old.Method == MethodTOTP {
				if err := tx.DeleteFactor(ctx, old.ID); err != nil {
					return err
				}
			}
		}
		return tx.CreateFactor(ctx, f)
	})
	if err != nil {
		return nil, err
	}
	return &NewFactor{Factor: f, Secret: b32.EncodeToString(secret), OTPAuthURI: OTPAuthURI(s.issuer, a.Email, secret)}, nil
}

func containsMethod(ms []Method, m Method) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func joinMethods(ms []Method) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// ownFactor returns the caller's factor id, or ErrNotFound (also for another
// account's factor: CS-02).
func (s *Service) ownFactor(ctx context.Context, st Store, c *Caller, id string) (*Factor, error) {
	f, err := st.Factor(ctx, id)
	if err != nil {
		return nil, err
	}
	if f.AccountID != c.Account.ID {
		return nil, ErrNotFound
	}
	return f, nil
}

// PendingTOTP returns a pending authenticator-app factor with its key, so a page
// can show the QR code again; ErrNotFound once it is active.
func (s *Service) PendingTOTP(ctx context.Context, c *Caller, id string) (*NewFactor, error) {
	f, err := s.ownFactor(ctx, s.store, c, id)
	if err != nil {
		return nil, err
	}
	if f.Method != MethodTOTP || f.Status != FactorPending {
		return nil, ErrNotFound
	}
	secret, err := s.sealer.Open(f.Secret, []byte(f.ID))
	if err != nil {
		return nil, err
	}
	return &NewFactor{Factor: f, Secret: b32.EncodeToString(secret), OTPAuthURI: OTPAuthURI(s.issuer, c.Account.Email, secret)}, nil
}

// FactorQR returns the QR code PNG of a pending authenticator-app factor.
func (s *Service) FactorQR(ctx context.Context, c *Caller, id string) ([]byte, error) {
	nf, err := s.PendingTOTP(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return QRPNG(nf.OTPAuthURI, 256)
}

// Factors lists the caller's factors, pending and active, oldest first.
func (s *Service) Factors(ctx context.Context, c *Caller) ([]*Factor, error) {
	return s.store.Factors(ctx, c.Account.ID)
}

// VerifyFactor activates a pending factor with its first code (OTP-12). When
// this turns two-step on, it returns the account's first recovery codes. A wrong
// code is a *CodeError; ErrConflict if the factor is already active.
func (s *Service) VerifyFactor(ctx context.Context, c *Caller, id, code string) (*Factor, []string, error) {
	f, err := s.ownFactor(ctx, s.store, c, id)
	if err != nil {
		return nil, nil, err
	}
	if f.Status == FactorActive {
		return nil, nil, ErrConflict
	}
	code, err = checkCodeFormat(f.Method, code)
	if err != nil {
		return nil, nil, err
	}
	a := c.Account
	var codes []string
	enabled := false
	key := "factor:" + f.ID
	err = s.atomically(ctx, func(tx Store) (error, error) {
		now := s.now()
		t, err := tx.LockThrottle(ctx, key)
		if err != nil {
			return nil, err
		}
		if wait, locked := t.Locked(now); locked {
			return throttled(ErrThrottled, wait), nil
		}
		f, err = s.ownFactor(ctx, tx, c, id)
		if err != nil {
			return nil, err
		}
		secret, err := s.sealer.Open(f.Secret, []byte(f.ID))
		if err != nil {
			return nil, err
		}
		step, ok := matchTOTP(secret, code, now)
		if ok {
			if ok, err = tx.UseTOTPStep(ctx, f.ID, step, now); err != nil {
				return nil, err
			}
		}
		if !ok {
			after := s.limits.Account.Fail(t, now)
			if err := tx.PutThrottle(ctx, after); err != nil {
				return nil, err
			}
			left := max(0, s.limits.Account.Free-after.Failures)
			return &CodeError{AttemptsLeft: left}, nil
		}
		if f.Status == FactorActive {
			return nil, ErrConflict
		}
		active, err := s.activeFactors(ctx, tx, a.ID)
		if err != nil {
			return nil, err
		}
		f.Status, f.ConfirmedAt, f.LastUsedAt, f.LastTOTPStep = FactorActive, now, now, step
		f.Default = len(active) == 0
		if err := tx.UpdateFactor(ctx, f); err != nil {
			return nil, err
		}
		if err := s.audit(ctx, tx, event{typ: "factor.added", account: a, caller: c,
			detail: map[string]any{"factor_id": f.ID, "method": string(f.Method)}}); err != nil {
			return nil, err
		}
		if a.TwoStepEnabled() {
			return nil, nil
		}
		enabled = true
		a.TwoStepSince = now
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return nil, err
		}
		if err := s.audit(ctx, tx, event{typ: "two_step.enabled", account: a, caller: c,
			detail: map[string]any{"method": string(f.Method)}}); err != nil {
			return nil, err
		}
		codes, err = s.newRecoveryCodes(ctx, tx, c)
		return nil, err
	})
	if err != nil {
		return nil, nil, err
	}
	if enabled {
		s.notify(ctx, a, "two_step_enabled", map[string]string{"method": string(f.Method)})
	} else {
		s.notify(ctx, a, "factor_added", map[string]string{"method": string(f.Method), "label": f.Label})
	}
	return f, codes, nil
}

// FactorChange is a change to a factor: nil fields stay as they are.
type FactorChange struct {
	Default *bool
	Label   *string
}

// UpdateFactor makes a factor the default or renames it.
func (s *Service) UpdateFactor(ctx context.Context, c *Caller, id string, ch FactorChange) (*Factor, error) {
	if ch.Label != nil && (utf8.RuneCountInString(*ch.Label) > 64 || strings.TrimSpace(*ch.Label) == "") {
		return nil, invalid("label", "must be 1 to 64 characters")
	}
	if ch.Default != nil && !*ch.Default {
		return nil, invalid("default", "can only be set to true: make another method the default instead")
	}
	var f *Factor
	err := s.store.Atomic(ctx, func(tx Store) error {
		var err error
		if f, err = s.ownFactor(ctx, tx, c, id); err != nil {
			return err
		}
		if ch.Label != nil {
			f.Label = strings.TrimSpace(*ch.Label)
		}
		if ch.Default != nil && !f.Default {
			if f.Status != FactorActive {
				return invalid("default", "only an active method can be the default")
			}
			all, err := tx.Factors(ctx, c.Account.ID)
			if err != nil {
				return err
			}
			for _, o := range all {
				if o.Default {
					o.Default = false
					if err := tx.UpdateFactor(ctx, o); err != nil {
						return err
					}
				}
			}
			f.Default = true
		}
		return tx.UpdateFactor(ctx, f)
	})
	return f, err
}

// RemoveFactor deletes a factor. Removing an active one needs a recent identity
// confirmation; removing the last one turns two-step off: recovery codes go,
// allow_legacy_clients goes back to false, and the holder is told. It returns
// ErrPolicyRequiresTwoStep for the last method while the organisation requires
// two-step.
func (s *Service) RemoveFactor(ctx context.Context, c *Caller, id string) error {
	f, err := s.ownFactor(ctx, s.store, c, id)
	if err != nil {
		return err
	}
	if f.Status == FactorPending {
		return s.store.DeleteFactor(ctx, f.ID)
	}
	if err := s.requireConfirmed(c); err != nil {
		return err
	}
	a := c.Account
	org, err := s.store.Org(ctx, a.OrgID)
	if err != nil {
		return err
	}
	disabled := false
	err = s.store.Atomic(ctx, func(tx Store) error {
		active, err := s.activeFactors(ctx, tx, a.ID)
		if err != nil {
			return err
		}
		var rest []*Factor
		for _, o := range active {
			if o.ID != f.ID {
				rest = append(rest, o)
			}
		}
		if len(rest) == 0 && org.Policy.TwoStep == PolicyRequired {
			return ErrPolicyRequiresTwoStep
		}
		if err := tx.DeleteFactor(ctx, f.ID); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, event{typ: "factor.removed", account: a, caller: c,
			detail: map[string]any{"factor_id": f.ID, "method": string(f.Method)}}); err != nil {
			return err
		}
		if len(rest) > 0 {
			if f.Default {
				rest[0].Default = true
				return tx.UpdateFactor(ctx, rest[0])
			}
			return nil
		}
		disabled = true
		return s.turnOff(ctx, tx, a, event{typ: "two_step.disabled", account: a, caller: c})
	})
	if err != nil {
		return err
	}
	if disabled {
		s.notify(ctx, a, "two_step_disabled", nil)
	} else {
		s.notify(ctx, a, "factor_removed", map[string]string{"method": string(f.Method), "label": f.Label})
	}
	return nil
}

// turnOff records that the account has no second step any more.
func (s *Service) turnOff(ctx context.Context, tx Store, a *Account, e event) error {
	if err := tx.DeleteRecoveryCodes(ctx, a.ID); err != nil {
		return err
	}
	a.TwoStepSince, a.AllowLegacyClients = time.Time{}, false
	if err := tx.UpdateAccount(ctx, a); err != nil {
		return err
	}
	return s.audit(ctx, tx, e)
}

// RecoveryCodes makes a new set of recovery codes; the old set stops working
// (RC-05). It needs a recent identity confirmation (RC-06) and two-step on
// (ErrConflict otherwise).
func (s *Service) RecoveryCodes(ctx context.Context, c *Caller) ([]string, error) {
	if err := s.requireConfirmed(c); err != nil {
		return nil, err
	}
	if !c.Account.TwoStepEnabled() {
		return nil, ErrConflict
	}
	var codes []string
	err := s.store.Atomic(ctx, func(tx Store) error {
		var err error
		codes, err = s.newRecoveryCodes(ctx, tx, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(ctx, c.Account, "recovery_codes_generated", nil)
	return codes, nil
}

func (s *Service) newRecoveryCodes(ctx context.Context, tx Store, c *Caller) ([]string, error) {
	now := s.now()
	codes := make([]string, RecoveryCodeCount)
	stored := make([]*RecoveryCode, RecoveryCodeCount)
	for i := range codes {
		code, err := newRecoveryCode(s.rand)
		if err != nil {
			return nil, err
		}
		salt := make([]byte, 16)
		s.mustRead(salt)
		rc := &RecoveryCode{ID: s.newID("rc"), AccountID: c.Account.ID, KeyID: s.sealer.ActiveKeyID(), Salt: salt, CreatedAt: now}
		if rc.Hash, err = s.hashRecoveryCode(rc.KeyID, salt, normalizeRecoveryCode(code)); err != nil {
			return nil, err
		}
		codes[i], stored[i] = code, rc
	}
	if err := tx.ReplaceRecoveryCodes(ctx, c.Account.ID, stored); err != nil {
		return nil, err
	}
	return codes, s.audit(ctx, tx, event{typ: "recovery_codes.generated", account: c.Account, caller: c})
}

func (s *Service) recoveryCodeUsed(ctx context.Context, a *Account) {
	left, err := s.store.RecoveryCodes(ctx, a.ID)
	if err != nil {
		s.log.Error("counting recovery codes", "err", err)
	}
	s.notify(ctx, a, "recovery_code_used", map[string]string{"left": itoa(len(left))})
}

// MaskAddress shows enough of an e-mail address or phone number for a person to
// recognise it and not enough to learn it.
func MaskAddress(m Method, addr string) string {
	if addr == "" {
		return ""
	}
	switch m {
	case MethodEmail:
		local, domain, ok := strings.Cut(addr, "@")
		if !ok || local == "" {
			return "•••"
		}
		r, _ := utf8.DecodeRuneInString(local)
		return string(r) + "•••@" + domain
	case MethodSMS, MethodVoice:
		digits := []rune(addr)
		if len(digits) <= 4 {
			return addr
		}
		return string(digits[:3]) + strings.Repeat("•", len(digits)-5) + string(digits[len(digits)-2:])
	}
	return addr
}
