package twostep

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// AccountInfo is an account as its holder sees it.
type AccountInfo struct {
	Account           *Account
	Org               *Org
	Factors           []*Factor // pending and active
	AllowedMethods    []Method
	Required          bool
	DefaultMethod     Method
	RecoveryCodesLeft int
	ConfirmedUntil    time.Time
	// GraceUntil is when the member's grace period under a required policy ends
	// (zero when there is none).
	GraceUntil time.Time
	// MinClientVersion is the first app version that may sign in once two-step
	// is on (the server's, raised by the organisation's policy); "" for none.
	MinClientVersion string
}

// AccountInfo returns what the caller's account looks like now.
func (s *Service) AccountInfo(ctx context.Context, c *Caller) (*AccountInfo, error) {
	a := c.Account
	org, err := s.store.Org(ctx, a.OrgID)
	if err != nil {
		return nil, err
	}
	factors, err := s.store.Factors(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	codes, err := s.store.RecoveryCodes(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	info := &AccountInfo{Account: a, Org: org, Factors: factors, AllowedMethods: s.allowed(org),
		Required: org.Policy.TwoStep == PolicyRequired, RecoveryCodesLeft: len(codes)}
	info.GraceUntil = graceUntil(org, a)
	if min := s.minClientVersion(org); min != nil {
		info.MinClientVersion = versionString(min)
	}
	for _, f := range factors {
		if f.Status == FactorActive && (f.Default || info.DefaultMethod == "") {
			info.DefaultMethod = f.Method
		}
	}
	if s.requireConfirmed(c) == nil {
		info.ConfirmedUntil = c.Session.ConfirmedUntil
	}
	if c.SignIn != nil && len(codes) == 0 && !slices.ContainsFunc(factors, func(f *Factor) bool { return f.Status == FactorActive }) {
		// API.md §3.2: an enrolment token counts as a confirmation only when the
		// password is all the account has.
		info.ConfirmedUntil = c.SignIn.ExpiresAt
	}
	return info, nil
}

// ConfirmRequest proves who the caller is again: the password, and a second-step
// code when two-step is on.
type ConfirmRequest struct {
	Password string
	Method   Method
	Code     string
	FactorID string
	// Credential is, for MethodWebAuthn, the browser's JSON of the
	// PublicKeyCredential answering ConfirmIdentitySend's options.
	Credential json.RawMessage
}

// ConfirmIdentity checks the password (and a second step, by a method the
// sign-in decision offers, when the account has any: SU-07) and replaces the
// caller's session with a renewed one, confirmed for the confirmation window,
// whose token it returns (FL-02, FL-07). The old token stops working; the
// session keeps its id (its sid: products signed in through it stay linked
// to it). Errors: ErrUnauthenticated when the session ended meanwhile,
// ErrInvalidCredentials for a wrong password, *CodeError for a wrong code,
// *ThrottledError while the account's second step or its signed-in password
// checks are locked (RL-09), ErrMethodNotAllowed for a method the policy does
// not let it use now. Wrong passwords here count per account, not per e-mail:
// the session says who the caller is, and a lock strangers put on the e-mail
// must not stop its holder (RL-13).
func (s *Service) ConfirmIdentity(ctx context.Context, c *Caller, r ConfirmRequest) (string, *Session, error) {
	a := c.Account
	if c.Session == nil {
		return "", nil, ErrUnauthenticated
	}
	if err := notAppPassword(c); err != nil {
		return "", nil, err
	}
	// An SSO member has no password: a new sign-in at the provider stands
	// in for it (API.md §12), for this session and for a short while.
	first := []string{"pwd"}
	var reauth *Challenge
	if a.SSO {
		ch, err := s.store.LatestChallenge(ctx, a.ID, PurposeSSOReauth)
		if errors.Is(err, ErrNotFound) || err == nil && (ch.SessionID != c.Session.ID || !s.now().Before(ch.ExpiresAt)) {
			return "", nil, ErrConfirmIdentity
		}
		if err != nil {
			return "", nil, err
		}
		reauth, first = ch, ch.AMR
	} else if r.Password == "" {
		return "", nil, invalid("password", ReasonRequired)
	}
	if r.Method == MethodWebAuthn {
		r.Code = string(r.Credential)
	}
	st, err := s.signInState(ctx, s.store, a, nil, first)
	if err != nil {
		return "", nil, err
	}
	code := ""
	if st.HasMethod() {
		if r.Method == "" || r.Code == "" {
			return "", nil, invalid("code", ReasonCodeRequired)
		}
		if code, err = checkCodeFormat(r.Method, r.Code); err != nil {
			return "", nil, err
		}
		if err := offered(st, Decide(st), r.Method, r.FactorID); err != nil {
			return "", nil, err
		}
	}
	now := s.now()
	for _, key := range []string{reauthKey(a.ID), accountKey(a.ID)} {
		t, err := s.store.Throttle(ctx, key)
		if err != nil {
			return "", nil, err
		}
		if wait, locked := t.Locked(now); locked {
			return "", nil, throttled(ErrThrottled, wait)
		}
	}
	if reauth == nil {
		ok, err := s.checkPassword(ctx, r.Password, a.PasswordHash)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return "", nil, s.passwordFailed(ctx, []string{reauthKey(a.ID)}, c)
		}
	}
	var token string
	var sess *Session
	err = s.atomically(ctx, func(ctx context.Context, tx Store) (error, error) {
		st, err := s.signInState(ctx, tx, a, nil, first)
		if err != nil {
			return nil, err
		}
		if st.HasMethod() {
			var ch *Challenge
			if r.Method.delivers() || r.Method == MethodWebAuthn {
				// The code must be one sent to confirm identity for this session (OOB-04, SU-04).
				ch, err = tx.LatestChallenge(ctx, a.ID, PurposeConfirmIdentity)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return nil, err
				}
				if ch != nil && (ch.SessionID != c.Session.ID || !ch.ConsumedAt.IsZero()) {
					ch = nil
				}
			}
			proof, refusal, err := s.secondStep(ctx, tx, st, r.Method, code, r.FactorID, ch, c, func() (error, error) {
				if ch == nil {
					return nil, nil
				}
				fresh, err := tx.CountChallengeAttempt(ctx, ch.ID)
				if errors.Is(err, ErrNotFound) || err == nil && fresh.Attempts > s.limits.Attempts {
					return ErrExpired, nil
				}
				if err == nil {
					*ch = *fresh
				}
				return nil, err
			})
			if errors.Is(refusal, ErrInvalidCode) {
				t, err := tx.Throttle(ctx, accountKey(a.ID))
				if err != nil {
					return nil, err
				}
				return &CodeError{AttemptsLeft: max(0, s.limits.Account.Free-t.Failures)}, nil
			}
			if refusal != nil || err != nil {
				return refusal, err
			}
			if ch != nil {
				if ok, err := tx.ConsumeChallenge(ctx, ch.ID, s.now()); err != nil || !ok {
					return nil, cmpErr(err, ErrExpired)
				}
			}
			st.Proven = append(st.Proven, proof...)
		}
		if reauth != nil {
			// The provider's new sign-in serves one confirmation.
			if ok, err := tx.ConsumeChallenge(ctx, reauth.ID, s.now()); err != nil || !ok {
				return nil, cmpErr(err, ErrConfirmIdentity)
			}
		}
		step := SecondStepNone
		if provenSecondStep(st.Proven) {
			step = SecondStepProven
		}
		// The session is renewed in place: a new token (FL-07), but the same
		// id, which is the sid products hold and which links them to the
		// session for back-channel logout (API.md §7, OP-06).
		token, sess = s.newSession(a, st.Proven, step, true, "", c)
		sess.ID = c.Session.ID
		if ok, err := tx.RenewSession(ctx, sess); err != nil || !ok {
			return nil, cmpErr(err, ErrUnauthenticated)
		}
		// A new forward-auth token too (API.md §8): the old cookie goes with the old token.
		if err := s.issueForward(ctx, tx, sess); err != nil {
			return nil, err
		}
		return nil, s.audit(ctx, tx, event{detail: &IdentityConfirmed{AMR: st.Proven}, account: a, caller: c})
	})
	if err != nil {
		return "", nil, err
	}
	s.wake()
	return token, sess, nil
}

// Settings is a change to an account's settings: nil fields stay as they are.
type Settings struct {
	AllowLegacyClients *bool
	Locale             *string
}

// Locales are the languages Twostep speaks.
var Locales = []string{"en", "fr", "ja"}

// browserLocale is c's language when Twostep speaks it, else "".
func browserLocale(c *Caller) string {
	if c == nil || !slices.Contains(Locales, c.Locale) {
		return ""
	}
	return c.Locale
}

// adoptLocale gives a the language of c's browser when a has none yet, so that
// its messages and pages follow what the person reads from their first sign-in,
// before they ever open the language setting; a language already chosen (or
// adopted) stays.
func (s *Service) adoptLocale(ctx context.Context, st Store, a *Account, c *Caller) error {
	loc := browserLocale(c)
	if a.Locale != "" || loc == "" {
		return nil
	}
	did, err := st.AdoptLocale(ctx, a.ID, loc)
	if err != nil {
		return err
	}
	if did {
		a.Locale = loc
	}
	return nil
}

// UpdateSettings changes the caller's settings. Allowing legacy clients needs a
// recent identity confirmation, two-step on, and an organisation that permits it
// (ErrForbidden otherwise).
func (s *Service) UpdateSettings(ctx context.Context, c *Caller, ch Settings) (*Account, error) {
	a := *c.Account
	if ch.Locale != nil {
		if !containsString(Locales, *ch.Locale) {
			return nil, invalid("locale", ReasonLocale, "Locales", strings.Join(Locales, ", "))
		}
		a.Locale = *ch.Locale
	}
	changedLegacy := ch.AllowLegacyClients != nil && *ch.AllowLegacyClients != a.AllowLegacyClients
	if changedLegacy {
		if err := s.requireConfirmed(c); err != nil {
			return nil, err
		}
		if *ch.AllowLegacyClients {
			if !a.TwoStepEnabled() {
				return nil, invalid("allow_legacy_clients", ReasonLegacyNeedsTwoStep)
			}
			org, err := s.store.Org(ctx, a.OrgID)
			if err != nil {
				return nil, err
			}
			if !org.Policy.AllowLegacyClients {
				return nil, ErrForbidden
			}
		}
		a.AllowLegacyClients = *ch.AllowLegacyClients
	}
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.UpdateAccount(ctx, &a); err != nil {
			return err
		}
		if !changedLegacy {
			return nil
		}
		if err := s.audit(ctx, tx, event{detail: &LegacyClientsChanged{AllowLegacyClients: a.AllowLegacyClients}, account: &a, caller: c}); err != nil {
			return err
		}
		return s.notice(ctx, tx, &a, "legacy_clients_changed", map[string]string{"allowed": boolString(a.AllowLegacyClients)})
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	*c.Account = a
	return &a, nil
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// EndOtherSessions ends every session of the caller's account but the caller's
// own (SU-05). It needs a recent identity confirmation.
func (s *Service) EndOtherSessions(ctx context.Context, c *Caller) error {
	if err := s.requireConfirmed(c); err != nil {
		return err
	}
	return s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := s.endOIDC(ctx, tx, c.Account.ID, "", c.Session.ID); err != nil {
			return err
		}
		if err := tx.DeleteSessions(ctx, c.Account.ID, c.Session.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, event{detail: &SessionsEnded{Which: "others"}, account: c.Account, caller: c})
	})
}

// Activity returns the caller's own audit events, newest first.
func (s *Service) Activity(ctx context.Context, c *Caller, before int64, limit int) ([]*AuditEvent, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	return s.store.Events(ctx, EventFilter{AccountID: c.Account.ID, Before: before, Limit: limit})
}

// DevMessages lists the messages the dev outbox kept, newest first.
func (s *Service) DevMessages(ctx context.Context, limit int) ([]*DevMessage, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return s.store.DevMessages(ctx, limit)
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }
