package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/twostep/twostep/internal/twostep"
)

func (s *Server) caller(r *http.Request) *twostep.Caller {
	return &twostep.Caller{IP: s.clientIP(r), UserAgent: r.UserAgent(), Locale: s.browserLocale(r)}
}

// linkExpired says that a one-time link is used or out of time, and who to ask.
func (s *Server) linkExpired(w http.ResponseWriter, r *http.Request, kind string) {
	p := s.newPage(r, nil)
	p.Data = kind
	s.render(w, r, http.StatusGone, "link_expired", p)
}

func (s *Server) pageSetup(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.CheckSetupToken(r.Context(), r.PathValue("token")); err != nil {
		if errors.Is(err, twostep.ErrExpired) {
			s.linkExpired(w, r, "setup")
			return
		}
		s.pageError(w, r, err)
		return
	}
	p := s.newPage(r, nil)
	p.Focus = "name"
	s.render(w, r, http.StatusOK, "setup", p)
}

func (s *Server) pageSetupPost(w http.ResponseWriter, r *http.Request) {
	name, email := r.PostFormValue("name"), r.PostFormValue("email")
	res, err := s.svc.Setup(r.Context(), r.PathValue("token"), twostep.NewOrg{Name: name, OwnerEmail: email,
		Password: r.PostFormValue("password")}, s.caller(r))
	if errors.Is(err, twostep.ErrExpired) {
		s.linkExpired(w, r, "setup")
		return
	}
	if err != nil {
		p := s.newPage(r, nil)
		p.Form, p.Focus = url.Values{"name": {name}, "email": {email}}, "name"
		status := s.formError(w, p, err)
		if status == 0 {
			s.pageError(w, r, err)
			return
		}
		if p.Field == "slug" {
			p.Field = "name" // the slug comes from the name
		}
		s.render(w, r, status, "setup", p)
		return
	}
	s.setSignedIn(w, res)
	redirect(w, r, "/account/security?done=welcome")
}

func (s *Server) pageSetPassword(w http.ResponseWriter, r *http.Request) {
	s.renderSetPassword(w, r, nil, "password")
}

// pageInvite is where an invitation leads: the organisation, the e-mail, and a
// password to choose, as for a set-password link.
func (s *Server) pageInvite(w http.ResponseWriter, r *http.Request) {
	s.renderSetPassword(w, r, nil, "invite")
}

// renderSetPassword shows the form of a set-password link, or of an
// invitation when kind is "invite".
func (s *Server) renderSetPassword(w http.ResponseWriter, r *http.Request, err error, kind string) {
	a, org, lerr := s.svc.SetPasswordAccount(r.Context(), r.PathValue("token"))
	if errors.Is(lerr, twostep.ErrExpired) {
		s.linkExpired(w, r, kind)
		return
	}
	if lerr != nil {
		s.pageError(w, r, lerr)
		return
	}
	p := s.newPage(r, &twostep.Caller{Account: a})
	p.Email, p.Org, p.Focus = "", org.Name, "password"
	status := http.StatusOK
	if err != nil {
		if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
	}
	p.Data = struct {
		Email, Org string
		Invite     bool
	}{a.Email, org.Name, kind == "invite"}
	s.render(w, r, status, "set_password", p)
}

func (s *Server) pageSetPasswordPost(w http.ResponseWriter, r *http.Request) {
	s.setPasswordPost(w, r, "password")
}

func (s *Server) pageInvitePost(w http.ResponseWriter, r *http.Request) {
	s.setPasswordPost(w, r, "invite")
}

// setPasswordPost sets the password of a set-password link or invitation
// (kind), then signs the person in with it, as the sign-in page would: the
// service decides (Decide) whether a second step or an enrolment comes
// first, so nobody skips one by coming through a link. Should that sign-in
// not go through (a throttle, the database), the sign-in page comes with the
// e-mail filled in.
func (s *Server) setPasswordPost(w http.ResponseWriter, r *http.Request, kind string) {
	token, password := r.PathValue("token"), r.PostFormValue("password")
	a, _, err := s.svc.SetPasswordAccount(r.Context(), token)
	if err == nil {
		err = s.svc.SetPassword(r.Context(), token, password, s.caller(r))
	}
	if errors.Is(err, twostep.ErrExpired) {
		s.linkExpired(w, r, kind)
		return
	}
	if err != nil {
		s.renderSetPassword(w, r, err, kind)
		return
	}
	res, err := s.svc.SignIn(r.Context(), twostep.SignInRequest{Email: a.Email, Password: password, IP: s.clientIP(r),
		UserAgent: r.UserAgent(), Locale: s.browserLocale(r), DeviceToken: s.deviceToken(r), AuthRequestID: s.authRequestID(r)})
	if err != nil {
		s.log.Warn("signing in after a set-password link", "account", a.ID, "err", err)
		p := s.newPage(r, nil)
		p.Form, p.Focus = url.Values{"email": {a.Email}}, "password"
		p.Flash = p.T(doneMessages[map[string]string{"invite": "invited", "password": "password"}[kind]])
		s.renderSignIn(w, r, http.StatusOK, p, false)
		return
	}
	s.signInGoesOn(w, r, res, "/account/security?done=password_signed_in")
}
