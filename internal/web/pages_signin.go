package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/twostep/twostep/internal/twostep"
)

func (s *Server) pageHome(w http.ResponseWriter, r *http.Request) {
	if s.signedIn(r) {
		redirect(w, r, "/account/security")
		return
	}
	redirect(w, r, "/sign-in")
}

// signedIn reports whether the request carries a live session cookie.
func (s *Server) signedIn(r *http.Request) bool {
	ck, err := r.Cookie(s.sessionCookie())
	if err != nil {
		return false
	}
	_, err = s.svc.Authenticate(r.Context(), ck.Value, s.clientIP(r), r.UserAgent())
	return err == nil
}

func (s *Server) pageSignIn(w http.ResponseWriter, r *http.Request) {
	if id := r.URL.Query().Get("auth_request"); id != "" && s.oidcCallback != "" {
		s.startAuthRequest(w, r, id)
		return
	}
	// A sign-in started here is for Twostep itself, not for a product left
	// behind; or for the product behind a proxy that rd names (API.md §8).
	s.setCookie(w, s.oidcCookie(), "", timeZero)
	rd := s.startReturn(w, r)
	if c := s.sessionCaller(r); c != nil {
		if rd == "" || !s.returnSignedIn(w, r, c, rd) {
			redirect(w, r, "/account/security")
		}
		return
	}
	p := s.newPage(r, nil)
	p.Focus = "email"
	has, err := s.svc.HasOrg(r.Context())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	// Before the first organisation exists there is no one to sign in: say
	// where the one-time setup link is (it is never shown on a page).
	s.renderSignIn(w, r, http.StatusOK, p, !has)
}

type signInData struct {
	NoOrg   bool
	Passkey *passkeyBox // sign in with a passkey instead; nil when this server offers none
}

// renderSignIn shows the sign-in page; noOrg: no organisation exists yet.
func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, p *page, noOrg bool) {
	p.Data = signInData{NoOrg: noOrg}
	if !noOrg {
		p.Data = signInData{Passkey: s.passwordlessBox(p)}
	}
	s.render(w, r, status, "sign_in", p)
}

// renderSignInAfterPasskey shows the sign-in page saying why a passkey did
// not sign in. The autofill does not offer one again at once: it would cover
// the message, and a browser that picks the only passkey by itself would
// send the same refused key again and again.
func (s *Server) renderSignInAfterPasskey(w http.ResponseWriter, r *http.Request, status int, p *page) {
	box := s.passwordlessBox(p)
	if box != nil {
		box.NoAutofill = true
	}
	p.Data = signInData{Passkey: box}
	s.render(w, r, status, "sign_in", p)
}

func (s *Server) pageSignInPost(w http.ResponseWriter, r *http.Request) {
	email, password := r.PostFormValue("email"), r.PostFormValue("password")
	res, err := s.svc.SignIn(r.Context(), twostep.SignInRequest{Email: email, Password: password,
		IP: s.clientIP(r), UserAgent: r.UserAgent(), Locale: s.browserLocale(r), DeviceToken: s.deviceToken(r), AuthRequestID: s.authRequestID(r)})
	if err != nil {
		p := s.newPage(r, nil)
		p.Form, p.Focus = url.Values{"email": {email}}, "email"
		status := s.formError(w, p, err)
		if status == 0 {
			s.pageError(w, r, err)
			return
		}
		s.renderSignIn(w, r, status, p, false)
		return
	}
	s.signInGoesOn(w, r, res, "/account/security")
}

// signInGoesOn takes the browser where a sign-in that passed its first step
// stands: signed in, to the second step, or to the enrolment the policy wants
// (Decide said which); signed in, it goes on to next.
func (s *Server) signInGoesOn(w http.ResponseWriter, r *http.Request, res *twostep.SignInResult, next string) {
	switch res.Status {
	case twostep.StatusSignedIn:
		s.setSignedIn(w, res)
		s.finishSignIn(w, r, res, next)
	case twostep.StatusSecondStep:
		s.setCookie(w, s.signInCookie(), res.SignInToken, res.ExpiresAt)
		if cs := res.CodeSent; cs != nil {
			redirect(w, r, methodHref(twostep.MethodOption{Method: cs.Method, FactorID: cs.FactorID}))
			return
		}
		redirect(w, r, "/sign-in/verify")
	case twostep.StatusEnrollmentRequired:
		// The token only enrols (then completes): the same cookie carries it.
		s.setCookie(w, s.signInCookie(), res.SignInToken, res.ExpiresAt)
		redirect(w, r, enrolBase)
	default:
		s.pageError(w, r, fmt.Errorf("web: sign-in status %q", res.Status))
	}
}

func (s *Server) pageSignOut(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(s.sessionCookie()); err == nil {
		c, err := s.svc.Authenticate(r.Context(), ck.Value, s.clientIP(r), r.UserAgent())
		if err == nil {
			err = s.svc.SignOut(r.Context(), c)
		}
		if err != nil && !errors.Is(err, twostep.ErrUnauthenticated) {
			s.pageError(w, r, err)
			return
		}
	}
	s.setCookie(w, s.sessionCookie(), "", timeZero)
	s.setCookie(w, s.signInCookie(), "", timeZero)
	s.setForward(w, "", timeZero)
	redirect(w, r, "/sign-in?done=signed_out")
}
