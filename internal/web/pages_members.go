package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

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
			SSO: a.SSO, LastSignIn: p.When(a.LastSignInAt), Locked: p.When(m.LockedUntil), Invited: a.PasswordHash == "" && !a.SSO,
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
		f := failure{Status: describe(err).Status, Reason: twostep.ReasonEmailTaken, Field: "email", Message: "invalid.email_taken"}
		s.showFailure(w, p, f)
		return f.Status
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
