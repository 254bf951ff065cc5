package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/twostep/twostep/internal/twostep"
)

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
		p.Error, status = p.T("security.legacy_forbidden"), describe(err).Status
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

// lockEnd is when the lock of a sign_in.locked event ends, in words.
func lockEnd(d *twostep.SignInLocked) string {
	if t, err := time.Parse(time.RFC3339, d.Until); err == nil {
		return formatTime(t)
	}
	return d.Until
}

func eventRows(p *page, evs []*twostep.AuditEvent) []eventRow {
	out := make([]eventRow, 0, len(evs))
	for _, e := range evs {
		var kv []any
		if d, err := twostep.DetailOf(e); err == nil {
			if d, ok := d.(*twostep.SignInLocked); ok {
				kv = []any{"Until", lockEnd(d)}
			}
		}
		what, ok := p.tr("event."+string(e.Type), kv...)
		if !ok {
			what = string(e.Type)
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
			p.Field, p.Error, status = "password", p.T("confirm.wrong_password"), describe(err).Status
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

// confirmedPage is accountPage for a page that needs a recent identity
// confirmation. It returns nil once it has answered instead: with an error
// page, or with the way to confirm first.
func (s *Server) confirmedPage(w http.ResponseWriter, r *http.Request, c *twostep.Caller) *page {
	p, info, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return nil
	}
	if s.needsConfirm(w, r, info) {
		return nil
	}
	return p
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
	p := s.confirmedPage(w, r, c)
	if p == nil {
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
	if s.factorAdded(w, r, c, "email", nf, err) {
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
		// The form words an expired code as one with no tries left: the remedy
		// (a new code, by the button below) is the same.
		p.Field, p.Error = "code", p.T("code.spent")
		return describe(&twostep.CodeError{AttemptsLeft: 0}).Status
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

// factorAdded answers an add-method form that went through (to the code page)
// or needs a confirmation first, and reports whether it did; any other error
// is left for the form to show.
func (s *Server) factorAdded(w http.ResponseWriter, r *http.Request, c *twostep.Caller, kind string, nf *twostep.NewFactor, err error) bool {
	switch {
	case err == nil:
		redirect(w, r, methodsBase(c)+"/"+kind+"/"+url.PathEscape(nf.Factor.ID)+"?sent="+sentParam(s.clock()))
	case errors.Is(err, twostep.ErrConfirmIdentity):
		confirmFirst(w, r, "/account/security/"+kind)
	default:
		return false
	}
	return true
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
	if s.factorAdded(w, r, c, "phone", nf, err) {
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
	if errors.As(err, &inv) && inv.Code == twostep.ReasonPhoneFixedSMS {
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
	p := s.confirmedPage(w, r, c)
	if p == nil {
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
		errors.As(err, &inv) && (inv.Field != "code" || inv.Code == twostep.ReasonNoEmailChange)
	switch {
	case err == nil:
	case errors.Is(err, twostep.ErrConflict):
		p.Field, p.Error, status = "email", p.T("invalid.email_taken", "Field", p.labels["email"]), describe(err).Status
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
	p := s.confirmedPage(w, r, c)
	if p == nil {
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
