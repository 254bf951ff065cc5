package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

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
	if id := r.URL.Query().Get("auth_request"); id != "" && s.oidcCallback != "" {
		s.startAuthRequest(w, r, id)
		return
	}
	// A sign-in started here is for Twostep itself, not for a product left behind.
	s.setCookie(w, s.oidcCookie(), "", timeZero)
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
		IP: s.clientIP(r), UserAgent: r.UserAgent(), DeviceToken: s.deviceToken(r), AuthRequestID: s.authRequestID(r)})
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
		s.setSignedIn(w, res)
		s.finishSignIn(w, r, res, "/account/security")
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
		Code: r.PostFormValue("code"), FactorID: factor, IP: s.clientIP(r), UserAgent: r.UserAgent(), DeviceToken: s.deviceToken(r)})
	if err == nil && res.Status == twostep.StatusEnrollmentRequired {
		// Proven; now the policy wants a method it allows: the new token only enrols.
		s.setCookie(w, s.signInCookie(), res.SignInToken, res.ExpiresAt)
		redirect(w, r, enrolBase)
		return
	}
	if err == nil {
		s.setCookie(w, s.signInCookie(), "", timeZero)
		s.setSignedIn(w, res)
		s.finishSignIn(w, r, res, "/account/security")
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
	s.setSignedIn(w, res)
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
	s.setSignedIn(w, res)
	if !res.GraceUntil.IsZero() {
		s.finishSignIn(w, r, res, "/account/security?done=skipped")
		return
	}
	s.finishSignIn(w, r, res, "/account/security?done=enabled")
}
