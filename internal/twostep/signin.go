package twostep

import (
	"context"
	"errors"
	"fmt"
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
	legacy := false
	if acct.TwoStepEnabled() && version != nil {
		if min := s.minClientVersion(org); min != nil && version.Less(min) {
			if !acct.AllowLegacyClients || !org.Policy.AllowLegacyClients {
				return nil, &UpgradeError{MinClientVersion: versionString(min)}
			}
			legacy = true
		}
	}
	st, err := s.signInState(ctx, s.store, acct, org, []string{"pwd"})
	if err != nil {
		return nil, err
	}
	st.Legacy = legacy
	next := Decide(st)
	switch next.Kind {
	case NextEnrol:
		return s.enrolmentRequired(ctx, s.store, acct, org, next, caller)
	case NextSession:
		var res *SignInResult
		err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
			var err error
			res, err = s.signedIn(ctx, tx, acct, next, caller)
			if err != nil {
				return err
			}
			detail := &SignInSucceeded{AMR: next.AMR, SecondStep: next.SecondStep}
			if legacy {
				detail.LegacyClient = r.ClientVersion
			}
			return s.audit(ctx, tx, event{detail: detail, account: acct, caller: caller})
		})
		return res, err
	}
	token, hashTok := s.newToken()
	c := &Challenge{
		ID: s.newID("sgn"), TokenHash: hashTok, Purpose: PurposeSignIn, AccountID: acct.ID,
		AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(s.signInTTL),
	}
	res := &SignInResult{Status: StatusSecondStep, Account: acct, Org: org, SignInToken: token, ExpiresAt: c.ExpiresAt}
	res.Methods, _ = methodOptions(next)
	def, ok := defaultChoice(next)
	if ok && def.Method == MethodSMS && next.Offers(MethodVoice, def.Factor.ID) {
		// The provider refused the last text to this number for good (an
		// unsubscribed or unreachable number): call it instead.
		if no, err := s.refused(ctx, MethodSMS, def.Factor.Address); err != nil {
			return nil, err
		} else if no {
			def.Method = MethodVoice
		}
	}
	res.DefaultMethod = def.Method
	var capped error
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.CreateChallenge(ctx, c); err != nil {
			return err
		}
		if !ok || !def.Method.delivers() {
			return nil
		}
		cs, err := s.sendCode(ctx, tx, acct, c, def.Method, def.Factor.ID, def.Factor.Address, caller)
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

// signInState loads what Decide looks at for account a (and org, when nil),
// with what the sign-in has proven so far.
func (s *Service) signInState(ctx context.Context, st Store, a *Account, org *Org, proven []string) (SignInState, error) {
	if org == nil {
		var err error
		if org, err = st.Org(ctx, a.OrgID); err != nil {
			return SignInState{}, err
		}
	}
	factors, err := s.activeFactors(ctx, st, a.ID)
	if err != nil {
		return SignInState{}, err
	}
	codes, err := st.RecoveryCodes(ctx, a.ID)
	if err != nil {
		return SignInState{}, err
	}
	return SignInState{Account: a, Org: org, Offered: s.methods, Factors: factors, RecoveryCodes: len(codes),
		Proven: proven, Now: s.now()}, nil
}

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
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
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
		if err := s.audit(ctx, tx, event{detail: &SignInFailed{Reason: "password"}, account: c.Account, caller: c}); err != nil {
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
	return s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
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

// methodOptions lists what a second step offers: one entry per factor and
// channel ("call me instead" on the same number), then recovery codes while
// some remain; and the method of the default choice.
func methodOptions(n Next) ([]MethodOption, Method) {
	var out []MethodOption
	for _, c := range n.Choices {
		o := MethodOption{Method: c.Method}
		if c.Factor != nil {
			o.FactorID, o.To = c.Factor.ID, MaskAddress(c.Method, c.Factor.Address)
		}
		out = append(out, o)
	}
	def, _ := defaultChoice(n)
	return out, def.Method
}

// signedIn starts the session that next (NextSession, or NextEnrol within its
// grace period) says the sign-in has earned, and gives its client a device token.
func (s *Service) signedIn(ctx context.Context, tx Store, a *Account, next Next, c *Caller) (*SignInResult, error) {
	token, sess, err := s.startSession(ctx, tx, a, next.AMR, next.SecondStep, next.Confirmed, c)
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

// startSession stores a new session with a fresh token (FL-02, FL-03), recording
// how its second step was met. A confirmed session counts as a fresh identity
// confirmation for the confirmation window.
func (s *Service) startSession(ctx context.Context, tx Store, a *Account, amr []string, step SecondStep, confirmed bool, c *Caller) (string, *Session, error) {
	now := s.now()
	token, hash := s.newToken()
	sess := &Session{
		ID: s.newID("ses"), TokenHash: hash, AccountID: a.ID, AMR: amr, SecondStep: step, Legacy: step == SecondStepExempt,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.sessionMax),
	}
	sess.IdleExpiresAt = minTime(now.Add(s.sessionIdle), sess.ExpiresAt)
	if confirmed && step != SecondStepExempt {
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
	// Everything, the lookups included, in one write transaction: on SQLite the
	// writer's warm page cache answers them faster than a reader that must first
	// catch up with the writes before it (the hot path of every sign-in).
	err = s.atomically(ctx, func(ctx context.Context, tx Store) (error, error) {
		c, acct, err := s.liveSignIn(ctx, tx, r.SignInToken)
		if errors.Is(err, ErrExpired) {
			return ErrExpired, nil
		}
		if err != nil {
			return nil, err
		}
		caller := &Caller{Account: acct, IP: r.IP, UserAgent: r.UserAgent, DeviceToken: r.DeviceToken}
		st, err := s.signInState(ctx, tx, acct, nil, c.AMR)
		if err != nil {
			return nil, err
		}
		n := 0
		refusal, err := s.secondStep(ctx, tx, st, r.Method, code, r.FactorID, c, caller, func() (error, error) {
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
		st.Proven = append(slices.Clone(c.AMR), used.AMR())
		// Proven now; what comes next is the policy's: a session, or enrolment
		// of a method it allows (SU-07: prove what you have, then add).
		next := Decide(st)
		if next.Kind == NextEnrol {
			res, err = s.enrolmentRequired(ctx, tx, acct, st.Org, next, caller)
			return nil, err
		}
		if next.Kind != NextSession {
			return nil, fmt.Errorf("twostep: sign-in still needs a second step after proving %s", used)
		}
		if res, err = s.signedIn(ctx, tx, acct, next, caller); err != nil {
			return nil, err
		}
		return nil, s.audit(ctx, tx, event{detail: &SignInSucceeded{AMR: next.AMR, Method: r.Method, SecondStep: next.SecondStep},
			account: acct, caller: caller})
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
	st, err := s.signInState(ctx, s.store, acct, nil, c.AMR)
	if err != nil {
		return nil, err
	}
	res := &SignInResult{Status: StatusSecondStep, Account: acct, Org: st.Org, SignInToken: token, ExpiresAt: c.ExpiresAt}
	res.Methods, res.DefaultMethod = methodOptions(Decide(st))
	if now := s.now(); len(c.CodeHash) > 0 && now.Before(c.CodeExpiresAt) {
		// The live code of this sign-in, so that a page can say where it went.
		res.CodeSent = &CodeSent{Method: c.Method, FactorID: c.FactorID, To: MaskAddress(c.Method, c.Address),
			ExpiresIn: c.CodeExpiresAt.Sub(now), ResendAfter: max(0, c.LastSentAt.Add(ResendCooldown).Sub(now))}
	}
	return res, nil
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

// secondStep checks a second-step code inside tx, by a method Decide(st)
// offers: another is ErrMethodNotAllowed (a method the policy bans, SU-07) or
// an *InvalidError (one the account lacks), before anything is counted.
// Counting and the lock check are one locked step before the comparison
// (RL-12): the account's throttle row is held until tx ends, so parallel
// attempts on any number of sign-ins take turns; locked → refusal ErrThrottled,
// whatever the code (RL-08); then the before hook counts, and the comparison;
// a wrong code counts a failure and is the refusal ErrInvalidCode.
func (s *Service) secondStep(ctx context.Context, tx Store, st SignInState, m Method, code, factorID string, ch *Challenge, c *Caller,
	before func() (error, error)) (error, error) {
	a := st.Account
	next := Decide(st)
	if err := offered(st, next, m, factorID); err != nil {
		return nil, err
	}
	if m.delivers() && ch != nil && ch.Method != "" && !next.Offers(ch.Method, ch.FactorID) {
		return nil, ErrMethodNotAllowed // the live code went by a channel the policy banned since
	}
	now := s.now()
	t, err := tx.LockThrottle(ctx, accountKey(a.ID))
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
	ok, err := s.matchSecondStep(ctx, tx, a, st.Factors, m, code, factorID, ch, c)
	if err != nil {
		return nil, err
	}
	if !ok {
		after := s.limits.Account.Fail(t, now)
		if err := tx.PutThrottle(ctx, after); err != nil {
			return nil, err
		}
		if err := s.audit(ctx, tx, event{detail: &SecondStepFailed{Method: m}, account: a, caller: c}); err != nil {
			return nil, err
		}
		if wait, locked := after.Locked(now); locked {
			s.metrics.ThrottleTrip("account")
			if err := s.audit(ctx, tx, event{detail: &SecondStepLocked{Seconds: int(wait.Seconds())}, account: a, caller: c}); err != nil {
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

// offered returns nil when next lets m (and factorID) prove the second step;
// ErrMethodNotAllowed when the account has such a method that the policy does
// not let it use now; otherwise an *InvalidError.
func offered(st SignInState, next Next, m Method, factorID string) error {
	if next.Offers(m, factorID) {
		return nil
	}
	if next.Kind != NextSecondStep {
		return invalid("method", "this account has no second step to prove")
	}
	for _, f := range st.Factors {
		if slices.Contains(factorChannels(f, nil), m) && (factorID == "" || f.ID == factorID) {
			return ErrMethodNotAllowed
		}
	}
	if m == MethodRecoveryCode {
		return invalid("method", "this account has no unused recovery code")
	}
	if factorID != "" {
		return invalid("factor_id", "is not an active "+string(m)+" method of this account")
	}
	return invalid("method", "this account has no "+string(m)+" method")
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
// organisation allows, then complete (ORG-01); next (NextEnrol) says which and
// the token carries what was proven so far.
func (s *Service) enrolmentRequired(ctx context.Context, st Store, a *Account, org *Org, next Next, caller *Caller) (*SignInResult, error) {
	now := s.now()
	token, hash := s.newToken()
	c := &Challenge{ID: s.newID("sge"), TokenHash: hash, Purpose: PurposeEnrolSignIn, AccountID: a.ID,
		AMR: slices.Clone(next.AMR), CreatedAt: now, ExpiresAt: now.Add(s.signInTTL)}
	if err := st.CreateChallenge(ctx, c); err != nil {
		return nil, err
	}
	return &SignInResult{Status: StatusEnrollmentRequired, Account: a, Org: org, SignInToken: token, ExpiresAt: c.ExpiresAt,
		AllowedMethods: next.Allowed, GraceUntil: next.GraceUntil}, nil
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

// CompleteSignIn ends a sign-in that had to enrol, as Decide says from what the
// sign-in has proven (the method just enrolled included): with a session once a
// method the organisation allows is active and proven; during a grace period,
// without one (GraceUntil says until when); after it, ErrEnrolmentRequired.
// ErrExpired for a spent or unknown token, and for an account that gained a
// method this sign-in did not prove (SU-07).
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
	caller := &Caller{Account: a, IP: ip, UserAgent: userAgent}
	var res *SignInResult
	var next Next
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		st, err := s.signInState(ctx, tx, a, nil, ch.AMR)
		if err != nil {
			return err
		}
		switch next = Decide(st); {
		case next.Kind == NextSecondStep:
			return ErrExpired
		case next.Kind == NextEnrol && next.GraceUntil.IsZero():
			return ErrEnrolmentRequired
		}
		if ok, err := tx.ConsumeChallenge(ctx, ch.ID, s.now()); err != nil || !ok {
			return cmpErr(err, ErrExpired)
		}
		if res, err = s.signedIn(ctx, tx, a, next, caller); err != nil {
			return err
		}
		detail := &SignInSucceeded{AMR: next.AMR, Enrolled: next.Kind == NextSession, SecondStep: next.SecondStep}
		if next.Kind == NextEnrol {
			detail.GraceUntil = next.GraceUntil.Format(time.RFC3339)
		}
		return s.audit(ctx, tx, event{detail: detail, account: a, caller: caller})
	})
	if err != nil {
		return nil, err
	}
	res.GraceUntil = next.GraceUntil
	return res, nil
}
