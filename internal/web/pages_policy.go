package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

type policyData struct {
	Required   bool
	Grace      string
	Methods    []option // those this server offers, the allowed ones selected
	MinVersion string
	Legacy     bool
	Remember   string // remember_device_days
	AppPass    bool   // allow_app_passwords
	// AdminsKey: admins_phishing_resistant, owners and admins must use a
	// passkey or security key; WebAuthnWhy says why this server offers none.
	AdminsKey   bool
	WebAuthnWhy string
	Confirm     *policyConfirm // the step before "required" is saved
}

// policyConfirm says what making two-step required will do, and carries the
// policy to save.
type policyConfirm struct {
	Count  int // members who will have to set up a method
	Grace  int
	Fields []hiddenField
}

// policyFields are the policy form's fields.
var policyFields = []string{"two_step", "grace_period_days", "allowed_methods", "min_client_version", "allow_legacy_clients",
	"remember_device_days", "allow_app_passwords", "admins_phishing_resistant"}

// policyValues is pol as the policy form submits it.
func policyValues(pol twostep.Policy) url.Values {
	v := url.Values{"two_step": {pol.TwoStep}, "grace_period_days": {strconv.Itoa(pol.GracePeriodDays)},
		"min_client_version": {pol.MinClientVersion}, "remember_device_days": {strconv.Itoa(pol.RememberDeviceDays)}}
	for _, m := range pol.AllowedMethods {
		v.Add("allowed_methods", string(m))
	}
	if pol.AllowLegacyClients {
		v.Set("allow_legacy_clients", "1")
	}
	if pol.AllowAppPasswords {
		v.Set("allow_app_passwords", "1")
	}
	if pol.AdminsPhishingResistant {
		v.Set("admins_phishing_resistant", "1")
	}
	return v
}

// policyFrom reads the policy form. It checks what the confirmation step
// needs to be right (the service checks all of it again when saving), with the
// service's own words: a number of days, at least one method, a version.
func policyFrom(v url.Values) (twostep.Policy, error) {
	pol := twostep.Policy{TwoStep: v.Get("two_step"), MinClientVersion: strings.TrimSpace(v.Get("min_client_version")),
		AllowLegacyClients: v.Get("allow_legacy_clients") == "1", AllowAppPasswords: v.Get("allow_app_passwords") == "1",
		AdminsPhishingResistant: v.Get("admins_phishing_resistant") == "1"}
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
	days = strings.TrimSpace(v.Get("remember_device_days"))
	if days == "" {
		days = "0"
	}
	if n, err = strconv.Atoi(days); err != nil || n < 0 || n > twostep.MaxRememberDeviceDays {
		return pol, badRequest("remember_device_days", twostep.ReasonRememberDays, "Max", strconv.Itoa(twostep.MaxRememberDeviceDays))
	}
	pol.RememberDeviceDays = n
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
	p.Form = v
	p.labels = map[string]string{"allow_legacy_clients": p.T("orgpolicy.legacy"), "allow_app_passwords": p.T("orgpolicy.app_passwords"),
		"admins_phishing_resistant": p.T("orgpolicy.admins_key")}
	d := policyData{Required: v.Get("two_step") == twostep.PolicyRequired, Grace: v.Get("grace_period_days"),
		MinVersion: v.Get("min_client_version"), Legacy: v.Get("allow_legacy_clients") == "1", Confirm: confirm,
		Remember: v.Get("remember_device_days"), AppPass: v.Get("allow_app_passwords") == "1",
		AdminsKey: v.Get("admins_phishing_resistant") == "1", WebAuthnWhy: s.webauthnUnavailable(p)}
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
