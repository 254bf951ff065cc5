package web

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"

	"github.com/twostep/twostep/internal/twostep"
)

// A sign-in a product started at the OpenID Connect provider (API.md §7)
// arrives at /sign-in?auth_request=ID. The request's id then rides in a
// short-lived HttpOnly cookie through every page of the sign-in (password,
// second step by any method, resend, call instead, required enrolment), and
// when the sign-in ends the domain completes the request with the new session
// and the browser goes to the provider's callback, which answers the product.

func (s *Server) oidcCookie() string {
	if s.secure {
		return "__Host-twostep_oidc"
	}
	return "twostep_oidc"
}

// authRequestID is the authorization request the browser signs in for, "" for none.
func (s *Server) authRequestID(r *http.Request) string {
	if ck, err := r.Cookie(s.oidcCookie()); err == nil {
		return ck.Value
	}
	return ""
}

// toCallback sends the browser to the provider's callback for request id.
func (s *Server) toCallback(w http.ResponseWriter, r *http.Request, id string) {
	s.setCookie(w, s.oidcCookie(), "", timeZero)
	redirect(w, r, s.oidcCallback+url.QueryEscape(id))
}

// startAuthRequest handles /sign-in?auth_request=ID: a live session that
// satisfies the request (single sign-on), prompt=none, or an account outside
// the client's organisation go straight back to the client; otherwise the
// person signs in, told which product asked. It reports whether it answered.
func (s *Server) startAuthRequest(w http.ResponseWriter, r *http.Request, id string) bool {
	session := ""
	if ck, err := r.Cookie(s.sessionCookie()); err == nil {
		session = ck.Value
	}
	step, err := s.svc.ResumeAuthRequest(r.Context(), id, session, s.clientIP(r), r.UserAgent())
	switch {
	case errors.Is(err, twostep.ErrExpired):
		s.setCookie(w, s.oidcCookie(), "", timeZero)
		s.pageError(w, r, err)
		return true
	case err != nil:
		s.pageError(w, r, err)
		return true
	case step.Callback:
		s.toCallback(w, r, id)
		return true
	}
	s.setCookie(w, s.oidcCookie(), id, s.clock().Add(twostep.AuthRequestTTL))
	p := s.newPage(r, nil)
	p.Client, p.clientReturn, p.Focus = step.ClientName, step.RedirectURI, "email"
	s.renderSignIn(w, r, http.StatusOK, p, false)
	return true
}

// finishSignIn sends a browser whose sign-in just made a session (res) back
// to the product it came from, if any, else to next.
func (s *Server) finishSignIn(w http.ResponseWriter, r *http.Request, res *twostep.SignInResult, next string) {
	id := s.authRequestID(r)
	if id == "" {
		redirect(w, r, s.endReturn(w, r, next))
		return
	}
	err := s.svc.CompleteAuthRequest(r.Context(), id, res.SessionToken, s.clientIP(r), r.UserAgent())
	switch {
	case err == nil:
		s.toCallback(w, r, id)
	case errors.Is(err, twostep.ErrExpired), errors.Is(err, twostep.ErrUnauthenticated):
		// Too late for the product: the person is signed in to Twostep all the same.
		s.setCookie(w, s.oidcCookie(), "", timeZero)
		redirect(w, r, next)
	default:
		s.pageError(w, r, err)
	}
}

// formActions is the CSP form-action source list of a page of a sign-in that
// ends at the product's redirectURI. A browser applies form-action to every
// redirect that follows a form's submission (CSP 3 §6.1.3), and the form that
// ends a sign-in (password, code, "continue" after enrolment) answers with
// redirects through the callback to the product: with 'self' alone chromium
// stops there. So the page allows the redirect URI's origin as well (paths do
// not count after a redirect anyway). A URI that would not make a plain
// source expression (it cannot inject a directive) allows nothing more.
func formActions(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	switch {
	case err != nil || !cspScheme.MatchString(u.Scheme):
		return "'self'"
	case u.Host == "": // a native app's private-use scheme (RFC 8252 §7.1)
		return "'self' " + u.Scheme + ":"
	case !cspHost.MatchString(u.Host):
		return "'self'"
	}
	return "'self' " + u.Scheme + "://" + u.Host
}

var (
	cspScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)
	cspHost   = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)
)
