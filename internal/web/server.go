// Package web serves Twostep's pages and JSON API over HTTP.
package web

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Options configure the HTTP layer.
type Options struct {
	Service        *twostep.Service
	Logger         *slog.Logger
	BaseURL        *url.URL
	Dev            bool           // serve the dev outbox
	TrustedProxies []netip.Prefix // whose X-Forwarded-For is believed
	MailFrom       string         // the sender address people are told to look for
	// MailOutbox: dev mode keeps e-mail on the outbox page instead of
	// sending it (no SMTP server); the pages say so instead of naming a sender.
	MailOutbox bool
	Clock      func() time.Time
	Metrics    http.Handler // serves /metrics; nil: 404
	// DatabaseTimeout is how long a request may take before its database work
	// gives up and it answers 503 unavailable; zero is DefaultDatabaseTimeout.
	DatabaseTimeout time.Duration
	// TwilioAuthToken, when Twilio sends the SMS, checks the signature of its
	// status callbacks (TwilioStatusPath); empty: that path answers 404.
	TwilioAuthToken string
	// OIDCCallback is where a sign-in for an OpenID Connect authorization
	// request ends: the provider's callback, taking the request's id
	// appended (e.g. "/oauth2/authorize/callback?id="). main gives it: web
	// and the provider never import each other.
	OIDCCallback string
	// CookieDomain (TWOSTEP_COOKIE_DOMAIN) is the Domain of the forward-auth
	// cookie (API.md §8); "" when forward auth is not set up.
	CookieDomain string
	// Brand is the product's name, logo and colour on every page.
	Brand Brand
}

// Server is the HTTP handler of pages and API.
type Server struct {
	svc      *twostep.Service
	log      *slog.Logger
	baseURL  *url.URL
	dev      bool
	proxies  []netip.Prefix
	mailFrom string
	// mailOutbox: see Options.MailOutbox.
	mailOutbox bool
	clock      func() time.Time
	secure     bool // base URL is https: Secure and __Host- cookies
	handler    http.Handler
	pages      *pages
	metrics    http.Handler
	// dbTimeout is each request's deadline (withDatabaseDeadline).
	dbTimeout time.Duration
	outage    outageLog
	// twilioToken checks Twilio's status callbacks; "" when Twilio is not used.
	twilioToken string
	// oidcCallback: see Options.OIDCCallback.
	oidcCallback string
	// cookieDomain: see Options.CookieDomain.
	cookieDomain string
	// product is the product's name (Brand.Name); brand its served files.
	product string
	brand   *brandAssets
}

// New returns the handler. It fails when the embedded templates or
// translations are broken, or the brand's logo is not one (see CheckLogo).
func New(o Options) (*Server, error) {
	if o.Service == nil || o.BaseURL == nil {
		return nil, errors.New("web: Service and BaseURL are required")
	}
	s := &Server{svc: o.Service, log: o.Logger, baseURL: o.BaseURL, dev: o.Dev, proxies: o.TrustedProxies,
		mailFrom: o.MailFrom, mailOutbox: o.MailOutbox && o.Dev, clock: o.Clock, secure: o.BaseURL.Scheme == "https", metrics: o.Metrics, dbTimeout: o.DatabaseTimeout,
		twilioToken: o.TwilioAuthToken, oidcCallback: o.OIDCCallback,
		cookieDomain: strings.TrimPrefix(o.CookieDomain, ".")}
	if s.dbTimeout <= 0 {
		s.dbTimeout = DefaultDatabaseTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	s.pages = p
	s.product = o.Brand.Name
	if s.product == "" {
		s.product = DefaultProductName
	}
	if s.brand, err = newBrandAssets(o.Brand); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Cookie names (API.md §3): __Host- needs https.
func (s *Server) sessionCookie() string {
	if s.secure {
		return "__Host-twostep_session"
	}
	return "twostep_session"
}

func (s *Server) signInCookie() string {
	if s.secure {
		return "__Host-twostep_signin"
	}
	return "twostep_signin"
}

// deviceCookie keeps the device token (API.md §11, SECURITY.md RL-13) across
// sign-outs: it outlives sessions, as long as the device record does.
func (s *Server) deviceCookie() string {
	if s.secure {
		return "__Host-twostep_device"
	}
	return "twostep_device"
}

// deviceToken is the device token the request's cookie carries, "" for none.
func (s *Server) deviceToken(r *http.Request) string {
	if ck, err := r.Cookie(s.deviceCookie()); err == nil {
		return ck.Value
	}
	return ""
}

// setSignedIn gives the browser the session and the device token of a
// sign-in that has succeeded.
func (s *Server) setSignedIn(w http.ResponseWriter, res *twostep.SignInResult) {
	s.setCookie(w, s.sessionCookie(), res.SessionToken, res.ExpiresAt)
	if res.DeviceToken != "" {
		s.setCookie(w, s.deviceCookie(), res.DeviceToken, s.clock().Add(twostep.DeviceIdle))
	}
	if res.Session != nil {
		s.setForward(w, res.Session.ForwardToken, res.ExpiresAt)
	}
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, expires time.Time) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	} else if !expires.IsZero() {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// ClientIP is clientIP, for the other adapters main mounts beside web (the
// Verify API), so that every adapter believes the same proxies.
func (s *Server) ClientIP(r *http.Request) string { return s.clientIP(r) }

// clientIP is the request's remote address, or the right-most address in
// X-Forwarded-For not belonging to a trusted proxy when the peer is one.
func (s *Server) clientIP(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := peer.Addr().Unmap()
	if !s.trusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
		addr = a
	}
	return addr.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
