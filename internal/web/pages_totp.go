package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

func (s *Server) pageAddTOTP(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	nf, err := s.svc.AddFactor(r.Context(), c, twostep.FactorRequest{Method: twostep.MethodTOTP})
	if err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, methodsBase(c)+"/totp/"+url.PathEscape(nf.Factor.ID))
}

type totpData struct {
	QR     template.URL
	Secret string // in groups of four
	Raw    string // as one word, for the copy button
	// URI is the otpauth:// link that hands the key to an authenticator app
	// on the same phone, for people who cannot scan their own screen.
	URI template.URL
}

func (s *Server) pageTOTP(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderTOTP(w, r, c, nil)
}

func (s *Server) renderTOTP(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error) {
	nf, perr := s.svc.PendingTOTP(r.Context(), c, r.PathValue("id"))
	if errors.Is(perr, twostep.ErrNotFound) {
		// Already verified, replaced or removed: the security page says how things stand.
		redirect(w, r, methodsBase(c))
		return
	}
	if perr != nil {
		s.pageError(w, r, perr)
		return
	}
	png, perr := twostep.QRPNG(nf.OTPAuthURI, 256)
	if perr != nil {
		s.pageError(w, r, perr)
		return
	}
	p, _, perr := s.accountPage(r, c)
	if perr != nil {
		s.pageError(w, r, perr)
		return
	}
	// No focus on the code field: the keyboard would jump past the QR code
	// and the key, which come first.
	status := http.StatusOK
	if err != nil {
		if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
		if errors.Is(err, twostep.ErrInvalidCode) {
			p.Error = p.T("totp.wrong_code")
		}
	}
	p.Data = totpData{QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), Secret: groupsOfFour(nf.Secret),
		Raw: nf.Secret, URI: otpauthURL(nf.OTPAuthURI)}
	s.render(w, r, status, "totp", p)
}

func groupsOfFour(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Server) pageTOTPPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	_, codes, err := s.svc.VerifyFactor(r.Context(), c, r.PathValue("id"), r.PostFormValue("code"))
	switch {
	case errors.Is(err, twostep.ErrNotFound), errors.Is(err, twostep.ErrConflict):
		redirect(w, r, methodsBase(c))
	case err != nil:
		s.renderTOTP(w, r, c, err)
	case len(codes) > 0:
		s.renderCodes(w, r, c, codes, true)
	default:
		redirect(w, r, methodsBase(c)+"?done=added")
	}
}

// otpauthURL is uri as a link, when it is an otpauth:// URI (html/template
// would otherwise refuse the scheme); "#" otherwise.
func otpauthURL(uri string) template.URL {
	if !strings.HasPrefix(uri, "otpauth://totp/") {
		return "#"
	}
	return template.URL(uri)
}
