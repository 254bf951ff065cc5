// Package verify is the Twilio-Verify-shaped HTTP API (API.md §10): form
// decoding, Twilio's JSON, status words and error codes, and HTTP Basic
// authentication with an organisation's API keys. The rules (codes, checks,
// caps) are the domain's; this package only speaks Twilio's shape.
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Options are what the API needs. Service is required.
type Options struct {
	Service *twostep.Service
	Logger  *slog.Logger
	// BaseURL is the public URL, for the "url" and "links" fields.
	BaseURL *url.URL
	// Describe words a refused value for Twilio's "message"; nil: its code.
	Describe func(*twostep.InvalidError) string
	// ClientIP returns the address a request came from (behind trusted
	// proxies, the forwarded one); nil: the connection's.
	ClientIP func(*http.Request) string
}

// API serves the Verify API.
type API struct {
	svc      *twostep.Service
	log      *slog.Logger
	base     string
	describe func(*twostep.InvalidError) string
	clientIP func(*http.Request) string
	h        http.Handler
}

// New returns the API.
func New(o Options) *API {
	a := &API{svc: o.Service, log: o.Logger, describe: o.Describe, clientIP: o.ClientIP}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if o.BaseURL != nil {
		a.base = strings.TrimSuffix(o.BaseURL.String(), "/")
	}
	if a.clientIP == nil {
		a.clientIP = func(r *http.Request) string {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				return r.RemoteAddr
			}
			return host
		}
	}
	a.h = a.routes()
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.h.ServeHTTP(w, r) }

// maxForm bounds a request body: Twilio's requests are a few fields.
const maxForm = 64 << 10

// withKey authenticates the request with HTTP Basic (key SID and secret)
// and reads its form, as Twilio's SDKs send it (application/x-www-form-urlencoded).
func (a *API) withKey(h func(http.ResponseWriter, *http.Request, *twostep.KeyCaller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twostep Verify"`)
			a.fail(w, r, twostep.ErrUnauthenticated, 0)
			return
		}
		k, err := a.svc.AuthenticateKey(r.Context(), id, secret, a.clientIP(r), r.UserAgent())
		if err != nil {
			if err == twostep.ErrUnauthenticated {
				w.Header().Set("WWW-Authenticate", `Basic realm="Twostep Verify"`)
			}
			a.fail(w, r, err, 0)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			a.writeError(w, http.StatusBadRequest, 60200, "Invalid parameter: the body is not a form", 0)
			return
		}
		h(w, r, k)
	}
}

// accountSID stands for Twilio's account SID: AC and 32 hex digits derived
// from the organisation's id, stable and revealing nothing else.
func accountSID(orgID string) string {
	h := sha256.Sum256([]byte("twostep account sid\x00" + orgID))
	return "AC" + hex.EncodeToString(h[:16])
}

// twilioTime is how Twilio's Verify v2 JSON writes times (ISO 8601, UTC).
func twilioTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// root is the prefix the request came in under, for the URLs in answers.
func root(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/verify/v2/") {
		return "/verify/v2"
	}
	return "/v2"
}

func (a *API) url(r *http.Request, path string) string { return a.base + root(r) + path }

func (a *API) notFound(w http.ResponseWriter, r *http.Request, _ *twostep.KeyCaller) {
	a.fail(w, r, twostep.ErrNotFound, 0)
}
