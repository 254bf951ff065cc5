package web

import (
	"bytes"
	"context"
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
	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

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
	Lang  string
	Org   string // the organisation's name, when known
	Email string // the signed-in account, for the header
	Admin bool   // and it is an owner or admin: the header links to the administration
	Base  string // where the add-method pages live: /account/security, or /sign-in/enrol while enrolling
	Wide  bool   // the page holds a wide table
	Flash string // a confirmation line
	Error string // what is wrong and how to fix it
	Field string // the form field Error is about; "" for the whole form
	Focus string // the field that takes the focus when there is no error
	Form  url.Values
	Data  any

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
	"skipped":         "done.skipped",
	"invited":         "done.invited",
	"member_invited":  "done.member_invited",
	"member_role":     "done.member_role",
	"member_sso_on":   "done.member_sso_on",
	"member_sso_off":  "done.member_sso_off",
	"member_sessions": "done.member_sessions",
	"member_unlocked": "done.member_unlocked",
	"member_reset":    "done.member_reset",
	"policy":          "done.policy",
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

// ---- Countries ----

// country is a region a phone number can belong to, named in a page's language.
type country struct {
	Region string // ISO 3166: FR
	Name   string // France
	Code   string // +33
}

// countryList names every region libphonenumber knows in the language tag
// and sorts them by name as that language does.
func countryList(tag language.Tag) []country {
	namer := display.Regions(tag)
	var out []country
	for r := range phonenumbers.GetSupportedRegions() {
		name := ""
		if reg, err := language.ParseRegion(r); err == nil {
			name = namer.Name(reg)
		}
		if name == "" {
			name = r
		}
		out = append(out, country{Region: r, Name: name, Code: "+" + strconv.Itoa(phonenumbers.GetCountryCodeForRegion(r))})
	}
	col := collate.New(tag, collate.Loose)
	slices.SortFunc(out, func(a, b country) int {
		if c := col.CompareString(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Region, b.Region)
	})
	return out
}

// countryName is the name of region in the page's language; false for a
// region phones cannot be in.
func (p *page) countryName(region string) (string, bool) {
	if phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return "", false
	}
	reg, err := language.ParseRegion(region)
	if err != nil {
		return region, true
	}
	if name := display.Regions(language.Make(p.Lang)).Name(reg); name != "" {
		return name, true
	}
	return region, true
}

// phoneRegion is the region of an E.164 number, or "".
func phoneRegion(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}

// formatPhone writes an E.164 number the international way: +33 6 12 34 56 78.
func formatPhone(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return e164
	}
	return phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
}

// homeCountry is the country to put first in the list: that of a phone number
// the account has already, else that of the browser's preferred language
// (fr-FR and fr: FR; en-US: US; ja: JP), else none.
func homeCountry(r *http.Request, factors []*twostep.Factor) string {
	var pending string
	for _, f := range factors {
		if !isPhone(f.Method) {
			continue
		}
		if reg := phoneRegion(f.Address); reg != "" {
			if f.Status == twostep.FactorActive {
				return reg
			}
			pending = reg
		}
	}
	if pending != "" {
		return pending
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if len(tags) == 0 || tags[0] == language.Und {
		return ""
	}
	reg, conf := tags[0].Region()
	if conf == language.No || phonenumbers.GetCountryCodeForRegion(reg.String()) == 0 {
		return ""
	}
	return reg.String()
}

type countryOption struct {
	country
	Selected bool
}

// countryOptions is the list of countries for the page's language, home first
// and selected selected (home when selected is "").
func (s *Server) countryOptions(p *page, home, selected string) []countryOption {
	if selected == "" {
		selected = home
	}
	all := s.pages.countries[p.Lang]
	out := make([]countryOption, 0, len(all))
	for _, c := range all {
		if c.Region == home {
			out = append([]countryOption{{c, c.Region == selected}}, out...)
			continue
		}
		out = append(out, countryOption{c, c.Region == selected})
	}
	return out
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
		if cs := res.CodeSent; cs != nil {
			redirect(w, r, methodHref(twostep.MethodOption{Method: cs.Method, FactorID: cs.FactorID}))
			return
		}
		redirect(w, r, "/sign-in/verify")
	case twostep.StatusEnrollmentRequired:
		// The token only enrols (then completes): the same cookie carries it.
		s.setCookie(w, s.signInCookie(), res.SignInToken, res.ExpiresAt)
		redirect(w, r, enrolBase)
	default:
		s.pageError(w, r, fmt.Errorf("web: sign-in status %q", res.Status))
	}
}

type methodLink struct {
	Href  string
	Label string
	// For a phone that takes both channels, listed once: its name and a
	// link for each channel.
	Phone   string
	Actions []methodLink
}

type verifyData struct {
	Method    string
	FactorID  string
	To        string
	Delivers  bool         // the method's codes are sent to To
	Sent      bool         // and one is live for this sign-in
	Hint      string       // where the code went, or where it can go
	Minutes   int          // how long a sent code works
	Resend    *resendForm  // ask for a (new) code, for methods that deliver
	Switch    *resendForm  // the same number by its other channel: "Call me instead"
	Help      *mailHelp    // "Didn't get the e-mail?", once one was sent
	PhoneHelp *phoneHelp   // "Didn't get the text message / the call?", once one was sent
	Others    []methodLink // the other methods, recovery codes apart
	Recovery  string       // link to use a recovery code, when offered and not in use
	Back      string       // link back to the default method while using a recovery code
	BackLabel string
}

// phoneHelp is what the "Didn't get the text message?" list needs.
type phoneHelp struct {
	Voice bool   // the code comes by call
	To    string // the number, masked (or in full to the person who just typed it)
	Other bool   // the page offers the number's other channel
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

// channelName is how a link names one channel of a phone: "by text message".
func (p *page) channelName(m twostep.Method) string {
	if m == twostep.MethodVoice {
		return p.T("verify.by_voice")
	}
	return p.T("verify.by_sms")
}

// sendLabel is the button that asks for a code by m: the first, or a new one.
func (p *page) sendLabel(m twostep.Method, again bool) string {
	switch {
	case m == twostep.MethodSMS && !again:
		return "send.sms_first"
	case m == twostep.MethodVoice && !again:
		return "send.voice_first"
	case m == twostep.MethodVoice:
		return "send.voice_again"
	case again:
		return "send.again"
	}
	return "send.first"
}

// sentHint says where the code went (sent) or can go, for a method that delivers.
func (p *page) sentHint(m twostep.Method, to string, sent bool) string {
	switch {
	case m == twostep.MethodSMS && sent:
		return p.T("verify.hint.sms_sent", "To", to)
	case m == twostep.MethodSMS:
		return p.T("verify.hint.sms_send", "To", to)
	case m == twostep.MethodVoice && sent:
		return p.T("verify.hint.voice_sent", "To", to)
	case m == twostep.MethodVoice:
		return p.T("verify.hint.voice_send", "To", to)
	case sent:
		return p.T("verify.hint.sent", "To", to)
	}
	return p.T("verify.hint.send", "To", to)
}

func (s *Server) pageVerify(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r, nil)
	p.Focus = "code"
	q := r.URL.Query()
	s.renderVerify(w, r, p, http.StatusOK, q.Get("method"), q.Get("factor"))
}

// sentAt is when the code cs went out, as far as the cooldown goes: the wait
// left is ResendAfter.
func (s *Server) sentAt(cs *twostep.CodeSent) time.Time {
	if cs.ResendAfter <= 0 {
		return s.clock().Add(-twostep.ResendCooldown)
	}
	return s.clock().Add(min(cs.ResendAfter, twostep.ResendCooldown) - twostep.ResendCooldown)
}

// renderVerify shows the second step of the sign-in in the cookie with method
// (and factor) in use, or sends the person back to the first step. Where the
// live code of the sign-in went, and when, comes from the service: for a method
// that delivers codes and has none live, the page offers to send one rather
// than asking for it.
func (s *Server) renderVerify(w http.ResponseWriter, r *http.Request, p *page, status int, method, factor string) {
	ck, err := r.Cookie(s.signInCookie())
	if err != nil {
		redirect(w, r, "/sign-in")
		return
	}
	res, err := s.svc.SignInMethods(r.Context(), ck.Value)
	if errors.Is(err, twostep.ErrExpired) || errors.As(err, new(*twostep.InvalidError)) {
		if _, eerr := s.svc.AuthenticateEnrolment(r.Context(), ck.Value, s.clientIP(r), r.UserAgent()); eerr == nil {
			redirect(w, r, enrolBase) // this sign-in must set up a method first
			return
		}
		s.setCookie(w, s.signInCookie(), "", timeZero)
		redirect(w, r, "/sign-in?done=expired")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	cs := res.CodeSent
	if method == "" && cs != nil {
		method, factor = string(cs.Method), cs.FactorID
	}
	find := func(m, f string) int {
		for i, o := range res.Methods {
			if string(o.Method) == m && (f == "" || o.FactorID == f) {
				return i
			}
		}
		return -1
	}
	cur := find(method, factor)
	// The live code of this number came by its other channel: show that one,
	// since it is the code to enter.
	if cur >= 0 && cs != nil && isPhone(res.Methods[cur].Method) && isPhone(cs.Method) &&
		cs.FactorID == res.Methods[cur].FactorID && cs.Method != res.Methods[cur].Method {
		if i := find(string(cs.Method), cs.FactorID); i >= 0 {
			cur = i
		}
	}
	if cur < 0 {
		cur = find(string(res.DefaultMethod), "")
	}
	if cur < 0 {
		s.pageError(w, r, twostep.ErrExpired)
		return
	}
	p.Org = res.Org.Name
	o := res.Methods[cur]
	d := verifyData{Method: string(o.Method), FactorID: o.FactorID, To: o.To}
	if delivers(o.Method) {
		var sent time.Time
		if cs != nil && cs.Method == o.Method && cs.FactorID == o.FactorID {
			sent, d.Sent = s.sentAt(cs), true
		}
		d.Delivers, d.Minutes, d.Hint = true, int(twostep.CodeTTL.Minutes()), p.sentHint(o.Method, o.To, d.Sent)
		d.Resend = p.resend("resend", "/sign-in/verify/send", p.sendLabel(o.Method, d.Sent), s.resendWait(sent),
			"method", d.Method, "factor_id", d.FactorID)
		d.Resend.Primary = !d.Sent
		if !d.Sent && p.Field == "code" {
			p.Field = "" // no code field to hang the error on
		}
		if isPhone(o.Method) {
			other := twostep.MethodVoice
			label := "verify.call_instead"
			if o.Method == twostep.MethodVoice {
				other, label = twostep.MethodSMS, "verify.text_instead"
			}
			if find(string(other), o.FactorID) >= 0 {
				// Each channel has its own cooldown: the other one is free now.
				d.Switch = p.resend("switch", "/sign-in/verify/send", label, 0, "method", string(other), "factor_id", o.FactorID)
			}
			if d.Sent {
				d.PhoneHelp = &phoneHelp{Voice: o.Method == twostep.MethodVoice, To: o.To, Other: d.Switch != nil}
			}
		} else if d.Sent && o.Method == twostep.MethodEmail {
			d.Help = &mailHelp{To: o.To, From: s.mailFrom}
		}
	}
	phones := map[string]int{} // factor → its entry in Others
	for i, m := range res.Methods {
		switch {
		case m.Method == twostep.MethodRecoveryCode:
			if i != cur {
				d.Recovery = methodHref(m)
			}
		case i == cur:
		case isPhone(m.Method) && isPhone(o.Method) && m.FactorID == o.FactorID:
			// The other channel of this number: d.Switch.
		default:
			if d.Method == string(twostep.MethodRecoveryCode) && d.Back == "" {
				d.Back = methodHref(m)
				if m.Method == twostep.MethodTOTP {
					d.BackLabel = p.T("verify.back")
				} else {
					d.BackLabel = p.T("verify.back_to", "Method", p.methodLabel(m))
				}
				continue
			}
			link := methodLink{Href: methodHref(m), Label: p.methodLabel(m)}
			if isPhone(m.Method) {
				act := methodLink{Href: link.Href, Label: p.channelName(m.Method)}
				if j, ok := phones[m.FactorID]; ok {
					d.Others[j].Actions = append(d.Others[j].Actions, act)
					continue
				}
				phones[m.FactorID] = len(d.Others)
				link.Phone, link.Actions = p.T("verify.phone_entry", "To", m.To), []methodLink{act}
			}
			d.Others = append(d.Others, link)
		}
	}
	for i := range d.Others {
		if len(d.Others[i].Actions) < 2 {
			d.Others[i].Actions = nil // one channel only: a plain link
		}
	}
	p.Data = d
	s.render(w, r, status, "verify", p)
}

// pageVerifySend sends a (new) code for the sign-in in the cookie.
func (s *Server) pageVerifySend(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(s.signInCookie())
	if err != nil {
		redirect(w, r, "/sign-in?done=expired")
		return
	}
	method, factor := r.PostFormValue("method"), r.PostFormValue("factor_id")
	cs, err := s.svc.SendSignInCode(r.Context(), twostep.SendRequest{SignInToken: ck.Value, Method: twostep.Method(method),
		FactorID: factor, IP: s.clientIP(r), UserAgent: r.UserAgent()})
	err = sendFailed(err, twostep.Method(method))
	if err == nil {
		redirect(w, r, methodHref(twostep.MethodOption{Method: cs.Method, FactorID: cs.FactorID}))
		return
	}
	if errors.Is(err, twostep.ErrExpired) {
		s.setCookie(w, s.signInCookie(), "", timeZero)
		redirect(w, r, "/sign-in?done=expired")
		return
	}
	p := s.newPage(r, nil)
	status := s.sendError(w, p, err)
	if status == 0 {
		s.pageError(w, r, err)
		return
	}
	p.Field = ""
	s.renderVerify(w, r, p, status, method, factor)
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
	Method   string
	Name     string
	LastUsed string
	Default  bool
	Finish   string // where a pending method's setup goes on
	Phone    bool   // a phone number: remind to add the new one when it changes
	Channels string // for a phone: what it takes ("Text messages and calls")
}

type eventRow struct {
	At     string
	What   string
	IP     string
	Device string
}

type securityData struct {
	On          bool
	Since       string
	Required    bool
	SSO         bool
	Methods     []methodRow
	Pending     []methodRow
	CanAddTOTP  bool
	CanAddEmail bool
	AddPhone    string // the "Add a phone" link's words; "" when phones are not allowed
	CodesLeft   int
	CodesLow    bool
	Legacy      bool // older app versions may sign in with the password alone
	OrgLegacy   bool // the organisation lets members allow them
	Events      []eventRow
	Email       string
	Locale      string
	Locales     []localeOption
}

type localeOption struct {
	Value, Name string
	Selected    bool
}

// localeNames are the languages offered, each named in itself.
var localeNames = []localeOption{{Value: "en", Name: "English"}, {Value: "fr", Name: "Français"}}

// factorName is how a method is named on the security page: its kind, where
// its codes go (masked), and the label the person gave it, if any.
func (p *page) factorName(f *twostep.Factor) string {
	name := p.T("method." + string(f.Method))
	if isPhone(f.Method) {
		name = p.T("method.phone") // its channels are said beside it
	}
	masked := twostep.MaskAddress(f.Method, f.Address)
	if masked != "" {
		name += " (" + masked + ")"
	}
	if f.Label != "" && f.Label != "Authenticator app" && f.Label != masked {
		name += " — " + f.Label
	}
	return name
}

// channelsText says which channels a phone takes, and by which its codes come
// unless the person asks for the other.
func (p *page) channelsText(f *twostep.Factor) string {
	switch {
	case !slices.Contains(f.Channels, twostep.MethodSMS):
		return p.T("security.phone_voice_only")
	case f.Method == twostep.MethodVoice:
		return p.T("security.phone_both_voice")
	}
	return p.T("security.phone_both_sms")
}

// addPhoneLabel is the words of "Add a phone" for the channels allowed, or "".
func (p *page) addPhoneLabel(allowed []twostep.Method) string {
	sms, voice := slices.Contains(allowed, twostep.MethodSMS), slices.Contains(allowed, twostep.MethodVoice)
	switch {
	case sms && voice:
		return p.T("security.add_phone")
	case sms:
		return p.T("security.add_phone_sms")
	case voice:
		return p.T("security.add_phone_voice")
	}
	return ""
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
	p.labels = map[string]string{"locale": p.T("security.language")}
	switch {
	case err == nil:
	case errors.Is(err, twostep.ErrForbidden):
		// Only the older-app-versions setting is refused this way here.
		p.Error, status = p.T("security.legacy_forbidden"), http.StatusForbidden
	default:
		if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
		if p.Field != "locale" {
			p.Field = "" // the only field of this page; say anything else at the top
		}
	}
	a := info.Account
	d := securityData{On: a.TwoStepEnabled(), Required: info.Required, SSO: a.SSO, CodesLeft: info.RecoveryCodesLeft,
		Legacy: a.AllowLegacyClients, OrgLegacy: info.Org.Policy.AllowLegacyClients, Email: a.Email, Locale: p.Lang}
	for _, l := range localeNames {
		l.Selected = l.Value == d.Locale
		d.Locales = append(d.Locales, l)
	}
	if d.On {
		d.Since = formatDate(a.TwoStepSince)
		d.CodesLow = info.RecoveryCodesLeft <= twostep.RecoveryCodesLow
	}
	for _, f := range info.Factors {
		row := methodRow{ID: f.ID, Method: string(f.Method), Name: p.factorName(f), LastUsed: formatTime(f.LastUsedAt), Default: f.Default}
		if isPhone(f.Method) {
			row.Phone, row.Channels = true, p.channelsText(f)
		}
		if f.Status == twostep.FactorActive {
			d.Methods = append(d.Methods, row)
			continue
		}
		row.Finish = finishPath(securityBase, f)
		d.Pending = append(d.Pending, row)
	}
	d.CanAddTOTP = !a.SSO && slices.Contains(info.AllowedMethods, twostep.MethodTOTP)
	d.CanAddEmail = !a.SSO && slices.Contains(info.AllowedMethods, twostep.MethodEmail)
	if !a.SSO {
		d.AddPhone = p.addPhoneLabel(info.AllowedMethods)
	}
	evs, err := s.svc.Activity(r.Context(), c, 0, recentEvents)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	d.Events = eventRows(p, evs)
	p.Data = d
	s.render(w, r, status, "security", p)
}

// finishPath is where the setup of a pending method goes on, under base.
func finishPath(base string, f *twostep.Factor) string {
	switch f.Method {
	case twostep.MethodTOTP:
		return base + "/totp/" + url.PathEscape(f.ID)
	case twostep.MethodEmail:
		return base + "/email/" + url.PathEscape(f.ID)
	case twostep.MethodSMS, twostep.MethodVoice:
		return base + "/phone/" + url.PathEscape(f.ID)
	}
	return ""
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
	redirect(w, r, methodsBase(c)+"?done=removed")
}

// securityError answers an action of the security page that failed.
func (s *Server) securityError(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error) {
	switch {
	case c.SignIn != nil && !errors.Is(err, twostep.ErrNotFound):
		s.renderEnrol(w, r, c, err) // enrolling at sign-in: the choice of methods says what went wrong
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
	Mail    *confirmMail    // when an e-mail method can confirm
	Phones  []*confirmPhone // each phone number that can confirm
	Factor  string          // the factor a code was just sent to
	SentAt  string          // and when
}

type confirmMethod struct {
	Value   string
	Label   string
	Checked bool
}

// confirmMail is the "Send me a code" step of confirming by e-mail.
type confirmMail struct {
	Sent   bool
	SentAt string
	To     string
	Resend *resendForm
	Help   *mailHelp
}

// confirmPhone is the "Text me a code" / "Call me" step of confirming by phone.
type confirmPhone struct {
	To    string
	Text  string        // where the code went, or can go
	Sent  bool          // a code went to this number moments ago
	Sends []*resendForm // one per channel the number takes
}

// confirmState is what the page knows of a code it sent: by which method, to
// which factor, when.
type confirmState struct {
	method string
	factor string
	sent   time.Time
}

func (s *Server) pageConfirm(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	q := r.URL.Query()
	st := confirmState{method: q.Get("method"), factor: q.Get("factor")}
	if delivers(twostep.Method(st.method)) {
		st.sent = parseSent(q.Get("sent"))
	}
	s.renderConfirm(w, r, c, nil, http.StatusOK, st)
}

// confirmNext is where the confirmation page returns to.
func confirmNext(r *http.Request) string {
	if next := localPath(r.FormValue("next")); next != "" {
		return next
	}
	return "/account/security"
}

// mailFactor is the e-mail factor a code goes to when none is named: the
// default, else the newest (as the service picks it).
func mailFactor(factors []*twostep.Factor) *twostep.Factor {
	var pick *twostep.Factor
	for _, f := range factors {
		if f.Status != twostep.FactorActive || f.Method != twostep.MethodEmail {
			continue
		}
		if pick == nil || f.Default || !pick.Default && f.CreatedAt.After(pick.CreatedAt) {
			pick = f
		}
	}
	return pick
}

func (s *Server) renderConfirm(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, status int, st confirmState) {
	p, info, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	p.Focus = "password"
	if err != nil {
		if errors.Is(err, twostep.ErrInvalidCredentials) {
			p.Field, p.Error, status = "password", p.T("confirm.wrong_password"), http.StatusUnauthorized
		} else if status = s.sendError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
		if p.Field == "method" {
			p.Field = "code"
		}
		if p.Field == "factor_id" {
			p.Field = ""
		}
	}
	next := confirmNext(r)
	d := confirmData{Next: next, TwoStep: info.Account.TwoStepEnabled(), Factor: st.factor}
	if !st.sent.IsZero() {
		d.SentAt = sentParam(st.sent)
	}
	method := st.method
	if method == "" {
		method = string(info.DefaultMethod)
	}
	// One choice per kind of code; a phone's code works whichever channel it came by.
	var seen []twostep.Method
	var phones []*twostep.Factor
	for _, f := range info.Factors {
		if f.Status != twostep.FactorActive {
			continue
		}
		if isPhone(f.Method) {
			phones = append(phones, f)
			if slices.ContainsFunc(seen, isPhone) {
				continue
			}
		}
		if !slices.Contains(seen, f.Method) {
			seen = append(seen, f.Method)
		}
	}
	if info.RecoveryCodesLeft > 0 {
		seen = append(seen, twostep.MethodRecoveryCode)
	}
	mf := mailFactor(info.Factors)
	for _, m := range seen {
		label := p.T("method." + string(m))
		value, checked := string(m), string(m) == method
		switch {
		case m == twostep.MethodEmail && mf != nil:
			label += " (" + twostep.MaskAddress(m, mf.Address) + ")"
		case isPhone(m):
			label = p.T("method.phone")
			if len(phones) == 1 {
				label += " (" + twostep.MaskAddress(m, phones[0].Address) + ")"
			}
			checked = isPhone(twostep.Method(method))
			if checked {
				value = method
			}
		}
		d.Methods = append(d.Methods, confirmMethod{Value: value, Label: label, Checked: checked})
	}
	if d.TwoStep && mf != nil {
		to := twostep.MaskAddress(twostep.MethodEmail, mf.Address)
		var sent time.Time
		if st.method == string(twostep.MethodEmail) {
			sent = st.sent
		}
		cm := &confirmMail{Sent: !sent.IsZero(), To: to}
		label, sentAt := "confirm.send", ""
		if cm.Sent {
			label, sentAt = "send.again", sentParam(sent)
			cm.SentAt, cm.Help = sentAt, &mailHelp{To: to, From: s.mailFrom}
		}
		cm.Resend = p.resend("confirm-send", "/account/confirm/send", label, s.resendWait(sent),
			"next", next, "method", string(twostep.MethodEmail), "factor_id", mf.ID, "sent", sentAt)
		d.Mail = cm
	}
	if d.TwoStep {
		for _, f := range phones {
			to := twostep.MaskAddress(f.Method, f.Address)
			cp := &confirmPhone{To: to, Text: p.T("confirm.phone_first", "To", to)}
			sentBy := twostep.Method("")
			if isPhone(twostep.Method(st.method)) && st.factor == f.ID && !st.sent.IsZero() {
				sentBy, cp.Sent = twostep.Method(st.method), true
				cp.Text = p.T("confirm.sms_sent", "To", to)
				if sentBy == twostep.MethodVoice {
					cp.Text = p.T("confirm.voice_sent", "To", to)
				}
			}
			for _, ch := range f.Channels {
				var wait int
				if ch == sentBy {
					wait = s.resendWait(st.sent)
				}
				form := p.resend("confirm-"+string(ch)+"-"+f.ID, "/account/confirm/send", p.sendLabel(ch, ch == sentBy), wait,
					"next", next, "method", string(ch), "factor_id", f.ID)
				cp.Sends = append(cp.Sends, form)
			}
			d.Phones = append(d.Phones, cp)
		}
	}
	p.Data = d
	s.render(w, r, status, "confirm", p)
}

// pageConfirmSend sends a code, by e-mail, text message or call, to confirm
// who the caller is.
func (s *Server) pageConfirmSend(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	m := twostep.Method(r.PostFormValue("method"))
	if m == "" {
		m = twostep.MethodEmail
	}
	factor := r.PostFormValue("factor_id")
	_, err := s.svc.ConfirmIdentitySend(r.Context(), c, m, factor)
	err = sendFailed(err, m)
	if err == nil {
		q := url.Values{"next": {confirmNext(r)}, "method": {string(m)}, "sent": {sentParam(s.clock())}}
		if isPhone(m) {
			q.Set("factor", factor)
		}
		redirect(w, r, "/account/confirm?"+q.Encode())
		return
	}
	st := confirmState{method: string(m), factor: factor, sent: parseSent(r.PostFormValue("sent"))}
	if errors.Is(err, twostep.ErrResendTooSoon) {
		st.sent = s.sentBefore(err)
	} else if isPhone(m) {
		st.sent = timeZero // nothing went to this number now
	}
	s.renderConfirm(w, r, c, err, 0, st)
}

func (s *Server) pageConfirmPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	method := r.PostFormValue("method")
	token, sess, err := s.svc.ConfirmIdentity(r.Context(), c, twostep.ConfirmRequest{Password: r.PostFormValue("password"),
		Method: twostep.Method(method), Code: r.PostFormValue("code")})
	if err != nil {
		s.renderConfirm(w, r, c, err, 0, confirmState{method: method, factor: r.PostFormValue("factor"),
			sent: parseSent(r.PostFormValue("sent"))})
		return
	}
	s.setCookie(w, s.sessionCookie(), token, sess.ExpiresAt)
	redirect(w, r, withDone(confirmNext(r), "confirmed"))
}

// needsConfirm sends the caller to confirm who they are before a form whose
// change needs it, so that nothing they type there is lost; it reports
// whether it did.
func (s *Server) needsConfirm(w http.ResponseWriter, r *http.Request, info *twostep.AccountInfo) bool {
	if !info.ConfirmedUntil.IsZero() {
		return false
	}
	confirmFirst(w, r, r.URL.Path)
	return true
}

// ---- Authenticator app and recovery codes ----

func (s *Server) pageAddTOTP(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	nf, err := s.svc.AddFactor(r.Context(), c, twostep.FactorRequest{Method: twostep.MethodTOTP})
	if err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, methodsBase(c)+"/totp/"+url.PathEscape(nf.Factor.ID))
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
		redirect(w, r, methodsBase(c))
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
		redirect(w, r, methodsBase(c))
	case err != nil:
		s.renderTOTP(w, r, c, err)
	case len(codes) > 0:
		s.renderCodes(w, r, c, codes, true)
	default:
		redirect(w, r, methodsBase(c)+"?done=added")
	}
}

type codesData struct {
	Codes    []string
	Download template.URL
	Continue string // while enrolling at sign-in: where "I have saved them" posts to finish signing in
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
	d := codesData{Codes: codes,
		Download: template.URL("data:text/plain;charset=utf-8;base64," + base64.StdEncoding.EncodeToString([]byte(file)))}
	if c.SignIn != nil {
		d.Continue = enrolBase + "/complete"
	}
	p.Data = d
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

// ---- E-mail method ----

type addEmailData struct {
	Address string
}

// pageAddEmail asks for the address an e-mail method sends its codes to.
func (s *Server) pageAddEmail(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, info, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if s.needsConfirm(w, r, info) {
		return
	}
	p.Focus = "address"
	p.Form = url.Values{"address": {c.Account.Email}}
	s.render(w, r, http.StatusOK, "add_email", p)
}

func (s *Server) pageAddEmailPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	address := strings.TrimSpace(r.PostFormValue("address"))
	nf, err := s.svc.AddFactor(r.Context(), c, twostep.FactorRequest{Method: twostep.MethodEmail, Address: address})
	err = sendFailed(err, twostep.MethodEmail)
	if err == nil {
		redirect(w, r, methodsBase(c)+"/email/"+url.PathEscape(nf.Factor.ID)+"?sent="+sentParam(s.clock()))
		return
	}
	if errors.Is(err, twostep.ErrConfirmIdentity) {
		confirmFirst(w, r, "/account/security/email")
		return
	}
	p, _, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	p.Form, p.Focus = url.Values{"address": {address}}, "address"
	status := s.sendError(w, p, err)
	if status == 0 {
		s.pageError(w, r, err)
		return
	}
	if p.Field != "address" {
		p.Field = ""
	}
	s.render(w, r, status, "add_email", p)
}

type emailCodeData struct {
	Action   string // where the code goes
	Fields   []hiddenField
	To       string
	Minutes  int
	Resend   *resendForm
	Help     *mailHelp
	Another  string // where to start again with another address
	Finished string // where "Cancel" goes
}

// pendingCodePage starts the code page of the caller's pending method (of one
// of ms) named in the path, with err worded on it; when there is no such
// method or err is not about the code, it answers itself and reports false.
func (s *Server) pendingCodePage(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, status int, ms ...twostep.Method) (*page, *twostep.Factor, int, bool) {
	p, info, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return nil, nil, 0, false
	}
	f := pendingFactor(info, r.PathValue("id"), ms...)
	if f == nil {
		// Already verified, replaced or removed: the security page says how things stand.
		redirect(w, r, methodsBase(c))
		return nil, nil, 0, false
	}
	p.Focus = "code"
	if err != nil {
		if status = s.codeError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return nil, nil, 0, false
		}
	}
	return p, f, status, true
}

// pageEmailFactor asks for the code sent to a pending e-mail method.
func (s *Server) pageEmailFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderEmailFactor(w, r, c, nil, http.StatusOK, parseSent(r.URL.Query().Get("sent")))
}

func (s *Server) renderEmailFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, status int, sent time.Time) {
	p, f, status, ok := s.pendingCodePage(w, r, c, err, status, twostep.MethodEmail)
	if !ok {
		return
	}
	id := url.PathEscape(f.ID)
	sentAt := ""
	if !sent.IsZero() {
		sentAt = sentParam(sent)
	}
	base := methodsBase(c)
	p.Data = emailCodeData{Action: base + "/email/" + id, Fields: []hiddenField{{"sent", sentAt}}, To: f.Address,
		Minutes: int(twostep.CodeTTL.Minutes()), Help: &mailHelp{To: f.Address, From: s.mailFrom},
		Resend:  p.resend("resend", base+"/email/"+id+"/resend", "send.again", s.resendWait(sent)),
		Another: base + "/email", Finished: base}
	s.render(w, r, status, "email_code", p)
}

// codeError is formError for a code sent to confirm an address: when no try is
// left, or the code is out of time, the way on is a new code, not a new sign-in.
func (s *Server) codeError(w http.ResponseWriter, p *page, err error) int {
	var ce *twostep.CodeError
	switch {
	case errors.As(err, &ce) && ce.AttemptsLeft <= 0, errors.Is(err, twostep.ErrExpired):
		p.Field, p.Error = "code", p.T("code.spent")
		return http.StatusBadRequest
	}
	status := s.sendError(w, p, err)
	if p.Field != "code" {
		p.Field = ""
	}
	return status
}

func (s *Server) pageEmailFactorPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.factorCodePost(w, r, c, s.renderEmailFactor)
}

// codePage renders the page that asks for the code of a pending method.
type codePage func(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, status int, sent time.Time)

// factorCodePost verifies the first code of a pending e-mail or phone method.
func (s *Server) factorCodePost(w http.ResponseWriter, r *http.Request, c *twostep.Caller, render codePage) {
	_, codes, err := s.svc.VerifyFactor(r.Context(), c, r.PathValue("id"), r.PostFormValue("code"))
	switch {
	case errors.Is(err, twostep.ErrNotFound), errors.Is(err, twostep.ErrConflict):
		redirect(w, r, methodsBase(c))
	case err != nil:
		render(w, r, c, err, 0, parseSent(r.PostFormValue("sent")))
	case len(codes) > 0:
		s.renderCodes(w, r, c, codes, true)
	default:
		redirect(w, r, methodsBase(c)+"?done=added")
	}
}

func (s *Server) pageEmailFactorResend(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.factorCodeResend(w, r, c, "/email/", twostep.MethodEmail, s.renderEmailFactor)
}

// factorCodeResend sends a new code to a pending method by its own channel and
// shows its code page again (kind is "/email/" or "/phone/").
func (s *Server) factorCodeResend(w http.ResponseWriter, r *http.Request, c *twostep.Caller, kind string, m twostep.Method, render codePage) {
	page := methodsBase(c) + kind + url.PathEscape(r.PathValue("id"))
	_, err := s.svc.ResendFactorCode(r.Context(), c, r.PathValue("id"))
	err = sendFailed(err, m)
	switch {
	case err == nil:
		redirect(w, r, page+"?sent="+sentParam(s.clock()))
	case errors.Is(err, twostep.ErrNotFound), errors.As(err, new(*twostep.InvalidError)):
		// Gone, or active already: nothing to resend.
		redirect(w, r, methodsBase(c))
	case errors.Is(err, twostep.ErrResendTooSoon):
		render(w, r, c, err, 0, s.sentBefore(err))
	default:
		render(w, r, c, err, 0, timeZero)
	}
}

// ---- Phone method (text message or call) ----

type addPhoneData struct {
	Countries  []countryOption
	Choose     bool // no country is selected: the list starts with "Choose a country"
	SMS        bool // the organisation allows text messages
	Voice      bool // and calls
	VoiceFirst bool // a landline was refused by text message: "Call me" is the default button
}

// phoneChannels reports which phone channels the organisation allows.
func phoneChannels(allowed []twostep.Method) (sms, voice bool) {
	return slices.Contains(allowed, twostep.MethodSMS), slices.Contains(allowed, twostep.MethodVoice)
}

// pageAddPhone asks for the country and number a phone method sends its codes
// to, and how to send the first (TuneCore: "Text message" or "Phone call").
func (s *Server) pageAddPhone(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, info, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if sms, voice := phoneChannels(info.AllowedMethods); info.Account.SSO || !sms && !voice {
		s.renderAddPhone(w, r, p, info, 0, "") // says why not
		return
	}
	if s.needsConfirm(w, r, info) {
		return
	}
	s.renderAddPhone(w, r, p, info, http.StatusOK, "")
}

// renderAddPhone shows the phone form with country selected (the account's
// country when "") and what p holds of the last try.
func (s *Server) renderAddPhone(w http.ResponseWriter, r *http.Request, p *page, info *twostep.AccountInfo, status int, country string) {
	d := addPhoneData{}
	d.SMS, d.Voice = phoneChannels(info.AllowedMethods)
	d.VoiceFirst = d.Voice && (!d.SMS || p.landline)
	if info.Account.SSO {
		s.pageError(w, r, twostep.ErrSSOManaged)
		return
	}
	if !d.SMS && !d.Voice {
		s.pageError(w, r, twostep.ErrMethodNotAllowed)
		return
	}
	home := homeCountry(r, info.Factors)
	d.Countries = s.countryOptions(p, home, country)
	d.Choose = !slices.ContainsFunc(d.Countries, func(c countryOption) bool { return c.Selected })
	if p.Focus == "" {
		p.Focus = "phone"
		if d.Choose {
			p.Focus = "country"
		}
	}
	p.Data = d
	s.render(w, r, status, "add_phone", p)
}

func (s *Server) pageAddPhonePost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	phone, country := strings.TrimSpace(r.PostFormValue("phone")), strings.TrimSpace(r.PostFormValue("country"))
	m := twostep.Method(r.PostFormValue("method"))
	if !isPhone(m) {
		// A form sent without its button (Enter in a browser sends the first one).
		m = twostep.MethodSMS
		if c.Account != nil {
			if info, err := s.svc.AccountInfo(r.Context(), c); err == nil {
				if sms, voice := phoneChannels(info.AllowedMethods); !sms && voice {
					m = twostep.MethodVoice
				}
			}
		}
	}
	nf, err := s.svc.AddFactor(r.Context(), c, twostep.FactorRequest{Method: m, Phone: phone, Country: country})
	err = sendFailed(err, m)
	if err == nil {
		redirect(w, r, methodsBase(c)+"/phone/"+url.PathEscape(nf.Factor.ID)+"?sent="+sentParam(s.clock()))
		return
	}
	if errors.Is(err, twostep.ErrConfirmIdentity) {
		confirmFirst(w, r, "/account/security/phone")
		return
	}
	p, info, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	p.labels = map[string]string{"phone": p.T("field.phone"), "country": p.T("field.country")}
	p.Form = url.Values{"phone": {phone}}
	status := s.sendError(w, p, err)
	if status == 0 {
		s.pageError(w, r, err)
		return
	}
	switch p.Field {
	case "phone", "country":
		p.Focus = p.Field
	default:
		p.Field = ""
	}
	var inv *twostep.InvalidError
	if errors.As(err, &inv) && strings.HasPrefix(inv.Reason, "is a fixed line") {
		p.landline = true
		if _, voice := phoneChannels(info.AllowedMethods); !voice {
			p.Error = p.T("invalid.phone_fixed_no_voice", "Field", p.labels["phone"]) // no call to offer instead
		}
	}
	s.renderAddPhone(w, r, p, info, status, country)
}

type phoneCodeData struct {
	Action   string // where the code goes
	Fields   []hiddenField
	Voice    bool   // the code comes by call
	Sent     string // "We sent a code by text message to …" / "We are calling …"
	Minutes  int
	Resend   *resendForm
	Help     *phoneHelp // with the number in full, to check it for a typing mistake
	Another  string     // where to start again with another number or channel
	Finished string     // where "Cancel" goes
}

// pendingFactor is the caller's pending factor id if it is of one of kinds, else nil.
func pendingFactor(info *twostep.AccountInfo, id string, kinds ...twostep.Method) *twostep.Factor {
	for _, f := range info.Factors {
		if f.ID == id && slices.Contains(kinds, f.Method) && f.Status == twostep.FactorPending {
			return f
		}
	}
	return nil
}

// pagePhoneFactor asks for the code sent to a pending phone method.
func (s *Server) pagePhoneFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderPhoneFactor(w, r, c, nil, http.StatusOK, parseSent(r.URL.Query().Get("sent")))
}

func (s *Server) renderPhoneFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, status int, sent time.Time) {
	p, f, status, ok := s.pendingCodePage(w, r, c, err, status, twostep.MethodSMS, twostep.MethodVoice)
	if !ok {
		return
	}
	id := url.PathEscape(f.ID)
	sentAt := ""
	if !sent.IsZero() {
		sentAt = sentParam(sent)
	}
	to := twostep.MaskAddress(f.Method, f.Address)
	base := methodsBase(c)
	d := phoneCodeData{Action: base + "/phone/" + id, Fields: []hiddenField{{"sent", sentAt}},
		Voice: f.Method == twostep.MethodVoice, Minutes: int(twostep.CodeTTL.Minutes()),
		Help:    &phoneHelp{Voice: f.Method == twostep.MethodVoice, To: formatPhone(f.Address)},
		Resend:  p.resend("resend", base+"/phone/"+id+"/resend", p.sendLabel(f.Method, true), s.resendWait(sent)),
		Another: base + "/phone", Finished: base}
	d.Sent = p.sentHint(f.Method, to, true)
	p.Data = d
	s.render(w, r, status, "phone_code", p)
}

func (s *Server) pagePhoneFactorPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.factorCodePost(w, r, c, s.renderPhoneFactor)
}

// pagePhoneFactorResend sends a new code to a pending phone method, by the
// channel it was added with.
func (s *Server) pagePhoneFactorResend(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.factorCodeResend(w, r, c, "/phone/", twostep.MethodSMS, s.renderPhoneFactor)
}

// ---- Settings: older app versions, language ----

func (s *Server) pageLegacy(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	allow := r.PostFormValue("allow") == "true"
	if _, err := s.svc.UpdateSettings(r.Context(), c, twostep.Settings{AllowLegacyClients: &allow}); err != nil {
		s.securityError(w, r, c, err)
		return
	}
	if allow {
		redirect(w, r, "/account/security?done=legacy_on")
		return
	}
	redirect(w, r, "/account/security?done=legacy_off")
}

func (s *Server) pageLanguage(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	locale := r.PostFormValue("locale")
	if _, err := s.svc.UpdateSettings(r.Context(), c, twostep.Settings{Locale: &locale}); err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, "/account/security?done=language")
}

// ---- E-mail address ----

// changeEmailData is the change of address: the form (Code nil), then the code
// sent to the new address.
type changeEmailData struct {
	Current string
	Code    *emailCodeData
}

func (s *Server) pageChangeEmail(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, info, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if s.needsConfirm(w, r, info) {
		return
	}
	p.Focus = "email"
	p.Data = changeEmailData{Current: c.Account.Email}
	s.render(w, r, http.StatusOK, "change_email", p)
}

// pageChangeEmailPost sends a code to the new address (again, when it comes
// from the code step's "Send a new code") and asks for it. The page is the
// answer itself rather than a redirect, so that the new address never travels
// in a URL.
func (s *Server) pageChangeEmailPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	_, err := s.svc.ChangeEmail(r.Context(), c, email)
	err = sendFailed(err, twostep.MethodEmail)
	switch {
	case err == nil:
		s.renderChangeEmail(w, r, c, nil, http.StatusOK, email, s.clock())
	case errors.Is(err, twostep.ErrConfirmIdentity):
		confirmFirst(w, r, "/account/email")
	case errors.Is(err, twostep.ErrResendTooSoon):
		s.renderChangeEmail(w, r, c, err, 0, email, s.sentBefore(err))
	default:
		s.renderChangeEmail(w, r, c, err, 0, email, timeZero)
	}
}

func (s *Server) pageVerifyEmailPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	_, err := s.svc.VerifyEmailChange(r.Context(), c, r.PostFormValue("code"))
	if err == nil {
		redirect(w, r, "/account/security?done=email")
		return
	}
	s.renderChangeEmail(w, r, c, err, 0, email, parseSent(r.PostFormValue("sent")))
}

// renderChangeEmail shows the code step for email, sent at sent; or the form
// again when err is about the address (or no change is waiting any more).
func (s *Server) renderChangeEmail(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, status int, email string, sent time.Time) {
	p, _, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	p.labels = map[string]string{"email": p.T("email.new")}
	d := changeEmailData{Current: c.Account.Email}
	// Errors about the address (or no change waiting any more) go back to the
	// form; errors about the code stay on the code step.
	var inv *twostep.InvalidError
	form := errors.Is(err, twostep.ErrConflict) || errors.Is(err, twostep.ErrThrottled) ||
		errors.As(err, &inv) && (inv.Field != "code" || strings.HasPrefix(inv.Reason, "no e-mail change is waiting"))
	switch {
	case err == nil:
	case errors.Is(err, twostep.ErrConflict):
		p.Field, p.Error, status = "email", p.T("invalid.email_taken", "Field", p.labels["email"]), http.StatusConflict
	case form:
		if status = s.sendError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
		if p.Field != "" {
			p.Field = "email"
		}
	default:
		if status = s.codeError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
	}
	if form {
		p.Form, p.Focus = url.Values{"email": {email}}, "email"
		p.Data = d
		s.render(w, r, status, "change_email", p)
		return
	}
	p.Focus = "code"
	sentAt := ""
	if !sent.IsZero() {
		sentAt = sentParam(sent)
	}
	d.Code = &emailCodeData{Action: "/account/email/verify", Fields: []hiddenField{{"email", email}, {"sent", sentAt}}, To: email,
		Minutes: int(twostep.CodeTTL.Minutes()), Help: &mailHelp{To: email, From: s.mailFrom},
		Resend:  p.resend("resend", "/account/email", "send.again", s.resendWait(sent), "email", email),
		Another: "/account/email", Finished: "/account/security"}
	p.Data = d
	if status == 0 {
		status = http.StatusOK
	}
	s.render(w, r, status, "change_email", p)
}

// ---- Password ----

func (s *Server) pageChangePassword(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, info, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if s.needsConfirm(w, r, info) {
		return
	}
	p.Focus = "current_password"
	s.render(w, r, http.StatusOK, "change_password", p)
}

func (s *Server) pageChangePasswordPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	err := s.svc.ChangePassword(r.Context(), c, r.PostFormValue("current_password"), r.PostFormValue("password"))
	if err == nil {
		redirect(w, r, "/account/security?done=password_new")
		return
	}
	if errors.Is(err, twostep.ErrConfirmIdentity) {
		confirmFirst(w, r, "/account/password")
		return
	}
	p, _, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	p.labels = map[string]string{"password": p.T("password.new")}
	p.Focus = "current_password"
	status := s.formError(w, p, err)
	if status == 0 {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, status, "change_password", p)
}

// ---- Password reset ----

func (s *Server) pageResetRequest(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r, nil)
	p.Focus = "email"
	p.Data = resetRequestData{}
	s.render(w, r, http.StatusOK, "reset_request", p)
}

type resetRequestData struct {
	Sent  bool
	Email string
	Hours int
	From  string // the sender to look for
}

// pageResetRequestPost asks for a reset link. The answer is the same whether or
// not an account has the address (EN-01).
func (s *Server) pageResetRequestPost(w http.ResponseWriter, r *http.Request) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	err := s.svc.RequestPasswordReset(r.Context(), email, s.caller(r))
	p := s.newPage(r, nil)
	if err != nil {
		p.Form, p.Focus = url.Values{"email": {email}}, "email"
		status := s.formError(w, p, err)
		if status == 0 {
			s.pageError(w, r, err)
			return
		}
		p.Data = resetRequestData{}
		s.render(w, r, status, "reset_request", p)
		return
	}
	p.Data = resetRequestData{Sent: true, Email: email, Hours: int(twostep.PasswordResetTTL.Hours()), From: s.mailFrom}
	s.render(w, r, http.StatusOK, "reset_request", p)
}

func (s *Server) pageReset(w http.ResponseWriter, r *http.Request) {
	s.renderReset(w, r, nil)
}

func (s *Server) renderReset(w http.ResponseWriter, r *http.Request, err error) {
	a, org, lerr := s.svc.PasswordResetAccount(r.Context(), r.PathValue("token"))
	if errors.Is(lerr, twostep.ErrExpired) {
		s.linkExpired(w, r, "reset")
		return
	}
	if lerr != nil {
		s.pageError(w, r, lerr)
		return
	}
	p := s.newPage(r, &twostep.Caller{Account: a})
	p.Email, p.Org, p.Focus = "", org.Name, "password"
	p.labels = map[string]string{"password": p.T("password.new")}
	status := http.StatusOK
	if err != nil {
		if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
	}
	p.Data = struct {
		Email   string
		TwoStep bool
	}{a.Email, a.TwoStepEnabled()}
	s.render(w, r, status, "reset_password", p)
}

func (s *Server) pageResetPost(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	a, _, err := s.svc.PasswordResetAccount(r.Context(), token)
	if err == nil {
		err = s.svc.ResetPassword(r.Context(), token, r.PostFormValue("password"), s.caller(r))
	}
	switch {
	case errors.Is(err, twostep.ErrExpired):
		s.linkExpired(w, r, "reset")
	case err != nil:
		s.renderReset(w, r, err)
	case a.TwoStepEnabled():
		redirect(w, r, "/sign-in?done=reset_two_step")
	default:
		redirect(w, r, "/sign-in?done=reset")
	}
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
	s.renderSetPassword(w, r, nil, "password")
}

// pageInvite is where an invitation leads: the organisation, the e-mail, and a
// password to choose, as for a set-password link.
func (s *Server) pageInvite(w http.ResponseWriter, r *http.Request) {
	s.renderSetPassword(w, r, nil, "invite")
}

// renderSetPassword shows the form of a set-password link, or of an
// invitation when kind is "invite".
func (s *Server) renderSetPassword(w http.ResponseWriter, r *http.Request, err error, kind string) {
	a, org, lerr := s.svc.SetPasswordAccount(r.Context(), r.PathValue("token"))
	if errors.Is(lerr, twostep.ErrExpired) {
		s.linkExpired(w, r, kind)
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
	p.Data = struct {
		Email, Org string
		Invite     bool
	}{a.Email, org.Name, kind == "invite"}
	s.render(w, r, status, "set_password", p)
}

func (s *Server) pageSetPasswordPost(w http.ResponseWriter, r *http.Request) {
	s.setPasswordPost(w, r, "password")
}

func (s *Server) pageInvitePost(w http.ResponseWriter, r *http.Request) {
	s.setPasswordPost(w, r, "invite")
}

// setPasswordPost sets the password of a set-password link or invitation
// (kind), then sends the person to sign in.
func (s *Server) setPasswordPost(w http.ResponseWriter, r *http.Request, kind string) {
	err := s.svc.SetPassword(r.Context(), r.PathValue("token"), r.PostFormValue("password"), s.caller(r))
	if errors.Is(err, twostep.ErrExpired) {
		s.linkExpired(w, r, kind)
		return
	}
	if err != nil {
		s.renderSetPassword(w, r, err, kind)
		return
	}
	if kind == "invite" {
		redirect(w, r, "/sign-in?done=invited")
		return
	}
	redirect(w, r, "/sign-in?done=password")
}

// ---- Required enrolment at sign-in ----

// Where the add-method pages live: under the security page for a signed-in
// account, and under the enrolment page for a sign-in that the organisation
// holds until a method is set up. The same handlers serve both.
const (
	securityBase = "/account/security"
	enrolBase    = "/sign-in/enrol"
)

// methodsBase is where c's add-method pages live.
func methodsBase(c *twostep.Caller) string {
	if c != nil && c.SignIn != nil {
		return enrolBase
	}
	return securityBase
}

// withEnrolPage authenticates a page of the enrolment at sign-in by the
// sign-in token in its cookie (enrollment_required), which may only set up a
// method; a token spent or out of time starts the sign-in again.
func (s *Server) withEnrolPage(h func(http.ResponseWriter, *http.Request, *twostep.Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(s.signInCookie())
		if err != nil {
			redirect(w, r, "/sign-in")
			return
		}
		c, err := s.svc.AuthenticateEnrolment(r.Context(), ck.Value, s.clientIP(r), r.UserAgent())
		if errors.Is(err, twostep.ErrUnauthenticated) {
			s.setCookie(w, s.signInCookie(), "", timeZero)
			redirect(w, r, "/sign-in?done=expired")
			return
		}
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)), c)
	}
}

type enrolData struct {
	TOTP     bool   // the organisation allows an authenticator app
	Email    bool   // and e-mail
	AddPhone string // the "Add a phone" words; "" when phones are not allowed
	Pending  []methodRow
	Done     bool   // a method the organisation allows is active: continue
	Days     int    // days left of the grace period, rounded up: the sign-in may skip
	Until    string // when the grace period ends
	Ended    bool   // the grace period is over
}

func (s *Server) pageEnrol(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderEnrol(w, r, c, nil)
}

// renderEnrol shows the methods the organisation allows to choose from, and
// the way on: skip during a grace period, continue once a method is active.
func (s *Server) renderEnrol(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error) {
	p, info, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	status := http.StatusOK
	switch {
	case err == nil:
	case errors.Is(err, twostep.ErrPolicyRequiresTwoStep):
		p.Error, status = p.T("enrol.grace_over"), http.StatusForbidden
	default:
		if status = s.sendError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
		p.Field = "" // no field here: say it at the top
	}
	allowed := info.AllowedMethods
	d := enrolData{TOTP: slices.Contains(allowed, twostep.MethodTOTP), Email: slices.Contains(allowed, twostep.MethodEmail),
		AddPhone: p.addPhoneLabel(allowed)}
	for _, f := range info.Factors {
		if !slices.Contains(allowed, f.Method) {
			continue
		}
		if f.Status == twostep.FactorActive {
			d.Done = true
			continue
		}
		d.Pending = append(d.Pending, methodRow{ID: f.ID, Name: p.factorName(f), Finish: finishPath(enrolBase, f)})
	}
	if until := graceUntil(info); !until.IsZero() {
		if left := until.Sub(s.clock()); left > 0 {
			d.Days, d.Until = int((left+24*time.Hour-1)/(24*time.Hour)), formatTime(until)
		} else {
			d.Ended = true
		}
	}
	p.Data = d
	s.render(w, r, status, "enrol", p)
}

// graceUntil is when the grace period of the account in info for setting up
// a method ends; zero when it has none. This is the domain's rule (ORG-02: from
// the later of the policy change and the account's creation; owners and admins
// get none), which the sign-in answer states only once, said again here so that
// the enrolment page can show it on every visit. CompleteSignIn has the last word.
func graceUntil(info *twostep.AccountInfo) time.Time {
	pol, a := info.Org.Policy, info.Account
	if pol.TwoStep != twostep.PolicyRequired || pol.GracePeriodDays <= 0 || a.Role != twostep.RoleMember {
		return timeZero
	}
	start := pol.ChangedAt
	if a.CreatedAt.After(start) {
		start = a.CreatedAt
	}
	return start.Add(time.Duration(pol.GracePeriodDays) * 24 * time.Hour)
}

// pageEnrolComplete ends the sign-in that had to enrol: with the method just
// set up ("Continue"), or without one during the grace period ("Skip").
func (s *Server) pageEnrolComplete(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(s.signInCookie())
	if err != nil {
		redirect(w, r, "/sign-in?done=expired")
		return
	}
	res, err := s.svc.CompleteSignIn(r.Context(), ck.Value, s.clientIP(r), r.UserAgent())
	switch {
	case errors.Is(err, twostep.ErrExpired), errors.As(err, new(*twostep.InvalidError)):
		s.setCookie(w, s.signInCookie(), "", timeZero)
		redirect(w, r, "/sign-in?done=expired")
		return
	case errors.Is(err, twostep.ErrPolicyRequiresTwoStep):
		// The grace period is over: the choice of methods again, saying so.
		s.withEnrolPage(func(w http.ResponseWriter, r *http.Request, c *twostep.Caller) { s.renderEnrol(w, r, c, err) })(w, r)
		return
	case err != nil:
		s.pageError(w, r, err)
		return
	}
	s.setCookie(w, s.signInCookie(), "", timeZero)
	s.setCookie(w, s.sessionCookie(), res.SessionToken, res.ExpiresAt)
	if !res.GraceUntil.IsZero() {
		redirect(w, r, "/account/security?done=skipped")
		return
	}
	redirect(w, r, "/account/security?done=enabled")
}

// ---- Administration: members, policy, audit ----

func (s *Server) pageAdmin(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	redirect(w, r, "/admin/members")
}

// option is one choice of a select, radio group or set of checkboxes.
type option struct {
	Value, Label string
	Selected     bool
}

// adminPage starts an administration page: only owners and admins get one
// (ErrForbidden otherwise). It names the organisation.
func (s *Server) adminPage(r *http.Request, c *twostep.Caller) (*page, *twostep.Org, error) {
	org, err := s.svc.Org(r.Context(), c)
	if err != nil {
		return nil, nil, err
	}
	p := s.newPage(r, c)
	p.Org, p.Wide = org.Name, true
	return p, org, nil
}

// adminError answers an administration page that failed; members, who may
// not see these pages, are told so with 403.
func (s *Server) adminError(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, twostep.ErrForbidden) {
		s.pageError(w, r, err)
		return
	}
	p := s.newPage(r, callerFrom(r.Context()))
	p.Flash = ""
	p.Data = struct {
		Status int
		Text   string
	}{http.StatusForbidden, p.T("admin.forbidden")}
	s.render(w, r, http.StatusForbidden, "error", p)
}

func (p *page) roleName(r twostep.Role) string { return p.T("role." + string(r)) }

// methodNames lists methods in words: "Authenticator app, E-mail".
func (p *page) methodNames(ms []twostep.Method) string {
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		names = append(names, p.methodName(string(m)))
	}
	return strings.Join(names, ", ")
}

func (p *page) methodName(m string) string {
	if name, ok := p.tr("method." + m); ok {
		return name
	}
	return m
}

var roles = []twostep.Role{twostep.RoleMember, twostep.RoleAdmin, twostep.RoleOwner}

// roleOptions are the roles c may give, with selected selected.
func (p *page) roleOptions(c *twostep.Caller, selected twostep.Role) []option {
	var out []option
	for _, r := range roles {
		if r != twostep.RoleMember && c.Account.Role != twostep.RoleOwner {
			continue // only owners grant the owner and admin roles
		}
		out = append(out, option{Value: string(r), Label: p.roleName(r), Selected: r == selected})
	}
	return out
}

type memberRow struct {
	ID         string
	Email      string
	Role       string // in words
	TwoStep    bool
	Methods    string // in words
	SSO        bool
	LastSignIn string
	Invited    bool     // has not chosen a password yet
	Locked     string   // until when; "" when not locked
	Manage     bool     // the caller may change this member's SSO and reset their two-step
	Roles      []option // the roles the caller may give this member; none when they may not change it
}

type membersData struct {
	Rows           []memberRow
	Total          int
	WithoutTwoStep bool // filters
	SSO            bool
	InviteRoles    []option
	InviteSSO      bool
}

func (s *Server) pageMembers(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderMembers(w, r, c, nil, "", nil)
}

// renderMembers shows the members page with the refusal of action (if any) and
// the invitation form as submitted.
func (s *Server) renderMembers(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, action string, form url.Values) {
	p, _, aerr := s.adminPage(r, c)
	if aerr != nil {
		s.adminError(w, r, aerr)
		return
	}
	members, aerr := s.svc.Members(r.Context(), c)
	if aerr != nil {
		s.adminError(w, r, aerr)
		return
	}
	p.labels = map[string]string{"email": p.T("field.email"), "role": p.T("field.role")}
	p.Form = form
	status := http.StatusOK
	if err != nil {
		if status = s.memberError(w, p, err, action); status == 0 {
			s.adminError(w, r, err)
			return
		}
	}
	q := r.URL.Query()
	d := membersData{WithoutTwoStep: q.Get("without_two_step") == "1", SSO: q.Get("sso") == "1", Total: len(members),
		InviteSSO: form.Get("sso") == "1"}
	invited := twostep.Role(form.Get("role"))
	if invited == "" {
		invited = twostep.RoleMember
	}
	d.InviteRoles = p.roleOptions(c, invited)
	owner := c.Account.Role == twostep.RoleOwner
	for _, m := range members {
		a := m.Account
		if d.WithoutTwoStep && a.TwoStepEnabled() || d.SSO && !a.SSO {
			continue
		}
		row := memberRow{ID: a.ID, Email: a.Email, Role: p.roleName(a.Role), TwoStep: a.TwoStepEnabled(), Methods: p.methodNames(m.Methods),
			SSO: a.SSO, LastSignIn: formatTime(a.LastSignInAt), Locked: formatTime(m.LockedUntil), Invited: a.PasswordHash == "" && !a.SSO,
			Manage: owner || a.Role == twostep.RoleMember}
		if owner {
			row.Roles = p.roleOptions(c, a.Role)
		}
		d.Rows = append(d.Rows, row)
	}
	p.Data = d
	s.render(w, r, status, "members", p)
}

// memberError puts a refused administration action on p and returns the
// status, or 0 when the refusal is not for this page to explain.
func (s *Server) memberError(w http.ResponseWriter, p *page, err error, action string) int {
	switch {
	case errors.Is(err, twostep.ErrForbidden) && p.Admin:
		p.Field, p.Error = "", p.T("members.owners_only")
		return http.StatusForbidden
	case errors.Is(err, twostep.ErrConflict) && action == "invite":
		p.Field, p.Error = "email", p.T("invalid.email_taken", "Field", p.labels["email"])
		return http.StatusConflict
	case errors.Is(err, twostep.ErrConflict):
		p.Field, p.Error = "", p.T("members.last_owner")
		return http.StatusConflict
	case errors.Is(err, twostep.ErrNotFound), errors.Is(err, twostep.ErrForbidden):
		return 0
	}
	status := s.formError(w, p, err)
	if action != "invite" {
		p.Field = "" // the per-member forms have no field to hang it on
	}
	return status
}

func (s *Server) pageMembersInvite(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	role := twostep.Role(r.PostFormValue("role"))
	sso := r.PostFormValue("sso") == "1"
	_, err := s.svc.Invite(r.Context(), c, email, role, sso)
	if err == nil {
		redirect(w, r, "/admin/members?done=member_invited")
		return
	}
	form := url.Values{"email": {email}, "role": {string(role)}}
	if sso {
		form.Set("sso", "1")
	}
	s.renderMembers(w, r, c, err, "invite", form)
}

// memberAction runs one change to the member in the path and returns to the
// members page saying done, or shows why not.
func (s *Server) memberAction(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, done string) {
	if err == nil {
		redirect(w, r, "/admin/members?done="+done)
		return
	}
	s.renderMembers(w, r, c, err, "member", nil)
}

func (s *Server) pageMemberRole(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	role := twostep.Role(r.PostFormValue("role"))
	_, err := s.svc.UpdateMember(r.Context(), c, r.PathValue("id"), twostep.MemberChange{Role: &role})
	s.memberAction(w, r, c, err, "member_role")
}

func (s *Server) pageMemberSSO(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	sso := r.PostFormValue("sso") == "1"
	_, err := s.svc.UpdateMember(r.Context(), c, r.PathValue("id"), twostep.MemberChange{SSO: &sso})
	done := "member_sso_off"
	if sso {
		done = "member_sso_on"
	}
	s.memberAction(w, r, c, err, done)
}

func (s *Server) pageMemberEndSessions(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.memberAction(w, r, c, s.svc.EndMemberSessions(r.Context(), c, r.PathValue("id")), "member_sessions")
}

func (s *Server) pageMemberUnlock(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.memberAction(w, r, c, s.svc.UnlockMember(r.Context(), c, r.PathValue("id")), "member_unlocked")
}

// pageMemberReset says what resetting a member's two-step does before it is
// done (Karbon: the accountant resets a client who lost their phone).
func (s *Server) pageMemberReset(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, org, err := s.adminPage(r, c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	members, err := s.svc.Members(r.Context(), c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	i := slices.IndexFunc(members, func(m twostep.Member) bool { return m.Account.ID == r.PathValue("id") })
	if i < 0 {
		s.pageError(w, r, twostep.ErrNotFound)
		return
	}
	m := members[i]
	p.Wide = false
	p.Data = struct {
		ID, Email, Methods string
		TwoStep, Required  bool
		Manage             bool
	}{m.Account.ID, m.Account.Email, p.methodNames(m.Methods), m.Account.TwoStepEnabled(),
		org.Policy.TwoStep == twostep.PolicyRequired, c.Account.Role == twostep.RoleOwner || m.Account.Role == twostep.RoleMember}
	s.render(w, r, http.StatusOK, "member_reset", p)
}

func (s *Server) pageMemberResetPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.memberAction(w, r, c, s.svc.ResetMember(r.Context(), c, r.PathValue("id")), "member_reset")
}

type policyData struct {
	Required   bool
	Grace      string
	Methods    []option // those this server offers, the allowed ones selected
	MinVersion string
	Legacy     bool
	Confirm    *policyConfirm // the step before "required" is saved
}

// policyConfirm says what making two-step required will do, and carries the
// policy to save.
type policyConfirm struct {
	Count  int // members who will have to set up a method
	Grace  int
	Fields []hiddenField
}

// policyFields are the policy form's fields.
var policyFields = []string{"two_step", "grace_period_days", "allowed_methods", "min_client_version", "allow_legacy_clients"}

// policyValues is pol as the policy form submits it.
func policyValues(pol twostep.Policy) url.Values {
	v := url.Values{"two_step": {pol.TwoStep}, "grace_period_days": {strconv.Itoa(pol.GracePeriodDays)},
		"min_client_version": {pol.MinClientVersion}}
	for _, m := range pol.AllowedMethods {
		v.Add("allowed_methods", string(m))
	}
	if pol.AllowLegacyClients {
		v.Set("allow_legacy_clients", "1")
	}
	return v
}

// policyFrom reads the policy form. It checks what the confirmation step
// needs to be right (the service checks all of it again when saving), with the
// service's own words: a number of days, at least one method, a version.
func policyFrom(v url.Values) (twostep.Policy, error) {
	pol := twostep.Policy{TwoStep: v.Get("two_step"), MinClientVersion: strings.TrimSpace(v.Get("min_client_version")),
		AllowLegacyClients: v.Get("allow_legacy_clients") == "1"}
	for _, m := range v["allowed_methods"] {
		pol.AllowedMethods = append(pol.AllowedMethods, twostep.Method(m))
	}
	days := strings.TrimSpace(v.Get("grace_period_days"))
	if days == "" {
		days = "0"
	}
	n, err := strconv.Atoi(days)
	if err != nil || n < 0 || n > 365 {
		return pol, &twostep.InvalidError{Field: "grace_period_days", Reason: "must be a whole number of days from 0 to 365"}
	}
	pol.GracePeriodDays = n
	if len(pol.AllowedMethods) == 0 {
		return pol, &twostep.InvalidError{Field: "allowed_methods", Reason: "must name at least one method"}
	}
	if pol.MinClientVersion != "" {
		if _, err := twostep.ParseClientVersion("min_client_version", pol.MinClientVersion); err != nil {
			return pol, err
		}
	}
	return pol, nil
}

func (s *Server) pagePolicy(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, org, err := s.adminPage(r, c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	s.renderPolicy(w, r, p, http.StatusOK, policyValues(org.Policy), nil)
}

func (s *Server) renderPolicy(w http.ResponseWriter, r *http.Request, p *page, status int, v url.Values, confirm *policyConfirm) {
	p.Wide = false
	p.Form = v
	p.labels = map[string]string{"allow_legacy_clients": p.T("orgpolicy.legacy")}
	d := policyData{Required: v.Get("two_step") == twostep.PolicyRequired, Grace: v.Get("grace_period_days"),
		MinVersion: v.Get("min_client_version"), Legacy: v.Get("allow_legacy_clients") == "1", Confirm: confirm}
	for _, m := range s.svc.Methods() {
		d.Methods = append(d.Methods, option{Value: string(m), Label: p.methodName(string(m)),
			Selected: slices.Contains(v["allowed_methods"], string(m))})
	}
	p.Data = d
	s.render(w, r, status, "policy", p)
}

// pagePolicyPost saves the policy; before "required" replaces "optional", it
// first says how many members will have to set up a method and that they will
// be e-mailed (CloudSign's paid plan).
func (s *Server) pagePolicyPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, org, err := s.adminPage(r, c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, badRequest("the form cannot be read"))
		return
	}
	v := url.Values{}
	for _, f := range policyFields {
		if vs := r.PostForm[f]; len(vs) > 0 {
			v[f] = vs
		}
	}
	if r.PostFormValue("back") != "" {
		s.renderPolicy(w, r, p, http.StatusOK, v, nil)
		return
	}
	pol, err := policyFrom(v)
	if err == nil && pol.TwoStep == twostep.PolicyRequired && org.Policy.TwoStep != twostep.PolicyRequired && r.PostFormValue("confirmed") != "1" {
		n, err := s.svc.EnrolmentPreview(r.Context(), c, pol.AllowedMethods)
		if err != nil {
			s.adminError(w, r, err)
			return
		}
		confirm := &policyConfirm{Count: n, Grace: pol.GracePeriodDays}
		for _, f := range policyFields {
			for _, x := range v[f] {
				confirm.Fields = append(confirm.Fields, hiddenField{f, x})
			}
		}
		s.renderPolicy(w, r, p, http.StatusOK, v, confirm)
		return
	}
	if err == nil {
		if _, err = s.svc.SetPolicy(r.Context(), c, pol); err == nil {
			redirect(w, r, "/admin/policy?done=policy")
			return
		}
	}
	status := s.formError(w, p, err)
	if status == 0 {
		s.adminError(w, r, err)
		return
	}
	s.renderPolicy(w, r, p, status, v, nil)
}

// auditPage is how many events /admin/audit shows at once.
const auditPage = 50

// auditTypes are the event types the audit page filters by, as the ids of their names.
var auditTypes = []string{
	"event.sign_in.succeeded", "event.sign_in.failed", "event.second_step.failed", "event.second_step.locked",
	"event.second_step.replayed", "event.two_step.enabled", "event.two_step.disabled", "event.factor.added",
	"event.factor.removed", "event.recovery_codes.generated", "event.recovery_code.used", "event.two_step.reset_by_admin",
	"event.policy.changed", "event.member.changed", "event.account.created", "event.account.unlocked",
	"event.sessions.ended", "event.delivery.capped", "event.email.changed", "event.password.changed",
	"event.password.reset", "event.identity.confirmed", "event.legacy_clients.changed",
}

type auditData struct {
	Rows     []eventRow
	Members  []option
	Types    []option
	Older    string
	Filtered bool
}

func (s *Server) pageAudit(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, _, err := s.adminPage(r, c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	before, _, err := pageQuery(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	q := r.URL.Query()
	account, typ := q.Get("account"), q.Get("type")
	members, err := s.svc.Members(r.Context(), c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	evs, err := s.svc.OrgEvents(r.Context(), c, twostep.EventFilter{AccountID: account, Type: typ, Before: before, Limit: auditPage})
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	d := auditData{Filtered: account != "" || typ != ""}
	emails := make(map[string]string, len(members))
	for _, m := range members {
		emails[m.Account.ID] = m.Account.Email
		d.Members = append(d.Members, option{Value: m.Account.ID, Label: m.Account.Email, Selected: m.Account.ID == account})
	}
	slices.SortFunc(d.Members, func(a, b option) int { return strings.Compare(a.Label, b.Label) })
	for _, id := range auditTypes {
		t := strings.TrimPrefix(id, "event.")
		d.Types = append(d.Types, option{Value: t, Label: p.T(id), Selected: t == typ})
	}
	who := func(id string) string {
		switch {
		case id == "":
			return ""
		case id == twostep.OperatorActor:
			return p.T("audit.operator")
		case emails[id] != "":
			return emails[id]
		}
		return id // an account since deleted, or of the server
	}
	for _, e := range evs {
		d.Rows = append(d.Rows, eventRow{At: formatTime(e.At), What: p.auditText(e, who), IP: e.IP, Device: e.UserAgent})
	}
	if len(evs) == auditPage {
		older := url.Values{"before": {strconv.FormatInt(evs[len(evs)-1].ID, 10)}}
		if account != "" {
			older.Set("account", account)
		}
		if typ != "" {
			older.Set("type", typ)
		}
		d.Older = "/admin/audit?" + older.Encode()
	}
	p.Data = d
	s.render(w, r, http.StatusOK, "audit", p)
}

// auditText says an audit event in words: who did what to whom.
func (p *page) auditText(e *twostep.AuditEvent, who func(string) string) string {
	actor, account := who(e.ActorID), who(e.AccountID)
	if actor == "" {
		actor = account
	}
	kv := []any{"Actor", actor, "Account", account}
	id := "audit." + e.Type
	d := e.Detail
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	change := func(k string) (before, after any) {
		m, _ := d[k].(map[string]any)
		return m["before"], m["after"]
	}
	switch id { // the ids of the words, which name the event types
	case "audit.sign_in.succeeded":
		switch {
		case str(d, "grace_until") != "":
			until, err := time.Parse(time.RFC3339, str(d, "grace_until"))
			if err == nil {
				id, kv = "audit.sign_in.grace", append(kv, "Until", formatTime(until))
			}
		case d["enrolled"] == true:
			id = "audit.sign_in.enrolled"
		case str(d, "legacy_client") != "":
			id, kv = "audit.sign_in.legacy", append(kv, "Version", str(d, "legacy_client"))
		}
	case "audit.factor.added", "audit.factor.removed", "audit.two_step.enabled", "audit.second_step.failed":
		kv = append(kv, "Method", p.methodName(str(d, "method")))
	case "audit.delivery.capped":
		kv = append(kv, "Method", p.methodName(str(d, "channel")))
	case "audit.password.changed":
		if str(d, "via") == "link" {
			id = "audit.password.set"
		}
	case "audit.sessions.ended":
		if e.ActorID == e.AccountID {
			id = "audit.sessions.ended_self"
		}
	case "audit.account.created":
		role := twostep.Role(str(d, "role"))
		if role.Valid() {
			kv = append(kv, "Role", p.roleName(role))
		} else {
			kv = append(kv, "Role", str(d, "role"))
		}
		if d["invited"] == true {
			id = "audit.account.invited"
		}
	case "audit.policy.changed":
		b, _ := d["before"].(map[string]any)
		a, _ := d["after"].(map[string]any)
		switch {
		case str(a, "two_step") == twostep.PolicyRequired && str(b, "two_step") != twostep.PolicyRequired:
			id = "audit.policy.required"
		case str(a, "two_step") == twostep.PolicyOptional && str(b, "two_step") == twostep.PolicyRequired:
			id = "audit.policy.optional"
		}
	case "audit.member.changed":
		rb, ra := change("role")
		sb, sa := change("sso")
		switch {
		case rb != ra:
			from, _ := rb.(string)
			to, _ := ra.(string)
			id, kv = "audit.member.role", append(kv, "From", p.roleName(twostep.Role(from)), "To", p.roleName(twostep.Role(to)))
		case sa == true && sb != true:
			id = "audit.member.sso_on"
		case sa == false && sb == true:
			id = "audit.member.sso_off"
		}
	}
	if text, ok := p.tr(id, kv...); ok {
		return text
	}
	return p.T("audit.other", "Type", e.Type, "Account", account)
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
