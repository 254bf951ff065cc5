package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Forward auth on the pages (API.md §8). Every sign-in that gives the browser
// a session also gives it the forward-auth cookie, scoped to the cookie
// domain so that the products' proxies see it; and /sign-in?rd=URL, where a
// proxy sends a visitor it refused, returns there once the whole sign-in is
// over. The URL rides in a short-lived host-only cookie through the sign-in's
// pages, as an OpenID Connect request's id does, and is checked against the
// domain's rule both when it arrives and when it is followed.

// forwardCookie is the forward-auth cookie's name: no __Host- prefix, which
// forbids a Domain.
const forwardCookie = "twostep_fa"

// returnTTL is how long a sign-in may take and still return to its rd.
const returnTTL = 30 * time.Minute

func (s *Server) returnCookie() string {
	if s.secure {
		return "__Host-twostep_rd"
	}
	return "twostep_rd"
}

// setForward gives the browser the forward-auth cookie holding token, until
// expires; token "" removes it. Nothing without a cookie domain.
func (s *Server) setForward(w http.ResponseWriter, token string, expires time.Time) {
	if s.cookieDomain == "" || (token == "" && !expires.IsZero()) {
		return
	}
	c := &http.Cookie{Name: forwardCookie, Value: token, Domain: s.cookieDomain, Path: "/", HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode, Expires: expires}
	if token == "" {
		c.MaxAge, c.Expires = -1, time.Time{}
	}
	http.SetCookie(w, c)
}

// startReturn keeps the request's rd for the end of the sign-in when the
// rule lets it be followed, and forgets any earlier one otherwise: a
// sign-in started without rd is for Twostep itself. It returns the rd kept.
func (s *Server) startReturn(w http.ResponseWriter, r *http.Request) string {
	rd := s.svc.ReturnURL(r.URL.Query().Get("rd"))
	if rd != "" {
		s.setCookie(w, s.returnCookie(), rd, s.clock().Add(returnTTL))
	} else if _, err := r.Cookie(s.returnCookie()); err == nil {
		s.setCookie(w, s.returnCookie(), "", timeZero)
	}
	return rd
}

// endReturn is where a sign-in that just ended goes: the rd it started with,
// if it still passes the rule, else next.
func (s *Server) endReturn(w http.ResponseWriter, r *http.Request, next string) string {
	ck, err := r.Cookie(s.returnCookie())
	if err != nil {
		return next
	}
	s.setCookie(w, s.returnCookie(), "", timeZero)
	if rd := s.svc.ReturnURL(ck.Value); rd != "" {
		return rd
	}
	return next
}

// sessionCaller is the caller of the request's live session cookie, nil for none.
func (s *Server) sessionCaller(r *http.Request) *twostep.Caller {
	ck, err := r.Cookie(s.sessionCookie())
	if err != nil {
		return nil
	}
	c, err := s.svc.Authenticate(r.Context(), ck.Value, s.clientIP(r), r.UserAgent())
	if err != nil {
		return nil
	}
	return c
}

// returnSignedIn sends a browser that is signed in already straight back to
// rd, with a forward-auth cookie for its session, when its session satisfies
// whatever a proxy may require (a second step that counts everywhere). A
// session without a second step is not sent back, since the proxy that sent
// it here may well refuse it again, round and round; it reports false, and
// the person lands on their security settings, where a method is added.
func (s *Server) returnSignedIn(w http.ResponseWriter, r *http.Request, c *twostep.Caller, rd string) bool {
	if s.cookieDomain == "" || !c.Session.SecondStep.Counts(true) {
		return false
	}
	if ck, err := r.Cookie(forwardCookie); err != nil || !s.forwardsFor(r, ck.Value, c.Session.ID) {
		token, err := s.svc.IssueForwardToken(r.Context(), c)
		if errors.Is(err, twostep.ErrUnauthenticated) {
			return false
		}
		if err != nil {
			s.pageError(w, r, err)
			return true
		}
		s.setForward(w, token, c.Session.ExpiresAt)
	}
	s.setCookie(w, s.returnCookie(), "", timeZero)
	redirect(w, r, rd)
	return true
}

// forwardsFor reports whether token is the forward-auth token of session id.
func (s *Server) forwardsFor(r *http.Request, token, id string) bool {
	fs, err := s.svc.ForwardAuth(r.Context(), token, true)
	return err == nil && fs.Session.ID == id
}
