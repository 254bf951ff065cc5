package web

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/twostep/twostep/internal/twostep"
)

//go:embed static templates locales
var assets embed.FS

var timeZero time.Time

// languages are those the pages speak, the first being the fallback.
var languages = []language.Tag{language.English, language.French}

// pages holds one template set per page (the page's file over base.html) and
// the translations.
type pages struct {
	tmpl    map[string]*template.Template
	bundle  *i18n.Bundle
	matcher language.Matcher
}

// loadPages parses the embedded templates and translations. It fails when a
// template does not parse or a language lacks a message another one has.
func loadPages() (*pages, error) {
	p := &pages{tmpl: map[string]*template.Template{}, bundle: i18n.NewBundle(languages[0]), matcher: language.NewMatcher(languages)}
	p.bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	ids := map[string]language.Tag{}
	for i, tag := range languages {
		f, err := p.bundle.LoadMessageFileFS(assets, "locales/"+tag.String()+".json")
		if err != nil {
			return nil, fmt.Errorf("web: translations %s: %w", tag, err)
		}
		seen := map[string]bool{}
		for _, m := range f.Messages {
			seen[m.ID] = true
			if i == 0 {
				ids[m.ID] = tag
			} else if _, ok := ids[m.ID]; !ok {
				return nil, fmt.Errorf("web: translations %s: %q is not in %s", tag, m.ID, languages[0])
			}
		}
		for id := range ids {
			if !seen[id] {
				return nil, fmt.Errorf("web: translations %s: %q is missing", tag, id)
			}
		}
	}
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"field": func(p *page, name string) fieldRef { return fieldRef{p, name} }}
	for _, f := range files {
		if f == "templates/base.html" {
			continue
		}
		t, err := template.New("base").Funcs(funcs).ParseFS(assets, "templates/base.html", f)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		p.tmpl[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return p, nil
}

// page is what every template gets: the layout's needs and the page's own Data.
type page struct {
	Lang  string
	Org   string // the organisation's name, when known
	Email string // the signed-in account, for the header
	Flash string // a confirmation line
	Error string // what is wrong and how to fix it
	Field string // the form field Error is about; "" for the whole form
	Focus string // the field that takes the focus when there is no error
	Form  url.Values
	Data  any

	loc *i18n.Localizer
	log *slog.Logger
}

type fieldRef struct {
	P    *page
	Name string
}

// T translates id; kv are pairs of template data names and values, and a
// "Count" among them also picks the plural form.
func (p *page) T(id string, kv ...any) string {
	s, ok := p.tr(id, kv...)
	if !ok {
		p.log.Error("translation missing", "id", id, "lang", p.Lang)
		return id
	}
	return s
}

func (p *page) tr(id string, kv ...any) (string, bool) {
	lc := &i18n.LocalizeConfig{MessageID: id}
	if len(kv) > 0 {
		data := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			data[k] = kv[i+1]
			if k == "Count" {
				lc.PluralCount = kv[i+1]
			}
		}
		lc.TemplateData = data
	}
	s, err := p.loc.Localize(lc)
	var nf *i18n.MessageNotFoundErr
	if s == "" || errors.As(err, &nf) {
		return "", false
	}
	return s, true
}

// Invalid reports whether the error is about field name.
func (p *page) Invalid(name string) bool { return p.Error != "" && p.Field == name }

// MinPassword is the shortest password accepted, said next to the field.
func (p *page) MinPassword() int { return twostep.MinPasswordLen }

// Value is the submitted value of a form field, to show it again.
func (p *page) Value(name string) string { return p.Form.Get(name) }

// Attrs are an input's focus and description attributes: the field in error
// takes the focus and points to its message as well as to its hints; without an
// error, the page's first field takes the focus.
func (p *page) Attrs(name string, hints ...string) template.HTMLAttr {
	var b strings.Builder
	if p.Invalid(name) || (p.Error == "" && p.Focus == name) {
		b.WriteString(" autofocus")
	}
	if p.Invalid(name) {
		b.WriteString(` aria-invalid="true"`)
		hints = append(hints, name+"-error")
	}
	if len(hints) > 0 {
		b.WriteString(` aria-describedby="` + template.HTMLEscapeString(strings.Join(hints, " ")) + `"`)
	}
	return template.HTMLAttr(b.String())
}

// doneMessages are the confirmation lines a redirect may ask for with ?done=;
// nothing else from the query is ever shown.
var doneMessages = map[string]string{
	"welcome":    "done.welcome",
	"enabled":    "done.enabled",
	"added":      "done.added",
	"removed":    "done.removed",
	"disabled":   "done.disabled",
	"default":    "done.default",
	"codes":      "done.codes",
	"confirmed":  "done.confirmed",
	"signed_out": "done.signed_out",
	"password":   "done.password",
	"expired":    "done.expired",
}

// lang is the signed-in account's locale, else the best match of
// Accept-Language, else English.
func (s *Server) lang(r *http.Request, c *twostep.Caller) string {
	if c != nil && c.Account != nil {
		for _, t := range languages {
			if c.Account.Locale == t.String() {
				return c.Account.Locale
			}
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if _, i, conf := s.pages.matcher.Match(tags...); conf != language.No {
		return languages[i].String()
	}
	return languages[0].String()
}

func (s *Server) newPage(r *http.Request, c *twostep.Caller) *page {
	lang := s.lang(r, c)
	p := &page{Lang: lang, loc: i18n.NewLocalizer(s.pages.bundle, lang), log: s.log}
	if c != nil && c.Account != nil {
		p.Email = c.Account.Email
	}
	if id, ok := doneMessages[r.URL.Query().Get("done")]; ok {
		p.Flash = p.T(id)
	}
	return p
}

// accountPage is a page for the signed-in caller, with their organisation.
func (s *Server) accountPage(r *http.Request, c *twostep.Caller) (*page, *twostep.AccountInfo, error) {
	info, err := s.svc.AccountInfo(r.Context(), c)
	if err != nil {
		return nil, nil, err
	}
	p := s.newPage(r, c)
	p.Org = info.Org.Name
	return p, info, nil
}

// render writes the page name with status; a template that fails is logged and
// answered with 500, never half-written.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	var buf bytes.Buffer
	t := s.pages.tmpl[name]
	if t == nil {
		s.log.Error("no such page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "base", p); err != nil {
		s.log.Error("rendering page", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// pageError answers a page request that failed with a small page saying what
// went wrong, with the status the API would give.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	pr, internal := toProblem(err)
	if internal {
		s.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if pr.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(pr.RetryAfter))
	}
	p := s.newPage(r, callerFrom(r.Context()))
	p.Flash = ""
	msg, ok := p.tr("error." + pr.Code)
	if !ok {
		msg = p.T("error.unavailable")
	}
	if pr.Code == "invalid_request" && pr.Detail != "" {
		msg = s.invalidMessage(p, &twostep.InvalidError{Field: pr.Field, Reason: strings.TrimPrefix(pr.Detail, pr.Field+" ")})
	}
	p.Data = struct {
		Status int
		Text   string
	}{pr.Status, msg}
	s.render(w, r, pr.Status, "error", p)
}

// formError puts err on p as a message a person can act on and returns the
// status to answer with, or 0 when err is not about what they entered.
func (s *Server) formError(w http.ResponseWriter, p *page, err error) int {
	var inv *twostep.InvalidError
	var ce *twostep.CodeError
	switch {
	case errors.As(err, &inv):
		p.Field, p.Error = inv.Field, s.invalidMessage(p, inv)
		return http.StatusBadRequest
	case errors.Is(err, twostep.ErrInvalidCredentials):
		p.Error = p.T("signin.wrong_pair")
		return http.StatusUnauthorized
	case errors.As(err, &ce):
		p.Field = "code"
		if ce.AttemptsLeft > 0 {
			p.Error = p.T("code.wrong_left", "Count", ce.AttemptsLeft)
		} else {
			p.Error = p.T("code.wrong_none")
		}
		return http.StatusBadRequest
	case errors.Is(err, twostep.ErrInvalidCode):
		p.Field, p.Error = "code", p.T("code.wrong")
		return http.StatusBadRequest
	case errors.Is(err, twostep.ErrThrottled), errors.Is(err, twostep.ErrBusy), errors.Is(err, twostep.ErrUnavailable):
		wait := twostep.RetryAfter(err)
		if wait <= 0 {
			wait = 5 * time.Second
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
		p.Field = ""
		at := s.clock().Add(wait).UTC().Format("15:04")
		if errors.Is(err, twostep.ErrThrottled) {
			p.Error = p.T("error.throttled", "Wait", waitText(p, wait), "At", at)
			return http.StatusTooManyRequests
		}
		p.Error = p.T("error.busy", "Wait", waitText(p, wait))
		return http.StatusServiceUnavailable
	}
	for _, e := range []error{twostep.ErrSSOManaged, twostep.ErrClientUpgrade, twostep.ErrMethodNotAllowed, twostep.ErrPolicyRequiresTwoStep} {
		if errors.Is(err, e) {
			pr, _ := toProblem(err)
			p.Field, p.Error = "", p.T("error."+pr.Code)
			return pr.Status
		}
	}
	return 0
}

func waitText(p *page, d time.Duration) string {
	if d < time.Minute {
		return p.T("time.seconds", "Count", int(d.Seconds()))
	}
	return p.T("time.minutes", "Count", int((d+time.Minute-1)/time.Minute))
}

// invalidMessages translate the domain's reasons, by their start, into words
// that name the field and say how to fix it.
var invalidMessages = []struct{ reason, id string }{
	{"is required", "invalid.required"},
	{"must be an e-mail address", "invalid.email"},
	{"an account with this e-mail exists", "invalid.email_taken"},
	{"must be at least", "invalid.password_short"},
	{"must be at most", "invalid.too_long"},
	{"is one of the most common passwords", "invalid.password_common"},
	{"must be 6 digits", "invalid.code_digits"},
	{"a recovery code has 16", "invalid.recovery_code"},
	{"two-step verification is on", "invalid.code_required"},
	{"must be 1 to 100 characters", "invalid.org_name"},
	{"must be 1 to 63", "invalid.slug"},
	{"an organisation with the slug", "invalid.slug_taken"},
}

func (s *Server) invalidMessage(p *page, inv *twostep.InvalidError) string {
	label, ok := p.tr("field." + inv.Field)
	if !ok {
		label = inv.Field
	}
	for _, m := range invalidMessages {
		if strings.HasPrefix(inv.Reason, m.reason) {
			return p.T(m.id, "Field", label, "Min", twostep.MinPasswordLen)
		}
	}
	if inv.Field == "" {
		return p.T("invalid.other", "Reason", inv.Reason)
	}
	return p.T("invalid.field", "Field", label, "Reason", inv.Reason)
}

func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// confirmFirst sends the caller to confirm who they are, then back to next.
func confirmFirst(w http.ResponseWriter, r *http.Request, next string) {
	redirect(w, r, "/account/confirm?next="+url.QueryEscape(next))
}

// localPath returns next when it is a path on this site, else "".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.ContainsAny(next, "\r\n\t") {
		return ""
	}
	return next
}

// withDone adds ?done=what to a local path.
func withDone(p, what string) string {
	u, _ := url.Parse(p)
	q := u.Query()
	q.Set("done", what)
	u.RawQuery = q.Encode()
	return u.String()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func formatDate(t time.Time) string { return t.UTC().Format("2006-01-02") }

// ---- Home, signing in and out ----

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
	if s.signedIn(r) {
		redirect(w, r, "/account/security")
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
	p.Data = signInData{NoOrg: !has}
	s.render(w, r, http.StatusOK, "sign_in", p)
}

type signInData struct{ NoOrg bool }

func (s *Server) pageSignInPost(w http.ResponseWriter, r *http.Request) {
	email, password := r.PostFormValue("email"), r.PostFormValue("password")
	res, err := s.svc.SignIn(r.Context(), twostep.SignInRequest{Email: email, Password: password,
		IP: s.clientIP(r), UserAgent: r.UserAgent()})
	if err != nil {
		p := s.newPage(r, nil)
		p.Form, p.Focus = url.Values{"email": {email}}, "email"
		status := s.formError(w, p, err)
		if status == 0 {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, status, "sign_in", p)
		return
	}
	switch res.Status {
	case twostep.StatusSignedIn:
		s.setCookie(w, s.sessionCookie(), res.SessionToken, res.ExpiresAt)
		redirect(w, r, "/account/security")
	case twostep.StatusSecondStep:
		s.setCookie(w, s.signInCookie(), res.SignInToken, res.ExpiresAt)
		redirect(w, r, "/sign-in/verify")
	default:
		// Enrolment at sign-in comes with the policy pages.
		s.pageError(w, r, twostep.ErrPolicyRequiresTwoStep)
	}
}

type methodLink struct {
	Href  string
	Label string
}

type verifyData struct {
	Method   string
	FactorID string
	To       string
	Others   []methodLink // the other methods, recovery codes apart
	Recovery string       // link to use a recovery code, when offered and not in use
	Back     string       // link back to the default method while using a recovery code
}

func methodHref(o twostep.MethodOption) string {
	q := url.Values{"method": {string(o.Method)}}
	if o.FactorID != "" {
		q.Set("factor", o.FactorID)
	}
	return "/sign-in/verify?" + q.Encode()
}

func (p *page) methodLabel(o twostep.MethodOption) string {
	l := p.T("method." + string(o.Method))
	if o.To != "" {
		l += " (" + o.To + ")"
	}
	return l
}

func (s *Server) pageVerify(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r, nil)
	p.Focus = "code"
	s.renderVerify(w, r, p, http.StatusOK, r.URL.Query().Get("method"), r.URL.Query().Get("factor"))
}

// renderVerify shows the second step of the sign-in in the cookie with method
// (and factor) in use, or sends the person back to the first step.
func (s *Server) renderVerify(w http.ResponseWriter, r *http.Request, p *page, status int, method, factor string) {
	ck, err := r.Cookie(s.signInCookie())
	if err != nil {
		redirect(w, r, "/sign-in")
		return
	}
	res, err := s.svc.SignInMethods(r.Context(), ck.Value)
	if errors.Is(err, twostep.ErrExpired) || errors.As(err, new(*twostep.InvalidError)) {
		s.setCookie(w, s.signInCookie(), "", timeZero)
		redirect(w, r, "/sign-in?done=expired")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	cur := -1
	for i, o := range res.Methods {
		if string(o.Method) == method && (factor == "" || o.FactorID == factor) {
			cur = i
			break
		}
	}
	if cur < 0 {
		for i, o := range res.Methods {
			if o.Method == res.DefaultMethod {
				cur = i
				break
			}
		}
	}
	if cur < 0 {
		s.pageError(w, r, twostep.ErrExpired)
		return
	}
	p.Org = res.Org.Name
	d := verifyData{Method: string(res.Methods[cur].Method), FactorID: res.Methods[cur].FactorID, To: res.Methods[cur].To}
	for i, o := range res.Methods {
		switch {
		case o.Method == twostep.MethodRecoveryCode:
			if i != cur {
				d.Recovery = methodHref(o)
			}
		case i == cur:
		default:
			if d.Method == string(twostep.MethodRecoveryCode) && d.Back == "" {
				d.Back = methodHref(o)
				continue
			}
			d.Others = append(d.Others, methodLink{methodHref(o), p.methodLabel(o)})
		}
	}
	p.Data = d
	s.render(w, r, status, "verify", p)
}

func (s *Server) pageVerifyPost(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(s.signInCookie())
	if err != nil {
		redirect(w, r, "/sign-in?done=expired")
		return
	}
	method, factor := r.PostFormValue("method"), r.PostFormValue("factor_id")
	res, err := s.svc.VerifySignIn(r.Context(), twostep.VerifyRequest{SignInToken: ck.Value, Method: twostep.Method(method),
		Code: r.PostFormValue("code"), FactorID: factor, IP: s.clientIP(r), UserAgent: r.UserAgent()})
	if err == nil {
		s.setCookie(w, s.signInCookie(), "", timeZero)
		s.setCookie(w, s.sessionCookie(), res.SessionToken, res.ExpiresAt)
		redirect(w, r, "/account/security")
		return
	}
	if errors.Is(err, twostep.ErrExpired) {
		s.setCookie(w, s.signInCookie(), "", timeZero)
		redirect(w, r, "/sign-in?done=expired")
		return
	}
	p := s.newPage(r, nil)
	var ce *twostep.CodeError
	if errors.As(err, &ce) && ce.AttemptsLeft <= 0 {
		// This sign-in is spent: start again from the password.
		s.setCookie(w, s.signInCookie(), "", timeZero)
		p.Error, p.Focus = p.T("code.wrong_none"), "email"
		s.render(w, r, http.StatusBadRequest, "sign_in", p)
		return
	}
	status := s.formError(w, p, err)
	if status == 0 {
		s.pageError(w, r, err)
		return
	}
	if p.Field != "code" {
		p.Field = ""
	}
	s.renderVerify(w, r, p, status, method, factor)
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
	redirect(w, r, "/sign-in?done=signed_out")
}

// ---- Security settings ----

type methodRow struct {
	ID       string
	Name     string
	LastUsed string
	Default  bool
}

type eventRow struct {
	At     string
	What   string
	IP     string
	Device string
}

type securityData struct {
	On         bool
	Since      string
	Required   bool
	SSO        bool
	Methods    []methodRow
	Pending    []methodRow
	CanAddTOTP bool
	CodesLeft  int
	CodesLow   bool
	Events     []eventRow
}

// recentEvents is how many events the security page shows.
const recentEvents = 5

func (s *Server) pageSecurity(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderSecurity(w, r, c, nil, http.StatusOK)
}

// renderSecurity shows the security page, with the error err left on it if any.
func (s *Server) renderSecurity(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, status int) {
	p, info, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	if err != nil {
		if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
	}
	a := info.Account
	d := securityData{On: a.TwoStepEnabled(), Required: info.Required, SSO: a.SSO, CodesLeft: info.RecoveryCodesLeft}
	if d.On {
		d.Since = formatDate(a.TwoStepSince)
		d.CodesLow = info.RecoveryCodesLeft <= twostep.RecoveryCodesLow
	}
	for _, f := range info.Factors {
		name := p.T("method." + string(f.Method))
		if f.Label != "" && f.Label != "Authenticator app" {
			name += " — " + f.Label
		}
		row := methodRow{ID: f.ID, Name: name, LastUsed: formatTime(f.LastUsedAt), Default: f.Default}
		if f.Status == twostep.FactorActive {
			d.Methods = append(d.Methods, row)
		} else {
			d.Pending = append(d.Pending, row)
		}
	}
	d.CanAddTOTP = !a.SSO && slices.Contains(info.AllowedMethods, twostep.MethodTOTP)
	evs, err := s.svc.Activity(r.Context(), c, 0, recentEvents)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	d.Events = eventRows(p, evs)
	p.Data = d
	s.render(w, r, status, "security", p)
}

func eventRows(p *page, evs []*twostep.AuditEvent) []eventRow {
	out := make([]eventRow, 0, len(evs))
	for _, e := range evs {
		what, ok := p.tr("event." + e.Type)
		if !ok {
			what = e.Type
		}
		out = append(out, eventRow{At: formatTime(e.At), What: what, IP: e.IP, Device: e.UserAgent})
	}
	return out
}

func (s *Server) pageMakeDefault(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	yes := true
	if _, err := s.svc.UpdateFactor(r.Context(), c, r.PathValue("id"), twostep.FactorChange{Default: &yes}); err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, "/account/security?done=default")
}

func (s *Server) pageRemoveFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	wasOn := c.Account.TwoStepEnabled()
	if err := s.svc.RemoveFactor(r.Context(), c, r.PathValue("id")); err != nil {
		s.securityError(w, r, c, err)
		return
	}
	if wasOn && !c.Account.TwoStepEnabled() {
		redirect(w, r, "/account/security?done=disabled")
		return
	}
	redirect(w, r, "/account/security?done=removed")
}

// securityError answers an action of the security page that failed.
func (s *Server) securityError(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error) {
	switch {
	case errors.Is(err, twostep.ErrConfirmIdentity):
		confirmFirst(w, r, "/account/security")
	case errors.Is(err, twostep.ErrNotFound):
		s.pageError(w, r, err)
	default:
		s.renderSecurity(w, r, c, err, 0)
	}
}

// ---- Identity confirmation ----

type confirmData struct {
	Next    string
	TwoStep bool
	Methods []confirmMethod
}

type confirmMethod struct {
	Value   string
	Label   string
	Checked bool
}

func (s *Server) pageConfirm(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderConfirm(w, r, c, nil, http.StatusOK, "")
}

func (s *Server) renderConfirm(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, status int, method string) {
	p, info, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	p.Focus = "password"
	if err != nil {
		if errors.Is(err, twostep.ErrInvalidCredentials) {
			p.Field, p.Error, status = "password", p.T("confirm.wrong_password"), http.StatusUnauthorized
		} else if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
		if p.Field == "method" {
			p.Field = "code"
		}
	}
	next := localPath(r.FormValue("next"))
	if next == "" {
		next = "/account/security"
	}
	d := confirmData{Next: next, TwoStep: info.Account.TwoStepEnabled()}
	if method == "" {
		method = string(info.DefaultMethod)
	}
	var seen []twostep.Method
	for _, f := range info.Factors {
		if f.Status == twostep.FactorActive && !slices.Contains(seen, f.Method) {
			seen = append(seen, f.Method)
		}
	}
	if info.RecoveryCodesLeft > 0 {
		seen = append(seen, twostep.MethodRecoveryCode)
	}
	for _, m := range seen {
		d.Methods = append(d.Methods, confirmMethod{Value: string(m), Label: p.T("method." + string(m)), Checked: string(m) == method})
	}
	p.Data = d
	s.render(w, r, status, "confirm", p)
}

func (s *Server) pageConfirmPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	method := r.PostFormValue("method")
	token, sess, err := s.svc.ConfirmIdentity(r.Context(), c, twostep.ConfirmRequest{Password: r.PostFormValue("password"),
		Method: twostep.Method(method), Code: r.PostFormValue("code")})
	if err != nil {
		s.renderConfirm(w, r, c, err, 0, method)
		return
	}
	s.setCookie(w, s.sessionCookie(), token, sess.ExpiresAt)
	next := localPath(r.PostFormValue("next"))
	if next == "" {
		next = "/account/security"
	}
	redirect(w, r, withDone(next, "confirmed"))
}

// ---- Authenticator app and recovery codes ----

func (s *Server) pageAddTOTP(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	nf, err := s.svc.AddFactor(r.Context(), c, twostep.MethodTOTP, "")
	if err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, "/account/security/totp/"+url.PathEscape(nf.Factor.ID))
}

type totpData struct {
	QR     template.URL
	Secret string // in groups of four
}

func (s *Server) pageTOTP(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderTOTP(w, r, c, nil)
}

func (s *Server) renderTOTP(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error) {
	nf, perr := s.svc.PendingTOTP(r.Context(), c, r.PathValue("id"))
	if errors.Is(perr, twostep.ErrNotFound) {
		// Already verified, replaced or removed: the security page says how things stand.
		redirect(w, r, "/account/security")
		return
	}
	if perr != nil {
		s.pageError(w, r, perr)
		return
	}
	png, perr := twostep.QRPNG(nf.OTPAuthURI, 256)
	if perr != nil {
		s.pageError(w, r, perr)
		return
	}
	p, _, perr := s.accountPage(r, c)
	if perr != nil {
		s.pageError(w, r, perr)
		return
	}
	p.Focus = "code"
	status := http.StatusOK
	if err != nil {
		if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
		if errors.Is(err, twostep.ErrInvalidCode) {
			p.Error = p.T("totp.wrong_code")
		}
	}
	p.Data = totpData{QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), Secret: groupsOfFour(nf.Secret)}
	s.render(w, r, status, "totp", p)
}

func groupsOfFour(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Server) pageTOTPPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	_, codes, err := s.svc.VerifyFactor(r.Context(), c, r.PathValue("id"), r.PostFormValue("code"))
	switch {
	case errors.Is(err, twostep.ErrNotFound), errors.Is(err, twostep.ErrConflict):
		redirect(w, r, "/account/security")
	case err != nil:
		s.renderTOTP(w, r, c, err)
	case len(codes) > 0:
		s.renderCodes(w, r, c, codes, true)
	default:
		redirect(w, r, "/account/security?done=added")
	}
}

type codesData struct {
	Codes    []string
	Download template.URL
}

// renderCodes shows a new set of recovery codes, once: they are never stored
// in the clear, so this answer is the only place they appear.
func (s *Server) renderCodes(w http.ResponseWriter, r *http.Request, c *twostep.Caller, codes []string, enabled bool) {
	p, _, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if enabled {
		p.Flash = p.T("done.enabled")
	}
	file := recoveryCodesFile(s.svc.Issuer(), c.Account.Email, codes)
	p.Data = codesData{Codes: codes,
		Download: template.URL("data:text/plain;charset=utf-8;base64," + base64.StdEncoding.EncodeToString([]byte(file)))}
	s.render(w, r, http.StatusOK, "recovery_codes", p)
}

func (s *Server) pageRecoveryCodes(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	codes, err := s.svc.RecoveryCodes(r.Context(), c)
	if errors.Is(err, twostep.ErrConflict) {
		redirect(w, r, "/account/security")
		return
	}
	if err != nil {
		s.securityError(w, r, c, err)
		return
	}
	s.renderCodes(w, r, c, codes, false)
}

// ---- Activity ----

// activityPage is how many events /account/activity shows at once.
const activityPage = 20

func (s *Server) pageActivity(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	before, _, err := pageQuery(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	p, _, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	evs, err := s.svc.Activity(r.Context(), c, before, activityPage)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	d := struct {
		Events []eventRow
		Older  string
	}{Events: eventRows(p, evs)}
	if len(evs) == activityPage {
		d.Older = "/account/activity?before=" + strconv.FormatInt(evs[len(evs)-1].ID, 10)
	}
	p.Data = d
	s.render(w, r, http.StatusOK, "activity", p)
}

// ---- First run and set-password links ----

func (s *Server) caller(r *http.Request) *twostep.Caller {
	return &twostep.Caller{IP: s.clientIP(r), UserAgent: r.UserAgent()}
}

// linkExpired says that a one-time link is used or out of time, and who to ask.
func (s *Server) linkExpired(w http.ResponseWriter, r *http.Request, kind string) {
	p := s.newPage(r, nil)
	p.Data = kind
	s.render(w, r, http.StatusGone, "link_expired", p)
}

func (s *Server) pageSetup(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.CheckSetupToken(r.Context(), r.PathValue("token")); err != nil {
		if errors.Is(err, twostep.ErrExpired) {
			s.linkExpired(w, r, "setup")
			return
		}
		s.pageError(w, r, err)
		return
	}
	p := s.newPage(r, nil)
	p.Focus = "name"
	s.render(w, r, http.StatusOK, "setup", p)
}

func (s *Server) pageSetupPost(w http.ResponseWriter, r *http.Request) {
	name, email := r.PostFormValue("name"), r.PostFormValue("email")
	res, err := s.svc.Setup(r.Context(), r.PathValue("token"), twostep.NewOrg{Name: name, OwnerEmail: email,
		Password: r.PostFormValue("password")}, s.caller(r))
	if errors.Is(err, twostep.ErrExpired) {
		s.linkExpired(w, r, "setup")
		return
	}
	if err != nil {
		p := s.newPage(r, nil)
		p.Form, p.Focus = url.Values{"name": {name}, "email": {email}}, "name"
		status := s.formError(w, p, err)
		if status == 0 {
			s.pageError(w, r, err)
			return
		}
		if p.Field == "slug" {
			p.Field = "name" // the slug comes from the name
		}
		s.render(w, r, status, "setup", p)
		return
	}
	s.setCookie(w, s.sessionCookie(), res.SessionToken, res.ExpiresAt)
	redirect(w, r, "/account/security?done=welcome")
}

func (s *Server) pageSetPassword(w http.ResponseWriter, r *http.Request) {
	s.renderSetPassword(w, r, nil)
}

func (s *Server) renderSetPassword(w http.ResponseWriter, r *http.Request, err error) {
	a, org, lerr := s.svc.SetPasswordAccount(r.Context(), r.PathValue("token"))
	if errors.Is(lerr, twostep.ErrExpired) {
		s.linkExpired(w, r, "password")
		return
	}
	if lerr != nil {
		s.pageError(w, r, lerr)
		return
	}
	p := s.newPage(r, &twostep.Caller{Account: a})
	p.Email, p.Org, p.Focus = "", org.Name, "password"
	status := http.StatusOK
	if err != nil {
		if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
	}
	p.Data = struct{ Email, Org string }{a.Email, org.Name}
	s.render(w, r, status, "set_password", p)
}

func (s *Server) pageSetPasswordPost(w http.ResponseWriter, r *http.Request) {
	err := s.svc.SetPassword(r.Context(), r.PathValue("token"), r.PostFormValue("password"), s.caller(r))
	if errors.Is(err, twostep.ErrExpired) {
		s.linkExpired(w, r, "password")
		return
	}
	if err != nil {
		s.renderSetPassword(w, r, err)
		return
	}
	redirect(w, r, "/sign-in?done=password")
}

// ---- Dev outbox ----

func (s *Server) pageOutbox(w http.ResponseWriter, r *http.Request) {
	msgs, err := s.svc.DevMessages(r.Context(), 100)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	type msg struct{ Channel, To, Subject, At, Text string }
	out := make([]msg, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, msg{m.Channel, m.To, m.Subject, formatTime(m.At), m.Text})
	}
	p := s.newPage(r, nil)
	p.Data = out
	s.render(w, r, http.StatusOK, "outbox", p)
}
