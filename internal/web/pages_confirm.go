package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

type confirmData struct {
	// SSO is where an SSO member confirms who they are: a new sign-in at
	// their organisation's provider (API.md §12), "" for everyone else.
	SSO     string
	Next    string
	Action  string // the pending action carried on after confirming, "" for none
	Change  string // what is being confirmed, in words
	Minutes int    // how long the confirmation lasts
	TwoStep bool
	Methods []confirmMethod
	Sends   []confirmSend // ways to get a code sent
	Factor  string        // the factor a code was just sent to
	SentAt  string        // and when
	// MailHelp: "Didn't get the e-mail?", once one was sent.
	MailHelp *mailHelp
}

// confirmMethod is one choice of second step: a kind of code, or one phone
// (by the name its owner gave it).
type confirmMethod struct {
	ID      string // for the input's id
	Value   string // "totp", "email", "recovery_code", or "sms:fac_…" for a phone
	Label   string
	Checked bool
	Status  string // where a code went just now, or where it can go
	Sent    bool
}

// confirmSend is the "Send me a code" step of one e-mail address or phone:
// its name, and one form per channel.
type confirmSend struct {
	Label string
	Forms []*resendForm
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
	d := confirmData{Next: next, TwoStep: info.Account.TwoStepEnabled(), Factor: st.factor,
		Minutes: max(1, int((s.svc.ConfirmWindow()+time.Minute-1)/time.Minute))}
	d.Change = p.T("confirm.for.other")
	if pa, perr := s.svc.PendingAction(r.Context(), c, r.FormValue("action")); perr == nil {
		d.Action, d.Change = pa.ID, s.changeText(p, info, pa.Method, pa.Path)
	} else if u, perr := url.Parse(next); perr == nil {
		d.Change = s.changeText(p, info, "GET", u.Path)
	}
	if info.Account.SSO {
		// No Twostep password: a link, not a form, since chromium holds a
		// form's redirects to the CSP's form-action and this one ends at the
		// provider.
		d.SSO = twostep.SSOStartPath + "?" + url.Values{"org": {info.Org.Slug}, "confirm": {"1"}, "next": {next}}.Encode()
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
	mf := mailFactor(info.Factors)
	var totp bool
	var phones []*twostep.Factor
	for _, f := range info.Factors {
		switch {
		case f.Status != twostep.FactorActive:
		case f.Method == twostep.MethodTOTP:
			totp = true
		case isPhone(f.Method):
			phones = append(phones, f)
		}
	}
	if totp {
		d.Methods = append(d.Methods, confirmMethod{ID: "totp", Value: "totp", Label: p.T("method.totp"), Checked: method == "totp"})
	}
	if d.TwoStep && mf != nil {
		to := twostep.MaskAddress(twostep.MethodEmail, mf.Address)
		m := confirmMethod{ID: "email", Value: "email", Label: p.T("method.email") + " (" + to + ")", Checked: method == "email",
			Status: p.T("confirm.mail_first", "To", to)}
		var sent time.Time
		if st.method == string(twostep.MethodEmail) {
			sent = st.sent
		}
		label, sentAt := "confirm.send", ""
		if !sent.IsZero() {
			m.Sent, m.Status = true, p.T("confirm.mail_sent", "To", to)
			label, sentAt = "send.again", sentParam(sent)
			d.MailHelp = s.mailHelp(to)
		}
		d.Methods = append(d.Methods, m)
		d.Sends = append(d.Sends, confirmSend{Label: p.T("method.email") + " (" + to + ")", Forms: []*resendForm{
			p.resend("confirm-send", "/account/confirm/send", label, s.resendWait(sent),
				"next", next, "action", d.Action, "method", string(twostep.MethodEmail), "factor_id", mf.ID, "sent", sentAt)}})
	}
	for _, f := range phones {
		if !d.TwoStep {
			break
		}
		to := twostep.MaskAddress(f.Method, f.Address)
		name := p.T("method.phone") + " (" + to + ")"
		if l := ownLabel(f); l != "" {
			name = l + " (" + to + ")"
		}
		m := confirmMethod{ID: f.ID, Value: string(f.Method) + ":" + f.ID, Label: name, Status: p.T("confirm.phone_first", "To", to)}
		sentBy := twostep.Method("")
		if isPhone(twostep.Method(st.method)) && st.factor == f.ID && !st.sent.IsZero() {
			sentBy, m.Sent, m.Checked = twostep.Method(st.method), true, true
			m.Value = st.method + ":" + f.ID
			m.Status = p.T("confirm.sms_sent", "To", to)
			if sentBy == twostep.MethodVoice {
				m.Status = p.T("confirm.voice_sent", "To", to)
			}
		} else if isPhone(twostep.Method(method)) && len(phones) == 1 && st.factor == "" {
			m.Checked = true
		}
		d.Methods = append(d.Methods, m)
		send := confirmSend{Label: name}
		for _, ch := range f.Channels {
			var wait int
			if ch == sentBy {
				wait = s.resendWait(st.sent)
			}
			send.Forms = append(send.Forms, p.resend("confirm-"+string(ch)+"-"+f.ID, "/account/confirm/send", p.sendLabel(ch, ch == sentBy), wait,
				"next", next, "action", d.Action, "method", string(ch), "factor_id", f.ID))
		}
		d.Sends = append(d.Sends, send)
	}
	if info.RecoveryCodesLeft > 0 {
		d.Methods = append(d.Methods, confirmMethod{ID: "recovery_code", Value: "recovery_code", Label: p.T("method.recovery_code"),
			Checked: method == "recovery_code"})
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
		if a := r.PostFormValue("action"); a != "" {
			q.Set("action", a)
		}
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
	// A phone is chosen as "sms:fac_…": the channel, and which number.
	method, factor, _ := strings.Cut(r.PostFormValue("method"), ":")
	token, sess, err := s.svc.ConfirmIdentity(r.Context(), c, twostep.ConfirmRequest{Password: r.PostFormValue("password"),
		Method: twostep.Method(method), Code: r.PostFormValue("code"), FactorID: factor})
	if err != nil {
		if factor == "" {
			factor = r.PostFormValue("factor")
		}
		s.renderConfirm(w, r, c, err, 0, confirmState{method: method, factor: factor, sent: parseSent(r.PostFormValue("sent"))})
		return
	}
	s.setCookie(w, s.sessionCookie(), token, sess.ExpiresAt)
	s.setForward(w, sess.ForwardToken, sess.ExpiresAt)
	if id := r.PostFormValue("action"); id != "" {
		confirmed := *c
		confirmed.Session = sess
		if pa, err := s.svc.TakePendingAction(r.Context(), &confirmed, id); err == nil {
			s.carryOn(w, r, pa, token)
			return
		}
		// Taken already (a second tab) or expired: back to where it started.
	}
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
