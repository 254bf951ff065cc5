package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

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
		s.confirmThen(w, r, c, "/account/email")
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
		Minutes: int(twostep.CodeTTL.Minutes()), Help: s.mailHelp(email),
		Resend:  p.resend("resend", "/account/email", "send.again", s.resendWait(sent), "email", email),
		Another: "/account/email", Finished: "/account/security"}
	p.Data = d
	if status == 0 {
		status = http.StatusOK
	}
	s.render(w, r, status, "change_email", p)
}
