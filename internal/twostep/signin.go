package twostep

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Sign-in outcomes.
const (
	StatusSignedIn           = "signed_in"
	StatusSecondStep         = "second_step"
	StatusEnrollmentRequired = "enrollment_required"
)

// SignInRequest is a first step: the password.
type SignInRequest struct {
	Email         string
	Password      string
	ClientVersion string
	IP            string
	UserAgent     string
	// DeviceToken is the token of an earlier successful sign-in from this
	// client, "" for none (RL-13: see Device).
	DeviceToken string
}

// MethodOption is one way the account can prove the second step now.
type MethodOption struct {
	Method   Method
	FactorID string
	To       string // masked address, for e-mail and phone
}

// SignInResult is where a sign-in stands after a step. Exactly one of
// SessionToken (signed in) and SignInToken (more to do) is set.
type SignInResult struct {
	Status       string
	Account      *Account
	Org          *Org
	SessionToken string
	Session      *Session
	// DeviceToken comes with a session: the client keeps it for its next
	// sign-ins (see Device).
	DeviceToken   string
	SignInToken   string
	ExpiresAt     time.Time
	Methods       []MethodOption
	DefaultMethod Method
	// CodeSent is set when the default method delivers a code and one was
	// queued (not when a sending cap stopped it: the sign-in goes on without).
	CodeSent *CodeSent
	// AllowedMethods and GraceUntil are set with StatusEnrollmentRequired (and
	// GraceUntil also when a grace period let the sign-in through).
	AllowedMethods []Method
	GraceUntil     time.Time
}

func emailKey(email string) string { return "email:" + email }
func accountKey(id string) string  { return "account:" + id }

// SignIn checks an e-mail and password. It returns ErrInvalidCredentials alike
// for an unknown e-mail and a wrong password, spending the same hashing time
// (EN-01, EN-02); a *ThrottledError while the e-mail or the client address has
// failed too often, or, for a known device of the account (r.DeviceToken), while
// that device has (RL-13); ErrSSOManaged for SSO accounts; an *UpgradeError for an old
// client on an account with two-step on.
func (s *Service) SignIn(ctx context.Context, r SignInRequest) (*SignInResult, error) {
	res, err := s.signIn(ctx, r)
	if err != nil {
		s.metrics.SignIn(outcome(err))
	} else {
		s.metrics.SignIn(res.Status)
	}
	return res, err
}

func (s *Service) signIn(ctx context.Context, r SignInRequest) (*SignInResult, error) {
	email := NormalizeEmail(r.Email)
	if email == "" {
		// Not counted: an address that cannot exist tells an attacker nothing.
		return nil, invalid("email", "must be an e-mail address such as name@example.com")
	}
	if r.Password == "" {
		return nil, invalid("password", "is required")
	}
	var version ClientVersion
	if r.ClientVersion != "" {
		v, err := ParseClientVersion("client_version", r.ClientVersion)
		if err != nil {
			return nil, err
		}
		version = v
	}
	now := s.now()
	acct, err := s.store.AccountByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	keys := s.passwordKeys(email, r.IP)
	dev, err := s.knownDevice(ctx, r.DeviceToken, acct)
	if err != nil {
		return nil, err
	}
	if dev != nil {
		keys = []string{deviceKey(dev.ID)} // RL-13: only its own failures count
	}
	for _, key := range keys {
		t, err := s.store.Throttle(ctx, key)
		if err != nil {
			return nil, err
		}
		if wait, locked := t.Locked(now); locked {
			return nil, throttled(ErrThrottled, wait)
		}
	}
	if acct != nil && acct.SSO {
		return nil, ErrSSOManaged
	}
	hash := ""
	if acct != nil {
		hash = acct.PasswordHash
	}
	ok, err := s.checkPassword(ctx, r.Password, hash)
	if err != nil {
		return nil, err
	}
	caller := &Caller{Account: acct, IP: r.IP, UserAgent: r.UserAgent, DeviceToken: r.DeviceToken}
	if !ok {
		return nil, s.passwordFailed(ctx, keys, caller)
	}
	if err := s.passwordSucceeded(ctx, keys[0]); err != nil {
		return nil, err
	}
	org, err := s.store.Org(ctx, acct.OrgID)
	if err != nil {
		return nil, err
	}
	factors, err := s.activeFactors(ctx, s.store, acct.ID)
	if err != nil {
		return nil, err
	}
	if usable := s.usable(org, factors); len(usable) < len(factors) || len(factors) == 0 {
		// Methods the organisation no longer allows are not offered; a member left
		// with none, or without any under a required policy, must enrol first.
		if len(usable) == 0 && (len(factors) > 0 || org.Policy.TwoStep == PolicyRequired) {
			return s.enrolmentRequired(ctx, acct, org)
		}
		factors = usable
	}
	legacy := false
	if acct.TwoStepEnabled() && version != nil {
		if min := s.minClientVersion(org); min != nil && version.Less(min) {
			if !acct.AllowLegacyClients || !org.Policy.AllowLegacyClients {
				return nil, &UpgradeError{MinClientVersion: versionString(min)}
			}
			legacy = true
		}
	}
	if len(factors) == 0 || legacy {
		var res *SignInResult
		err := s.store.Atomic(ctx, func(tx Store) error {
			var err error
			res, err = s.signedIn(ctx, tx, acct, []string{"pwd"}, legacy, caller)
			if err != nil {
				return err
			}
			detail := map[string]any{"amr": []string{"pwd"}}
			if legacy {
				detail["legacy_client"] = r.ClientVersion
			}
			return s.audit(ctx, tx, event{typ: "sign_in.succeeded", account: acct, caller: caller, detail: detail})
		})
		return res, err
	}
	token, hashTok := s.newToken()
	c := &Challenge{
		ID: s.newID("sgn"), TokenHash: hashTok, Purpose: PurposeSignIn, AccountID: acct.ID,
		AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(s.signInTTL),
	}
	res := &SignInResult{Status: StatusSecondStep, Account: acct, Org: org, SignInToken: token, ExpiresAt: c.ExpiresAt}
	if res.Methods, res.DefaultMethod, err = s.methodOptions(ctx, acct, factors); err != nil {
		return nil, err
	}
	var capped error
	err = s.store.Atomic(ctx, func(tx Store) error {
		if err := tx.CreateChallenge(ctx, c); err != nil {
			return err
		}
		def := defaultFactor(factors)
		if !def.Method.delivers() {
			return nil
		}
		cs, err := s.sendCode(ctx, tx, acct, c, def.Method, def.ID, def.Address, caller)
		if errors.Is(err, ErrThrottled) {
			// A sending cap never fails the sign-in: it comes without code_sent.
			capped = err
			return nil
		}
		res.CodeSent = cs
		return err
	})
	if err != nil {
		return nil, err
	}
	s.recordCap(ctx, capped, acct, caller)
	s.wake()
	return res, nil
}

// defaultFactor returns the account's default active factor, else the first.
func defaultFactor(factors []*Factor) *Factor {
	for _, f := range factors {
		if f.Default {
			return f
		}
	}
	return factors[0]
}

func (s *Service) passwordKeys(email, ip string) []string {
	keys := []string{emailKey(email)}
	if ip != "" {
		keys = append(keys, ipKey(ip))
	}
	return keys
}

// checkPassword verifies password against hash, or against a dummy hash when
// there is none, so that both cost one argon2 run.
func (s *Service) checkPassword(ctx context.Context, password, hash string) (bool, error) {
	if hash == "" {
		s.dummyOnce.Do(func() {
			s.dummyHash, _ = s.hasher.Hash(context.Background(), "dummy password for unknown accounts")
		})
		_, err := s.hasher.Verify(ctx, password, s.dummyHash)
		return false, err
	}
	return s.hasher.Verify(ctx, password, hash)
}

// passwordFailed counts a wrong password against keys (the e-mail and the
// client address, or a known device, or a signed-in account) and returns the
// error to answer. A lock it starts on a key of the caller's account is in the
// account's activity, with its end.
func (s *Service) passwordFailed(ctx context.Context, keys []string, c *Caller) error {
	now := s.now()
	err := s.store.Atomic(ctx, func(tx Store) error {
		var locks []Throttle
		for _, key := range keys {
			t, err := tx.LockThrottle(ctx, key)
			if err != nil {
				return err
			}
			l, kind := s.passwordLimit(key)
			after := l.Fail(t, now)
			if err := tx.PutThrottle(ctx, after); err != nil {
				return err
			}
			if _, was := t.Locked(now); !was {
				if _, is := after.Locked(now); is {
					s.metrics.ThrottleTrip(kind)
					locks = append(locks, after)
				}
			}
		}
		if c.Account == nil {
			return nil
		}
		if err := s.audit(ctx, tx, event{typ: "sign_in.failed", account: c.Account, caller: c, detail: map[string]any{"reason": "password"}}); err != nil {
			return err
		}
		return s.auditLocks(ctx, tx, locks, c)
	})
	if err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// passwordSucceeded forgives the consecutive failures under key (the e-mail's,
// or the known device's) after a right password (RL-07).
func (s *Service) passwordSucceeded(ctx context.Context, key string) error {
	t, err := s.store.Throttle(ctx, key)
	if err != nil || t.Failures == 0 {
		return err
	}
	return s.store.Atomic(ctx, func(tx Store) error {
		t, err := tx.LockThrottle(ctx, key)
		if err != nil {
			return err
		}
		l, _ := s.passwordLimit(key)
		return tx.PutThrottle(ctx, l.Succeed(t))
	})
}

func (s *Service) minClientVersion(o *Org) ClientVersion {
	min := s.minVersion
	if o.Policy.MinClientVersion != "" {
		if v, err := ParseClientVersion("", o.Policy.MinClientVersion); err == nil && (min == nil || min.Less(v)) {
			min = v
		}
	}
	return min
}

func versionString(v ClientVersion) string {
	out := ""
	for i, n := range v {
		if i > 0 {
			out += "."
		}
		out += itoa(n)
	}
	return out
}

func (s *Service) activeFactors(ctx context.Context, st Store, accountID string) ([]*Factor, error) {
	all, err := st.Factors(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(f *Factor) bool { return f.Status != FactorActive }), nil
}

// methodOptions lists what the account can use at sign-in: one entry per active
// factor, then recovery codes while some remain.
func (s *Service) methodOptions(ctx context.Context, a *Account, factors []*Factor) ([]MethodOption, Method, error) {
	var out []MethodOption
	var def Method
	for _, f := range factors {
		if isPhone(f.Method) {
			// One entry per number and channel: "call me instead" on the same number.
			for _, ch := range f.Channels {
				out = append(out, MethodOption{Method: ch, FactorID: f.ID, To: MaskAddress(ch, f.Address)})
			}
		} else {
			out = append(out, MethodOption{Method: f.Method, FactorID: f.ID, To: MaskAddress(f.Method, f.Address)})
		}
		if f.Default || def == "" {
			def = f.Method
		}
	}
	codes, err := s.store.RecoveryCodes(ctx, a.ID)
	if err != nil {
		return nil, "", err
	}
	if len(codes) > 0 {
		out = append(out, MethodOption{Method: MethodRecoveryCode})
	}
	return out, def, nil
}

// signedIn starts a session for a sign-in that proved amr, and gives its
// client a device token.
func (s *Service) signedIn(ctx context.Context, tx Store, a *Account, amr []string, legacy bool, c *Caller) (*SignInResult, error) {
	token, sess, err := s.startSession(ctx, tx, a, amr, !legacy, legacy, c)
	if err != nil {
		return nil, err
	}
	device, err := s.issueDevice(ctx, tx, a, c)
	if err != nil {
		return nil, err
	}
	a.LastSignInAt = sess.CreatedAt
	if err := tx.SetLastSignIn(ctx, a.ID, a.LastSignInAt); err != nil {
		return nil, err
	}
	return &SignInResult{Status: StatusSignedIn, Account: a, SessionToken: token, Session: sess, ExpiresAt: sess.ExpiresAt,
		DeviceToken: device}, nil
}

// startSession stores a new session with a fresh token (FL-02, FL-03). A session
// that proved every factor of the account counts as a fresh identity confirmation.
func (s *Service) startSession(ctx context.Context, tx Store, a *Account, amr []string, confirmed, legacy bool, c *Caller) (string, *Session, error) {
	now := s.now()
	token, hash := s.newToken()
	sess := &Session{
		ID: s.newID("ses"), TokenHash: hash, AccountID: a.ID, AMR: amr, Legacy: legacy,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.sessionMax),
	}
	sess.IdleExpiresAt = minTime(now.Add(s.sessionIdle), sess.ExpiresAt)
	if confirmed {
		sess.ConfirmedUntil = now.Add(s.confirmWindow)
	}
	if c != nil {
		sess.IP, sess.UserAgent = c.IP, truncate(c.UserAgent, 512)
	}
	if err := tx.CreateSession(ctx, sess); err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// VerifyRequest is a second step: a code for a sign-in token.
type VerifyRequest struct {
	SignInToken string
	Method      Method
	Code        string
	FactorID    string
	IP          string
	UserAgent   string
	// DeviceToken is the client's device token, "" for none: the device a
	// successful sign-in renews (see Device).
	DeviceToken string
}

// VerifySignIn checks a second-step code and, when it is right, ends the sign-in
// with a new session. It returns ErrExpired when the sign-in token is unknown,
// used, out of time or out of attempts; a *CodeError for a wrong code (counted
// before the comparison, RL-05); a *ThrottledError while the account is in
// back-off, whether or not the code is right (RL-08).
func (s *Service) VerifySignIn(ctx context.Context, r VerifyRequest) (*SignInResult, error) {
	res, err := s.verifySignIn(ctx, r)
	s.metrics.SecondStep(metricMethod(r.Method), outcome(err))
	return res, err
}

// metricMethod keeps a label to the known methods, whatever a client sent.
func metricMethod(m Method) string {
	switch m {
	case MethodTOTP, MethodEmail, MethodSMS, MethodVoice, MethodRecoveryCode:
		return string(m)
	}
	return "other"
}

func (s *Service) verifySignIn(ctx context.Context, r VerifyRequest) (*SignInResult, error) {
	if r.SignInToken == "" {
		return nil, invalid("sign_in_token", "is required")
	}
	code, err := checkCodeFormat(r.Method, r.Code)
	if err != nil {
		return nil, err
	}
	var res *SignInResult
	var acct *Account
	// Everything, the lookups included, in one write transaction: on SQLite the
	// writer's warm page cache answers them faster than a reader that must first
	// catch up with the writes before it (the hot path of every sign-in).
	err = s.atomically(ctx, func(tx Store) (error, error) {
		c, a, err := s.liveSignIn(ctx, tx, r.SignInToken)
		if errors.Is(err, ErrExpired) {
			return ErrExpired, nil
		}
		if err != nil {
			return nil, err
		}
		acct = a
		caller := &Caller{Account: acct, IP: r.IP, UserAgent: r.UserAgent, DeviceToken: r.DeviceToken}
		n := 0
		refusal, err := s.secondStep(ctx, tx, acct, r.Method, code, r.FactorID, c, caller, func() (error, error) {
			// The live code as of now, not as of the lookup: a resend in between replaced it.
			fresh, err := tx.CountChallengeAttempt(ctx, c.ID)
			if errors.Is(err, ErrNotFound) || (err == nil && fresh.Attempts > s.limits.Attempts) {
				return ErrExpired, nil
			}
			if err != nil {
				return nil, err
			}
			*c = *fresh
			n = fresh.Attempts
			return nil, nil
		})
		if err != nil || errors.Is(refusal, ErrExpired) || errors.Is(refusal, ErrThrottled) {
			return refusal, err
		}
		if refusal != nil {
			if n >= s.limits.Attempts {
				if _, err := tx.ConsumeChallenge(ctx, c.ID, s.now()); err != nil {
					return nil, err
				}
			}
			return &CodeError{AttemptsLeft: s.limits.Attempts - n}, nil
		}
		if ok, err := tx.ConsumeChallenge(ctx, c.ID, s.now()); err != nil || !ok {
			// Lost a race with a parallel submission: undo what this one did.
			return nil, cmpErr(err, ErrExpired)
		}
		used := r.Method
		if used.delivers() {
			used = c.Method // amr follows the channel the code came by
		}
		amr := append(slices.Clone(c.AMR), used.AMR())
		res, err = s.signedIn(ctx, tx, acct, amr, false, caller)
		if err != nil {
			return nil, err
		}
		return nil, s.audit(ctx, tx, event{typ: "sign_in.succeeded", account: acct, caller: caller,
			detail: map[string]any{"amr": amr, "method": string(r.Method)}})
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	return res, nil
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// liveSignIn returns the sign-in challenge a token opens, or ErrExpired.
func (s *Service) liveSignIn(ctx context.Context, st Store, token string) (*Challenge, *Account, error) {
	if token == "" {
		return nil, nil, invalid("sign_in_token", "is required")
	}
	c, acct, err := st.ChallengeWithAccount(ctx, HashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrExpired
	}
	if err != nil {
		return nil, nil, err
	}
	if c.Purpose != PurposeSignIn || !c.ConsumedAt.IsZero() || !s.now().Before(c.ExpiresAt) || c.Attempts >= s.limits.Attempts {
		return nil, nil, ErrExpired
	}
	return c, acct, nil
}

// SignInMethods returns what a live sign-in token can use now, for the page that
// asks for the second step.
func (s *Service) SignInMethods(ctx context.Context, token string) (*SignInResult, error) {
	c, acct, err := s.liveSignIn(ctx, s.store, token)
	if err != nil {
		return nil, err
	}
	factors, err := s.activeFactors(ctx, s.store, acct.ID)
	if err != nil {
		return nil, err
	}
	org, err := s.store.Org(ctx, acct.OrgID)
	if err != nil {
		return nil, err
	}
	res := &SignInResult{Status: StatusSecondStep, Account: acct, Org: org, SignInToken: token, ExpiresAt: c.ExpiresAt}
	res.Methods, res.DefaultMethod, err = s.methodOptions(ctx, acct, factors)
	if now := s.now(); len(c.CodeHash) > 0 && now.Before(c.CodeExpiresAt) {
		// The live code of this sign-in, so that a page can say where it went.
		res.CodeSent = &CodeSent{Method: c.Method, FactorID: c.FactorID, To: MaskAddress(c.Method, c.Address),
			ExpiresIn: c.CodeExpiresAt.Sub(now), ResendAfter: max(0, c.LastSentAt.Add(ResendCooldown).Sub(now))}
	}
	return res, err
}

// checkCodeFormat returns the code in canonical form, or an *InvalidError when it
// cannot be a code of that method at all (such a typo is not counted as a guess).
func checkCodeFormat(m Method, code string) (string, error) {
	code = normalizeCode(code)
	switch m {
	case MethodTOTP, MethodEmail, MethodSMS, MethodVoice:
		return code, checkDigits(code, 6)
	case MethodRecoveryCode:
		if normalizeRecoveryCode(code) == "" {
			return "", invalid("code", "a recovery code has 16 letters and digits, such as abcd-efgh-ijkl-mnop")
		}
		return code, nil
	case "":
		return "", invalid("method", "is required")
	}
	return "", invalid("method", "must be one of totp, email, sms, voice, recovery_code")
}

// secondStep checks a second-step code of an active factor inside tx, under the
// account's throttle: locked → refusal ErrThrottled, whatever the code (RL-08);
// otherwise count (the before hook, then a failure if wrong) and compare. A
// wrong code is the refusal ErrInvalidCode.
func (s *Service) secondStep(ctx context.Context, tx Store, a *Account, m Method, code, factorID string, ch *Challenge, c *Caller,
	before func() (error, error)) (error, error) {
	now := s.now()
	// A plain read on the way in: most codes are right, and only a failure
	// needs the row held while it counts (below).
	t, err := tx.Throttle(ctx, accountKey(a.ID))
	if err != nil {
		return nil, err
	}
	if wait, locked := t.Locked(now); locked {
		return throttled(ErrThrottled, wait), nil
	}
	if before != nil {
		if refusal, err := before(); refusal != nil || err != nil {
			return refusal, err
		}
	}
	ok, err := s.matchSecondStep(ctx, tx, a, m, code, factorID, ch, c)
	if err != nil {
		return nil, err
	}
	if !ok {
		if t, err = tx.LockThrottle(ctx, accountKey(a.ID)); err != nil {
			return nil, err
		}
		after := s.limits.Account.Fail(t, now)
		if err := tx.PutThrottle(ctx, after); err != nil {
			return nil, err
		}
		if err := s.audit(ctx, tx, event{typ: "second_step.failed", account: a, caller: c, detail: map[string]any{"method": string(m)}}); err != nil {
			return nil, err
		}
		if wait, locked := after.Locked(now); locked {
			s.metrics.ThrottleTrip("account")
			if err := s.audit(ctx, tx, event{typ: "second_step.locked", account: a, caller: c,
				detail: map[string]any{"seconds": int(wait.Seconds())}}); err != nil {
				return nil, err
			}
			// NT-04: the right password followed by wrong codes is worth telling
			// the holder about, once per series rather than at every lock.
			if after.Failures == s.limits.Account.Free {
				if err := s.notice(ctx, tx, a, "second_step_locked", nil); err != nil {
					return nil, err
				}
			}
		}
		return ErrInvalidCode, nil
	}
	if t.Failures > 0 {
		if err := tx.PutThrottle(ctx, s.limits.Account.Succeed(t)); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// matchSecondStep reports whether code proves m for the account, consuming what
// it uses (the TOTP step, the recovery code) in the same statement that checks
// it. A delivered code is the live code of ch, which the caller consumes.
func (s *Service) matchSecondStep(ctx context.Context, tx Store, a *Account, m Method, code, factorID string, ch *Challenge, c *Caller) (bool, error) {
	switch m {
	case MethodEmail, MethodSMS, MethodVoice:
		if !s.matchCode(ch, m, factorID, code) {
			return false, nil
		}
		f, err := tx.Factor(ctx, ch.FactorID)
		if errors.Is(err, ErrNotFound) || err == nil && (f.AccountID != a.ID || f.Status != FactorActive) {
			return false, nil // the factor went away since the code was sent
		}
		if err != nil {
			return false, err
		}
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
		if err := s.audit(ctx, tx, event{typ: "recovery_code.used", account: a, caller: c}); err != nil {
			return false, err
		}
		return true, s.notice(ctx, tx, a, "recovery_code_used", map[string]string{"left": itoa(len(codes) - 1)})
	case MethodTOTP:
		factors, err := s.activeFactors(ctx, tx, a.ID)
		if err != nil {
			return false, err
		}
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
				if err := s.audit(ctx, tx, event{typ: "second_step.replayed", account: a, caller: c,
					detail: map[string]any{"method": "totp", "factor_id": f.ID}}); err != nil {
					return false, err
				}
				return false, s.notice(ctx, tx, a, "totp_replayed", nil)
			}
			return true, nil
		}
		return false, nil
	}
	return false, invalid("method", "this account has no "+string(m)+" method")
}

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
	// Touch at most once a minute: idle expiry need not be exact to the second,
	// and a write per request would make every read a write (FL-06, FL-07).
	if now.Sub(sess.LastSeenAt) >= time.Minute {
		sess.LastSeenAt = now
		sess.IdleExpiresAt = minTime(now.Add(s.sessionIdle), sess.ExpiresAt)
		if err := s.store.TouchSession(ctx, sess.ID, sess.LastSeenAt, sess.IdleExpiresAt); err != nil {
			return nil, err
		}
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

// SignOut ends the caller's session.
func (s *Service) SignOut(ctx context.Context, c *Caller) error {
	return s.store.DeleteSession(ctx, c.Session.ID)
}

// enrolmentRequired starts a sign-in whose token may only set up a method the
// organisation allows, then complete (ORG-01).
func (s *Service) enrolmentRequired(ctx context.Context, a *Account, org *Org) (*SignInResult, error) {
	now := s.now()
	token, hash := s.newToken()
	c := &Challenge{ID: s.newID("sge"), TokenHash: hash, Purpose: PurposeEnrolSignIn, AccountID: a.ID,
		AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(s.signInTTL)}
	if err := s.store.CreateChallenge(ctx, c); err != nil {
		return nil, err
	}
	res := &SignInResult{Status: StatusEnrollmentRequired, Account: a, Org: org, SignInToken: token, ExpiresAt: c.ExpiresAt,
		AllowedMethods: s.allowed(org)}
	if until := s.graceUntil(org, a); now.Before(until) {
		res.GraceUntil = until
	}
	return res, nil
}

// AuthenticateEnrolment returns the caller a sign-in token from
// enrollment_required belongs to; ErrUnauthenticated for anything else.
func (s *Service) AuthenticateEnrolment(ctx context.Context, token, ip, userAgent string) (*Caller, error) {
	if token == "" {
		return nil, ErrUnauthenticated
	}
	ch, err := s.liveToken(ctx, token, PurposeEnrolSignIn)
	if errors.Is(err, ErrExpired) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	a, err := s.store.Account(ctx, ch.AccountID)
	if err != nil {
		return nil, err
	}
	return &Caller{Account: a, SignIn: ch, IP: ip, UserAgent: userAgent}, nil
}

// CompleteSignIn ends a sign-in that had to enrol: once a method the
// organisation allows is active, with a session whose amr holds the method
// just proven; during a grace period, without one (GraceUntil says until when);
// after it, ErrPolicyRequiresTwoStep. ErrExpired for a spent or unknown token.
func (s *Service) CompleteSignIn(ctx context.Context, token, ip, userAgent string) (*SignInResult, error) {
	if token == "" {
		return nil, invalid("sign_in_token", "is required")
	}
	ch, err := s.liveToken(ctx, token, PurposeEnrolSignIn)
	if err != nil {
		return nil, err
	}
	a, err := s.store.Account(ctx, ch.AccountID)
	if err != nil {
		return nil, err
	}
	org, err := s.store.Org(ctx, a.OrgID)
	if err != nil {
		return nil, err
	}
	factors, err := s.activeFactors(ctx, s.store, a.ID)
	if err != nil {
		return nil, err
	}
	var grace time.Time
	if len(s.usable(org, factors)) == 0 {
		grace = s.graceUntil(org, a)
		if org.Policy.TwoStep != PolicyRequired && len(factors) == 0 {
			grace = time.Time{} // the policy was relaxed meanwhile: nothing to enrol
		} else if !s.now().Before(grace) {
			return nil, ErrPolicyRequiresTwoStep
		}
	}
	caller := &Caller{Account: a, IP: ip, UserAgent: userAgent}
	var res *SignInResult
	err = s.store.Atomic(ctx, func(tx Store) error {
		if ok, err := tx.ConsumeChallenge(ctx, ch.ID, s.now()); err != nil || !ok {
			return cmpErr(err, ErrExpired)
		}
		var err error
		if res, err = s.signedIn(ctx, tx, a, ch.AMR, false, caller); err != nil {
			return err
		}
		detail := map[string]any{"amr": ch.AMR, "enrolled": grace.IsZero()}
		if !grace.IsZero() {
			detail["grace_until"] = grace.Format(time.RFC3339)
		}
		return s.audit(ctx, tx, event{typ: "sign_in.succeeded", account: a, caller: caller, detail: detail})
	})
	if err != nil {
		return nil, err
	}
	res.GraceUntil = grace
	return res, nil
}
