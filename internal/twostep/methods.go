package twostep

import (
	"context"
	"slices"
)

// defaultChoice returns the choice a second step starts with: the account's
// default factor, else the first, by the channel it was set up with.
func defaultChoice(n Next) (Choice, bool) {
	score := func(c Choice) int {
		if c.Factor == nil {
			return -1
		}
		n := 0
		if c.Factor.Default {
			n += 2
		}
		if c.Method == c.Factor.Method {
			n++
		}
		return n
	}
	var pick Choice
	for _, c := range n.Choices {
		if score(c) > score(pick) {
			pick = c
		}
	}
	return pick, pick.Factor != nil
}

// methodOptions lists what a second step offers: one entry per factor and
// channel ("call me instead" on the same number), then recovery codes while
// some remain; and the method of the default choice.
func methodOptions(n Next) ([]MethodOption, Method) {
	var out []MethodOption
	keys := false
	for _, c := range n.Choices {
		if c.Method == MethodWebAuthn {
			// One entry for all keys: the browser picks among them (API.md §11).
			if keys {
				continue
			}
			keys = true
			out = append(out, MethodOption{Method: MethodWebAuthn})
			continue
		}
		o := MethodOption{Method: c.Method}
		if c.Factor != nil {
			o.FactorID, o.To = c.Factor.ID, MaskAddress(c.Method, c.Factor.Address)
		}
		out = append(out, o)
	}
	def, _ := defaultChoice(n)
	return out, def.Method
}

func (s *Service) activeFactors(ctx context.Context, st Store, accountID string) ([]*Factor, error) {
	all, err := st.Factors(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(f *Factor) bool { return f.Status != FactorActive }), nil
}

// checkCodeFormat returns the code in canonical form, or an *InvalidError when it
// cannot be a code of that method at all (such a typo is not counted as a guess).
func checkCodeFormat(m Method, code string) (string, error) {
	if m == MethodWebAuthn {
		return code, checkCredentialJSON([]byte(code))
	}
	code = normalizeCode(code)
	switch m {
	case MethodTOTP, MethodEmail, MethodSMS, MethodVoice:
		return code, checkDigits(code, 6)
	case MethodRecoveryCode:
		if normalizeRecoveryCode(code) == "" {
			return "", invalid("code", ReasonRecoveryCode)
		}
		return code, nil
	case MethodWebAuthn:
		return code, nil // a credential's JSON: checkCredentialJSON
	case "":
		return "", invalid("method", ReasonRequired)
	}
	return "", invalid("method", ReasonMethodUnknown, "Methods", "totp, email, sms, voice, webauthn, recovery_code")
}

// secondStep checks a second-step code inside tx, by a method Decide(st)
// offers: another is ErrMethodNotAllowed (a method the policy bans, SU-07) or
// an *InvalidError (one the account lacks), before anything is counted.
// Counting and the lock check are one locked step before the comparison
// (RL-12): the account's throttle row is held until tx ends, so parallel
// attempts on any number of sign-ins take turns; locked → refusal ErrThrottled,
// whatever the code (RL-08); then the before hook counts, and the comparison;
// a wrong code counts a failure and is the refusal ErrInvalidCode.
//
// The proof is the amr the step adds when it succeeds (for a key, whether it
// verified its holder).
func (s *Service) secondStep(ctx context.Context, tx Store, st SignInState, m Method, code, factorID string, ch *Challenge, c *Caller,
	before func() (error, error)) (proof []string, refusal error, err error) {
	a := st.Account
	next := Decide(st)
	if err := offered(st, next, m, factorID); err != nil {
		return nil, nil, err
	}
	if m.delivers() && ch != nil && ch.Method != "" && !next.Offers(ch.Method, ch.FactorID) {
		return nil, nil, ErrMethodNotAllowed // the live code went by a channel the policy banned since
	}
	now := s.now()
	t, err := tx.LockThrottle(ctx, accountKey(a.ID))
	if err != nil {
		return nil, nil, err
	}
	if wait, locked := t.Locked(now); locked {
		return nil, throttled(ErrThrottled, wait), nil
	}
	if before != nil {
		if refusal, err := before(); refusal != nil || err != nil {
			return nil, refusal, err
		}
	}
	var ok bool
	if m == MethodWebAuthn {
		// Only the keys Decide offers now count (the policy may have changed).
		var keys []*Factor
		for _, f := range st.Factors {
			if next.Offers(MethodWebAuthn, f.ID) {
				keys = append(keys, f)
			}
		}
		proof, err = s.matchAssertion(ctx, tx, a, keys, code, factorID, ch, c)
		ok = proof != nil
	} else {
		ok, err = s.matchSecondStep(ctx, tx, a, st.Factors, m, code, factorID, ch, c)
		proof = []string{m.AMR()}
	}
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		after := s.limits.Account.Fail(t, now)
		if err := tx.PutThrottle(ctx, after); err != nil {
			return nil, nil, err
		}
		if err := s.audit(ctx, tx, event{detail: &SecondStepFailed{Method: m}, account: a, caller: c}); err != nil {
			return nil, nil, err
		}
		if wait, locked := after.Locked(now); locked {
			s.metrics.ThrottleTrip("account")
			if err := s.audit(ctx, tx, event{detail: &SecondStepLocked{Seconds: int(wait.Seconds())}, account: a, caller: c}); err != nil {
				return nil, nil, err
			}
			// NT-04: the right password followed by wrong codes is worth telling
			// the holder about, once per series rather than at every lock.
			if after.Failures == s.limits.Account.Free {
				if err := s.notice(ctx, tx, a, "second_step_locked", nil); err != nil {
					return nil, nil, err
				}
			}
		}
		return nil, ErrInvalidCode, nil
	}
	if t.Failures > 0 {
		if err := tx.PutThrottle(ctx, s.limits.Account.Succeed(t)); err != nil {
			return nil, nil, err
		}
	}
	return proof, nil, nil
}

// offered returns nil when next lets m (and factorID) prove the second step;
// ErrMethodNotAllowed when the account has such a method that the policy does
// not let it use now; otherwise an *InvalidError.
func offered(st SignInState, next Next, m Method, factorID string) error {
	if next.Offers(m, factorID) {
		return nil
	}
	if next.Kind != NextSecondStep {
		return invalid("method", ReasonNoSecondStep)
	}
	for _, f := range st.Factors {
		if slices.Contains(factorChannels(f, nil), m) && (factorID == "" || f.ID == factorID) {
			return ErrMethodNotAllowed
		}
	}
	if m == MethodRecoveryCode {
		return invalid("method", ReasonNoRecoveryCode)
	}
	if factorID != "" {
		return invalid("factor_id", ReasonFactorNotActive, "Method", string(m))
	}
	return invalid("method", ReasonNoSuchMethod, "Method", string(m))
}

// matchSecondStep reports whether code proves m for the account, whose active
// factors are factors, consuming what it uses (the TOTP step, the recovery
// code) in the same statement that checks it. A delivered code is the live code
// of ch, which the caller consumes.
func (s *Service) matchSecondStep(ctx context.Context, tx Store, a *Account, factors []*Factor, m Method, code, factorID string, ch *Challenge, c *Caller) (bool, error) {
	switch m {
	case MethodEmail, MethodSMS, MethodVoice:
		if !s.matchCode(ch, m, factorID, code) {
			return false, nil
		}
		i := slices.IndexFunc(factors, func(f *Factor) bool { return f.ID == ch.FactorID })
		if i < 0 {
			return false, nil // the factor went away since the code was sent
		}
		f := factors[i]
		f.LastUsedAt = s.now()
		return true, tx.UpdateFactor(ctx, f)
	case MethodRecoveryCode:
		codes, err := tx.RecoveryCodes(ctx, a.ID)
		if err != nil {
			return false, err
		}
		rc := s.matchRecoveryCode(codes, code)
		if rc == nil {
			return false, nil
		}
		used, err := tx.UseRecoveryCode(ctx, rc.ID, s.now())
		if err != nil || !used {
			return false, err
		}
		if err := s.audit(ctx, tx, event{detail: &RecoveryCodeUsed{}, account: a, caller: c}); err != nil {
			return false, err
		}
		return true, s.notice(ctx, tx, a, "recovery_code_used", map[string]string{"left": itoa(len(codes) - 1)})
	case MethodTOTP:
		for _, f := range factors {
			if f.Method != MethodTOTP || (factorID != "" && f.ID != factorID) {
				continue
			}
			secret, err := s.sealer.Open(f.Secret, []byte(f.ID))
			if err != nil {
				return false, err
			}
			step, ok := matchTOTP(secret, code, s.now())
			if !ok {
				continue
			}
			used, err := tx.UseTOTPStep(ctx, f.ID, step, s.now())
			if err != nil {
				return false, err
			}
			if !used {
				// OTP-10: a replay gets the generic answer, is logged and audited.
				s.log.Warn("totp code replayed", "account_id", a.ID, "factor_id", f.ID)
				if err := s.audit(ctx, tx, event{detail: &SecondStepReplayed{Method: MethodTOTP, FactorID: f.ID}, account: a, caller: c}); err != nil {
					return false, err
				}
				return false, s.notice(ctx, tx, a, "totp_replayed", nil)
			}
			return true, nil
		}
		return false, nil
	}
	return false, invalid("method", ReasonNoSuchMethod, "Method", string(m))
}
