package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

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
		Minutes: int(twostep.CodeTTL.Minutes()), Help: s.mailHelp(f.Address),
		Resend:  p.resend("resend", base+"/email/"+id+"/resend", "send.again", s.resendWait(sent)),
		Another: base + "/email", Finished: base}
	s.render(w, r, status, "email_code", p)
}

func (s *Server) pageEmailFactorPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.factorCodePost(w, r, c, s.renderEmailFactor)
}

func (s *Server) pageEmailFactorResend(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.factorCodeResend(w, r, c, "/email/", twostep.MethodEmail, s.renderEmailFactor)
}
