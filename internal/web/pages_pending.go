package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

// secretFields are form fields a pending action never keeps: a request that
// needs one of them is not carried on, the person starts it again.
var secretFields = []string{"password", "current_password", "code"}

// confirmThen answers a change refused for want of a recent identity
// confirmation (GitHub's sudo mode): the request, minus secrets, is kept
// server-side with the session, the person confirms who they are, and the
// change is carried on afterwards instead of being asked for again (see
// pageConfirmPost). A request that holds a secret, or that cannot be kept,
// sends the person to confirm and then back to fallback.
func (s *Server) confirmThen(w http.ResponseWriter, r *http.Request, c *twostep.Caller, fallback string) {
	if r.Method != http.MethodPost || c == nil || c.Session == nil {
		confirmFirst(w, r, fallback)
		return
	}
	form := url.Values{}
	for k, vs := range r.PostForm {
		for _, sf := range secretFields {
			if k == sf && strings.Join(vs, "") != "" {
				confirmFirst(w, r, fallback)
				return
			}
		}
		form[k] = vs
	}
	id, err := s.svc.KeepPendingAction(r.Context(), c, r.Method, r.URL.Path, form.Encode())
	if err != nil {
		s.log.Warn("keeping a change while its session confirms", "path", r.URL.Path, "err", err)
		confirmFirst(w, r, fallback)
		return
	}
	redirect(w, r, "/account/confirm?"+url.Values{"next": {fallback}, "action": {id}}.Encode())
}

// carryOn performs the pending action pa for the request r that has just
// confirmed who it is, as that browser would have sent it again with its new
// session token: through the whole handler, its checks (cross-origin
// protection, the session, the service's own rules) included, so nothing
// is done that the person could not do now themselves.
func (s *Server) carryOn(w http.ResponseWriter, r *http.Request, pa *twostep.PendingAction, token string) {
	var body *strings.Reader
	if pa.Method == http.MethodPost {
		body = strings.NewReader(pa.Form)
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(r.Context(), pa.Method, pa.Path, body)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if pa.Method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range []string{"Accept-Language", "User-Agent", "X-Forwarded-For", "Origin", "Sec-Fetch-Site"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	req.Host, req.RemoteAddr, req.TLS = r.Host, r.RemoteAddr, r.TLS
	for _, ck := range r.Cookies() {
		if ck.Name != s.sessionCookie() {
			req.AddCookie(ck)
		}
	}
	req.AddCookie(&http.Cookie{Name: s.sessionCookie(), Value: token})
	s.handler.ServeHTTP(w, req)
}

// changeText says which change a confirmation is for, from the request that
// needs it: "Remove Authenticator app — Work phone".
func (s *Server) changeText(p *page, info *twostep.AccountInfo, method, path string) string {
	rest, ok := strings.CutPrefix(path, securityBase)
	if !ok {
		switch path {
		case "/account/email":
			return p.T("confirm.for.email")
		case "/account/password":
			return p.T("confirm.for.password")
		}
		return p.T("confirm.for.other")
	}
	if id, ok := strings.CutPrefix(rest, "/factors/"); ok {
		id, action, _ := strings.Cut(id, "/")
		for _, f := range info.Factors {
			if f.ID == id && action == "remove" {
				return p.T("confirm.for.remove", "Name", p.factorName(f))
			}
		}
	}
	switch {
	case rest == "/recovery-codes":
		return p.T("confirm.for.codes")
	case rest == "/totp" || strings.HasPrefix(rest, "/totp/"):
		return p.T("confirm.for.add_totp")
	case rest == "/email" || strings.HasPrefix(rest, "/email/"):
		return p.T("confirm.for.add_email")
	case rest == "/phone" || strings.HasPrefix(rest, "/phone/"):
		return p.T("confirm.for.add_phone")
	case rest == "/legacy":
		return p.T("confirm.for.legacy")
	case strings.HasPrefix(rest, "/sessions/"):
		return p.T("confirm.for.sessions")
	case strings.HasPrefix(rest, "/app-passwords"):
		return p.T("confirm.for.app_password")
	}
	return p.T("confirm.for.other")
}
