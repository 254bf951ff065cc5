package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

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
	// RememberDays: the policy lets this browser skip the second step for
	// that many days if the person ticks "Don't ask again" (0: no box).
	RememberDays int
	// Passkey: the method is a passkey or security key, asked for with these
	// options (a new ceremony for each showing of the page).
	Passkey *passkeyBox
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
// (and factor) in use, or sends the person where the sign-in stands (the
// domain says: SignInNext): to enrolment, or back to the first step. Where the
// live code of the sign-in went, and when, comes from the service: for a method
// that delivers codes and has none live, the page offers to send one rather
// than asking for it.
func (s *Server) renderVerify(w http.ResponseWriter, r *http.Request, p *page, status int, method, factor string) {
	ck, err := r.Cookie(s.signInCookie())
	if err != nil {
		redirect(w, r, "/sign-in")
		return
	}
	next, err := s.svc.SignInNext(r.Context(), ck.Value)
	if err == nil && next.Kind == twostep.NextEnrol {
		redirect(w, r, enrolBase) // this sign-in must set up a method first
		return
	}
	var res *twostep.SignInResult
	if err == nil {
		res, err = s.svc.SignInMethods(r.Context(), ck.Value, s.authRequestID(r)) // expired too if it ran out just now
	}
	if errors.Is(err, twostep.ErrExpired) {
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
	d := verifyData{Method: string(o.Method), FactorID: o.FactorID, To: o.To, RememberDays: res.Org.Policy.RememberDeviceDays}
	if o.Method == twostep.MethodWebAuthn {
		opts, err := s.svc.WebAuthnSignInOptions(r.Context(), ck.Value)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		d.Passkey = &passkeyBox{Kind: "get", Options: string(opts), Action: "/sign-in/verify", Button: p.T("passkey.use"),
			Fields: []hiddenField{{"method", string(twostep.MethodWebAuthn)}, {"factor_id", ""}}}
		if p.Field == "code" {
			p.Field = "" // no code field: say it at the top
		}
	}
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
			d.Help = s.mailHelp(o.To)
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
	vr := twostep.VerifyRequest{SignInToken: ck.Value, Method: twostep.Method(method),
		Code: r.PostFormValue("code"), FactorID: factor, IP: s.clientIP(r), UserAgent: r.UserAgent(), DeviceToken: s.deviceToken(r),
		RememberDevice: r.PostFormValue("remember_device") == "1", AuthRequestID: s.authRequestID(r)}
	if vr.Method == twostep.MethodWebAuthn {
		vr.Code, vr.Credential = "", json.RawMessage(r.PostFormValue("credential"))
	}
	res, err := s.svc.VerifySignIn(r.Context(), vr)
	if err == nil && res.Status == twostep.StatusEnrollmentRequired {
		// Proven; now the policy wants a method it allows: the new token only enrols.
		s.setCookie(w, s.signInCookie(), res.SignInToken, res.ExpiresAt)
		redirect(w, r, enrolBase)
		return
	}
	if err == nil {
		s.setCookie(w, s.signInCookie(), "", timeZero)
		s.setSignedIn(w, res)
		next := "/account/security"
		if method == string(twostep.MethodRecoveryCode) {
			// Say how many are left, and what to do now (the security page).
			next = "/account/security?done=recovery_code"
		}
		s.finishSignIn(w, r, res, next)
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
		if ce.Email != "" {
			p.Error, p.Form, p.Focus = p.T("code.wrong_none_password"), url.Values{"email": {ce.Email}}, "password"
		}
		s.renderSignIn(w, r, describe(err).Status, p, false)
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
	if vr.Method == twostep.MethodWebAuthn && ce != nil {
		// A key the sign-in did not accept: not a wrong code.
		p.Field, p.Error = "", p.T("passkey.refused", "Count", ce.AttemptsLeft)
	}
	s.renderVerify(w, r, p, status, method, factor)
}
