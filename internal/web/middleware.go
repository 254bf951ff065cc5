package web

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

// maxBody bounds every request body: nothing Twostep accepts is larger.
const maxBody = 64 << 10

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBody {
			s.apiError(w, r, badRequest("", reasonBodyTooLarge))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			if err := r.ParseForm(); err != nil {
				http.Error(w, "The form could not be read: it is larger than 64 KiB or malformed.", http.StatusBadRequest)
				return
			}
			// Forms become stored text: invalid UTF-8 becomes U+FFFD, as
			// encoding/json does for the API, rather than an insert PostgreSQL
			// refuses halfway through a sign-in.
			validUTF8(r.PostForm)
			validUTF8(r.Form)
		}
		next.ServeHTTP(w, r)
	})
}

func validUTF8(vs url.Values) {
	for k, v := range vs {
		for i := range v {
			v[i] = strings.ToValidUTF8(v[i], "\uFFFD")
		}
		if clean := strings.ToValidUTF8(k, "\uFFFD"); clean != k {
			delete(vs, k)
			vs[clean] = append(vs[clean], v...)
		}
	}
}

// securityHeaders sets what every answer carries: a strict CSP with no framing,
// no sniffing, and no referrer (tokens live in some page paths: FL-09).
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", s.csp(s.formAction("")))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// formAction is where the pages' forms may lead: this server, and the apps
// under the cookie domain on any port (browsers hold a form's redirects to
// form-action too, and a sign-in for an app behind a reverse proxy ends with a
// redirect there: rd, API.md §8), plus the sources in extra (a CSP source list,
// whose 'self' is not repeated).
func (s *Server) formAction(extra string) string {
	sources := []string{"'self'"}
	if s.cookieDomain != "" {
		sources = append(sources, "https://*."+s.cookieDomain+":*")
		if !s.secure {
			sources = append(sources, "http://*."+s.cookieDomain+":*")
		}
	}
	for _, src := range strings.Fields(extra) {
		if !slices.Contains(sources, src) {
			sources = append(sources, src)
		}
	}
	return strings.Join(sources, " ")
}

// csp is the Content-Security-Policy of every answer, its forms allowed to
// submit to formAction (a CSP source list), its images from here, data: (the
// QR code) and the logo's origin when TWOSTEP_LOGO_URL puts it elsewhere.
// connect-src 'self' is for the sign-in page's script, which asks this server
// for a passkey sign-in's options (webauthn.js).
func (s *Server) csp(formAction string) string {
	img := "'self' data:"
	if s.brand != nil && s.brand.imgSrc != "" {
		img += " " + s.brand.imgSrc
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img + "; connect-src 'self'; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type callerKey struct{}

// callerFrom returns the caller withCaller or withPageCaller found.
func callerFrom(ctx context.Context) *twostep.Caller {
	c, _ := ctx.Value(callerKey{}).(*twostep.Caller)
	return c
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// withCaller authenticates an API request by its bearer token (or, for the
// browser, its session cookie) and answers 401 unauthenticated otherwise.
func (s *Server) withCaller(h func(http.ResponseWriter, *http.Request, *twostep.Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		if token == "" {
			if c, err := r.Cookie(s.sessionCookie()); err == nil {
				token = c.Value
			}
		}
		c, err := s.svc.Authenticate(r.Context(), token, s.clientIP(r), r.UserAgent())
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		h(w, r, c)
	}
}

// withEnrolCaller is withCaller that also takes the sign-in token of
// enrollment_required, for the endpoints that set up a method.
func (s *Server) withEnrolCaller(h func(http.ResponseWriter, *http.Request, *twostep.Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		if token == "" {
			if c, err := r.Cookie(s.sessionCookie()); err == nil {
				token = c.Value
			}
		}
		c, err := s.svc.Authenticate(r.Context(), token, s.clientIP(r), r.UserAgent())
		if errors.Is(err, twostep.ErrUnauthenticated) {
			c, err = s.svc.AuthenticateEnrolment(r.Context(), token, s.clientIP(r), r.UserAgent())
		}
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		h(w, r, c)
	}
}

// withPageCaller authenticates a page by its session cookie and sends people
// who are not signed in to the sign-in page.
func (s *Server) withPageCaller(h func(http.ResponseWriter, *http.Request, *twostep.Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := ""
		if c, err := r.Cookie(s.sessionCookie()); err == nil {
			token = c.Value
		}
		c, err := s.svc.Authenticate(r.Context(), token, s.clientIP(r), r.UserAgent())
		if err != nil {
			if token != "" {
				s.setCookie(w, s.sessionCookie(), "", timeZero)
			}
			if describe(err).Status != http.StatusUnauthorized {
				s.pageError(w, r, err)
				return
			}
			http.Redirect(w, r, "/sign-in", http.StatusSeeOther)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)), c)
	}
}

func (s *Server) devOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.dev {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// serveMetrics answers GET /metrics on the main address, to loopback clients
// only (API.md §3.4): counters can reveal activity, such as a reset asked for
// an address that has an account.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.metrics == nil {
		http.NotFound(w, r)
		return
	}
	if !s.loopbackClient(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte("/metrics is served to clients on this machine only; set TWOSTEP_METRICS_LISTEN to serve it elsewhere\n"))
		return
	}
	s.metrics.ServeHTTP(w, r)
}

// loopbackClient reports whether r comes from this machine, judged by the
// peer address alone. A request that went through a proxy is not a loopback
// client even when the proxy runs on this machine: it forwards other people.
// So a peer listed in TWOSTEP_TRUSTED_PROXIES never counts, and neither does a
// request with a forwarding header (a proxy on loopback that nobody declared
// trusted still says whom it forwards). X-Forwarded-For is never believed for
// this: it could only ever widen who gets in.
func (s *Server) loopbackClient(r *http.Request) bool {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := peer.Addr().Unmap()
	if !addr.IsLoopback() || s.trusted(addr) {
		return false
	}
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"} {
		if len(r.Header.Values(h)) > 0 {
			return false
		}
	}
	return true
}

// readyz answers 503 while the database does not answer within readyTimeout
// (API.md §3.4).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	ctx, cancel := context.WithTimeout(r.Context(), min(readyTimeout, s.dbTimeout))
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		s.unavailable(r, err)
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("database unreachable\n"))
		return
	}
	w.Write([]byte("ok\n"))
}
