package twostep

import (
	"context"
	"strings"
	"time"
)

// Authenticator apps through the Verify API (API.md §10): a product's own
// user (an entity, named by the product's Identity) sets up a TOTP app and
// proves its codes. The rules are those of Twostep's own apps: a 160-bit seed
// sealed at rest (OTP-05, OTP-12), ±1 step (OTP-07), each step once per
// factor (OTP-08, OTP-09), and per entity the account's failure cap and
// back-off (RL-01, RL-10) in a locked throttle row before the comparison (RL-12).

// Verify factor and challenge statuses, as Twilio words them.
const (
	FactorUnverified  = "unverified"
	FactorVerified    = "verified"
	ChallengePending  = "pending"
	ChallengeApproved = "approved"
)

// VerifyFactor is an entity's authenticator app. Secret is the sealed seed,
// bound to SID.
type VerifyFactor struct {
	SID          string // YF…
	ServiceSID   string
	Identity     string
	FriendlyName string
	Type         string // "totp"
	Status       string // FactorUnverified or FactorVerified
	Secret       []byte
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// VerifyChallenge is one code an entity gave for a verified factor.
type VerifyChallenge struct {
	SID       string // YC…
	FactorSID string
	Status    string // ChallengePending (wrong code) or ChallengeApproved
	CreatedAt time.Time
	UpdatedAt time.Time
}

// VerifyFactorStore keeps Verify factors and challenges.
type VerifyFactorStore interface {
	CreateVerifyFactor(ctx context.Context, f *VerifyFactor) error
	// VerifyFactor returns the factor with sid, or ErrNotFound.
	VerifyFactor(ctx context.Context, sid string) (*VerifyFactor, error)
	// UpdateVerifyFactor writes Status and UpdatedAt.
	UpdateVerifyFactor(ctx context.Context, f *VerifyFactor) error
	// UseVerifyTOTPStep records step as the factor's last accepted step if it
	// is greater than the one recorded, and reports whether it did.
	UseVerifyTOTPStep(ctx context.Context, sid string, step int64) (bool, error)
	CreateVerifyChallenge(ctx context.Context, c *VerifyChallenge) error
}

// NewVerifyFactor is the secret of a new factor, shown once: the seed and
// the otpauth URI an app reads from a QR code.
type NewVerifyFactor struct {
	Factor *VerifyFactor
	Secret string // Base32, no padding
	URI    string
}

func checkIdentity(identity string) error {
	if err := checkText("identity", identity); err != nil {
		return err
	}
	if identity == "" || len(identity) > 64 {
		return invalid("identity", ReasonLength, "Min", "1", "Max", "64")
	}
	return nil
}

// CreateVerifyFactor starts an authenticator app for the entity identity of
// the service: it is unverified until VerifyFactorCode proves a code of it.
// Errors: ErrNotFound for another organisation's service; *InvalidErrors
// naming "identity", "factor_type" (only "totp") or "friendly_name".
func (s *Service) CreateVerifyFactor(ctx context.Context, k *KeyCaller, serviceSID, identity, factorType, name string) (*NewVerifyFactor, error) {
	if err := checkIdentity(identity); err != nil {
		return nil, err
	}
	if factorType != "totp" {
		return nil, invalid("factor_type", ReasonFactorType, "Types", "totp")
	}
	name = strings.TrimSpace(name)
	if err := checkText("friendly_name", name); err != nil {
		return nil, err
	}
	if name == "" || len(name) > 64 {
		return nil, invalid("friendly_name", ReasonLength, "Min", "1", "Max", "64")
	}
	now := s.now()
	f := &VerifyFactor{SID: s.newSID("YF"), ServiceSID: serviceSID, Identity: identity, FriendlyName: name, Type: factorType,
		Status: FactorUnverified, CreatedAt: now, UpdatedAt: now}
	seed := make([]byte, totpSecretSize)
	s.mustRead(seed)
	var err error
	if f.Secret, err = s.sealer.Seal(seed, []byte(f.SID)); err != nil {
		return nil, err
	}
	var uri string
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		svc, err := s.keyService(ctx, tx, k, serviceSID)
		if err != nil {
			return err
		}
		uri = OTPAuthURI(svc.FriendlyName, name, seed)
		if err := tx.CreateVerifyFactor(ctx, f); err != nil {
			return err
		}
		return s.keyUsed(ctx, tx, k, "factor.create", f.SID, FactorUnverified)
	})
	s.verifyMetric("factor", "totp", verifyOutcome(err, "created"))
	if err != nil {
		return nil, err
	}
	return &NewVerifyFactor{Factor: f, Secret: b32.EncodeToString(seed), URI: uri}, nil
}

// entityKey is the throttle of an entity's failures: the account's limit
// (RL-01) for a product's user.
func entityKey(serviceSID, identity string) string {
	return "verify:entity:" + serviceSID + ":" + identity
}

// proveVerifyFactor checks code for the factor in tx: the entity's throttle
// row is held and its lock checked before the comparison (RL-12); locked →
// refusal ErrThrottled whatever the code (RL-08); a step is accepted once
// (OTP-08); a wrong code or a replay counts a failure.
func (s *Service) proveVerifyFactor(ctx context.Context, tx Store, k *KeyCaller, serviceSID, identity, factorSID, code string) (*VerifyFactor, bool, error, error) {
	if _, err := s.keyService(ctx, tx, k, serviceSID); err != nil {
		return nil, false, nil, err
	}
	f, err := tx.VerifyFactor(ctx, factorSID)
	if err != nil {
		return nil, false, nil, err
	}
	if f.ServiceSID != serviceSID || f.Identity != identity {
		return nil, false, nil, ErrNotFound
	}
	now := s.now()
	t, err := tx.LockThrottle(ctx, entityKey(serviceSID, identity))
	if err != nil {
		return nil, false, nil, err
	}
	if wait, locked := t.Locked(now); locked {
		return f, false, throttled(ErrThrottled, wait), nil
	}
	ok := false
	if c := normalizeCode(code); checkDigits(c, 6) == nil {
		seed, err := s.sealer.Open(f.Secret, []byte(f.SID))
		if err != nil {
			return nil, false, nil, err
		}
		if step, match := matchTOTP(seed, c, now); match {
			if ok, err = tx.UseVerifyTOTPStep(ctx, f.SID, step); err != nil {
				return nil, false, nil, err
			}
			if !ok {
				s.log.Warn("verify totp code replayed", "factor_sid", f.SID, "org_id", k.Key.OrgID) // OTP-10
			}
		}
	}
	if !ok {
		after := s.limits.Account.Fail(t, now)
		if _, locked := after.Locked(now); locked {
			s.metrics.ThrottleTrip("verify_entity")
		}
		return f, false, nil, tx.PutThrottle(ctx, after)
	}
	if t.Failures > 0 {
		if err := tx.PutThrottle(ctx, s.limits.Account.Succeed(t)); err != nil {
			return nil, false, nil, err
		}
	}
	return f, true, nil, nil
}

// VerifyFactorCode proves a new factor with a code of its app: verified on a
// right code; a wrong one leaves it unverified (not an error, as Twilio
// answers). Errors: ErrNotFound for a factor not of that service and entity;
// a *ThrottledError wrapping ErrThrottled while the entity is locked.
func (s *Service) VerifyFactorCode(ctx context.Context, k *KeyCaller, serviceSID, identity, factorSID, code string) (*VerifyFactor, error) {
	var f *VerifyFactor
	err := s.atomically(ctx, func(ctx context.Context, tx Store) (error, error) {
		var ok bool
		var refusal, err error
		f, ok, refusal, err = s.proveVerifyFactor(ctx, tx, k, serviceSID, identity, factorSID, code)
		if refusal != nil || err != nil {
			return refusal, err
		}
		if ok && f.Status != FactorVerified {
			f.Status, f.UpdatedAt = FactorVerified, s.now()
			if err := tx.UpdateVerifyFactor(ctx, f); err != nil {
				return nil, err
			}
		}
		outcome := f.Status
		if !ok {
			outcome = "wrong_code"
		}
		return nil, s.keyUsed(ctx, tx, k, "factor.verify", f.SID, outcome)
	})
	s.verifyMetric("factor_verify", "totp", verifyOutcome(err, "done"))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// CreateVerifyChallenge checks a code of a verified factor: approved, or
// pending for a wrong code or a step used before (not an error). Errors as
// VerifyFactorCode, and an *InvalidError on "factor_sid" for a factor not
// verified yet.
func (s *Service) CreateVerifyChallenge(ctx context.Context, k *KeyCaller, serviceSID, identity, factorSID, code string) (*VerifyChallenge, *VerifyFactor, error) {
	var c *VerifyChallenge
	var f *VerifyFactor
	err := s.atomically(ctx, func(ctx context.Context, tx Store) (error, error) {
		var ok bool
		var refusal, err error
		f, err = tx.VerifyFactor(ctx, factorSID)
		if err == nil && f.Status != FactorVerified && f.ServiceSID == serviceSID && f.Identity == identity {
			return nil, invalid("factor_sid", ReasonFactorNotVerified)
		}
		f, ok, refusal, err = s.proveVerifyFactor(ctx, tx, k, serviceSID, identity, factorSID, code)
		if refusal != nil || err != nil {
			return refusal, err
		}
		now := s.now()
		c = &VerifyChallenge{SID: s.newSID("YC"), FactorSID: f.SID, Status: ChallengePending, CreatedAt: now, UpdatedAt: now}
		if ok {
			c.Status = ChallengeApproved
		}
		if err := tx.CreateVerifyChallenge(ctx, c); err != nil {
			return nil, err
		}
		return nil, s.keyUsed(ctx, tx, k, "challenge.create", c.SID, c.Status)
	})
	outcome := verifyOutcome(err, "")
	if err == nil {
		outcome = c.Status
	}
	s.verifyMetric("challenge", "totp", outcome)
	if err != nil {
		return nil, nil, err
	}
	return c, f, nil
}
