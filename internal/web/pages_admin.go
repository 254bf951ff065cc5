package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

// ---- Administration: members, policy, audit ----

func (s *Server) pageAdmin(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	redirect(w, r, "/admin/members")
}

// option is one choice of a select, radio group or set of checkboxes.
type option struct {
	Value, Label string
	Selected     bool
}

// adminPage starts an administration page: only owners and admins get one
// (ErrForbidden otherwise). It names the organisation.
func (s *Server) adminPage(r *http.Request, c *twostep.Caller) (*page, *twostep.Org, error) {
	org, err := s.svc.Org(r.Context(), c)
	if err != nil {
		return nil, nil, err
	}
	p := s.newPage(r, c)
	p.Org, p.Wide = org.Name, true
	return p, org, nil
}

// adminError answers an administration page that failed; members, who may
// not see these pages, are told so with 403.
func (s *Server) adminError(w http.ResponseWriter, r *http.Request, err error) {
	f := s.fail(r, err)
	if errors.Is(err, twostep.ErrForbidden) {
		f.Message = "admin.forbidden"
	}
	s.errorPage(w, r, f)
}

func (p *page) roleName(r twostep.Role) string { return p.T("role." + string(r)) }

// methodNames lists methods in words: "Authenticator app, E-mail".
func (p *page) methodNames(ms []twostep.Method) string {
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		names = append(names, p.methodName(string(m)))
	}
	return strings.Join(names, ", ")
}

func (p *page) methodName(m string) string {
	if name, ok := p.tr("method." + m); ok {
		return name
	}
	return m
}

var roles = []twostep.Role{twostep.RoleMember, twostep.RoleAdmin, twostep.RoleOwner}

// roleOptions are the roles c may give, with selected selected.
func (p *page) roleOptions(c *twostep.Caller, selected twostep.Role) []option {
	var out []option
	for _, r := range roles {
		if r != twostep.RoleMember && c.Account.Role != twostep.RoleOwner {
			continue // only owners grant the owner and admin roles
		}
		out = append(out, option{Value: string(r), Label: p.roleName(r), Selected: r == selected})
	}
	return out
}

type memberRow struct {
	ID         string
	Email      string
	Role       string // in words
	TwoStep    bool
	Methods    string // in words
	SSO        bool
	LastSignIn string
	Invited    bool     // has not chosen a password yet
	Locked     string   // until when; "" when not locked
	Self       bool     // the caller's own row: nothing to do here, the security settings are the place
	Manage     bool     // the caller may act on this member: SSO, sessions, unlock, reset
	ToSSO      bool     // "Move to SSO" is offered: only with the organisation's SSO connection
	Roles      []option // the roles the caller may give this member; none when they may not change it
}

type membersData struct {
	Rows           []memberRow
	Total          int
	WithoutTwoStep bool // filters
	SSO            bool
	InviteRoles    []option
	InviteSSO      bool
	NoSSO          bool // the organisation has no SSO connection: SSO invitees cannot sign in yet
}

func (s *Server) pageMembers(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderMembers(w, r, c, nil, "", nil)
}

// renderMembers shows the members page with the refusal of action (if any) and
// the invitation form as submitted.
func (s *Server) renderMembers(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, action string, form url.Values) {
	p, org, aerr := s.adminPage(r, c)
	if aerr != nil {
		s.adminError(w, r, aerr)
		return
	}
	members, aerr := s.svc.Members(r.Context(), c)
	if aerr != nil {
		s.adminError(w, r, aerr)
		return
	}
	p.labels = map[string]string{"email": p.T("field.email"), "role": p.T("field.role")}
	p.Form = form
	status := http.StatusOK
	if err != nil {
		if status = s.memberError(w, p, err, action); status == 0 {
			s.adminError(w, r, err)
			return
		}
	}
	q := r.URL.Query()
	d := membersData{WithoutTwoStep: q.Get("without_two_step") == "1", SSO: q.Get("sso") == "1", Total: len(members),
		InviteSSO: form.Get("sso") == "1", NoSSO: !org.HasSSOConnection()}
	invited := twostep.Role(form.Get("role"))
	if invited == "" {
		invited = twostep.RoleMember
	}
	d.InviteRoles = p.roleOptions(c, invited)
	owner := c.Account.Role == twostep.RoleOwner
	for _, m := range members {
		a := m.Account
		if d.WithoutTwoStep && a.TwoStepEnabled() || d.SSO && !a.SSO {
			continue
		}
		row := memberRow{ID: a.ID, Email: a.Email, Role: p.roleName(a.Role), TwoStep: a.TwoStepEnabled(), Methods: p.methodNames(m.Methods),
			SSO: a.SSO, LastSignIn: formatTime(a.LastSignInAt), Locked: formatTime(m.LockedUntil), Invited: a.PasswordHash == "" && !a.SSO,
			Self: a.ID == c.Account.ID, Manage: twostep.MayActOn(c, a)}
		row.ToSSO = row.Manage && !a.SSO && org.HasSSOConnection()
		if owner && row.Manage {
			row.Roles = p.roleOptions(c, a.Role)
		}
		d.Rows = append(d.Rows, row)
	}
	p.Data = d
	s.render(w, r, status, "members", p)
}

// memberError puts a refused administration action on p and returns the
// status, or 0 when the refusal is not for this page to explain.
func (s *Server) memberError(w http.ResponseWriter, p *page, err error, action string) int {
	switch {
	case errors.Is(err, twostep.ErrForbidden) && action == "self":
		p.Field, p.Error = "", p.T("members.self_refused")
		return describe(err).Status
	case errors.Is(err, twostep.ErrForbidden) && p.Admin:
		p.Field, p.Error = "", p.T("members.owners_only")
		return describe(err).Status
	case errors.Is(err, twostep.ErrConflict) && action == "invite":
		p.Field, p.Error = "email", p.T("invalid.email_taken", "Field", p.labels["email"])
		return describe(err).Status
	case errors.Is(err, twostep.ErrConflict):
		// A conflict on a member is the last owner, unless the mapping words it more precisely.
		f := describe(err)
		if f.Message == "error.conflict" {
			f.Message = "members.last_owner"
		}
		p.Field, p.Error = "", s.failureText(p, f)
		return f.Status
	case errors.Is(err, twostep.ErrNotFound), errors.Is(err, twostep.ErrForbidden):
		return 0
	}
	status := s.formError(w, p, err)
	if action != "invite" {
		p.Field = "" // the per-member forms have no field to hang it on
	}
	return status
}

func (s *Server) pageMembersInvite(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	role := twostep.Role(r.PostFormValue("role"))
	sso := r.PostFormValue("sso") == "1"
	a, err := s.svc.Invite(r.Context(), c, email, role, sso)
	if err == nil {
		done := "member_invited"
		if waiting, werr := s.svc.AwaitsSSOConnection(r.Context(), a); werr != nil {
			err = werr
		} else if waiting {
			done = "member_invited_sso" // says they cannot sign in yet
		}
		if err == nil {
			redirect(w, r, "/admin/members?done="+done)
			return
		}
	}
	form := url.Values{"email": {email}, "role": {string(role)}}
	if sso {
		form.Set("sso", "1")
	}
	s.renderMembers(w, r, c, err, "invite", form)
}

// memberAction runs one change to the member in the path and returns to the
// members page saying done, or shows why not.
func (s *Server) memberAction(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, done string) {
	if err == nil {
		redirect(w, r, "/admin/members?done="+done)
		return
	}
	action := "member"
	if r.PathValue("id") == c.Account.ID {
		action = "self"
	}
	s.renderMembers(w, r, c, err, action, nil)
}

func (s *Server) pageMemberRole(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	role := twostep.Role(r.PostFormValue("role"))
	_, err := s.svc.UpdateMember(r.Context(), c, r.PathValue("id"), twostep.MemberChange{Role: &role})
	s.memberAction(w, r, c, err, "member_role")
}

func (s *Server) pageMemberSSO(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	sso := r.PostFormValue("sso") == "1"
	_, err := s.svc.UpdateMember(r.Context(), c, r.PathValue("id"), twostep.MemberChange{SSO: &sso})
	done := "member_sso_off"
	if sso {
		done = "member_sso_on"
	}
	s.memberAction(w, r, c, err, done)
}

func (s *Server) pageMemberEndSessions(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.memberAction(w, r, c, s.svc.EndMemberSessions(r.Context(), c, r.PathValue("id")), "member_sessions")
}

func (s *Server) pageMemberUnlock(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.memberAction(w, r, c, s.svc.UnlockMember(r.Context(), c, r.PathValue("id")), "member_unlocked")
}

// pageMemberReset says what resetting a member's two-step does before it is
// done (Karbon: the accountant resets a client who lost their phone).
func (s *Server) pageMemberReset(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, org, err := s.adminPage(r, c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	members, err := s.svc.Members(r.Context(), c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	i := slices.IndexFunc(members, func(m twostep.Member) bool { return m.Account.ID == r.PathValue("id") })
	if i < 0 {
		s.pageError(w, r, twostep.ErrNotFound)
		return
	}
	m := members[i]
	p.Wide = false
	p.Data = struct {
		ID, Email, Methods string
		TwoStep, Required  bool
		Manage, Self       bool
	}{m.Account.ID, m.Account.Email, p.methodNames(m.Methods), m.Account.TwoStepEnabled(),
		org.Policy.TwoStep == twostep.PolicyRequired, twostep.MayActOn(c, m.Account), m.Account.ID == c.Account.ID}
	s.render(w, r, http.StatusOK, "member_reset", p)
}

func (s *Server) pageMemberResetPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.memberAction(w, r, c, s.svc.ResetMember(r.Context(), c, r.PathValue("id")), "member_reset")
}

type policyData struct {
	Required   bool
	Grace      string
	Methods    []option // those this server offers, the allowed ones selected
	MinVersion string
	Legacy     bool
	Confirm    *policyConfirm // the step before "required" is saved
}

// policyConfirm says what making two-step required will do, and carries the
// policy to save.
type policyConfirm struct {
	Count  int // members who will have to set up a method
	Grace  int
	Fields []hiddenField
}

// policyFields are the policy form's fields.
var policyFields = []string{"two_step", "grace_period_days", "allowed_methods", "min_client_version", "allow_legacy_clients"}

// policyValues is pol as the policy form submits it.
func policyValues(pol twostep.Policy) url.Values {
	v := url.Values{"two_step": {pol.TwoStep}, "grace_period_days": {strconv.Itoa(pol.GracePeriodDays)},
		"min_client_version": {pol.MinClientVersion}}
	for _, m := range pol.AllowedMethods {
		v.Add("allowed_methods", string(m))
	}
	if pol.AllowLegacyClients {
		v.Set("allow_legacy_clients", "1")
	}
	return v
}

// policyFrom reads the policy form. It checks what the confirmation step
// needs to be right (the service checks all of it again when saving), with the
// service's own words: a number of days, at least one method, a version.
func policyFrom(v url.Values) (twostep.Policy, error) {
	pol := twostep.Policy{TwoStep: v.Get("two_step"), MinClientVersion: strings.TrimSpace(v.Get("min_client_version")),
		AllowLegacyClients: v.Get("allow_legacy_clients") == "1"}
	for _, m := range v["allowed_methods"] {
		pol.AllowedMethods = append(pol.AllowedMethods, twostep.Method(m))
	}
	days := strings.TrimSpace(v.Get("grace_period_days"))
	if days == "" {
		days = "0"
	}
	n, err := strconv.Atoi(days)
	if err != nil || n < 0 || n > 365 {
		return pol, badRequest("grace_period_days", twostep.ReasonGraceDays)
	}
	pol.GracePeriodDays = n
	if len(pol.AllowedMethods) == 0 {
		return pol, badRequest("allowed_methods", twostep.ReasonMethodsNone)
	}
	if pol.MinClientVersion != "" {
		if _, err := twostep.ParseClientVersion("min_client_version", pol.MinClientVersion); err != nil {
			return pol, err
		}
	}
	return pol, nil
}

func (s *Server) pagePolicy(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, org, err := s.adminPage(r, c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	s.renderPolicy(w, r, p, http.StatusOK, policyValues(org.Policy), nil)
}

func (s *Server) renderPolicy(w http.ResponseWriter, r *http.Request, p *page, status int, v url.Values, confirm *policyConfirm) {
	p.Wide = false
	p.Form = v
	p.labels = map[string]string{"allow_legacy_clients": p.T("orgpolicy.legacy")}
	d := policyData{Required: v.Get("two_step") == twostep.PolicyRequired, Grace: v.Get("grace_period_days"),
		MinVersion: v.Get("min_client_version"), Legacy: v.Get("allow_legacy_clients") == "1", Confirm: confirm}
	for _, m := range s.svc.Methods() {
		d.Methods = append(d.Methods, option{Value: string(m), Label: p.methodName(string(m)),
			Selected: slices.Contains(v["allowed_methods"], string(m))})
	}
	p.Data = d
	s.render(w, r, status, "policy", p)
}

// pagePolicyPost saves the policy; before "required" replaces "optional", it
// first says how many members will have to set up a method and that they will
// be e-mailed (CloudSign's paid plan).
func (s *Server) pagePolicyPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, org, err := s.adminPage(r, c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, badRequest("", reasonFormUnreadable))
		return
	}
	v := url.Values{}
	for _, f := range policyFields {
		if vs := r.PostForm[f]; len(vs) > 0 {
			v[f] = vs
		}
	}
	if r.PostFormValue("back") != "" {
		s.renderPolicy(w, r, p, http.StatusOK, v, nil)
		return
	}
	pol, err := policyFrom(v)
	if err == nil && pol.TwoStep == twostep.PolicyRequired && org.Policy.TwoStep != twostep.PolicyRequired && r.PostFormValue("confirmed") != "1" {
		n, err := s.svc.EnrolmentPreview(r.Context(), c, pol.AllowedMethods)
		if err != nil {
			s.adminError(w, r, err)
			return
		}
		confirm := &policyConfirm{Count: n, Grace: pol.GracePeriodDays}
		for _, f := range policyFields {
			for _, x := range v[f] {
				confirm.Fields = append(confirm.Fields, hiddenField{f, x})
			}
		}
		s.renderPolicy(w, r, p, http.StatusOK, v, confirm)
		return
	}
	if err == nil {
		if _, err = s.svc.SetPolicy(r.Context(), c, pol); err == nil {
			redirect(w, r, "/admin/policy?done=policy")
			return
		}
	}
	status := s.formError(w, p, err)
	if status == 0 {
		s.adminError(w, r, err)
		return
	}
	s.renderPolicy(w, r, p, status, v, nil)
}

// auditPage is how many events /admin/audit shows at once.
const auditPage = 50

// auditTypes are the event types the audit page filters by, as the ids of their names.
var auditTypes = []string{
	"event.sign_in.succeeded", "event.sign_in.failed", "event.sign_in.locked", "event.second_step.failed", "event.second_step.locked",
	"event.second_step.replayed", "event.two_step.enabled", "event.two_step.disabled", "event.factor.added",
	"event.factor.removed", "event.recovery_codes.generated", "event.recovery_code.used", "event.two_step.reset_by_admin",
	"event.policy.changed", "event.member.changed", "event.account.created", "event.account.unlocked",
	"event.sessions.ended", "event.delivery.capped", "event.email.changed", "event.password.changed",
	"event.password.reset", "event.identity.confirmed", "event.legacy_clients.changed",
}

type auditData struct {
	Rows     []eventRow
	Members  []option
	Types    []option
	Older    string
	Filtered bool
}

func (s *Server) pageAudit(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, _, err := s.adminPage(r, c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	before, _, err := pageQuery(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	q := r.URL.Query()
	account, typ := q.Get("account"), q.Get("type")
	members, err := s.svc.Members(r.Context(), c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	evs, err := s.svc.OrgEvents(r.Context(), c, twostep.EventFilter{AccountID: account, Type: twostep.EventType(typ), Before: before, Limit: auditPage})
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	d := auditData{Filtered: account != "" || typ != ""}
	emails := make(map[string]string, len(members))
	for _, m := range members {
		emails[m.Account.ID] = m.Account.Email
		d.Members = append(d.Members, option{Value: m.Account.ID, Label: m.Account.Email, Selected: m.Account.ID == account})
	}
	slices.SortFunc(d.Members, func(a, b option) int { return strings.Compare(a.Label, b.Label) })
	for _, id := range auditTypes {
		t := strings.TrimPrefix(id, "event.")
		d.Types = append(d.Types, option{Value: t, Label: p.T(id), Selected: t == typ})
	}
	who := func(id string) string {
		switch {
		case id == "":
			return ""
		case id == twostep.OperatorActor:
			return p.T("audit.operator")
		case emails[id] != "":
			return emails[id]
		}
		return id // an account since deleted, or of the server
	}
	for _, e := range evs {
		d.Rows = append(d.Rows, eventRow{At: formatTime(e.At), What: p.auditText(e, who), IP: e.IP, Device: e.UserAgent})
	}
	if len(evs) == auditPage {
		older := url.Values{"before": {strconv.FormatInt(evs[len(evs)-1].ID, 10)}}
		if account != "" {
			older.Set("account", account)
		}
		if typ != "" {
			older.Set("type", typ)
		}
		d.Older = "/admin/audit?" + older.Encode()
	}
	p.Data = d
	s.render(w, r, http.StatusOK, "audit", p)
}

// auditText says an audit event in words: who did what to whom, read from the
// event's typed detail. An event it cannot describe says its type (a test
// holds every type to a sentence in every language).
func (p *page) auditText(e *twostep.AuditEvent, who func(string) string) string {
	actor, account := who(e.ActorID), who(e.AccountID)
	if actor == "" {
		actor = account
	}
	kv := []any{"Actor", actor, "Account", account}
	id := "audit." + string(e.Type)
	detail, err := twostep.DetailOf(e)
	if err != nil {
		return p.T("audit.other", "Type", e.Type, "Account", account)
	}
	switch d := detail.(type) {
	case *twostep.SignInSucceeded:
		if until, ok := d.GraceTime(); ok {
			id, kv = "audit.sign_in.grace", append(kv, "Until", formatTime(until))
		} else if d.Enrolled {
			id = "audit.sign_in.enrolled"
		} else if d.LegacyClient != "" {
			id, kv = "audit.sign_in.legacy", append(kv, "Version", d.LegacyClient)
		}
	case *twostep.FactorAdded:
		kv = append(kv, "Method", p.methodName(string(d.Method)))
	case *twostep.FactorRemoved:
		kv = append(kv, "Method", p.methodName(string(d.Method)))
	case *twostep.TwoStepEnabled:
		kv = append(kv, "Method", p.methodName(string(d.Method)))
	case *twostep.SecondStepFailed:
		kv = append(kv, "Method", p.methodName(string(d.Method)))
	case *twostep.SignInLocked:
		kv = append(kv, "Until", lockEnd(d))
	case *twostep.DeliveryCapped:
		kv = append(kv, "Method", p.methodName(d.Channel))
	case *twostep.DeliveryFailed:
		kv = append(kv, "Method", p.methodName(d.Channel))
	case *twostep.PasswordChanged:
		if d.Via == "link" {
			id = "audit.password.set"
		}
	case *twostep.SessionsEnded:
		if e.ActorID == e.AccountID {
			id = "audit.sessions.ended_self"
		}
	case *twostep.AccountCreated:
		if d.Role.Valid() {
			kv = append(kv, "Role", p.roleName(d.Role))
		} else {
			kv = append(kv, "Role", string(d.Role))
		}
		if d.Invited {
			id = "audit.account.invited"
		}
	case *twostep.PolicyChanged:
		switch {
		case d.After.TwoStep == twostep.PolicyRequired && d.Before.TwoStep != twostep.PolicyRequired:
			id = "audit.policy.required"
		case d.After.TwoStep == twostep.PolicyOptional && d.Before.TwoStep == twostep.PolicyRequired:
			id = "audit.policy.optional"
		}
	case *twostep.MemberChanged:
		switch {
		case d.Role.Before != d.Role.After:
			id, kv = "audit.member.role", append(kv, "From", p.roleName(d.Role.Before), "To", p.roleName(d.Role.After))
		case d.SSO.After && !d.SSO.Before:
			id = "audit.member.sso_on"
		case !d.SSO.After && d.SSO.Before:
			id = "audit.member.sso_off"
		}
	}
	if text, ok := p.tr(id, kv...); ok {
		return text
	}
	return p.T("audit.other", "Type", e.Type, "Account", account)
}
