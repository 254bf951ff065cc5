package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

type addPhoneData struct {
	Countries  []countryOption
	Choose     bool // no country is selected: the list starts with "Choose a country"
	SMS        bool // the organisation allows text messages
	Voice      bool // and calls
	VoiceFirst bool // a landline was refused by text message: "Call me" is the default button
	// Hint says how to write the number, with an example of the selected
	// country; HintTemplate is the same with {n} and {i} for the example's
	// national and international forms, for the script that follows the
	// list (the page works without it: the example is the selected
	// country's as served).
	Hint, HintTemplate string
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
	d.Hint = p.T("addphone.phone_hint_any")
	d.HintTemplate = p.T("addphone.phone_hint", "National", "{n}", "International", "{i}")
	for _, c := range d.Countries {
		if c.Selected && c.National != "" {
			d.Hint = p.T("addphone.phone_hint", "National", c.National, "International", c.International)
		}
	}
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
