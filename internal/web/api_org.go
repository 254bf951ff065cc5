package web

import (
	"net/http"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

type policyJSON struct {
	TwoStep            string   `json:"two_step"`
	GracePeriodDays    int      `json:"grace_period_days"`
	AllowedMethods     []string `json:"allowed_methods"`
	MinClientVersion   *string  `json:"min_client_version"`
	AllowLegacyClients bool     `json:"allow_legacy_clients"`
	RememberDeviceDays int      `json:"remember_device_days"`
	AllowAppPasswords  bool     `json:"allow_app_passwords"`
	// AdminsPhishingResistant: owners and admins must use a passkey or
	// security key (API.md §11).
	AdminsPhishingResistant bool `json:"admins_phishing_resistant"`
}

func policyBody(p twostep.Policy) policyJSON {
	out := policyJSON{TwoStep: p.TwoStep, GracePeriodDays: p.GracePeriodDays, AllowedMethods: methodStrings(p.AllowedMethods),
		MinClientVersion: nullString(p.MinClientVersion), AllowLegacyClients: p.AllowLegacyClients,
		RememberDeviceDays: p.RememberDeviceDays, AllowAppPasswords: p.AllowAppPasswords,
		AdminsPhishingResistant: p.AdminsPhishingResistant}
	return out
}

func methodStrings(ms []twostep.Method) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, string(m))
	}
	return out
}

func (s *Server) apiOrg(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	org, err := s.svc.Org(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": org.ID, "name": org.Name, "slug": org.Slug, "policy": policyBody(org.Policy)})
}

func (s *Server) apiSetPolicy(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		TwoStep            *string   `json:"two_step"`
		GracePeriodDays    *int      `json:"grace_period_days"`
		AllowedMethods     *[]string `json:"allowed_methods"`
		MinClientVersion   *string   `json:"min_client_version"`
		AllowLegacyClients *bool     `json:"allow_legacy_clients"`
		RememberDeviceDays *int      `json:"remember_device_days"`
		AllowAppPasswords  *bool     `json:"allow_app_passwords"`
		// Left out: kept as it is (it came after the other fields).
		AdminsPhishingResistant *bool `json:"admins_phishing_resistant"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	// PUT replaces the policy: every field is needed (min_client_version may be null).
	switch {
	case body.TwoStep == nil:
		s.apiError(w, r, badRequest("two_step", twostep.ReasonRequired))
		return
	case body.GracePeriodDays == nil:
		s.apiError(w, r, badRequest("grace_period_days", twostep.ReasonRequired))
		return
	case body.AllowedMethods == nil:
		s.apiError(w, r, badRequest("allowed_methods", twostep.ReasonRequired))
		return
	case body.AllowLegacyClients == nil:
		s.apiError(w, r, badRequest("allow_legacy_clients", twostep.ReasonRequired))
		return
	}
	p := twostep.Policy{TwoStep: *body.TwoStep, GracePeriodDays: *body.GracePeriodDays, AllowLegacyClients: *body.AllowLegacyClients}
	for _, m := range *body.AllowedMethods {
		p.AllowedMethods = append(p.AllowedMethods, twostep.Method(m))
	}
	if body.MinClientVersion != nil {
		p.MinClientVersion = *body.MinClientVersion
	}
	// The fields issue 18 added may be left out, keeping their value: a
	// client written before them must not turn app passwords off unknowingly.
	if body.RememberDeviceDays == nil || body.AllowAppPasswords == nil || body.AdminsPhishingResistant == nil {
		org, err := s.svc.Org(r.Context(), c)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		p.RememberDeviceDays, p.AllowAppPasswords = org.Policy.RememberDeviceDays, org.Policy.AllowAppPasswords
		p.AdminsPhishingResistant = org.Policy.AdminsPhishingResistant
	}
	if body.AdminsPhishingResistant != nil {
		p.AdminsPhishingResistant = *body.AdminsPhishingResistant
	}
	if body.RememberDeviceDays != nil {
		p.RememberDeviceDays = *body.RememberDeviceDays
	}
	if body.AllowAppPasswords != nil {
		p.AllowAppPasswords = *body.AllowAppPasswords
	}
	got, err := s.svc.SetPolicy(r.Context(), c, p)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policyBody(*got))
}

type memberJSON struct {
	ID             string   `json:"id"`
	Email          string   `json:"email"`
	Role           string   `json:"role"`
	SSO            bool     `json:"sso"`
	TwoStepEnabled bool     `json:"two_step_enabled"`
	Methods        []string `json:"methods"`
	LockedUntil    *string  `json:"locked_until,omitempty"`
	LastSignInAt   jsonTime `json:"last_sign_in_at"`
	// SSOProvider is the issuer the member last signed in through (API.md §12).
	SSOProvider string `json:"sso_provider,omitempty"`
}

func memberBody(m twostep.Member) memberJSON {
	out := memberJSON{ID: m.Account.ID, Email: m.Account.Email, Role: string(m.Account.Role), SSO: m.Account.SSO,
		TwoStepEnabled: m.Account.TwoStepEnabled(), Methods: methodStrings(m.Methods), LastSignInAt: jsonTime(m.Account.LastSignInAt)}
	if !m.LockedUntil.IsZero() {
		t := m.LockedUntil.UTC().Format(time.RFC3339)
		out.LockedUntil = &t
	}
	if m.SSO != nil {
		out.SSOProvider = m.SSO.Issuer
	}
	return out
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	members, err := s.svc.Members(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]memberJSON, 0, len(members))
	for _, m := range members {
		out = append(out, memberBody(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiInvite(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Email string `json:"email"`
		Role  string `json:"role"`
		SSO   bool   `json:"sso"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	a, err := s.svc.Invite(r.Context(), c, body.Email, twostep.Role(body.Role), body.SSO)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	waiting, err := s.svc.AwaitsSSOConnection(r.Context(), a)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	// The invitation went out either way; can_sign_in tells the caller
	// whether the invitee will get in once they follow it.
	out := struct {
		memberJSON
		CanSignIn bool   `json:"can_sign_in"`
		Warning   string `json:"warning,omitempty"`
	}{memberJSON: memberBody(twostep.Member{Account: a}), CanSignIn: !waiting}
	if waiting {
		out.Warning = "this organisation has no single sign-on (SSO) connection yet: the member cannot sign in until it has one"
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) apiUpdateMember(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Role *string `json:"role"`
		SSO  *bool   `json:"sso"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	var ch twostep.MemberChange
	if body.Role != nil {
		role := twostep.Role(*body.Role)
		ch.Role = &role
	}
	ch.SSO = body.SSO
	a, err := s.svc.UpdateMember(r.Context(), c, r.PathValue("id"), ch)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, memberBody(twostep.Member{Account: a}))
}

func (s *Server) apiResetMember(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.answer(w, r, http.StatusNoContent, nil, s.svc.ResetMember(r.Context(), c, r.PathValue("id")))
}

func (s *Server) apiEndMemberSessions(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.answer(w, r, http.StatusNoContent, nil, s.svc.EndMemberSessions(r.Context(), c, r.PathValue("id")))
}

func (s *Server) apiUnlockMember(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.answer(w, r, http.StatusNoContent, nil, s.svc.UnlockMember(r.Context(), c, r.PathValue("id")))
}

func (s *Server) apiOrgAudit(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	before, limit, err := pageQuery(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	q := r.URL.Query()
	evs, err := s.svc.OrgEvents(r.Context(), c, twostep.EventFilter{Before: before, Limit: limit, Type: twostep.EventType(q.Get("type")), AccountID: q.Get("account_id")})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, eventsBody(evs))
}
