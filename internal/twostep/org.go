package twostep

import (
	"context"
	"errors"
	"slices"
	"time"
)

// InviteTTL is how long an invitation link works.
const InviteTTL = 7 * 24 * time.Hour

// requireAdmin returns ErrForbidden unless the caller is an owner or admin of
// their organisation, signed in with a session (not a sign-in token) that is
// not a legacy client's; ErrConfirmIdentity when the caller has a second step
// that this session neither proved nor recently confirmed (FL-04).
func (s *Service) requireAdmin(c *Caller) error {
	if c.Session == nil {
		return ErrUnauthenticated
	}
	if c.Account.Role != RoleOwner && c.Account.Role != RoleAdmin {
		return ErrForbidden
	}
	if c.Session.SecondStep == SecondStepExempt || c.Session.Legacy {
		return ErrForbidden
	}
	if c.Account.TwoStepEnabled() && c.Session.SecondStep != SecondStepProven {
		return s.requireConfirmed(c)
	}
	return nil
}

// requireSensitiveAdmin is requireAdmin with a recent identity confirmation,
// for what changes the security of others: the policy and member resets.
func (s *Service) requireSensitiveAdmin(c *Caller) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	return s.requireConfirmed(c)
}

// member returns the account id of the caller's organisation, or ErrNotFound
// (also for another organisation's account: CS-02).
func (s *Service) member(ctx context.Context, c *Caller, id string) (*Account, error) {
	a, err := s.store.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.OrgID != c.Account.OrgID {
		return nil, ErrNotFound
	}
	return a, nil
}

// Org returns the caller's organisation with its policy. Admins and owners only.
func (s *Service) Org(ctx context.Context, c *Caller) (*Org, error) {
	if err := s.requireAdmin(c); err != nil {
		return nil, err
	}
	return s.store.Org(ctx, c.Account.OrgID)
}

// SetPolicy replaces the organisation's policy (admins and owners). A method
// this server does not offer is an *InvalidError. Turning "required" on starts
// every member's grace period and e-mails those who have no allowed method yet
// (not SSO members). Every change is audited with before and after.
func (s *Service) SetPolicy(ctx context.Context, c *Caller, p Policy) (*Policy, error) {
	if err := s.requireSensitiveAdmin(c); err != nil {
		return nil, err
	}
	if p.TwoStep != PolicyOptional && p.TwoStep != PolicyRequired {
		return nil, invalid("two_step", ReasonTwoStepMode)
	}
	if p.GracePeriodDays < 0 || p.GracePeriodDays > 365 {
		return nil, invalid("grace_period_days", ReasonGraceDays)
	}
	if p.RememberDeviceDays < 0 || p.RememberDeviceDays > MaxRememberDeviceDays {
		return nil, invalid("remember_device_days", ReasonRememberDays, "Max", itoa(MaxRememberDeviceDays))
	}
	if len(p.AllowedMethods) == 0 {
		return nil, invalid("allowed_methods", ReasonMethodsNone)
	}
	var allowed []Method
	for _, m := range p.AllowedMethods {
		if !s.offered(m) {
			return nil, invalid("allowed_methods", ReasonMethodNotOffered, "Method", string(m), "Methods", joinMethods(s.methods))
		}
		if !slices.Contains(allowed, m) {
			allowed = append(allowed, m)
		}
	}
	p.AllowedMethods = allowed
	if p.AdminsPhishingResistant && !slices.Contains(allowed, MethodWebAuthn) {
		return nil, invalid("admins_phishing_resistant", ReasonPhishingResistantWebAuthn)
	}
	p.WebAuthnOffered = s.offered(MethodWebAuthn)
	if p.MinClientVersion != "" {
		if _, err := ParseClientVersion("min_client_version", p.MinClientVersion); err != nil {
			return nil, err
		}
	}
	org, err := s.store.Org(ctx, c.Account.OrgID)
	if err != nil {
		return nil, err
	}
	before := org.Policy
	p.ChangedAt = before.ChangedAt
	turnedOn := p.TwoStep == PolicyRequired && before.TwoStep != PolicyRequired
	if turnedOn {
		p.ChangedAt = s.now()
	}
	org.Policy = p
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.UpdateOrg(ctx, org); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, event{detail: &PolicyChanged{Before: policyDetail(before), After: policyDetail(p)},
			orgID: org.ID, actorID: c.Account.ID, caller: c}); err != nil {
			return err
		}
		if !turnedOn {
			return nil
		}
		members, err := s.toEnrol(ctx, tx, org)
		if err != nil {
			return err
		}
		for _, m := range members {
			data := map[string]string{"org": org.Name, "until": ""}
			if until := graceUntil(org, m); !until.IsZero() {
				data["until"] = until.Format("2006-01-02")
			}
			if err := s.notice(ctx, tx, m, "two_step_required", data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	return &org.Policy, nil
}

// toEnrol lists the members of org who would have to set up a method under its
// policy: not SSO, and no active method the policy allows.
func (s *Service) toEnrol(ctx context.Context, st Store, org *Org) ([]*Account, error) {
	accounts, err := st.Accounts(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	var out []*Account
	for _, a := range accounts {
		if a.SSO {
			continue
		}
		factors, err := s.activeFactors(ctx, st, a.ID)
		if err != nil {
			return nil, err
		}
		if len(s.usable(org, factors)) == 0 {
			out = append(out, a)
		}
	}
	return out, nil
}

// EnrolmentPreview counts the members who would have to set up a method if
// the policy allowed only allowed (admins and owners): the number the policy
// page shows before "required" is saved.
func (s *Service) EnrolmentPreview(ctx context.Context, c *Caller, allowed []Method) (int, error) {
	org, err := s.Org(ctx, c)
	if err != nil {
		return 0, err
	}
	org.Policy.AllowedMethods = allowed
	members, err := s.toEnrol(ctx, s.store, org)
	return len(members), err
}

// usable returns the factors whose method (or, for a phone, one of whose
// channels) the organisation allows.
func (s *Service) usable(org *Org, factors []*Factor) []*Factor {
	allowed := s.allowed(org)
	var out []*Factor
	for _, f := range factors {
		if len(factorChannels(f, allowed)) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// Member is an account as its organisation's admins see it.
type Member struct {
	Account     *Account
	Methods     []Method // of its active factors
	LockedUntil time.Time
	// SSO is the member's identity at the organisation's provider (the
	// latest used), nil when it never signed in through one.
	SSO *SSOIdentity
}

// Members lists the organisation's members (admins and owners).
func (s *Service) Members(ctx context.Context, c *Caller) ([]Member, error) {
	if err := s.requireAdmin(c); err != nil {
		return nil, err
	}
	accounts, err := s.store.Accounts(ctx, c.Account.OrgID)
	if err != nil {
		return nil, err
	}
	ids, err := s.ssoMemberIdentities(ctx, c.Account.OrgID)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(accounts))
	for _, a := range accounts {
		m := Member{Account: a, SSO: ids[a.ID]}
		factors, err := s.activeFactors(ctx, s.store, a.ID)
		if err != nil {
			return nil, err
		}
		for _, f := range factors {
			if !slices.Contains(m.Methods, f.Method) {
				m.Methods = append(m.Methods, f.Method)
			}
		}
		if m.LockedUntil, err = s.lockedUntil(ctx, s.store, a); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// mayManage returns ErrForbidden when the caller may not act on target's role:
// only owners grant, remove or act on the owner and admin roles.
func mayManage(c *Caller, targetRole, newRole Role) error {
	if c.Account.Role == RoleOwner {
		return nil
	}
	if targetRole != RoleMember || newRole != RoleMember {
		return ErrForbidden
	}
	return nil
}

// mayActOn returns ErrForbidden when the caller may not act on target from the
// administration (change its role or SSO, reset it, end its sessions, unlock
// it): only owners act on owners and admins, and nobody acts on their own
// account there — one click on one's own row could otherwise lock out the
// caller and, for the only owner, the whole organisation. People change their
// own account in its security settings.
func mayActOn(c *Caller, target *Account) error {
	if target.ID == c.Account.ID {
		return ErrForbidden
	}
	return mayManage(c, target.Role, target.Role)
}

// MayActOn reports whether the caller may act on target from the
// administration, as UpdateMember, ResetMember, EndMemberSessions and
// UnlockMember decide it: the pages offer only what they would allow.
func MayActOn(c *Caller, target *Account) bool { return mayActOn(c, target) == nil }

// inviteCap is how many invitations one address may get: five a day.
var inviteCap = Cap{Max: 5, Window: 24 * time.Hour}

func inviteKey(email string) string { return "invite:" + email }

// Invite creates an account in the caller's organisation and e-mails it a
// one-time link to set its password (7 days); an SSO member is told to sign in
// through the organisation instead. Inviting again a member who never chose a
// password sends a new link. ErrConflict when the e-mail has an account; a
// *ThrottledError (ErrThrottled) once the address has had five invitations
// within a day, so that nobody can be mailed without bound.
func (s *Service) Invite(ctx context.Context, c *Caller, email string, role Role, sso bool) (*Account, error) {
	if err := s.requireAdmin(c); err != nil {
		return nil, err
	}
	if role == "" {
		role = RoleMember
	}
	if !role.Valid() {
		return nil, invalid("role", ReasonRole)
	}
	if err := mayManage(c, RoleMember, role); err != nil {
		return nil, err
	}
	org, err := s.store.Org(ctx, c.Account.OrgID)
	if err != nil {
		return nil, err
	}
	a, err := s.prepareAccount(ctx, org, email, role, sso, "")
	if err != nil {
		return nil, err
	}
	// Inviting again someone of this organisation who never chose a password
	// sends a new link: the old one may have expired.
	again := false
	if old, err := s.store.AccountByEmail(ctx, a.Email); err == nil {
		if old.OrgID != org.ID || old.PasswordHash != "" || old.SSO || sso {
			return nil, ErrConflict
		}
		a, again = old, true
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		// Each invitation e-mails an address its owner may never have asked
		// to hear from: cap them per address, whoever sends them.
		t, err := tx.LockThrottle(ctx, inviteKey(a.Email))
		if err != nil {
			return err
		}
		t, wait, ok := inviteCap.Take(t, s.now())
		if !ok {
			return throttled(ErrThrottled, wait)
		}
		if err := tx.PutThrottle(ctx, t); err != nil {
			return err
		}
		if !again {
			if err := tx.CreateAccount(ctx, a); err != nil {
				return err
			}
		}
		if err := s.audit(ctx, tx, event{detail: &AccountCreated{Role: a.Role, SSO: a.SSO, Invited: true, Again: again},
			account: a, actorID: c.Account.ID, caller: c}); err != nil {
			return err
		}
		data := map[string]string{"org": org.Name, "inviter": c.Account.Email, "days": "7", "link": ""}
		if !sso {
			// The new link ends any earlier one (SU-01).
			token, _, err := s.newPasswordLink(ctx, tx, a.ID, PurposeInvite, "inv", InviteTTL)
			if err != nil {
				return err
			}
			data["link"] = s.baseURL + "/invite/" + token
		}
		// The invitation goes in the inviter's language, a guess; the account
		// keeps none until its holder's browser says which (adoptLocale).
		to := *a
		to.Locale = c.Account.Locale
		return s.notice(ctx, tx, &to, "invitation", data)
	})
	if errors.Is(err, ErrConflict) {
		return nil, ErrConflict
	}
	if err != nil {
		return nil, err
	}
	s.wake()
	return a, nil
}

// AwaitsSSOConnection reports whether a is an SSO member of an organisation
// with no SSO connection yet: such a member cannot sign in until it has one,
// which whoever invited them should be told.
func (s *Service) AwaitsSSOConnection(ctx context.Context, a *Account) (bool, error) {
	if !a.SSO {
		return false, nil
	}
	org, err := s.store.Org(ctx, a.OrgID)
	if err != nil {
		return false, err
	}
	return !org.HasSSOConnection(), nil
}

// MemberChange is a change to a member: nil fields stay as they are.
type MemberChange struct {
	Role *Role
	SSO  *bool
}

// UpdateMember changes a member's role or SSO flag (admins and owners; only
// owners touch the owner and admin roles; nobody changes their own account:
// ErrForbidden). Moving a member to SSO needs the organisation's SSO connection
// (ErrNoSSOConnection while it has none). The organisation keeps an owner who
// can sign in (ErrLastOwner). A member moved to SSO is signed out everywhere.
func (s *Service) UpdateMember(ctx context.Context, c *Caller, id string, ch MemberChange) (*Account, error) {
	if err := s.requireAdmin(c); err != nil {
		return nil, err
	}
	a, err := s.member(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if err := mayActOn(c, a); err != nil {
		return nil, err
	}
	before := *a
	if ch.Role != nil {
		if !ch.Role.Valid() {
			return nil, invalid("role", ReasonRole)
		}
		if err := mayManage(c, a.Role, *ch.Role); err != nil {
			return nil, err
		}
		a.Role = *ch.Role
	}
	if ch.SSO != nil {
		if *ch.SSO && !a.SSO {
			org, err := s.store.Org(ctx, a.OrgID)
			if err != nil {
				return nil, err
			}
			if !org.HasSSOConnection() {
				return nil, ErrNoSSOConnection
			}
		}
		a.SSO = *ch.SSO
	}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error { return s.saveMember(ctx, tx, &before, a, c.Account.ID, c) })
	if err != nil {
		return nil, err
	}
	return a, nil
}

// signsInAsOwner reports whether a is an owner who can sign in with Twostep's
// own password: an owner moved to SSO, or who has not chosen a password yet,
// cannot rescue the organisation.
func signsInAsOwner(a *Account) bool {
	return a.Role == RoleOwner && !a.SSO && a.PasswordHash != ""
}

// saveMember writes in tx a member changed from before to a by actorID,
// keeping an owner of the organisation who can sign in (ErrLastOwner),
// signing out one moved to SSO, and auditing the change.
func (s *Service) saveMember(ctx context.Context, tx Store, before, a *Account, actorID string, c *Caller) error {
	if signsInAsOwner(before) && !signsInAsOwner(a) {
		// Two owners demoting each other at once must not both pass the
		// count: a locked row per organisation puts such changes in line
		// on PostgreSQL too (SQLite has one writer anyway).
		if _, err := tx.LockThrottle(ctx, "owners:"+a.OrgID); err != nil {
			return err
		}
		accounts, err := tx.Accounts(ctx, a.OrgID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(accounts, func(o *Account) bool { return o.ID != a.ID && signsInAsOwner(o) }) {
			return ErrLastOwner
		}
	}
	if err := tx.UpdateAccount(ctx, a); err != nil {
		return err
	}
	if a.SSO && !before.SSO {
		if err := s.endOIDC(ctx, tx, a.ID, "", ""); err != nil {
			return err
		}
		if err := tx.DeleteSessions(ctx, a.ID, ""); err != nil {
			return err
		}
	}
	return s.audit(ctx, tx, event{detail: &MemberChanged{Role: Change[Role]{before.Role, a.Role}, SSO: Change[bool]{before.SSO, a.SSO}},
		account: a, actorID: actorID, caller: c})
}

// ResetMember removes a member's methods and recovery codes, ends their
// sessions and e-mails them, as the caller (Karbon's accountant; ADM-01).
func (s *Service) ResetMember(ctx context.Context, c *Caller, id string) error {
	if err := s.requireSensitiveAdmin(c); err != nil {
		return err
	}
	a, err := s.member(ctx, c, id)
	if err != nil {
		return err
	}
	if err := mayActOn(c, a); err != nil {
		return err
	}
	return s.resetTwoStep(ctx, a, c.Account.ID, c)
}

// EndMemberSessions signs a member out everywhere and forgets their remembered
// devices (ADM-02, API.md §11). Only owners act
// on owners and admins, and nobody on themselves (ErrForbidden).
func (s *Service) EndMemberSessions(ctx context.Context, c *Caller, id string) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	a, err := s.member(ctx, c, id)
	if err != nil {
		return err
	}
	if err := mayActOn(c, a); err != nil {
		return err
	}
	return s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := s.endOIDC(ctx, tx, a.ID, "", ""); err != nil {
			return err
		}
		if err := tx.DeleteSessions(ctx, a.ID, ""); err != nil {
			return err
		}
		if err := s.forgetDevices(ctx, tx, a, ForgotSessionsEnded, c.Account.ID, c); err != nil {
			return err
		}
		return s.audit(ctx, tx, event{detail: &SessionsEnded{Which: "all"}, account: a, actorID: c.Account.ID, caller: c})
	})
}

// UnlockMember clears every lock of a member, whichever key holds it: the
// second-step back-off, the e-mail's, the signed-in password checks' and each
// device's (RL-11, RL-13). The audit event says which kinds it cleared. Only
// owners act on owners and admins, and nobody on themselves (ErrForbidden).
func (s *Service) UnlockMember(ctx context.Context, c *Caller, id string) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	a, err := s.member(ctx, c, id)
	if err != nil {
		return err
	}
	if err := mayActOn(c, a); err != nil {
		return err
	}
	return s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		cleared, err := s.unlock(ctx, tx, a)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, event{detail: &AccountUnlocked{Cleared: cleared}, account: a, actorID: c.Account.ID, caller: c})
	})
}

// OrgEvents returns the organisation's audit events, newest first (admins and
// owners). An account id from another organisation finds nothing.
func (s *Service) OrgEvents(ctx context.Context, c *Caller, f EventFilter) ([]*AuditEvent, error) {
	if err := s.requireAdmin(c); err != nil {
		return nil, err
	}
	f.OrgID = c.Account.OrgID
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	return s.store.Events(ctx, f)
}
