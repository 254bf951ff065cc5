package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Where the add-method pages live: under the security page for a signed-in
// account, and under the enrolment page for a sign-in that the organisation
// holds until a method is set up. The same handlers serve both: routes.go
// mounts them at each base from one table, and they find theirs by methodsBase.
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

// finishPath is where the setup of a pending method goes on, under base.
func finishPath(base string, f *twostep.Factor) string {
	switch f.Method {
	case twostep.MethodTOTP:
		return base + "/totp/" + url.PathEscape(f.ID)
	case twostep.MethodEmail:
		return base + "/email/" + url.PathEscape(f.ID)
	case twostep.MethodSMS, twostep.MethodVoice:
		return base + "/phone/" + url.PathEscape(f.ID)
	case twostep.MethodWebAuthn:
		return base + "/webauthn/" + url.PathEscape(f.ID)
	}
	return ""
}

// factorAdded answers an add-method form that went through (to the code page)
// or needs a confirmation first, and reports whether it did; any other error
// is left for the form to show.
func (s *Server) factorAdded(w http.ResponseWriter, r *http.Request, c *twostep.Caller, kind string, nf *twostep.NewFactor, err error) bool {
	switch {
	case err == nil:
		redirect(w, r, methodsBase(c)+"/"+kind+"/"+url.PathEscape(nf.Factor.ID)+"?sent="+sentParam(s.clock()))
	case errors.Is(err, twostep.ErrConfirmIdentity):
		s.confirmThen(w, r, c, "/account/security/"+kind)
	default:
		return false
	}
	return true
}

// codePage renders the page that asks for the code of a pending method.
type codePage func(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error, status int, sent time.Time)

// pendingFactor is the caller's pending factor id if it is of one of kinds, else nil.
func pendingFactor(info *twostep.AccountInfo, id string, kinds ...twostep.Method) *twostep.Factor {
	for _, f := range info.Factors {
		if f.ID == id && slices.Contains(kinds, f.Method) && f.Status == twostep.FactorPending {
			return f
		}
	}
	return nil
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
