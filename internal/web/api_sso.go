package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Organisations' own identity providers (API.md §12): the connection for
// owners, and the two redirects of a sign-in there — /sso/start sends the
// browser to the provider with a state kept in a cookie of that browser,
// /sso/callback/{org-slug} takes it back and goes on as a password sign-in
// would (second step, enrolment, the product it came from).

type ssoConnectionJSON struct {
	Issuer      string    `json:"issuer"`
	ClientID    string    `json:"client_id"`
	SecondStep  string    `json:"second_step"`
	CallbackURL string    `json:"callback_url"`
	Domains     []string  `json:"domains"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func (s *Server) ssoConnectionBody(r *http.Request, c *twostep.Caller, conn *twostep.SSOConnection) (ssoConnectionJSON, error) {
	out := ssoConnectionJSON{Issuer: conn.Issuer, ClientID: conn.ClientID, SecondStep: string(conn.SecondStep),
		CreatedAt: conn.CreatedAt, UpdatedAt: conn.UpdatedAt}
	org, err := s.svc.Org(r.Context(), c)
	if err != nil {
		return out, err
	}
	out.CallbackURL = s.svc.SSORedirectURL(org)
	if out.Domains, err = s.svc.SSODomains(r.Context(), c); err != nil {
		return out, err
	}
	return out, nil
}

func (s *Server) apiSSOConnection(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	conn, err := s.svc.SSOConnection(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out, err := s.ssoConnectionBody(r, c, conn)
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) apiPutSSOConnection(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Issuer       string `json:"issuer"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		SecondStep   string `json:"second_step"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	conn, err := s.svc.PutSSOConnection(r.Context(), c, twostep.SSOConnectionInput{Issuer: body.Issuer, ClientID: body.ClientID,
		ClientSecret: body.ClientSecret, SecondStep: twostep.SSORule(body.SecondStep)})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out, err := s.ssoConnectionBody(r, c, conn)
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) apiDeleteSSOConnection(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.answer(w, r, http.StatusNoContent, nil, s.svc.DeleteSSOConnection(r.Context(), c))
}

// apiTestSSOConnection runs discovery against the issuer given (or the
// connection's): 200 with what the provider announced, or the problem that
// names why it failed.
func (s *Server) apiTestSSOConnection(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Issuer string `json:"issuer"`
	}
	if r.ContentLength != 0 && !s.decodeInto(w, r, &body) {
		return
	}
	t, err := s.svc.TestSSOConnection(r.Context(), c, body.Issuer)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "issuer": t.Issuer,
		"authorization_endpoint": t.AuthorizationEndpoint, "token_endpoint": t.TokenEndpoint, "jwks_uri": t.JWKSURI,
		"userinfo_endpoint": t.UserinfoEndpoint, "pkce_s256": t.PKCES256, "iss_parameter": t.IssParameter})
}

// apiSSOManaged answers 403 sso_managed with the sso_url where the address
// signs in, when there is one (API.md §12).
func (s *Server) apiSSOManaged(w http.ResponseWriter, r *http.Request, email string, err error) {
	f := s.fail(r, err)
	body := struct {
		problem
		SSOURL string `json:"sso_url,omitempty"`
	}{problem: f.problem()}
	if route, rerr := s.svc.SSOFor(r.Context(), email); rerr == nil {
		body.SSOURL = s.absolute(route.StartURL)
	} else if !errors.Is(rerr, twostep.ErrNotFound) {
		s.apiError(w, r, rerr)
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(f.Status)
	json.NewEncoder(w).Encode(body)
}

// absolute is path on the base URL (links given to programs).
func (s *Server) absolute(path string) string {
	u := *s.baseURL
	return u.Scheme + "://" + u.Host + u.Path + path
}

// ssoCookie keeps the state of a sign-in at a provider in the browser that
// started it: the callback must bring the same (login CSRF).
func (s *Server) ssoCookie() string {
	if s.secure {
		return "__Host-twostep_sso"
	}
	return "twostep_sso"
}

// ssoNextCookie keeps, beside the state, the local page an identity
// confirmation at the provider returns to.
func (s *Server) ssoNextCookie() string {
	if s.secure {
		return "__Host-twostep_sso_next"
	}
	return "twostep_sso_next"
}

// ssoStart is GET /sso/start?org=SLUG[&login_hint=EMAIL][&confirm=1[&next=PATH]]:
// a new state in this browser's cookie, then the provider. confirm=1 asks the
// provider for a new sign-in (max_age=0) of the signed-in SSO member, as an
// identity confirmation, which returns to next (a local path only).
func (s *Server) ssoStart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := twostep.BeginSSORequest{OrgSlug: q.Get("org"), LoginHint: q.Get("login_hint")}
	if q.Get("confirm") == "1" {
		c := s.sessionCaller(r)
		if c == nil {
			redirect(w, r, "/sign-in")
			return
		}
		req.Confirm = c
	}
	start, err := s.svc.BeginSSO(r.Context(), req)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.setCookie(w, s.ssoCookie(), start.State, start.ExpiresAt)
	if req.Confirm != nil {
		// Set or cleared: an older confirmation's next must not linger.
		s.setCookie(w, s.ssoNextCookie(), url.QueryEscape(localPath(q.Get("next"))), start.ExpiresAt)
	}
	// 303 to another site: the provider's page (its origin is the owner's
	// choice; the CSP form-action of the page that linked here is the pages' concern).
	http.Redirect(w, r, start.AuthURL, http.StatusSeeOther)
}

// ssoCallback is GET /sso/callback/{slug}: the provider's answer.
func (s *Server) ssoCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	browser := ""
	if ck, err := r.Cookie(s.ssoCookie()); err == nil {
		browser = ck.Value
	}
	session := ""
	if ck, err := r.Cookie(s.sessionCookie()); err == nil {
		session = ck.Value
	}
	if browser != "" && browser == q.Get("state") {
		// Spent whatever comes of it; a callback with another state (forged,
		// or another tab's) leaves this browser's sign-in alone.
		s.setCookie(w, s.ssoCookie(), "", timeZero)
	}
	res, err := s.svc.FinishSSO(r.Context(), twostep.FinishSSORequest{OrgSlug: r.PathValue("slug"), State: q.Get("state"),
		BrowserState: browser, Code: q.Get("code"), Iss: q.Get("iss"), Error: q.Get("error"), IP: s.clientIP(r),
		UserAgent: r.UserAgent(), DeviceToken: s.deviceToken(r), Locale: s.browserLocale(r), AuthRequestID: s.authRequestID(r), Session: session})
	if err != nil {
		s.ssoFailed(w, r, err)
		return
	}
	// An identity confirmation returns to the page that asked for it.
	next := ""
	if ck, err := r.Cookie(s.ssoNextCookie()); err == nil {
		if v, err := url.QueryUnescape(ck.Value); err == nil {
			next = localPath(v)
		}
		s.setCookie(w, s.ssoNextCookie(), "", timeZero)
	}
	switch res.Status {
	case twostep.StatusSignedIn:
		s.setSignedIn(w, res)
		if session != "" && res.Session != nil && res.DeviceToken == "" {
			// An identity confirmation: the renewed session, back to the
			// page that asked, or to the settings.
			if next != "" {
				redirect(w, r, withDone(next, "confirmed"))
				return
			}
			redirect(w, r, "/account/security")
			return
		}
		s.finishSignIn(w, r, res, "/account/security")
	case twostep.StatusSecondStep:
		if res.SignInToken == "" {
			// An identity confirmation of a member with a Twostep method:
			// the provider's part is done, the code comes next.
			if next != "" {
				redirect(w, r, "/account/confirm?next="+url.QueryEscape(next))
				return
			}
			redirect(w, r, "/account/confirm")
			return
		}
		s.setCookie(w, s.signInCookie(), res.SignInToken, res.ExpiresAt)
		if cs := res.CodeSent; cs != nil {
			redirect(w, r, methodHref(twostep.MethodOption{Method: cs.Method, FactorID: cs.FactorID}))
			return
		}
		redirect(w, r, "/sign-in/verify")
	case twostep.StatusEnrollmentRequired:
		s.setCookie(w, s.signInCookie(), res.SignInToken, res.ExpiresAt)
		redirect(w, r, enrolBase)
	default:
		s.pageError(w, r, fmt.Errorf("web: sso sign-in status %q", res.Status))
	}
}
