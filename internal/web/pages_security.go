package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

type methodRow struct {
	ID       string
	Method   string
	Name     string
	LastUsed string
	Default  bool
	Finish   string // where a pending method's setup goes on
	Phone    bool   // a phone number: remind to add the new one when it changes
	Channels string // for a phone: what it takes ("Text messages and calls")
	// Label is the name its owner gave it ("" for none; a passkey's always).
	// Every method may be renamed; a passkey or security key (Rename) shows
	// its name in the field at once, and warns when its signature counter
	// once went back (WA-04: a copy?).
	Label  string
	Rename bool
	Cloned bool
	// CannotRemove: the last method under a policy that requires two-step:
	// the page says why instead of offering "Remove".
	CannotRemove bool
}

type eventRow struct {
	At     string
	What   string
	IP     string
	Device string
}

type securityData struct {
	On    bool
	Since string
	// OnText says since when two-step is on and what signing in asks for
	// then: a code, a key, or either, after the account's active methods.
	OnText      string
	Required    bool
	SSO         bool
	Methods     []methodRow
	Pending     []methodRow
	CanAddTOTP  bool
	CanAddEmail bool
	AddPhone    string // the "Add a phone" link's words; "" when phones are not allowed
	// CanAddWebAuthn: passkeys are allowed and offered; WebAuthnWhy says why
	// this server offers none (its address is an IP address, say).
	CanAddWebAuthn bool
	WebAuthnWhy    string
	CodesLeft      int
	CodesLow       bool
	// RecoveryUsed: this session began with a recovery code; the page says
	// how many are left and where to look.
	RecoveryUsed bool
	Legacy       bool // older app versions may sign in with the password alone
	OrgLegacy    bool // the organisation lets members allow them
	Events       []eventRow
	Sessions     []sessionRow
	Devices      []deviceRow
	// AppPasswords: the member's; AppPasswordsOK: the organisation allows
	// making them.
	AppPasswords   []appPasswordRow
	AppPasswordsOK bool
	Email          string
	Locale         string
	Locales        []localeOption
}

type localeOption struct {
	Value, Name string
	Selected    bool
}

// localeNames are the languages offered, each named in itself.
var localeNames = []localeOption{{Value: "en", Name: "English"}, {Value: "fr", Name: "Français"}, {Value: "ja", Name: "日本語"}}

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
	if l := ownLabel(f); l != "" && f.Label != twostep.DefaultPasskeyLabel {
		name += " — " + l
	}
	return name
}

// ownLabel is the name the owner gave f, "" when it has only the one given
// by default (the kind of method, or the address).
func ownLabel(f *twostep.Factor) string {
	if f.Label == twostep.DefaultTOTPLabel || f.Label == twostep.MaskAddress(f.Method, f.Address) || f.Label == f.Address {
		return ""
	}
	return f.Label
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

// onSinceText is the sentence after "Two-step verification is on": since
// when, and what signing in asks for after the password, from the active
// methods among factors (a code, a passkey or security key, or either).
func (p *page) onSinceText(since string, factors []*twostep.Factor) string {
	keys, codes := false, false
	for _, f := range factors {
		if f.Status != twostep.FactorActive {
			continue
		}
		if f.Method == twostep.MethodWebAuthn {
			keys = true
		} else {
			codes = true
		}
	}
	switch {
	case keys && codes:
		return p.T("security.on_since_either", "Date", since)
	case keys:
		return p.T("security.on_since_key", "Date", since)
	}
	return p.T("security.on_since", "Date", since)
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
	d.RecoveryUsed = r.URL.Query().Get("done") == "recovery_code"
	if d.On {
		d.Since = p.Day(a.TwoStepSince)
		d.CodesLow = info.RecoveryCodesLeft <= twostep.RecoveryCodesLow
	}
	for _, f := range info.Factors {
		row := methodRow{ID: f.ID, Method: string(f.Method), Name: p.factorName(f), LastUsed: p.When(f.LastUsedAt), Default: f.Default,
			Label: ownLabel(f)}
		if isPhone(f.Method) {
			row.Phone, row.Channels = true, p.channelsText(f)
		}
		if f.Method == twostep.MethodWebAuthn {
			row.Label, row.Rename = f.Label, true
			row.Cloned = f.Credential != nil && f.Credential.CloneWarning
		}
		if f.Status == twostep.FactorActive {
			d.Methods = append(d.Methods, row)
			continue
		}
		row.Finish = finishPath(securityBase, f)
		d.Pending = append(d.Pending, row)
	}
	if d.On {
		d.OnText = p.onSinceText(d.Since, info.Factors)
	}
	if len(d.Methods) == 1 && info.Required {
		d.Methods[0].CannotRemove = true
	}
	d.CanAddTOTP = !a.SSO && slices.Contains(info.AllowedMethods, twostep.MethodTOTP)
	d.CanAddEmail = !a.SSO && slices.Contains(info.AllowedMethods, twostep.MethodEmail)
	if !a.SSO {
		d.AddPhone = p.addPhoneLabel(info.AllowedMethods)
		d.CanAddWebAuthn = slices.Contains(info.AllowedMethods, twostep.MethodWebAuthn)
		d.WebAuthnWhy = s.webauthnUnavailable(p)
	}
	evs, err := s.svc.Activity(r.Context(), c, 0, recentEvents)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	d.Events = eventRows(p, evs)
	if d.Sessions, err = s.sessionRows(r, p, c); err != nil {
		s.pageError(w, r, err)
		return
	}
	if d.Devices, err = s.deviceRows(r, p, c, info.Org.Policy); err != nil {
		s.pageError(w, r, err)
		return
	}
	if d.AppPasswords, err = s.appPasswordRows(r, p, c); err != nil {
		s.pageError(w, r, err)
		return
	}
	d.AppPasswordsOK = info.Org.Policy.AllowAppPasswords
	p.Data = d
	s.render(w, r, status, "security", p)
}

// lockEnd is when the lock of a sign_in.locked event ends, in words.
func lockEnd(p *page, d *twostep.SignInLocked) string {
	if t, err := time.Parse(time.RFC3339, d.Until); err == nil {
		return p.When(t)
	}
	return d.Until
}

func eventRows(p *page, evs []*twostep.AuditEvent) []eventRow {
	out := make([]eventRow, 0, len(evs))
	for _, e := range evs {
		var kv []any
		if d, err := twostep.DetailOf(e); err == nil {
			if d, ok := d.(*twostep.SignInLocked); ok {
				kv = []any{"Until", lockEnd(p, d)}
			}
		}
		what, ok := p.tr("event."+string(e.Type), kv...)
		if !ok {
			what = string(e.Type)
		}
		out = append(out, eventRow{At: p.When(e.At), What: what, IP: e.IP, Device: p.deviceName(e.UserAgent)})
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

// securityError answers an action of the security page that failed.
func (s *Server) securityError(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error) {
	switch {
	case c.SignIn != nil && !errors.Is(err, twostep.ErrNotFound):
		s.renderEnrol(w, r, c, err) // enrolling at sign-in: the choice of methods says what went wrong
	case errors.Is(err, twostep.ErrConfirmIdentity):
		s.confirmThen(w, r, c, "/account/security")
	case errors.Is(err, twostep.ErrNotFound):
		s.pageError(w, r, err)
	default:
		s.renderSecurity(w, r, c, err, 0)
	}
}

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
		Newest bool // the first page: no link to itself
	}{Events: eventRows(p, evs), Newest: before == 0}
	if len(evs) == activityPage {
		d.Older = "/account/activity?before=" + strconv.FormatInt(evs[len(evs)-1].ID, 10)
	}
	p.Data = d
	s.render(w, r, http.StatusOK, "activity", p)
}
