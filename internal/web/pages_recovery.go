package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"

	"github.com/twostep/twostep/internal/twostep"
)

type codesData struct {
	Codes    []string
	Download template.URL
	Continue string // while enrolling at sign-in: where "I have saved them" posts to finish signing in
}

// renderCodes shows a new set of recovery codes, once: they are never stored
// in the clear, so this answer is the only place they appear.
func (s *Server) renderCodes(w http.ResponseWriter, r *http.Request, c *twostep.Caller, codes []string, enabled bool) {
	p, _, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if enabled {
		p.Flash = p.T("done.enabled")
	}
	file := recoveryCodesFile(p, s.svc.Issuer(), c.Account.Email, codes)
	d := codesData{Codes: codes,
		Download: template.URL("data:text/plain;charset=utf-8;base64," + base64.StdEncoding.EncodeToString([]byte(file)))}
	if c.SignIn != nil {
		d.Continue = enrolBase + "/complete"
	}
	p.Data = d
	s.render(w, r, http.StatusOK, "recovery_codes", p)
}

func (s *Server) pageRecoveryCodes(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	codes, err := s.svc.RecoveryCodes(r.Context(), c)
	if errors.Is(err, twostep.ErrConflict) {
		redirect(w, r, "/account/security")
		return
	}
	if err != nil {
		s.securityError(w, r, c, err)
		return
	}
	s.renderCodes(w, r, c, codes, false)
}
