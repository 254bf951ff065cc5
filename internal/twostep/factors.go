package twostep

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// NewFactor is a factor just added, with what the person needs to finish
// enrolment. For TOTP, Secret (Base32) and OTPAuthURI are given only while the
// factor is pending (OTP-12); for methods that deliver codes, CodeSent says
// where the first code went.
type NewFactor struct {
	Factor     *Factor
	Secret     string
	OTPAuthURI string
	CodeSent   *CodeSent
	// Options are, for webauthn, the PublicKeyCredentialCreationOptions to
	// hand the browser (WebAuthnFactorOptions makes new ones).
	Options json.RawMessage
}

// FactorRequest is a method to add: Address for e-mail (default: the
// account's), Phone and Country for SMS and voice.
type FactorRequest struct {
	Method  Method
	Label   string
	Address string
	Phone   string
	Country string
}

// AddFactor starts enrolment of a method. It needs a recent identity
// confirmation (SU-01, SU-03). A method this server does not offer is an
// *InvalidError, one the organisation does not allow ErrMethodNotAllowed. A
// method that delivers codes sends the first one at once; it becomes active
// when that code comes back (VerifyFactor).
func (s *Service) AddFactor(ctx context.Context, c *Caller, r FactorRequest) (*NewFactor, error) {
	a := c.Account
	if a.SSO && (c.SignIn == nil || c.SignIn.Upstream == nil) {
		// An SSO member enrols only during an SSO sign-in whose connection
		// asks for Twostep's own second step (API.md §12).
		return nil, ErrSSOManaged
	}
	if r.Method == "" {
		return nil, invalid("method", ReasonRequired)
	}
	if !s.offered(r.Method) {
		if r.Method == MethodWebAuthn {
			_, why := s.WebAuthnOffered()
			return nil, why
		}
		return nil, invalid("method", ReasonMethodUnknown, "Methods", joinMethods(s.methods))
	}
	if utf8.RuneCountInString(r.Label) > 64 {
		return nil, invalid("label", ReasonTooLong, "Max", "64")
	}
	if err := checkText("label", r.Label); err != nil {
		return nil, err
	}
	f := &Factor{ID: s.newID("fac"), AccountID: a.ID, Method: r.Method, Status: FactorPending,
		Label: strings.TrimSpace(r.Label), CreatedAt: s.now()}
	nf := &NewFactor{Factor: f}
	switch r.Method {
	case MethodTOTP:
		if f.Label == "" {
			f.Label = DefaultTOTPLabel
		}
		secret := make([]byte, totpSecretSize)
		s.mustRead(secret)
		var err error
		if f.Secret, err = s.sealer.Seal(secret, []byte(f.ID)); err != nil {
			return nil, err
		}
		nf.Secret, nf.OTPAuthURI = b32.EncodeToString(secret), OTPAuthURI(s.issuer, a.Email, secret)
	case MethodEmail:
		f.Address = a.Email
		if r.Address != "" {
			addr, err := checkEmail("address", r.Address)
			if err != nil {
				return nil, err
			}
			f.Address = addr
		}
		if f.Label == "" {
			f.Label = MaskAddress(MethodEmail, f.Address)
		}
	case MethodWebAuthn:
		if f.Label == "" {
			f.Label = DefaultPasskeyLabel
		}
	case MethodSMS, MethodVoice:
		// Nothing is sent to a number that cannot or must not take codes.
		p, err := ParsePhone(r.Phone, r.Country, r.Method, s.smsCountries)
		if err != nil {
			return nil, err
		}
		f.Address, f.Channels = p.E164, p.Channels
		if f.Label == "" {
			f.Label = MaskAddress(r.Method, f.Address)
		}
	}
	if err := s.mayEnrol(c); err != nil {
		return nil, err
	}
	org, err := s.store.Org(ctx, a.OrgID)
	if err != nil {
		return nil, err
	}
	if !containsMethod(s.allowed(org), r.Method) {
		return nil, ErrMethodNotAllowed
	}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		// One pending factor per kind: starting over replaces an unfinished one.
		all, err := tx.Factors(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, old := range all {
			if old.Status == FactorPending && (old.Method == r.Method || isPhone(old.Method) && isPhone(r.Method)) {
				if err := tx.DeleteFactor(ctx, old.ID); err != nil {
					return err
				}
			}
		}
		if isPhone(r.Method) {
			if err := s.takePhoneAddition(ctx, tx, a, r.Method); err != nil {
				return err
			}
		}
		if err := tx.CreateFactor(ctx, f); err != nil {
			return err
		}
		if r.Method == MethodWebAuthn {
			var err error
			nf.Options, err = s.beginRegistration(ctx, tx, c, f)
			return err
		}
		if !r.Method.delivers() {
			return nil
		}
		ch, err := s.enrolChallenge(ctx, tx, c, f)
		if err != nil {
			return err
		}
		nf.CodeSent, err = s.sendCode(ctx, tx, a, ch, f.Method, f.ID, f.Address, c)
		return err
	})
	if err != nil {
		return nil, s.recordCap(ctx, err, a, c)
	}
	s.wake()
	return nf, nil
}

// enrolChallenge returns the live enrolment challenge of a pending factor,
// making one when there is none or the last is spent.
func (s *Service) enrolChallenge(ctx context.Context, tx Store, c *Caller, f *Factor) (*Challenge, error) {
	now := s.now()
	ch, err := tx.LatestChallenge(ctx, f.AccountID, PurposeEnrol)
	if err == nil && ch.FactorID == f.ID && now.Before(ch.ExpiresAt) && ch.Attempts < s.limits.Attempts {
		return ch, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	ch = &Challenge{ID: s.newID("enr"), Purpose: PurposeEnrol, AccountID: f.AccountID, FactorID: f.ID,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if c.Session != nil {
		ch.SessionID = c.Session.ID
	}
	return ch, tx.CreateChallenge(ctx, ch)
}

// ResendFactorCode sends a new enrolment code for a pending factor that
// delivers codes; the new code replaces the earlier one.
func (s *Service) ResendFactorCode(ctx context.Context, c *Caller, id string) (*CodeSent, error) {
	f, err := s.ownFactor(ctx, s.store, c, id)
	if err != nil {
		return nil, err
	}
	if f.Status != FactorPending || !f.Method.delivers() {
		return nil, invalid("id", ReasonNotResendable)
	}
	var cs *CodeSent
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		ch, err := s.enrolChallenge(ctx, tx, c, f)
		if err != nil {
			return err
		}
		cs, err = s.sendCode(ctx, tx, c.Account, ch, f.Method, f.ID, f.Address, c)
		return err
	})
	if err != nil {
		return nil, s.recordCap(ctx, err, c.Account, c)
	}
	s.wake()
	return cs, nil
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
	if err := notAppPassword(c); err != nil {
		return nil, err
	}
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
	if err := notAppPassword(c); err != nil {
		return nil, err
	}
	return s.store.Factors(ctx, c.Account.ID)
}

// VerifyWebAuthnFactor activates a pending webauthn factor with the
// browser's answer to its creation options, as VerifyFactor does; a refused
// answer is an *InvalidError on "credential" (ReasonCredentialRefused,
// ReasonCredentialExpired: ask WebAuthnFactorOptions again,
// ReasonCredentialTaken: the key is registered already, WA-05).
func (s *Service) VerifyWebAuthnFactor(ctx context.Context, c *Caller, id string, credential json.RawMessage) (*Factor, []string, error) {
	return s.VerifyFactor(ctx, c, id, string(credential))
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
	if f.Method == MethodWebAuthn {
		if err := s.mayEnrol(c); err != nil {
			return nil, nil, err
		}
	}
	a := c.Account
	var codes []string
	key := "factor:" + f.ID
	err = s.atomically(ctx, func(ctx context.Context, tx Store) (error, error) {
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
		ok, refusal, err := s.matchEnrolment(ctx, tx, f, code, now)
		if refusal != nil || err != nil {
			return refusal, err
		}
		if !ok {
			after := s.limits.Account.Fail(t, now)
			if err := tx.PutThrottle(ctx, after); err != nil {
				return nil, err
			}
			left := max(0, s.limits.Account.Free-after.Failures)
			if f.Method.delivers() {
				ch, err := tx.LatestChallenge(ctx, f.AccountID, PurposeEnrol)
				if err != nil {
					return nil, err
				}
				left = max(0, s.limits.Attempts-ch.Attempts)
			}
			return &CodeError{AttemptsLeft: left}, nil
		}
		if f.Status == FactorActive {
			return nil, ErrConflict
		}
		active, err := s.activeFactors(ctx, tx, a.ID)
		if err != nil {
			return nil, err
		}
		f.Status, f.ConfirmedAt, f.LastUsedAt = FactorActive, now, now
		f.Default = len(active) == 0
		if err := tx.UpdateFactor(ctx, f); err != nil {
			return nil, err
		}
		if err := s.audit(ctx, tx, event{detail: &FactorAdded{FactorID: f.ID, Method: f.Method}, account: a, caller: c}); err != nil {
			return nil, err
		}
		if c.SignIn != nil {
			// The sign-in that had to enrol has now proven this method too.
			if f.Method == MethodWebAuthn {
				// A key registered now is not one the account had: whoever
				// passed the steps before (a password that may have been
				// phished) chose it, so its user verification does not make
				// this sign-in phishing-resistant (OP-04): no mfa, whatever
				// its flags. Its next assertion is the proof.
				c.SignIn.AMR = append(c.SignIn.AMR, passkeyAMR(false)...)
			} else {
				c.SignIn.AMR = append(c.SignIn.AMR, f.Method.AMR())
			}
			if err := tx.UpdateChallenge(ctx, c.SignIn); err != nil {
				return nil, err
			}
		}
		if a.TwoStepEnabled() {
			return nil, s.notice(ctx, tx, a, "factor_added", map[string]string{"method": string(f.Method), "label": noticeLabel(f)})
		}
		a.TwoStepSince = now
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return nil, err
		}
		if err := s.audit(ctx, tx, event{detail: &TwoStepEnabled{Method: f.Method}, account: a, caller: c}); err != nil {
			return nil, err
		}
		if codes, err = s.newRecoveryCodes(ctx, tx, c); err != nil {
			return nil, err
		}
		return nil, s.notice(ctx, tx, a, "two_step_enabled", map[string]string{"method": string(f.Method)})
	})
	if err != nil {
		return nil, nil, err
	}
	s.wake()
	return f, codes, nil
}

// matchEnrolment checks the first code of a pending factor: a TOTP code of its
// new seed, or the code sent for its enrolment (counted on that challenge, which
// it consumes when right). It returns a refusal when the enrolment code is spent.
func (s *Service) matchEnrolment(ctx context.Context, tx Store, f *Factor, code string, now time.Time) (bool, error, error) {
	if f.Method == MethodWebAuthn {
		refusal, err := s.matchRegistration(ctx, tx, f, code)
		return refusal == nil && err == nil, refusal, err
	}
	if f.Method == MethodTOTP {
		secret, err := s.sealer.Open(f.Secret, []byte(f.ID))
		if err != nil {
			return false, nil, err
		}
		step, ok := matchTOTP(secret, code, now)
		if !ok {
			return false, nil, nil
		}
		ok, err = tx.UseTOTPStep(ctx, f.ID, step, now)
		return ok, nil, err
	}
	ch, err := tx.LatestChallenge(ctx, f.AccountID, PurposeEnrol)
	if errors.Is(err, ErrNotFound) || err == nil && ch.FactorID != f.ID {
		return false, ErrExpired, nil
	}
	if err != nil {
		return false, nil, err
	}
	if ch, err = tx.CountChallengeAttempt(ctx, ch.ID); errors.Is(err, ErrNotFound) || err == nil && ch.Attempts > s.limits.Attempts {
		return false, ErrExpired, nil
	}
	if err != nil {
		return false, nil, err
	}
	if !s.matchCode(ch, f.Method, f.ID, code) {
		return false, nil, nil
	}
	ok, err := tx.ConsumeChallenge(ctx, ch.ID, now)
	if err == nil && !ok {
		return false, ErrExpired, nil
	}
	return ok, nil, err
}

// FactorChange is a change to a factor: nil fields stay as they are.
type FactorChange struct {
	Default *bool
	Label   *string
}

// UpdateFactor makes a factor the default or renames it.
func (s *Service) UpdateFactor(ctx context.Context, c *Caller, id string, ch FactorChange) (*Factor, error) {
	if ch.Label != nil && (utf8.RuneCountInString(*ch.Label) > 64 || strings.TrimSpace(*ch.Label) == "") {
		return nil, invalid("label", ReasonLength, "Min", "1", "Max", "64")
	}
	if ch.Label != nil {
		if err := checkText("label", *ch.Label); err != nil {
			return nil, err
		}
	}
	if ch.Default != nil && !*ch.Default {
		return nil, invalid("default", ReasonDefaultTrue)
	}
	if c.SignIn != nil {
		return nil, ErrForbidden // a sign-in that must enrol changes no existing method
	}
	var f *Factor
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		var err error
		if f, err = s.ownFactor(ctx, tx, c, id); err != nil {
			return err
		}
		if ch.Label != nil && strings.TrimSpace(*ch.Label) != f.Label {
			before := f.Label
			f.Label = strings.TrimSpace(*ch.Label)
			if err := s.audit(ctx, tx, event{detail: &FactorRenamed{FactorID: f.ID, Method: f.Method, Before: before, After: f.Label},
				account: c.Account, caller: c}); err != nil {
				return err
			}
		}
		if ch.Default != nil && !f.Default {
			if f.Status != FactorActive {
				return invalid("default", ReasonDefaultPending)
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
// confirmation and forgets every remembered device; removing the last one turns two-step off: recovery codes go,
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
	if c.SignIn != nil {
		return ErrForbidden // a sign-in that must enrol removes nothing active
	}
	if err := s.requireConfirmed(c); err != nil {
		return err
	}
	a := c.Account
	org, err := s.store.Org(ctx, a.OrgID)
	if err != nil {
		return err
	}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
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
		if err := s.audit(ctx, tx, event{detail: &FactorRemoved{FactorID: f.ID, Method: f.Method}, account: a, caller: c}); err != nil {
			return err
		}
		if err := s.forgetDevices(ctx, tx, a, ForgotFactorRemoved, "", c); err != nil {
			return err
		}
		if len(rest) > 0 {
			if f.Default {
				rest[0].Default = true
				if err := tx.UpdateFactor(ctx, rest[0]); err != nil {
					return err
				}
			}
			return s.notice(ctx, tx, a, "factor_removed", map[string]string{"method": string(f.Method), "label": noticeLabel(f)})
		}
		if err := s.turnOff(ctx, tx, a, event{detail: &TwoStepDisabled{}, account: a, caller: c}); err != nil {
			return err
		}
		return s.notice(ctx, tx, a, "two_step_disabled", nil)
	})
	if err != nil {
		return err
	}
	s.wake()
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
