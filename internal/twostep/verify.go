package twostep

import (
	"context"
	"errors"
	"strings"
	"time"
)

// The Verify API (API.md §10): a product that keeps its own sign-in asks
// Twostep only for codes. Its rules are those of Twostep's own codes (API-02)
// and run through the same engine (issueCode, matchCode): a verification is a
// challenge of purpose verify, bound to its service and organisation, whose
// code is hashed, single use, 10 minutes, at most Limits.Attempts checks,
// with the resend cooldown, the toll-fraud caps, the country list and the
// outbox. The Twilio shape (SIDs aside) lives in the HTTP adapter.

// PurposeVerify is a Verify API verification's challenge.
const PurposeVerify Purpose = "verify"

// Verify limits beside those of sign-in codes.
const (
	// VerifySendsMax is how many codes one verification may send (Twilio's
	// "max send attempts", 60203): with the cooldown, 5 sends in 10 minutes.
	VerifySendsMax = 5
	// DefaultVerifyOrgDaily is TWOSTEP_VERIFY_ORG_DAILY_LIMIT's default.
	DefaultVerifyOrgDaily = 500
	// Service code lengths: never fewer digits than OOB-01 allows.
	verifyCodeMin, verifyCodeMax = 6, 10
)

// Verification statuses, as Twilio words them.
const (
	VerificationPending   = "pending"
	VerificationApproved  = "approved"
	VerificationCanceled  = "canceled"
	VerificationMaxChecks = "max_attempts_reached"
	VerificationExpired   = "expired"
	verifyTemplate        = "code_verify"
)

// VerifyService is a product's configuration of the Verify API: its name in
// the messages and the length of its codes. It belongs to one organisation.
type VerifyService struct {
	SID          string // VA…
	OrgID        string
	FriendlyName string
	CodeLength   int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// SendAttempt is one code sent for a verification.
type SendAttempt struct {
	Method Method
	At     time.Time
}

// Verification is one person's code in flight: sent To (an E.164 number or
// an e-mail address) by Method, checked at most Limits.Attempts times. Its
// code and counts live in its challenge (ChallengeID).
type Verification struct {
	SID          string // VE…
	ServiceSID   string
	ChallengeID  string
	To           string
	Method       Method
	Locale       string
	Status       string
	SendAttempts []SendAttempt
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ExpiresAt    time.Time
}

// Valid reports whether the verification was approved (Twilio's "valid").
func (v *Verification) Valid() bool { return v.Status == VerificationApproved }

// VerifyStore keeps Verify services, verifications and entity factors.
type VerifyStore interface {
	CreateVerifyService(ctx context.Context, v *VerifyService) error
	// VerifyService returns the service with sid, or ErrNotFound.
	VerifyService(ctx context.Context, sid string) (*VerifyService, error)
	CreateVerification(ctx context.Context, v *Verification) error
	// Verification returns the verification with sid, or ErrNotFound.
	Verification(ctx context.Context, sid string) (*Verification, error)
	// LatestVerification returns the newest verification of the service to
	// to, or ErrNotFound.
	LatestVerification(ctx context.Context, serviceSID, to string) (*Verification, error)
	// UpdateVerification writes Method, Locale, Status, SendAttempts and UpdatedAt.
	UpdateVerification(ctx context.Context, v *Verification) error

	VerifyFactorStore
}

// VerifyOptions are the Verify API's settings.
type VerifyOptions struct {
	// OrgDaily caps the SMS and calls a day each organisation's keys may
	// send (TWOSTEP_VERIFY_ORG_DAILY_LIMIT), so that one organisation cannot
	// spend the server-wide cap sign-in codes also need; default 500.
	OrgDaily int
}

// NewVerification is what starts (or re-sends) a verification.
type NewVerification struct {
	To     string
	Method Method // MethodSMS, MethodVoice or MethodEmail
	Locale string // "" for the service's default (English)
}

// CheckVerification is a code to check, for the verification with SID or
// the latest one to To.
type CheckVerification struct {
	To   string
	SID  string
	Code string
}

// CreateVerifyService makes a service for the key's organisation. name is
// required (at most 64 characters); codeLength 0 means 6, otherwise 6 to 10.
func (s *Service) CreateVerifyService(ctx context.Context, k *KeyCaller, name string, codeLength int) (*VerifyService, error) {
	name = strings.TrimSpace(name)
	if err := checkText("friendly_name", name); err != nil {
		return nil, err
	}
	if name == "" || len(name) > 64 {
		return nil, invalid("friendly_name", ReasonLength, "Min", "1", "Max", "64")
	}
	if codeLength == 0 {
		codeLength = verifyCodeMin
	}
	if codeLength < verifyCodeMin || codeLength > verifyCodeMax {
		return nil, invalid("code_length", ReasonCodeLength, "Min", itoa(verifyCodeMin), "Max", itoa(verifyCodeMax))
	}
	now := s.now()
	v := &VerifyService{SID: s.newSID("VA"), OrgID: k.Key.OrgID, FriendlyName: name, CodeLength: codeLength, CreatedAt: now, UpdatedAt: now}
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.CreateVerifyService(ctx, v); err != nil {
			return err
		}
		return s.keyUsed(ctx, tx, k, "service.create", v.SID, "created")
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// VerifyServiceOf returns the service sid if it belongs to the key's
// organisation; ErrNotFound otherwise (another organisation's service does
// not exist for this key).
func (s *Service) VerifyServiceOf(ctx context.Context, k *KeyCaller, sid string) (*VerifyService, error) {
	var v *VerifyService
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		var err error
		if v, err = s.keyService(ctx, tx, k, sid); err != nil {
			return err
		}
		return s.keyUsed(ctx, tx, k, "service.fetch", sid, "")
	})
	return v, err
}

func (s *Service) keyService(ctx context.Context, st Store, k *KeyCaller, sid string) (*VerifyService, error) {
	v, err := st.VerifyService(ctx, sid)
	if err != nil {
		return nil, err
	}
	if v.OrgID != k.Key.OrgID {
		return nil, ErrNotFound
	}
	return v, nil
}

// verifyAddress checks where a code may go by m: an e-mail address, or a
// phone number in E.164 (with its leading "+") that takes m, is not premium
// rate and is in an allowed country. Refusals are *InvalidErrors on "to"
// (ReasonPhoneCountryNotAllowed for a country the operator did not allow),
// or on "channel" for a channel this server does not offer.
func (s *Service) verifyAddress(to string, m Method) (string, error) {
	if m != MethodSMS && m != MethodVoice && m != MethodEmail {
		return "", invalid("channel", ReasonVerifyChannel, "Channels", "sms, call, email")
	}
	if !s.offered(m) {
		return "", invalid("channel", ReasonVerifyChannelOff, "Channel", string(m))
	}
	to = strings.TrimSpace(to)
	if to == "" {
		return "", invalid("to", ReasonRequired)
	}
	if m == MethodEmail {
		return checkEmail("to", to)
	}
	if !strings.HasPrefix(to, "+") {
		return "", invalid("to", ReasonPhoneE164)
	}
	p, err := ParsePhone(to, "", m, s.smsCountries)
	if err != nil {
		if ie, ok := err.(*InvalidError); ok && ie.Field == "phone" {
			ie.Field = "to"
		}
		return "", err
	}
	return p.E164, nil
}

// lookupAddress is the canonical form of a To given to find a verification.
func lookupAddress(to string) string {
	to = strings.TrimSpace(to)
	if strings.Contains(to, "@") {
		return NormalizeEmail(to)
	}
	if p, err := ParsePhone(to, "", MethodVoice, nil); err == nil {
		return p.E164
	}
	return to
}

// verifyCaps are the quotas one Verify send takes: per organisation and
// address, and for phones the country and server-wide caps that sign-in
// codes share, plus the organisation's daily cap (OOB-10).
func (s *Service) verifyCaps(orgID string, m Method, address string) []sendCap {
	if m == MethodEmail {
		return []sendCap{{"address", "send:verify:email:" + orgID + ":" + address, accountCap}}
	}
	out := []sendCap{{"number", "send:number:verify:" + orgID + ":" + address, s.phoneLimits.PerNumber}}
	if cc := callingCode(address); cc != "" {
		out = append(out, sendCap{"country", "send:country:" + cc, s.phoneLimits.PerCountry})
	}
	daily := s.verify.OrgDaily
	if daily <= 0 {
		daily = DefaultVerifyOrgDaily
	}
	return append(out, sendCap{"org", "send:verify:org:" + orgID, Cap{Max: daily, Window: 24 * time.Hour}},
		sendCap{"global", "send:phone:all", Cap{Max: s.phoneLimits.Daily, Window: 24 * time.Hour}})
}

// StartVerification sends a code to r.To by r.Method for the service. A
// verification to the same address still pending in the service (within
// its 10 minutes) sends again on the same verification, with a new code
// that replaces the earlier one (OOB-06). Errors: ErrNotFound for a service
// not of the key's organisation; an *InvalidError naming "to", "channel" or
// "locale"; ErrResendTooSoon (a *ThrottledError) inside the cooldown or
// after VerifySendsMax sends; a *ThrottledError wrapping ErrThrottled when
// a toll-fraud cap refuses (audited as delivery.capped).
func (s *Service) StartVerification(ctx context.Context, k *KeyCaller, serviceSID string, r NewVerification) (*Verification, error) {
	to, err := s.verifyAddress(r.To, r.Method)
	if err != nil {
		s.verifyMetric("verification", string(r.Method), "invalid")
		return nil, err
	}
	locale := strings.ToLower(strings.TrimSpace(r.Locale))
	if len(locale) > 16 || checkText("locale", locale) != nil {
		return nil, invalid("locale", ReasonLocale, "Locales", strings.Join(Locales, ", "))
	}
	var v *Verification
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		svc, err := s.keyService(ctx, tx, k, serviceSID)
		if err != nil {
			return err
		}
		now := s.now()
		var ch *Challenge
		v, err = tx.LatestVerification(ctx, svc.SID, to)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if v != nil && v.Status == VerificationPending && now.Before(v.ExpiresAt) {
			if ch, err = tx.Challenge(ctx, v.ChallengeID); err != nil {
				return err
			}
			if ch.Sends >= VerifySendsMax {
				return throttled(ErrResendTooSoon, v.ExpiresAt.Sub(now))
			}
			v.Method, v.UpdatedAt = r.Method, now
			if locale != "" {
				v.Locale = locale
			}
		} else {
			ch = &Challenge{ID: s.newID("chl"), Purpose: PurposeVerify, CreatedAt: now, ExpiresAt: now.Add(CodeTTL)}
			if err := tx.CreateChallenge(ctx, ch); err != nil {
				return err
			}
			v = &Verification{SID: s.newSID("VE"), ServiceSID: svc.SID, ChallengeID: ch.ID, To: to, Method: r.Method,
				Locale: locale, Status: VerificationPending, CreatedAt: now, UpdatedAt: now, ExpiresAt: ch.ExpiresAt}
			if err := tx.CreateVerification(ctx, v); err != nil {
				return err
			}
		}
		if _, err := s.issueCode(ctx, tx, codeSend{challenge: ch, method: r.Method, address: to, locale: v.Locale,
			caps: s.verifyCaps(svc.OrgID, r.Method, to), template: verifyTemplate, digits: svc.CodeLength,
			data: map[string]string{"issuer": svc.FriendlyName}}, nil); err != nil {
			return err
		}
		v.SendAttempts = append(v.SendAttempts, SendAttempt{Method: r.Method, At: now})
		if err := tx.UpdateVerification(ctx, v); err != nil {
			return err
		}
		return s.keyUsed(ctx, tx, k, "verification.create", v.SID, VerificationPending)
	})
	var ce *capError
	if errors.As(err, &ce) {
		s.metrics.ThrottleTrip("send_" + ce.cap)
		s.log.Warn("verify code not sent: cap reached", "cap", ce.cap, "channel", ce.channel, "org_id", k.Key.OrgID, "key_id", k.Key.ID)
		if aerr := s.audit(ctx, s.store, event{detail: &DeliveryCapped{Cap: ce.cap, Channel: ce.channel}, orgID: k.Key.OrgID,
			actorID: k.Key.ID, caller: &Caller{IP: k.IP, UserAgent: k.UserAgent}}); aerr != nil {
			s.log.Error("audit", "err", aerr)
		}
	}
	s.verifyMetric("verification", string(r.Method), verifyOutcome(err, VerificationPending))
	if err != nil {
		return nil, err
	}
	s.wake()
	return v, nil
}

// verifyOutcome words a Verify result for metrics.
func verifyOutcome(err error, ok string) string {
	var inv *InvalidError
	switch {
	case err == nil:
		return ok
	case errors.As(err, &inv):
		return "invalid"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrResendTooSoon):
		return "resend_too_soon"
	case errors.Is(err, ErrThrottled):
		return "throttled"
	}
	return "error"
}

// liveVerification returns the service's verification sid (or the latest to
// to when sid is "") if it can still be checked or canceled; ErrNotFound
// when there is none, it is another service's, or it was approved, canceled
// or has expired (Twilio answers 20404 for all of these).
func (s *Service) liveVerification(ctx context.Context, tx Store, k *KeyCaller, serviceSID, sid, to string) (*Verification, error) {
	svc, err := s.keyService(ctx, tx, k, serviceSID)
	if err != nil {
		return nil, err
	}
	var v *Verification
	if sid != "" {
		v, err = tx.Verification(ctx, sid)
	} else {
		v, err = tx.LatestVerification(ctx, svc.SID, lookupAddress(to))
	}
	if err != nil {
		return nil, err
	}
	if v.ServiceSID != svc.SID || (v.Status != VerificationPending && v.Status != VerificationMaxChecks) || !s.now().Before(v.ExpiresAt) {
		return nil, ErrNotFound
	}
	return v, nil
}

// Verification returns the service's verification sid while it is pending
// (or has used up its checks); ErrNotFound otherwise.
func (s *Service) Verification(ctx context.Context, k *KeyCaller, serviceSID, sid string) (*Verification, error) {
	var v *Verification
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		var err error
		if v, err = s.liveVerification(ctx, tx, k, serviceSID, sid, ""); err != nil {
			return err
		}
		return s.keyUsed(ctx, tx, k, "verification.fetch", sid, v.Status)
	})
	s.verifyMetric("fetch", "", verifyOutcome(err, "found"))
	return v, err
}

// CancelVerification ends a live verification: its code no longer works.
// ErrNotFound as for Verification.
func (s *Service) CancelVerification(ctx context.Context, k *KeyCaller, serviceSID, sid string) (*Verification, error) {
	var v *Verification
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		var err error
		if v, err = s.liveVerification(ctx, tx, k, serviceSID, sid, ""); err != nil {
			return err
		}
		if ok, err := tx.ConsumeChallenge(ctx, v.ChallengeID, s.now()); err != nil {
			return err
		} else if !ok {
			return ErrNotFound
		}
		v.Status, v.UpdatedAt = VerificationCanceled, s.now()
		if err := tx.UpdateVerification(ctx, v); err != nil {
			return err
		}
		return s.keyUsed(ctx, tx, k, "verification.cancel", sid, VerificationCanceled)
	})
	s.verifyMetric("cancel", "", verifyOutcome(err, VerificationCanceled))
	return v, err
}

// CheckVerification checks a code. The check is counted before the
// comparison, in the challenge's row, which parallel checks take in turn
// (RL-05, RL-12); a right code consumes the challenge in one statement, so N
// parallel checks of one code approve once (OOB-03). It returns the
// verification approved, or pending for a wrong code (not an error, as
// Twilio answers). Errors: an *InvalidError for a missing code or neither
// to nor sid; ErrNotFound as for Verification (and for the checks that lose
// a race to the one that approved); a *ThrottledError wrapping ErrThrottled
// once Limits.Attempts checks are used up (Twilio's 60202).
func (s *Service) CheckVerification(ctx context.Context, k *KeyCaller, serviceSID string, r CheckVerification) (*Verification, error) {
	code := normalizeCode(r.Code)
	if code == "" {
		return nil, invalid("code", ReasonRequired)
	}
	if len(code) > 32 {
		return nil, invalid("code", ReasonCodeDigits)
	}
	if r.SID == "" && strings.TrimSpace(r.To) == "" {
		return nil, invalid("to", ReasonVerifyToOrSID)
	}
	var v *Verification
	err := s.atomically(ctx, func(ctx context.Context, tx Store) (error, error) {
		var err error
		if v, err = s.liveVerification(ctx, tx, k, serviceSID, r.SID, r.To); err != nil {
			return nil, err
		}
		now := s.now()
		if v.Status == VerificationMaxChecks {
			return throttled(ErrThrottled, v.ExpiresAt.Sub(now)), s.keyUsed(ctx, tx, k, "verification.check", v.SID, "max_attempts_reached")
		}
		ch, err := tx.CountChallengeAttempt(ctx, v.ChallengeID)
		if errors.Is(err, ErrNotFound) {
			return nil, ErrNotFound // approved or canceled meanwhile
		}
		if err != nil {
			return nil, err
		}
		if ch.Attempts > s.limits.Attempts {
			return throttled(ErrThrottled, v.ExpiresAt.Sub(now)), s.keyUsed(ctx, tx, k, "verification.check", v.SID, "max_attempts_reached")
		}
		v.UpdatedAt = now
		if s.matchCode(ch, v.Method, "", code) {
			if ok, err := tx.ConsumeChallenge(ctx, ch.ID, now); err != nil {
				return nil, err
			} else if !ok {
				return nil, ErrNotFound
			}
			v.Status = VerificationApproved
		} else if ch.Attempts >= s.limits.Attempts {
			v.Status = VerificationMaxChecks
		}
		if err := tx.UpdateVerification(ctx, v); err != nil {
			return nil, err
		}
		return nil, s.keyUsed(ctx, tx, k, "verification.check", v.SID, v.Status)
	})
	channel := ""
	if v != nil {
		channel = string(v.Method)
	}
	outcome := verifyOutcome(err, "")
	if err == nil {
		outcome = "wrong_code"
		if v.Valid() {
			outcome = VerificationApproved
		}
	}
	s.verifyMetric("check", channel, outcome)
	if err != nil {
		return nil, err
	}
	if v.Status == VerificationMaxChecks {
		v.Status = VerificationPending // Twilio's answer to the last wrong code; later checks get 60202
	}
	return v, nil
}
