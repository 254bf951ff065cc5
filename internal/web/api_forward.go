package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

// Forward auth (API.md §8): a reverse proxy asks, before each request to the
// product behind it, who the visitor is. These two answers sit in front of
// every request of that product, so they do as little as possible: one
// indexed read, and a write at most once a minute per session.

// reasonRequireTwoStep: ?require= takes "two-step" or nothing.
const reasonRequireTwoStep twostep.Reason = "require_two_step"

// apiAuthRequest answers nginx's auth_request: 200 with the Remote-* headers,
// or 401 (nginx then sends the visitor to sign in). The 401 carries, as a
// Location header, the sign-in URL that returns to the page asked for when
// the proxy names it in X-Original-URL (or X-Forwarded-*): nginx cannot
// escape a URL into a query string by itself, and takes it from there.
func (s *Server) apiAuthRequest(w http.ResponseWriter, r *http.Request) { s.forwardAuth(w, r, false) }

// apiForwardAuth answers Traefik's and Caddy's forward auth: 200 with the
// Remote-* headers, or a redirect to sign in that returns to the page asked for.
func (s *Server) apiForwardAuth(w http.ResponseWriter, r *http.Request) { s.forwardAuth(w, r, true) }

func (s *Server) forwardAuth(w http.ResponseWriter, r *http.Request, redirects bool) {
	require := false
	switch r.URL.Query().Get("require") {
	case "":
	case "two-step":
		require = true
	default:
		s.apiError(w, r, badRequest("require", reasonRequireTwoStep))
		return
	}
	token := ""
	if ck, err := r.Cookie(forwardCookie); err == nil {
		token = ck.Value
	}
	fs, err := s.svc.ForwardAuth(r.Context(), token, require)
	switch {
	case err == nil:
		h := w.Header()
		h.Set("Remote-User", fs.Session.AccountID)
		h.Set("Remote-Email", fs.Email)
		h.Set("Remote-Groups", "org:"+fs.OrgSlug+",role:"+string(fs.Role))
		h.Set("Remote-AMR", strings.Join(fs.Session.AMR, ","))
		w.WriteHeader(http.StatusOK)
	case redirects && errors.Is(err, twostep.ErrUnauthenticated):
		http.Redirect(w, r, s.forwardSignIn(r), http.StatusFound)
	case errors.Is(err, twostep.ErrUnauthenticated):
		w.Header().Set("Location", s.forwardSignIn(r))
		s.apiError(w, r, err)
	default:
		s.apiError(w, r, err)
	}
}

// forwardSignIn is where a proxy sends a visitor Twostep does not let
// through: the sign-in page, returning to the URL the proxy says was asked
// for, from X-Original-URL (nginx) or X-Forwarded-Proto, -Host and -Uri
// (Traefik, Caddy). The sign-in page decides whether rd may be followed.
func (s *Server) forwardSignIn(r *http.Request) string {
	to := strings.TrimSuffix(s.baseURL.String(), "/") + "/sign-in"
	target := r.Header.Get("X-Original-URL")
	if proto, host := r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"); target == "" && proto != "" && host != "" {
		target = proto + "://" + host + r.Header.Get("X-Forwarded-Uri")
	}
	if target == "" {
		return to
	}
	return to + "?rd=" + url.QueryEscape(target)
}
