package web

import (
	"bytes"
	"cmp"
	"embed"
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
var languages = []language.Tag{language.English, language.French, language.Japanese}

// pages holds one template set per page (the page's file over base.html) and
// the translations.
type pages struct {
	tmpl      map[string]*template.Template
	bundle    *i18n.Bundle
	matcher   language.Matcher
	countries map[string][]country // by language: every region a phone can be in, sorted by name
}

// loadPages parses the embedded templates and translations. It fails when a
// template does not parse or a language lacks a message another one has.
func loadPages() (*pages, error) {
	p := &pages{tmpl: map[string]*template.Template{}, bundle: i18n.NewBundle(languages[0]), matcher: language.NewMatcher(languages),
		countries: map[string][]country{}}
	p.bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	for _, tag := range languages {
		p.countries[tag.String()] = countryList(tag)
	}
	ids := map[string]bool{}
	var problems []string
	for i, tag := range languages {
		f, err := p.bundle.LoadMessageFileFS(assets, "locales/"+tag.String()+".json")
		if err != nil {
			return nil, fmt.Errorf("web: translations %s: %w", tag, err)
		}
		seen := map[string]bool{}
		var extra, missing []string
		for _, m := range f.Messages {
			seen[m.ID] = true
			if i == 0 {
				ids[m.ID] = true
			} else if !ids[m.ID] {
				extra = append(extra, m.ID)
			}
		}
		for id := range ids {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		// Every key at once, so that whoever merges fills them in one go.
		if len(missing) > 0 {
			slices.Sort(missing)
			problems = append(problems, fmt.Sprintf("%s.json lacks %s", tag, strings.Join(missing, ", ")))
		}
		if len(extra) > 0 {
			slices.Sort(extra)
			problems = append(problems, fmt.Sprintf("%s.json has what %s.json lacks: %s", tag, languages[0], strings.Join(extra, ", ")))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("web: translations: %s", strings.Join(problems, "; "))
	}
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"field": func(p *page, name string) fieldRef { return fieldRef{p, name} },
		"sub":   func(p *page, d any) subRef { return subRef{p, d} },
	}
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
	Lang    string
	Product string       // the product's name (TWOSTEP_PRODUCT_NAME)
	Logo    template.URL // the logo's address; "" for none
	Org     string       // the organisation's name, when known
	// Client is the product (an OpenID Connect client) the person signs in
	// for, said on every page of the sign-in.
	Client string
	// clientReturn is that product's redirect URI, where a form of the
	// sign-in may lead (the page's CSP allows it: see formActions).
	clientReturn string
	Email        string // the signed-in account, for the header
	Admin        bool   // and it is an owner or admin: the header links to the administration
	Base         string // where the add-method pages live: /account/security, or /sign-in/enrol while enrolling
	Wide         bool   // the page holds a wide table
	Flash        string // a confirmation line
	Error        string // what is wrong and how to fix it, naming the field when there is one
	// fieldError is Error as said beside its field, which its label already
	// names: without the field's name in front ("" when Error is that already).
	fieldError string
	Field      string // the form field Error is about; "" for the whole form
	Focus      string // the field that takes the focus when there is no error
	Form       url.Values
	Data       any

	loc    *i18n.Localizer
	log    *slog.Logger
	labels map[string]string // field names this page labels otherwise than field.*

	landline bool // the add-phone form refused a landline by text message

	tz         *time.Location // the reader's time zone (tz cookie); nil: UTC
	timesShown bool           // a time was said: the page ends with the zone's note
}

type fieldRef struct {
	P    *page
	Name string
}

// subRef hands a partial template the page (for T) and its own data.
type subRef struct {
	P *page
	D any
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

// Enrolling reports whether the page is part of setting up a method at
// sign-in, which the organisation requires before anything else.
func (p *page) Enrolling() bool { return p.Base == enrolBase }

// CancelText is the words of the link that leaves a method's setup.
func (p *page) CancelText() string {
	if p.Enrolling() {
		return p.T("enrol.back")
	}
	return p.T("code.cancel")
}

// FieldError is the error as said beside the field it is about: its label is
// right above, so the message does not name the field again.
func (p *page) FieldError() string {
	if p.fieldError != "" {
		return p.fieldError
	}
	return p.Error
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
	"renamed":    "done.renamed",
	"codes":      "done.codes",
	"confirmed":  "done.confirmed",
	"signed_out": "done.signed_out",
	// Devices.
	"device_forgotten":  "done.device_forgotten",
	"devices_forgotten": "done.devices_forgotten",
	// Sessions.
	"session_ended":  "done.session_ended",
	"sessions_ended": "done.sessions_ended",
	// App passwords.
	"app_password_created": "done.app_password_created",
	"app_password_revoked": "done.app_password_revoked",
	"password":             "done.password",
	"password_signed_in":   "done.password_signed_in",
	"expired":              "done.expired",
	// E-mail, password and settings.
	"email":          "done.email",
	"password_new":   "done.password_new",
	"reset":          "done.reset",
	"reset_two_step": "done.reset_two_step",
	"legacy_on":      "done.legacy_on",
	"legacy_off":     "done.legacy_off",
	"language":       "done.language",
	// Enrolment, invitations and administration.
	"skipped":            "done.skipped",
	"invited":            "done.invited",
	"member_invited":     "done.member_invited",
	"member_invited_sso": "done.member_invited_sso",
	"member_role":        "done.member_role",
	"member_sso_on":      "done.member_sso_on",
	"member_sso_off":     "done.member_sso_off",
	"member_sessions":    "done.member_sessions",
	"member_unlocked":    "done.member_unlocked",
	"member_reset":       "done.member_reset",
	"policy":             "done.policy",
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
	if l := s.browserLocale(r); l != "" {
		return l
	}
	return languages[0].String()
}

// browserLocale is the language among those the pages speak that best
// matches Accept-Language, "" when none does: an account without a chosen
// language takes it, and its messages follow.
func (s *Server) browserLocale(r *http.Request) string {
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if _, i, conf := s.pages.matcher.Match(tags...); conf != language.No {
		return languages[i].String()
	}
	return ""
}

// textsIn is a page with nothing but lang's words, for a text that is no page.
func (s *Server) textsIn(lang string) *page {
	return &page{Lang: lang, loc: i18n.NewLocalizer(s.pages.bundle, lang), log: s.log}
}

func (s *Server) newPage(r *http.Request, c *twostep.Caller) *page {
	lang := s.lang(r, c)
	p := &page{Lang: lang, loc: i18n.NewLocalizer(s.pages.bundle, lang), log: s.log, Base: securityBase,
		Product: cmp.Or(s.product, DefaultProductName), tz: readerZone(r)}
	if s.brand != nil {
		p.Logo = template.URL(s.brand.logoSrc)
	}
	if c != nil && c.Account != nil && c.Session != nil {
		// Only a session is signed in: a sign-in that must enrol first is not.
		p.Email = c.Account.Email
		p.Admin = c.Account.Role == twostep.RoleOwner || c.Account.Role == twostep.RoleAdmin
	}
	if c != nil && c.SignIn != nil {
		p.Base = enrolBase
	}
	if id, ok := doneMessages[r.URL.Query().Get("done")]; ok {
		p.Flash = p.T(id)
	}
	if c == nil || c.Session == nil {
		p.Client, p.clientReturn = s.svc.AuthRequestClient(r.Context(), s.authRequestID(r))
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
	if p.clientReturn != "" {
		w.Header().Set("Content-Security-Policy", s.csp(s.formAction(formActions(p.clientReturn))))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// pageError answers a page request that failed with a small page saying what
// went wrong, with the status the API would give (and the error id of a bug).
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	s.errorPage(w, r, s.fail(r, err))
}

// errorPage is the page that says f.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, f failure) {
	f.retryAfter(w)
	p := s.newPage(r, callerFrom(r.Context()))
	p.Flash = ""
	p.Data = struct {
		Status  int
		Text    string
		ErrorID string
	}{f.Status, s.failureText(p, f), f.ErrorID}
	s.render(w, r, f.Status, "error", p)
}

// formError puts err on p as a message a person can act on, when it is about
// what they entered (or a wait), and returns the status to answer with; 0 when
// it is not, for the caller to show the error page.
func (s *Server) formError(w http.ResponseWriter, p *page, err error) int {
	f := describe(err)
	switch {
	case f.Reason != "", f.Code == "invalid_credentials", f.Code == "invalid_code", f.Code == "too_many_attempts",
		f.Status == http.StatusServiceUnavailable, f.Code == "sso_managed", f.Code == "client_upgrade_required",
		f.Code == "method_not_allowed_by_policy", f.Code == "policy_requires_two_step":
	default:
		return 0
	}
	if f.Code == "too_many_attempts" {
		f.Message = "error.throttled" // the cap on codes sent is sendError's to word
	}
	s.showFailure(w, p, f)
	return f.Status
}

// showFailure puts f on p: the message, the field it is about, the wait.
func (s *Server) showFailure(w http.ResponseWriter, p *page, f failure) {
	f.retryAfter(w)
	p.Field, p.Error = f.Field, s.failureText(p, f)
	p.fieldError = s.fieldText(p, f)
	if f.Code == "invalid_code" {
		p.Field = "code"
	}
}

func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
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
