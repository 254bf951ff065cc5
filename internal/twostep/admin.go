package twostep

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// How long one-time links last.
const (
	SetupTTL       = 24 * time.Hour
	SetPasswordTTL = 7 * 24 * time.Hour
)

// OperatorActor is the actor id written in audit events for what an operator did
// from the command line.
const OperatorActor = "operator"

// SetupToken returns a new one-time first-run token while no organisation exists,
// and "" once one does.
func (s *Service) SetupToken(ctx context.Context) (string, error) {
	n, err := s.store.CountOrgs(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	now := s.now()
	token, hash := s.newToken()
	c := &Challenge{ID: s.newID("stp"), TokenHash: hash, Purpose: PurposeSetup, CreatedAt: now, ExpiresAt: now.Add(SetupTTL)}
	return token, s.store.CreateChallenge(ctx, c)
}

// liveToken returns the unconsumed, unexpired challenge of one of purposes ps
// a link token opens, or ErrExpired.
func (s *Service) liveToken(ctx context.Context, token string, ps ...Purpose) (*Challenge, error) {
	c, err := s.store.ChallengeByToken(ctx, HashToken(token))
	if errors.Is(err, ErrNotFound) || (err == nil && (!slices.Contains(ps, c.Purpose) || !c.ConsumedAt.IsZero() || !s.now().Before(c.ExpiresAt))) {
		return nil, ErrExpired
	}
	return c, err
}

// HasOrg reports whether an organisation exists yet; until one does, the pages
// point people to the setup link that serve printed.
func (s *Service) HasOrg(ctx context.Context) (bool, error) {
	n, err := s.store.CountOrgs(ctx)
	return n > 0, err
}

// CheckSetupToken returns ErrExpired unless token is a live first-run token and
// no organisation exists yet.
func (s *Service) CheckSetupToken(ctx context.Context, token string) error {
	if _, err := s.liveToken(ctx, token, PurposeSetup); err != nil {
		return err
	}
	n, err := s.store.CountOrgs(ctx)
	if err == nil && n > 0 {
		return ErrExpired
	}
	return err
}

// NewOrg describes an organisation to create with its owner.
type NewOrg struct {
	Name       string
	Slug       string // "" derives it from Name
	OwnerEmail string
	Password   string // "" leaves the owner without one and returns a set-password token
}

// Setup creates the first organisation and its owner with a first-run token and
// signs the owner in (a fresh confirmation: they just chose the password).
func (s *Service) Setup(ctx context.Context, token string, n NewOrg, c *Caller) (*SignInResult, error) {
	if n.Password == "" {
		return nil, invalid("password", ReasonRequired)
	}
	ch, err := s.liveToken(ctx, token, PurposeSetup)
	if err != nil {
		return nil, err
	}
	org, acct, err := s.prepareOrg(ctx, n)
	if err != nil {
		return nil, err
	}
	acct.Locale = browserLocale(c)
	var res *SignInResult
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if count, err := tx.CountOrgs(ctx); err != nil || count > 0 {
			return cmpErr(err, ErrExpired)
		}
		if ok, err := tx.ConsumeChallenge(ctx, ch.ID, s.now()); err != nil || !ok {
			return cmpErr(err, ErrExpired)
		}
		if err := s.insertOrg(ctx, tx, org, acct, c); err != nil {
			return err
		}
		// A new owner has nothing but the password: Decide gives the session.
		next := Decide(SignInState{Account: acct, Org: org, Offered: s.methods, Proven: []string{"pwd"}, Now: s.now()})
		res, err = s.signedIn(ctx, tx, acct, next, c)
		return err
	})
	return res, err
}

// CreateOrg creates an organisation and its owner, as the operator. Without a
// password it returns a one-time set-password token for the owner.
func (s *Service) CreateOrg(ctx context.Context, n NewOrg) (*Org, *Account, string, error) {
	org, acct, err := s.prepareOrg(ctx, n)
	if err != nil {
		return nil, nil, "", err
	}
	var token string
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := s.insertOrg(ctx, tx, org, acct, nil); err != nil {
			return err
		}
		if acct.PasswordHash == "" {
			token, err = s.setPasswordToken(ctx, tx, acct)
		}
		return err
	})
	return org, acct, token, err
}

func (s *Service) prepareOrg(ctx context.Context, n NewOrg) (*Org, *Account, error) {
	name := strings.TrimSpace(n.Name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return nil, nil, invalid("name", ReasonLength, "Min", "1", "Max", "100")
	}
	if err := checkText("name", name); err != nil {
		return nil, nil, err
	}
	id := s.newID("org")
	slug := n.Slug
	if slug == "" {
		slug = Slugify(name)
	}
	if slug == "" && n.Slug == "" {
		// A name in a script without ASCII letters (カーボン会計) has no
		// readable slug: the random end of its id is one, and as unique.
		slug = "org-" + id[len(id)-8:]
	}
	if !validSlug(slug) {
		return nil, nil, invalid("slug", ReasonSlug)
	}
	now := s.now()
	org := &Org{ID: id, Name: name, Slug: slug, Policy: s.DefaultPolicy(), CreatedAt: now}
	org.Policy.ChangedAt = now
	acct, err := s.prepareAccount(ctx, org, n.OwnerEmail, RoleOwner, false, n.Password)
	return org, acct, err
}

func (s *Service) insertOrg(ctx context.Context, tx Store, org *Org, owner *Account, c *Caller) error {
	if err := tx.CreateOrg(ctx, org); err != nil {
		if errors.Is(err, ErrConflict) {
			return invalid("slug", ReasonSlugTaken, "Slug", org.Slug)
		}
		return err
	}
	return s.insertAccount(ctx, tx, owner, c)
}

func (s *Service) prepareAccount(ctx context.Context, org *Org, email string, role Role, sso bool, password string) (*Account, error) {
	email, err := checkEmail("email", email)
	if err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, invalid("role", ReasonRole)
	}
	a := &Account{ID: s.newID("acc"), OrgID: org.ID, Email: email, Role: role, SSO: sso, CreatedAt: s.now()}
	if password != "" {
		if sso {
			return nil, invalid("password", ReasonSSONoPassword)
		}
		if err := CheckPassword("password", password); err != nil {
			return nil, err
		}
		if a.PasswordHash, err = s.hasher.Hash(ctx, password); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (s *Service) insertAccount(ctx context.Context, tx Store, a *Account, c *Caller) error {
	if err := tx.CreateAccount(ctx, a); err != nil {
		if errors.Is(err, ErrConflict) {
			return invalid("email", ReasonEmailTaken)
		}
		return err
	}
	actor := OperatorActor // from the command line
	switch {
	case c != nil && c.Account != nil:
		actor = c.Account.ID
	case c != nil:
		actor = a.ID // the first-run page: the owner makes their own account
	}
	return s.audit(ctx, tx, event{detail: &AccountCreated{Role: a.Role, SSO: a.SSO}, account: a, actorID: actor, caller: c})
}

func (s *Service) setPasswordToken(ctx context.Context, tx Store, a *Account) (string, error) {
	token, _, err := s.newPasswordLink(ctx, tx, a.ID, PurposeSetPassword, "spw", SetPasswordTTL)
	return token, err
}

// NewAccount describes an account to create in an existing organisation.
type NewAccount struct {
	Org      string // id or slug
	Email    string
	Role     Role // "" is member
	SSO      bool
	Password string // "" (and not SSO) returns a set-password token
}

// CreateAccount creates an account as the operator. Without a password, and not
// SSO, it returns a one-time set-password token.
func (s *Service) CreateAccount(ctx context.Context, n NewAccount) (*Account, string, error) {
	org, err := s.findOrg(ctx, n.Org)
	if err != nil {
		return nil, "", err
	}
	if n.Role == "" {
		n.Role = RoleMember
	}
	acct, err := s.prepareAccount(ctx, org, n.Email, n.Role, n.SSO, n.Password)
	if err != nil {
		return nil, "", err
	}
	var token string
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := s.insertAccount(ctx, tx, acct, nil); err != nil {
			return err
		}
		if acct.PasswordHash == "" && !acct.SSO {
			token, err = s.setPasswordToken(ctx, tx, acct)
		}
		return err
	})
	return acct, token, err
}

func (s *Service) findOrg(ctx context.Context, idOrSlug string) (*Org, error) {
	if idOrSlug == "" {
		return nil, invalid("org", ReasonRequired)
	}
	org, err := s.store.Org(ctx, idOrSlug)
	if errors.Is(err, ErrNotFound) {
		org, err = s.store.OrgBySlug(ctx, idOrSlug)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, invalid("org", ReasonOrgUnknown, "Org", idOrSlug)
	}
	return org, err
}

// SetPasswordAccount returns the account a live set-password or invitation
// token is for, or ErrExpired.
func (s *Service) SetPasswordAccount(ctx context.Context, token string) (*Account, *Org, error) {
	c, err := s.liveToken(ctx, token, PurposeSetPassword, PurposeInvite)
	if err != nil {
		return nil, nil, err
	}
	a, err := s.store.Account(ctx, c.AccountID)
	if err != nil {
		return nil, nil, err
	}
	org, err := s.store.Org(ctx, a.OrgID)
	return a, org, err
}

// SetPassword sets an account's password with a one-time set-password or
// invitation link. It never signs anyone in; every session of the account
// ends, every other link and pending sign-in dies, the holder is told (NT-01)
// and the audit names the link. ErrExpired for a used, dead or unknown link.
func (s *Service) SetPassword(ctx context.Context, token, password string, c *Caller) error {
	return s.passwordByLink(ctx, token, password, c, []Purpose{PurposeSetPassword, PurposeInvite},
		func(tx Store, a *Account, ch *Challenge) error {
			if err := s.audit(ctx, tx, event{detail: &PasswordChanged{Via: "link", Link: ch.Purpose, ChallengeID: ch.ID}, account: a, caller: c}); err != nil {
				return err
			}
			return s.notice(ctx, tx, a, "password_set_by_link", nil)
		})
}

// passwordByLink sets a password with a one-time link of one of purposes ps:
// the link is consumed, every session of the account ends, whatever the old
// password or links could still do dies (passwordReplaced), and then (in the
// same transaction) done records what else the link's kind demands.
func (s *Service) passwordByLink(ctx context.Context, token, password string, c *Caller, ps []Purpose, done func(Store, *Account, *Challenge) error) error {
	ch, err := s.liveToken(ctx, token, ps...)
	if err != nil {
		return err
	}
	if err := CheckPassword("password", password); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if ok, err := tx.ConsumeChallenge(ctx, ch.ID, s.now()); err != nil || !ok {
			return cmpErr(err, ErrExpired)
		}
		a, err := tx.Account(ctx, ch.AccountID)
		if err != nil {
			return err
		}
		a.PasswordHash = hash
		if a.Locale == "" {
			a.Locale = browserLocale(c) // an invitation's or an operator's account, first seen here
		}
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return err
		}
		if err := s.endOIDC(ctx, tx, a.ID, "", ""); err != nil {
			return err
		}
		if err := tx.DeleteSessions(ctx, a.ID, ""); err != nil {
			return err
		}
		if err := s.passwordReplaced(ctx, tx, a, c); err != nil {
			return err
		}
		if err := s.forgetDevices(ctx, tx, a, ForgotPasswordChange, "", c); err != nil {
			return err
		}
		return done(tx, a, ch)
	})
	if err == nil {
		s.wake()
	}
	return err
}

// ResetTwoStep removes every factor and recovery code of the account with the
// given e-mail, ends its sessions, audits it with actorID as the actor and tells
// the holder (ADM-01). The actor never sees a secret.
func (s *Service) ResetTwoStep(ctx context.Context, email, actorID string, c *Caller) (*Account, error) {
	email, err := checkEmail("email", email)
	if err != nil {
		return nil, err
	}
	a, err := s.store.AccountByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return nil, invalid("email", ReasonAccountUnknown, "Email", email)
	}
	if err != nil {
		return nil, err
	}
	return a, s.resetTwoStep(ctx, a, actorID, c)
}

// SetSSO moves the account with the given e-mail to its organisation's SSO
// (on) or back to Twostep's own sign-in (off), as the operator: the way back
// for an account that can no longer sign in. The organisation keeps an owner
// who can sign in (ErrLastOwner). Moving to SSO ends the account's sessions;
// moving off it an account that has no password yet returns a one-time
// set-password token (7 days). Asking for the state the account is already in
// changes nothing.
func (s *Service) SetSSO(ctx context.Context, email string, on bool) (*Account, string, error) {
	email, err := checkEmail("email", email)
	if err != nil {
		return nil, "", err
	}
	a, err := s.store.AccountByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return nil, "", invalid("email", ReasonAccountUnknown, "Email", email)
	}
	if err != nil || a.SSO == on {
		return a, "", err
	}
	before := *a
	a.SSO = on
	var token string
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := s.saveMember(ctx, tx, &before, a, OperatorActor, nil); err != nil {
			return err
		}
		if !on && a.PasswordHash == "" {
			token, err = s.setPasswordToken(ctx, tx, a)
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return a, token, nil
}

func (s *Service) resetTwoStep(ctx context.Context, a *Account, actorID string, c *Caller) error {
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.DeleteFactors(ctx, a.ID); err != nil {
			return err
		}
		if err := s.endOIDC(ctx, tx, a.ID, "", ""); err != nil {
			return err
		}
		if err := tx.DeleteSessions(ctx, a.ID, ""); err != nil {
			return err
		}
		// A sign-in started before the reset must not finish after it.
		if err := tx.ConsumeChallenges(ctx, a.ID, s.now(), pendingSignIns...); err != nil {
			return err
		}
		if err := s.turnOff(ctx, tx, a, event{detail: &TwoStepResetByAdmin{}, account: a, actorID: actorID, caller: c}); err != nil {
			return err
		}
		if err := s.forgetDevices(ctx, tx, a, ForgotResetByAdmin, actorID, c); err != nil {
			return err
		}
		return s.notice(ctx, tx, a, "two_step_reset", nil)
	})
	if err == nil {
		s.wake()
	}
	return err
}

// Slugify turns a name into a slug: lower-case ASCII letters and digits, words
// joined by single hyphens ("Cloud Légal" → "cloud-legal").
func Slugify(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range norm.NFKD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(unicode.ToLower(r))
		default:
			hyphen = true
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}

func validSlug(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
