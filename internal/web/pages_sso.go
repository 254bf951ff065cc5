package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

// The organisation's SSO connection (API.md §12), for its owners: where its
// provider is, how Twostep signs in there, and what the members' second step
// is then.

// secondSteps are the connection's choices of second step, in the order the
// page offers them, with their words: a name and what it means.
var secondSteps = []struct{ value, label, hint string }{
	{string(twostep.SSONever), "sso.second_step_never", "sso.second_step_never_hint"},
	{string(twostep.SSOTrustUpstream), "sso.second_step_trust_upstream", "sso.second_step_trust_upstream_hint"},
	{string(twostep.SSOAlways), "sso.second_step_always", "sso.second_step_always_hint"},
}

// ssoRuleOption is one choice of second step on the page.
type ssoRuleOption struct {
	Value, Label, Hint string
	Selected           bool
}

type ssoPageData struct {
	Connected  bool   // a connection is saved
	HasSecret  bool   // and it keeps a client secret
	Callback   string // the redirect URI to register at the provider
	Slug       string
	Domains    []string
	SecondStep []ssoRuleOption
	Test       *twostep.SSOMetadata // what "test the connection" found
	TestFailed string               // or why it found nothing
}

func (s *Server) pageSSO(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderSSO(w, r, c, nil, nil, nil)
}

// renderSSO shows the SSO page with the form as submitted (nil: as saved),
// the refusal of a save (if any) and the result of a test (if any).
func (s *Server) renderSSO(w http.ResponseWriter, r *http.Request, c *twostep.Caller, form url.Values, err error, test func(*page, *ssoPageData) int) {
	p, org, aerr := s.adminPage(r, c)
	if aerr != nil {
		s.adminError(w, r, aerr)
		return
	}
	conn, domains, aerr := s.ssoOrg(r.Context(), c)
	if aerr != nil {
		s.ssoAdminError(w, r, aerr)
		return
	}
	p.Wide = false
	p.labels = map[string]string{"issuer": p.T("sso.issuer"), "client_id": p.T("sso.client_id"),
		"client_secret": p.T("sso.client_secret"), "second_step": p.T("sso.second_step")}
	d := &ssoPageData{Connected: conn != nil, Slug: org.Slug, Domains: domains,
		Callback: strings.TrimSuffix(s.baseURL.String(), "/") + "/sso/callback/" + org.Slug}
	if form == nil {
		form = url.Values{"second_step": {"never"}}
		if conn != nil {
			form = url.Values{"issuer": {conn.Issuer}, "client_id": {conn.ClientID}, "second_step": {conn.SecondStep}}
		}
	}
	d.HasSecret = conn != nil && conn.HasSecret
	for _, o := range secondSteps {
		d.SecondStep = append(d.SecondStep, ssoRuleOption{Value: o.value, Label: p.T(o.label), Hint: p.T(o.hint),
			Selected: form.Get("second_step") == o.value})
	}
	form.Del("client_secret") // never shown back, not even as typed
	p.Form, p.Focus = form, "issuer"
	status := http.StatusOK
	if err != nil {
		if status = s.formError(w, p, err); status == 0 {
			s.adminError(w, r, err)
			return
		}
	}
	if test != nil {
		status = test(p, d)
	}
	p.Data = d
	s.render(w, r, status, "sso", p)
}

func (s *Server) pageSSOPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	in := ssoSettings{Issuer: strings.TrimSpace(r.PostFormValue("issuer")), ClientID: strings.TrimSpace(r.PostFormValue("client_id")),
		ClientSecret: r.PostFormValue("client_secret"), SecondStep: r.PostFormValue("second_step")}
	form := url.Values{"issuer": {in.Issuer}, "client_id": {in.ClientID}, "second_step": {in.SecondStep}}
	if r.PostFormValue("action") == "test" {
		found, err := s.ssoTest(r.Context(), c, in.Issuer)
		s.renderSSO(w, r, c, form, nil, func(p *page, d *ssoPageData) int {
			if err == nil {
				d.Test = found
				return http.StatusOK
			}
			status := s.formError(w, p, err)
			if status == 0 {
				f := s.fail(r, err)
				status, d.TestFailed = f.Status, s.failureText(p, f)
			} else {
				d.TestFailed, p.Error = p.Error, ""
			}
			return status
		})
		return
	}
	if err := s.ssoSave(r.Context(), c, in); err != nil {
		s.renderSSO(w, r, c, form, err, nil)
		return
	}
	redirect(w, r, "/admin/sso?done=sso_saved")
}

// ssoAdminError is adminError for the SSO pages, which are the owners'
// alone: an administrator is told so.
func (s *Server) ssoAdminError(w http.ResponseWriter, r *http.Request, err error) {
	if c := callerFrom(r.Context()); errors.Is(err, twostep.ErrForbidden) && c != nil && c.Account != nil && c.Account.Role == twostep.RoleAdmin {
		f := s.fail(r, err)
		f.Message = "sso.owners_only"
		s.errorPage(w, r, f)
		return
	}
	s.adminError(w, r, err)
}

// pageSSORemove says what removing the connection does before it is done.
func (s *Server) pageSSORemove(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, _, err := s.adminPage(r, c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	conn, _, err := s.ssoOrg(r.Context(), c)
	if err != nil {
		s.ssoAdminError(w, r, err)
		return
	}
	if conn == nil {
		redirect(w, r, "/admin/sso")
		return
	}
	p.Wide, p.Data = false, conn
	s.render(w, r, http.StatusOK, "sso_remove", p)
}

func (s *Server) pageSSORemovePost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.ssoRemove(r.Context(), c); err != nil {
		s.ssoAdminError(w, r, err)
		return
	}
	redirect(w, r, "/admin/sso?done=sso_removed")
}

// ssoFailed answers a sign-in through an organisation's provider that did not
// work (the callback, API.md §12) with a page that says what happened and what
// to do: try again, or ask the organisation's administrator. Nothing was
// signed in or created.
func (s *Server) ssoFailed(w http.ResponseWriter, r *http.Request, err error) {
	f := s.fail(r, err)
	f.retryAfter(w)
	p := s.newPage(r, nil)
	p.Flash = ""
	p.Data = struct {
		Status   int
		Text     string
		ErrorID  string
		Password bool // the address has a password account: that is its way in
	}{f.Status, s.failureText(p, f), f.ErrorID, f.Reason == twostep.ReasonSSOAccountTaken}
	s.render(w, r, f.Status, "sso_error", p)
}
