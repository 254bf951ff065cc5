package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

type confirmData struct {
	// SSO is where an SSO member confirms who they are: a new sign-in at
	// their organisation's provider (API.md §12), "" for everyone else.
	SSO     string
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
		} else if errors.Is(err, twostep.ErrConfirmIdentity) && info.Account.SSO {
			// The code came before the new sign-in at the provider it goes with.
			p.Field, p.Error, status = "", p.T("confirm.sso_first"), describe(err).Status
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
	if info.Account.SSO {
		// No Twostep password: a link, not a form, since chromium holds a
		// form's redirects to the CSP's form-action and this one ends at the
		// provider.
		d.SSO = twostep.SSOStartPath + "?" + url.Values{"org": {info.Org.Slug}, "confirm": {"1"}}.Encode()
		p.Focus = ""
		if d.TwoStep {
			p.Focus = "code"
		}
	}
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
	s.setForward(w, sess.ForwardToken, sess.ExpiresAt)
	redirect(w, r, withDone(confirmNext(r), "confirmed"))
}

// confirmFirst sends the caller to confirm who they are, then back to next.
func confirmFirst(w http.ResponseWriter, r *http.Request, next string) {
	redirect(w, r, "/account/confirm?next="+url.QueryEscape(next))
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
