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
// or 401 (nginx then sends the visitor to sign in).
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
	default:
		s.apiError(w, r, err)
	}
}

// forwardSignIn is where Traefik or Caddy send a visitor Twostep does not
// let through: the sign-in page, returning to the URL the proxy says was
// asked for. The sign-in page decides whether rd may be followed.
func (s *Server) forwardSignIn(r *http.Request) string {
	to := strings.TrimSuffix(s.baseURL.String(), "/") + "/sign-in"
	proto, host := r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host")
	if proto == "" || host == "" {
		return to
	}
	return to + "?rd=" + url.QueryEscape(proto+"://"+host+r.Header.Get("X-Forwarded-Uri"))
}
