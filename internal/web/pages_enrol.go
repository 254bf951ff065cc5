package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

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
	WebAuthn bool   // and passkeys (the only choice of owners and admins under admins_phishing_resistant)
	KeyOnly  bool   // owners and admins must use a passkey or security key
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
		p.Error, status = p.T("enrol.grace_over"), describe(err).Status
	default:
		if status = s.sendError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
		p.Field = "" // no field here: say it at the top
	}
	allowed := info.AllowedMethods
	keyOnly := twostep.AdminMustUsePasskey(info.Org, info.Account)
	if keyOnly {
		// Owners and admins may prove nothing else: set up nothing else here.
		allowed = []twostep.Method{twostep.MethodWebAuthn}
	}
	d := enrolData{TOTP: slices.Contains(allowed, twostep.MethodTOTP), Email: slices.Contains(allowed, twostep.MethodEmail),
		AddPhone: p.addPhoneLabel(allowed), WebAuthn: slices.Contains(allowed, twostep.MethodWebAuthn), KeyOnly: keyOnly}
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
			d.Days, d.Until = int((left+24*time.Hour-1)/(24*time.Hour)), p.When(until)
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
