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

// signInData is what the sign-in page shows: one form with e-mail and
// password; or, once some organisation signs in through its own provider
// (API.md §12), the e-mail alone first (EmailFirst), then the password
// (PasswordStep) for whoever does not go to a provider.
type signInData struct {
	NoOrg        bool
	EmailFirst   bool
	PasswordStep bool
	WithPassword bool        // the one-page form asked for while SSO exists (?with=password)
	Passkey      *passkeyBox // sign in with a passkey instead; nil when this server offers none
}

// renderSignIn shows the sign-in page; noOrg: no organisation exists yet.
func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, p *page, noOrg bool) {
	s.showSignIn(w, r, status, p, signInData{NoOrg: noOrg}, false)
}

// renderSignInAfterPasskey shows the sign-in page saying why a passkey did
// not sign in. The autofill does not offer one again at once: it would cover
// the message, and a browser that picks the only passkey by itself would
// send the same refused key again and again.
func (s *Server) renderSignInAfterPasskey(w http.ResponseWriter, r *http.Request, status int, p *page) {
	s.showSignIn(w, r, status, p, signInData{}, true)
}

// showSignIn shows the sign-in page as d says, choosing the form when d does
// not: the e-mail first while any organisation has SSO, unless ?with=password
// asks for the one-page form all the same (a password account's way in when
// its address is in an SSO domain, or its provider is down).
func (s *Server) showSignIn(w http.ResponseWriter, r *http.Request, status int, p *page, d signInData, noAutofill bool) {
	if !d.NoOrg && !d.EmailFirst && !d.PasswordStep {
		sso, err := s.ssoAny(r.Context())
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		d.WithPassword = sso && r.URL.Query().Get("with") == "password"
		d.EmailFirst = sso && !d.WithPassword
	}
	if !d.NoOrg && !d.PasswordStep {
		if d.Passkey = s.passwordlessBox(p); d.Passkey != nil && noAutofill {
			d.Passkey.NoAutofill = true
		}
	}
	p.Data = d
	s.render(w, r, status, "sign_in", p)
}

func (s *Server) pageSignInPost(w http.ResponseWriter, r *http.Request) {
	email, password := r.PostFormValue("email"), r.PostFormValue("password")
	if _, ok := r.PostForm["password"]; !ok {
		s.pageSignInEmail(w, r, email)
		return
	}
	res, err := s.svc.SignIn(r.Context(), twostep.SignInRequest{Email: email, Password: password,
		IP: s.clientIP(r), UserAgent: r.UserAgent(), Locale: s.browserLocale(r), DeviceToken: s.deviceToken(r), AuthRequestID: s.authRequestID(r)})
	if errors.Is(err, twostep.ErrSSOManaged) {
		// The one-page form (bookmarked, or from before the organisation
		// had SSO) for an address that signs in at its provider: go there.
		if route, serr := s.ssoRouteFor(r.Context(), email); serr != nil || route != nil {
			s.ssoRedirect(w, r, route, serr)
			return
		}
	}
	if err != nil {
		p := s.newPage(r, nil)
		p.Form, p.Focus = url.Values{"email": {email}}, "email"
		var d signInData
		if sso, aerr := s.ssoAny(r.Context()); aerr == nil && sso {
			// The password step again: the address stays as it was given.
			d, p.Focus = signInData{EmailFirst: true, PasswordStep: true}, "password"
		}
		status := s.formError(w, p, err)
		if status == 0 {
			s.pageError(w, r, err)
			return
		}
		s.showSignIn(w, r, status, p, d, false)
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

// pageSignInEmail is the first step of an e-mail-first sign-in (home-realm
// discovery, API.md §12): an address that signs in through its organisation's
// provider goes there; any other gets the password step. Which one is decided
// by SSO alone, so an unknown address and a password account's address get
// the same page (SECURITY.md EN-01); an SSO address is told apart, as every SSO
// sign-in page does and as the API's sso_managed already says.
func (s *Server) pageSignInEmail(w http.ResponseWriter, r *http.Request, email string) {
	p := s.newPage(r, nil)
	p.Form, p.Focus = url.Values{"email": {email}}, "email"
	if twostep.NormalizeEmail(email) == "" {
		status := s.formError(w, p, badRequest("email", twostep.ReasonEmail))
		s.showSignIn(w, r, status, p, signInData{EmailFirst: true}, false)
		return
	}
	route, err := s.ssoRouteFor(r.Context(), email)
	if err != nil || route != nil {
		s.ssoRedirect(w, r, route, err)
		return
	}
	p.Focus = "password"
	s.showSignIn(w, r, http.StatusOK, p, signInData{EmailFirst: true, PasswordStep: true}, false)
}

// ssoRedirect sends the browser on to its provider, or shows why it cannot.
// The answer to a form cannot be a redirect there: chromium holds the whole
// redirect chain of a form to the CSP's form-action ('self'). So a page goes
// on at once by itself, with a link for a browser that does not.
func (s *Server) ssoRedirect(w http.ResponseWriter, r *http.Request, route *ssoRoute, err error) {
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	to := localPath(route.URL)
	if to == "" {
		s.pageError(w, r, fmt.Errorf("web: SSO start %q is not a local path", route.URL))
		return
	}
	p := s.newPage(r, nil)
	p.Org, p.Refresh, p.Data = route.Org, to, to
	s.render(w, r, http.StatusOK, "sso_go", p)
}
