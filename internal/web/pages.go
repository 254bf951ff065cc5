package web

import (
	"bytes"
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
	Lang string
	Org  string // the organisation's name, when known
	// Client is the product (an OpenID Connect client) the person signs in
	// for, said on every page of the sign-in.
	Client string
	Email  string // the signed-in account, for the header
	Admin  bool   // and it is an owner or admin: the header links to the administration
	Base   string // where the add-method pages live: /account/security, or /sign-in/enrol while enrolling
	Wide   bool   // the page holds a wide table
	Flash  string // a confirmation line
	Error  string // what is wrong and how to fix it
	Field  string // the form field Error is about; "" for the whole form
	Focus  string // the field that takes the focus when there is no error
	Form   url.Values
	Data   any

	loc    *i18n.Localizer
	log    *slog.Logger
	labels map[string]string // field names this page labels otherwise than field.*

	landline bool // the add-phone form refused a landline by text message
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
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if _, i, conf := s.pages.matcher.Match(tags...); conf != language.No {
		return languages[i].String()
	}
	return languages[0].String()
}

func (s *Server) newPage(r *http.Request, c *twostep.Caller) *page {
	lang := s.lang(r, c)
	p := &page{Lang: lang, loc: i18n.NewLocalizer(s.pages.bundle, lang), log: s.log, Base: securityBase}
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
		p.Client = s.svc.AuthRequestClientName(r.Context(), s.authRequestID(r))
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
	} else if isUnavailable(err) {
		s.unavailable(r, err)
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
	case errors.Is(err, twostep.ErrThrottled), errors.Is(err, twostep.ErrBusy), isUnavailable(err):
		if isUnavailable(err) {
			s.unavailable(nil, err)
		}
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

// sending marks err as the answer to a request for a code, so that a throttle
// reads as the cap on codes sent rather than on tries; phone says the code was
// to go by text message or call, whose caps and provider are not e-mail's.
type sending struct {
	error
	phone bool
}

func (e sending) Unwrap() error { return e.error }

// sendFailed marks err (if any) as the answer to a request for a code by m.
func sendFailed(err error, m twostep.Method) error {
	if err == nil {
		return nil
	}
	return sending{err, isPhone(m)}
}

func isPhone(m twostep.Method) bool { return m == twostep.MethodSMS || m == twostep.MethodVoice }

// sendError puts a refused request for a code on p as a page-level error: too
// soon (with the seconds left), the hourly cap (with when to try again), or a
// delivery the provider refused. Anything else goes to formError. It returns
// the status to answer with, or 0.
func (s *Server) sendError(w http.ResponseWriter, p *page, err error) int {
	wait := twostep.RetryAfter(err)
	var snd sending
	isSend := errors.As(err, &snd)
	switch {
	case errors.Is(err, twostep.ErrResendTooSoon):
		if wait <= 0 {
			wait = twostep.ResendCooldown
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
		p.Field, p.Error = "", p.T("send.too_soon", "Wait", waitText(p, wait))
		return http.StatusTooManyRequests
	case errors.Is(err, twostep.ErrThrottled) && isSend:
		if wait <= 0 {
			wait = time.Hour
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
		id := "send.cap"
		if snd.phone {
			// The toll-fraud caps count per number, network, country and server, not only per person.
			id = "send.cap_phone"
		}
		p.Field, p.Error = "", p.T(id, "Wait", waitText(p, wait), "At", s.clock().Add(wait).UTC().Format("15:04"))
		return http.StatusTooManyRequests
	case errors.Is(err, twostep.ErrDeliveryFailed):
		if isSend && snd.phone {
			p.Field, p.Error = "", p.T("send.failed_phone")
		} else {
			p.Field, p.Error = "", p.T("send.failed")
		}
		return http.StatusBadGateway
	}
	return s.formError(w, p, err)
}

// sentBefore is when the code that err says was sent moments ago went out, so
// that the page counts down the same wait: now less the cooldown already run.
func (s *Server) sentBefore(err error) time.Time {
	wait := min(twostep.RetryAfter(err), twostep.ResendCooldown)
	return s.clock().Add(wait - twostep.ResendCooldown)
}

// delivers reports whether Twostep sends the codes of m (rather than an app
// making them or the person having printed them).
func delivers(m twostep.Method) bool {
	return m == twostep.MethodEmail || m == twostep.MethodSMS || m == twostep.MethodVoice
}

// sentParam is the ?sent= a page gets after a code went out: the Unix time of
// the send, from which it counts down the resend cooldown. It is only ever
// used to say "we sent a code" and to time a button, never trusted for more.
func sentParam(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func parseSent(v string) time.Time {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return timeZero
	}
	return time.Unix(n, 0)
}

// resendWait is how many whole seconds are left of the cooldown that started at sent.
func (s *Server) resendWait(sent time.Time) int {
	if sent.IsZero() {
		return 0
	}
	left := min(sent.Add(twostep.ResendCooldown).Sub(s.clock()), twostep.ResendCooldown)
	if left <= 0 {
		return 0
	}
	return int((left + time.Second - 1) / time.Second)
}

type hiddenField struct{ Name, Value string }

// resendForm is a button that asks for a (new) code. While Wait seconds of the
// cooldown remain, the page says so; app.js also disables the button and counts
// down, with One and Other (where {n} is the number of seconds).
type resendForm struct {
	ID       string
	Action   string
	Fields   []hiddenField
	Label    string
	Primary  bool
	Wait     int
	WaitText string
	One      string
	Other    string
}

// resend builds a resendForm; kv are hidden field names and values.
func (p *page) resend(id, action, labelID string, wait int, kv ...string) *resendForm {
	f := &resendForm{ID: id, Action: action, Label: p.T(labelID), Wait: wait}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Fields = append(f.Fields, hiddenField{kv[i], kv[i+1]})
	}
	if wait > 0 {
		f.WaitText = p.T("send.wait", "Count", wait, "N", wait)
		f.One = p.T("send.wait", "Count", 1, "N", "{n}")
		f.Other = p.T("send.wait", "Count", 2, "N", "{n}")
	}
	return f
}

// mailHelp is what the "Didn't get the e-mail?" list needs.
type mailHelp struct {
	To   string // the address shown, masked or not
	From string // the sender to allow; "" when not configured
}

// invalidMessages translate the domain's reasons, by their start, into words
// that name the field and say how to fix it.
var invalidMessages = []struct{ reason, id string }{
	// Phone numbers (before "is required", which one of them starts with).
	{"is required for a national number", "invalid.country_required"},
	{"must be a two-letter country code", "invalid.country_code"},
	{"is too long to be a phone number", "invalid.phone_long"},
	{"is not a phone number", "invalid.phone"},
	{"is a premium-rate number", "invalid.phone_premium"},
	{"is not a mobile or fixed line", "invalid.phone_type"},
	{"is a fixed line, which cannot receive text messages", "invalid.phone_fixed_sms"},
	{"is required", "invalid.required"},
	{"must be an e-mail address", "invalid.email"},
	{"an account with this e-mail exists", "invalid.email_taken"},
	{"must be at least", "invalid.password_short"},
	{"must be at most", "invalid.too_long"},
	{"must not hold control characters", "invalid.text_chars"},
	{"is one of the most common passwords", "invalid.password_common"},
	{"must be 6 digits", "invalid.code_digits"},
	{"a recovery code has 16", "invalid.recovery_code"},
	{"two-step verification is on", "invalid.code_required"},
	{"must be 1 to 100 characters", "invalid.org_name"},
	{"must be 1 to 63", "invalid.slug"},
	{"an organisation with the slug", "invalid.slug_taken"},
	{"is already the address of this account", "invalid.email_same"},
	{"is not your current password", "invalid.current_password"},
	{"no e-mail change is waiting", "invalid.no_email_change"},
	{"turn two-step verification on first", "invalid.legacy_needs_two_step"},
	{"must be one of en, fr", "invalid.locale"},
	// Organisation policy and members.
	{"must be optional or required", "invalid.two_step"},
	{"must be a whole number of days from 0 to 365", "invalid.grace_days"},
	{"must name at least one method", "invalid.methods_none"},
	{"must be a dotted version number", "invalid.version"},
	{"must be member, admin or owner", "invalid.role"},
}

func (s *Server) invalidMessage(p *page, inv *twostep.InvalidError) string {
	label, ok := p.labels[inv.Field]
	if !ok {
		if label, ok = p.tr("field." + inv.Field); !ok {
			label = inv.Field
		}
	}
	if msg, ok := p.phoneInvalid(label, inv.Reason); ok {
		return msg
	}
	if inv.Field == "allowed_methods" && strings.Contains(inv.Reason, "is not offered by this server") {
		return p.T("invalid.method_not_offered", "Field", label)
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

// phoneInvalid translates the refusals of a number that name a country: not
// valid there, or in a country this server does not send codes to.
func (p *page) phoneInvalid(label, reason string) (string, bool) {
	if rest, ok := strings.CutPrefix(reason, "is not a valid number in "); ok {
		region, _, _ := strings.Cut(rest, " ")
		if name, ok := p.countryName(region); ok {
			return p.T("invalid.phone_not_valid_in", "Field", label, "Country", name), true
		}
		return p.T("invalid.phone_not_valid", "Field", label), true
	}
	if rest, ok := strings.CutPrefix(reason, "numbers in "); ok {
		region, rest, _ := strings.Cut(rest, " ")
		_, list, _ := strings.Cut(rest, "(allowed: ")
		var names []string
		for r := range strings.SplitSeq(strings.TrimSuffix(list, ")"), ", ") {
			if name, ok := p.countryName(r); ok {
				names = append(names, name)
			}
		}
		name, _ := p.countryName(region)
		return p.T("invalid.phone_country", "Field", label, "Country", name, "Allowed", strings.Join(names, ", ")), true
	}
	return "", false
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
