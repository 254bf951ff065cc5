package twostep

import (
	"context"
	"encoding/json"
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
	// Locale is the language the client asks for (see Caller.Locale).
	Locale string
	// DeviceToken is the token of an earlier successful sign-in from this
	// client, "" for none (RL-13: see Device).
	DeviceToken string
	// AuthRequestID is the OpenID Connect authorization request the person
	// signs in for, "" for none: one that asks for two-step leads an account
	// without a second step through enrolment (API.md §7).
	AuthRequestID string
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
	DeviceToken string
	// Device is the record of that device token; RememberedUntil is set when
	// this sign-in remembered it (VerifyRequest.RememberDevice).
	Device          *Device
	RememberedUntil time.Time
	SignInToken     string
	ExpiresAt       time.Time
	Methods         []MethodOption
	DefaultMethod   Method
	// WebAuthnOptions are the PublicKeyCredentialRequestOptions of the
	// ceremony this sign-in started for its keys, when Methods offers
	// MethodWebAuthn (SignIn only: a page asks WebAuthnSignInOptions).
	WebAuthnOptions json.RawMessage
	// CodeSent is set when the default method delivers a code and one was
	// queued (not when a sending cap stopped it: the sign-in goes on without).
	CodeSent *CodeSent
	// AllowedMethods and GraceUntil are set with StatusEnrollmentRequired (and
	// GraceUntil also when a grace period let the sign-in through).
	AllowedMethods []Method
	GraceUntil     time.Time
}

func emailKey(email string) string { return "email:" + email }
func accountKey(id string) string  { return AccountThrottlePrefix + id }

// AccountThrottlePrefix starts the key of an account's second-step throttle,
// which the account id completes: a store that reads and locks a sign-in's
// rows ahead (PostgreSQL, in one round trip) locks this row too.
const AccountThrottlePrefix = "account:"

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
		return nil, invalid("email", ReasonEmail)
	}
	if r.Password == "" {
		return nil, invalid("password", ReasonRequired)
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
	if acct == nil {
		// An address with no account in a domain of an organisation with
		// SSO signs in there (API.md §12): the same answer for every
		// address of the domain, so it tells nothing about accounts.
		if managed, err := s.ssoDomainManaged(ctx, email); err != nil || managed {
			return nil, cmpErr(err, ErrSSOManaged)
		}
	}
	hash := ""
	if acct != nil {
		hash = acct.PasswordHash
	}
	ok, err := s.checkPassword(ctx, r.Password, hash)
	if err != nil {
		return nil, err
	}
	caller := &Caller{Account: acct, IP: r.IP, UserAgent: r.UserAgent, Locale: r.Locale, DeviceToken: r.DeviceToken}
	if !ok {
		if res, err := s.signInWithAppPassword(ctx, r, acct, version, caller); res != nil || err != nil {
			return res, err
		}
		return nil, s.passwordFailed(ctx, keys, caller)
	}
	if err := s.passwordSucceeded(ctx, keys[0]); err != nil {
		return nil, err
	}
	// Before any code goes out, so that the first one is in the reader's language.
	if err := s.adoptLocale(ctx, s.store, acct, caller); err != nil {
		return nil, err
	}
	if !IsNativeHash(hash) {
		s.upgradeHash(ctx, acct, r.Password) // an imported hash, replaced at its first correct password (API.md §9)
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
	st.RequireSecondStep = s.authRequestWantsTwoStep(ctx, r.AuthRequestID)
	st.RequirePhishingResistant = s.authRequestWantsPhishingResistant(ctx, r.AuthRequestID)
	st.Remembered = s.signInRemembered(ctx, dev, org, r.AuthRequestID)
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
			if next.SecondStep == SecondStepRemembered {
				detail.Device = dev.ID
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
	if res.WebAuthnOptions, err = s.beginAssertion(acct, st.Factors, next, c); err != nil {
		return nil, err
	}
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

// challengeState is signInState for a sign-in in progress: what its token
// has proven, and the provider's answer of an SSO sign-in.
func (s *Service) challengeState(ctx context.Context, st Store, a *Account, c *Challenge) (SignInState, error) {
	state, err := s.signInState(ctx, st, a, nil, c.AMR)
	state.Upstream = c.Upstream
	return state, err
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
	// RememberDevice asks that this device skip the second step at the
	// account's later sign-ins, for the policy's RememberDeviceDays (nothing
	// when that is 0).
	RememberDevice bool
	// Credential is, for MethodWebAuthn, the browser's JSON of the
	// PublicKeyCredential answering the sign-in's options (Code is unused).
	Credential json.RawMessage
	// AuthRequestID is the OpenID Connect authorization request the person
	// signs in for, "" for none, as in SignInRequest: one that asks for
	// phishing resistance accepts only a key.
	AuthRequestID string
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
	case MethodTOTP, MethodEmail, MethodSMS, MethodVoice, MethodRecoveryCode, MethodWebAuthn:
		return string(m)
	}
	return "other"
}

func (s *Service) verifySignIn(ctx context.Context, r VerifyRequest) (*SignInResult, error) {
	if r.SignInToken == "" {
		return nil, invalid("sign_in_token", ReasonRequired)
	}
	if r.Method == MethodWebAuthn {
		r.Code = string(r.Credential)
	}
	code, err := checkCodeFormat(r.Method, r.Code)
	if err != nil {
		return nil, err
	}
	if r.Method == MethodWebAuthn {
		// A passwordless sign-in's token names no account until the key answers.
		ch, err := s.store.ChallengeByToken(ctx, HashToken(r.SignInToken))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if err == nil && ch.Purpose == PurposePasskeySignIn {
			if !ch.ConsumedAt.IsZero() || !s.now().Before(ch.ExpiresAt) {
				return nil, ErrExpired
			}
			return s.verifyPasskeySignIn(ctx, r, ch)
		}
	}
	phishingResistant := s.authRequestWantsPhishingResistant(ctx, r.AuthRequestID)
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
		st, err := s.challengeState(ctx, tx, acct, c)
		if err != nil {
			return nil, err
		}
		st.RequirePhishingResistant = phishingResistant
		n := 0
		proof, refusal, err := s.secondStep(ctx, tx, st, r.Method, code, r.FactorID, c, caller, func() (error, error) {
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
			ce := &CodeError{AttemptsLeft: s.limits.Attempts - n}
			if ce.AttemptsLeft <= 0 {
				ce.Email = acct.Email // the holder typed it with the password: offer it again
			}
			return ce, nil
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
		if used == MethodWebAuthn {
			st.Proven = append(slices.Clone(c.AMR), proof...)
		}
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
		if r.RememberDevice {
			if res.RememberedUntil, err = s.rememberDevice(ctx, tx, acct, st.Org, res.Device, caller); err != nil {
				return nil, err
			}
		}
		return nil, s.audit(ctx, tx, event{detail: &SignInSucceeded{AMR: next.AMR, Method: r.Method, SecondStep: next.SecondStep,
			Provider: st.Upstream.issuer()}, account: acct, caller: caller})
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
		return nil, nil, invalid("sign_in_token", ReasonRequired)
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
// asks for the second step; authRequestID is the OpenID Connect request the
// person signs in for ("" for none), which may ask for a key.
func (s *Service) SignInMethods(ctx context.Context, token, authRequestID string) (*SignInResult, error) {
	c, acct, err := s.liveSignIn(ctx, s.store, token)
	if err != nil {
		return nil, err
	}
	st, err := s.challengeState(ctx, s.store, acct, c)
	if err != nil {
		return nil, err
	}
	st.RequirePhishingResistant = s.authRequestWantsPhishingResistant(ctx, authRequestID)
	res := &SignInResult{Status: StatusSecondStep, Account: acct, Org: st.Org, SignInToken: token, ExpiresAt: c.ExpiresAt}
	res.Methods, res.DefaultMethod = methodOptions(Decide(st))
	if now := s.now(); len(c.CodeHash) > 0 && now.Before(c.CodeExpiresAt) {
		// The live code of this sign-in, so that a page can say where it went.
		res.CodeSent = &CodeSent{Method: c.Method, FactorID: c.FactorID, To: MaskAddress(c.Method, c.Address),
			ExpiresIn: c.CodeExpiresAt.Sub(now), ResendAfter: max(0, c.LastSentAt.Add(ResendCooldown).Sub(now))}
	}
	return res, nil
}
