package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

func (s *Server) pageResetRequest(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r, nil)
	p.Focus = "email"
	p.Data = resetRequestData{}
	s.render(w, r, http.StatusOK, "reset_request", p)
}

type resetRequestData struct {
	Sent  bool
	Email string
	Hours int
	From  string // the sender to look for
}

// pageResetRequestPost asks for a reset link. The answer is the same whether or
// not an account has the address (EN-01).
func (s *Server) pageResetRequestPost(w http.ResponseWriter, r *http.Request) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	err := s.svc.RequestPasswordReset(r.Context(), email, s.caller(r))
	p := s.newPage(r, nil)
	if err != nil {
		p.Form, p.Focus = url.Values{"email": {email}}, "email"
		status := s.formError(w, p, err)
		if status == 0 {
			s.pageError(w, r, err)
			return
		}
		p.Data = resetRequestData{}
		s.render(w, r, status, "reset_request", p)
		return
	}
	p.Data = resetRequestData{Sent: true, Email: email, Hours: int(twostep.PasswordResetTTL.Hours()), From: s.mailFrom}
	s.render(w, r, http.StatusOK, "reset_request", p)
}

func (s *Server) pageReset(w http.ResponseWriter, r *http.Request) {
	s.renderReset(w, r, nil)
}

func (s *Server) renderReset(w http.ResponseWriter, r *http.Request, err error) {
	a, org, lerr := s.svc.PasswordResetAccount(r.Context(), r.PathValue("token"))
	if errors.Is(lerr, twostep.ErrExpired) {
		s.linkExpired(w, r, "reset")
		return
	}
	if lerr != nil {
		s.pageError(w, r, lerr)
		return
	}
	p := s.newPage(r, &twostep.Caller{Account: a})
	p.Email, p.Org, p.Focus = "", org.Name, "password"
	p.labels = map[string]string{"password": p.T("password.new")}
	status := http.StatusOK
	if err != nil {
		if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
	}
	p.Data = struct {
		Email   string
		TwoStep bool
	}{a.Email, a.TwoStepEnabled()}
	s.render(w, r, status, "reset_password", p)
}

func (s *Server) pageResetPost(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	a, _, err := s.svc.PasswordResetAccount(r.Context(), token)
	if err == nil {
		err = s.svc.ResetPassword(r.Context(), token, r.PostFormValue("password"), s.caller(r))
	}
	switch {
	case errors.Is(err, twostep.ErrExpired):
		s.linkExpired(w, r, "reset")
	case err != nil:
		s.renderReset(w, r, err)
	case a.TwoStepEnabled():
		redirect(w, r, "/sign-in?done=reset_two_step")
	default:
		redirect(w, r, "/sign-in?done=reset")
	}
}

func (s *Server) pageChangePassword(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p := s.confirmedPage(w, r, c)
	if p == nil {
		return
	}
	p.Focus = "current_password"
	s.render(w, r, http.StatusOK, "change_password", p)
}

func (s *Server) pageChangePasswordPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	err := s.svc.ChangePassword(r.Context(), c, r.PostFormValue("current_password"), r.PostFormValue("password"))
	if err == nil {
		redirect(w, r, "/account/security?done=password_new")
		return
	}
	if errors.Is(err, twostep.ErrConfirmIdentity) {
		confirmFirst(w, r, "/account/password")
		return
	}
	p, _, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	p.labels = map[string]string{"password": p.T("password.new")}
	p.Focus = "current_password"
	status := s.formError(w, p, err)
	if status == 0 {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, status, "change_password", p)
}
