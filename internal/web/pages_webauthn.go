package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

// Passkeys and security keys (API.md §11) on the pages: adding one (name it,
// then the browser makes it), using one at the second step, and signing in
// with one instead of the password. WebAuthn needs the browser's JavaScript
// (static/webauthn.js): the options go into the page as JSON, and the
// browser's credential comes back as JSON in a hidden field of a plain form.

// passkeyBox is what the webauthn partial (base.html) needs: the ceremony,
// its options, and where the credential goes.
type passkeyBox struct {
	Kind    string // "create", "get" or "passwordless"
	Options string // the options' JSON ("" for passwordless: fetched from Begin)
	Begin   string // passwordless: where the script gets a sign-in and its options
	Action  string // the form the credential is posted to
	Fields  []hiddenField
	Button  string // the words of the button that starts it
	// NoAutofill: passwordless, but not offered in the e-mail field's
	// autofill on this showing: the page says why a passkey just failed, and
	// the button tries again.
	NoAutofill bool
}

// webauthnUnavailable says, when this server does not offer passkeys, why
// (its base URL's host is an IP address, say); "" when it offers them.
func (s *Server) webauthnUnavailable(p *page) string {
	ok, why := s.svc.WebAuthnOffered()
	if ok {
		return ""
	}
	var inv *twostep.InvalidError
	if errors.As(why, &inv) {
		switch inv.Code {
		case twostep.ReasonWebAuthnIPHost:
			return p.T("passkey.unavailable_ip", "Host", inv.Args["Host"])
		case twostep.ReasonWebAuthnNoHost:
			return p.T("passkey.unavailable_host")
		}
	}
	return p.T("passkey.unavailable_off")
}

type addWebAuthnData struct{ Unavailable string }

// pageAddWebAuthn asks for the name of a new passkey or security key.
func (s *Server) pageAddWebAuthn(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p := s.confirmedPage(w, r, c)
	if p == nil {
		return
	}
	p.Focus = "label"
	p.Data = addWebAuthnData{Unavailable: s.webauthnUnavailable(p)}
	s.render(w, r, http.StatusOK, "add_webauthn", p)
}

func (s *Server) pageAddWebAuthnPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	label := strings.TrimSpace(r.PostFormValue("label"))
	nf, err := s.svc.AddFactor(r.Context(), c, twostep.FactorRequest{Method: twostep.MethodWebAuthn, Label: label})
	switch {
	case err == nil:
		redirect(w, r, methodsBase(c)+"/webauthn/"+url.PathEscape(nf.Factor.ID))
		return
	case errors.Is(err, twostep.ErrConfirmIdentity):
		confirmFirst(w, r, "/account/security/webauthn")
		return
	}
	p, _, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	p.Form, p.Focus = url.Values{"label": {label}}, "label"
	p.labels = map[string]string{"label": p.T("passkey.name")}
	status := s.formError(w, p, err)
	if status == 0 {
		s.pageError(w, r, err)
		return
	}
	if p.Field != "label" {
		p.Field = ""
	}
	p.Data = addWebAuthnData{Unavailable: s.webauthnUnavailable(p)}
	s.render(w, r, status, "add_webauthn", p)
}

type webauthnFactorData struct {
	Name string
	Box  passkeyBox
}

// pageWebAuthnFactor is the step where the browser makes the pending key:
// each visit starts a new ceremony (the last one served once).
func (s *Server) pageWebAuthnFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.renderWebAuthnFactor(w, r, c, nil)
}

func (s *Server) renderWebAuthnFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller, err error) {
	id := r.PathValue("id")
	opts, oerr := s.svc.WebAuthnFactorOptions(r.Context(), c, id)
	switch {
	case errors.Is(oerr, twostep.ErrNotFound):
		// Already set up, or removed: the security page says how things stand.
		redirect(w, r, methodsBase(c))
		return
	case errors.Is(oerr, twostep.ErrConfirmIdentity):
		confirmFirst(w, r, r.URL.Path)
		return
	case oerr != nil:
		s.pageError(w, r, oerr)
		return
	}
	p, info, ierr := s.accountPage(r, c)
	if ierr != nil {
		s.pageError(w, r, ierr)
		return
	}
	status := http.StatusOK
	if err != nil {
		if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
		p.Field = "" // the only field is hidden: say it at the top
	}
	d := webauthnFactorData{Box: passkeyBox{Kind: "create", Options: string(opts), Action: methodsBase(c) + "/webauthn/" + url.PathEscape(id),
		Button: p.T("passkey.create")}}
	if f := pendingFactor(info, id, twostep.MethodWebAuthn); f != nil {
		d.Name = f.Label
	}
	p.Data = d
	s.render(w, r, status, "webauthn", p)
}

// pageWebAuthnFactorPost activates the pending key with the browser's answer.
func (s *Server) pageWebAuthnFactorPost(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	cred := json.RawMessage(r.PostFormValue("credential"))
	_, codes, err := s.svc.VerifyWebAuthnFactor(r.Context(), c, r.PathValue("id"), cred)
	switch {
	case errors.Is(err, twostep.ErrNotFound), errors.Is(err, twostep.ErrConflict):
		redirect(w, r, methodsBase(c))
	case errors.Is(err, twostep.ErrConfirmIdentity):
		confirmFirst(w, r, r.URL.Path)
	case err != nil:
		s.renderWebAuthnFactor(w, r, c, err)
	case len(codes) > 0:
		s.renderCodes(w, r, c, codes, true)
	default:
		redirect(w, r, methodsBase(c)+"?done=added")
	}
}

// pageRenameFactor gives a method (a passkey, say) a new name.
func (s *Server) pageRenameFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	label := r.PostFormValue("label")
	if _, err := s.svc.UpdateFactor(r.Context(), c, r.PathValue("id"), twostep.FactorChange{Label: &label}); err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, "/account/security?done=renamed")
}

// passwordlessBox is the sign-in page's passkey part, nil when this server
// offers no passkeys.
func (s *Server) passwordlessBox(p *page) *passkeyBox {
	if ok, _ := s.svc.WebAuthnOffered(); !ok {
		return nil
	}
	return &passkeyBox{Kind: "passwordless", Begin: "/api/v1/sign-in/passkey", Action: "/sign-in/passkey",
		Fields: []hiddenField{{"sign_in_token", ""}}, Button: p.T("passkey.sign_in")}
}

// pagePasskeySignIn ends a sign-in without a password: the sign-in token
// and the credential the browser gave for its options (webauthn.js got both
// from POST /api/v1/sign-in/passkey). A key that did not verify its holder is
// refused (WA-03), and so is one no account here knows.
func (s *Server) pagePasskeySignIn(w http.ResponseWriter, r *http.Request) {
	res, err := s.svc.VerifySignIn(r.Context(), twostep.VerifyRequest{SignInToken: r.PostFormValue("sign_in_token"),
		Method: twostep.MethodWebAuthn, Credential: json.RawMessage(r.PostFormValue("credential")),
		IP: s.clientIP(r), UserAgent: r.UserAgent(), DeviceToken: s.deviceToken(r)})
	if err == nil {
		switch res.Status {
		case twostep.StatusSignedIn:
			s.setSignedIn(w, res)
			s.finishSignIn(w, r, res, "/account/security")
			return
		case twostep.StatusEnrollmentRequired:
			s.setCookie(w, s.signInCookie(), res.SignInToken, res.ExpiresAt)
			redirect(w, r, enrolBase)
			return
		case twostep.StatusSecondStep:
			s.setCookie(w, s.signInCookie(), res.SignInToken, res.ExpiresAt)
			redirect(w, r, "/sign-in/verify")
			return
		}
	}
	p := s.newPage(r, nil)
	p.Focus = "email"
	status := 0
	switch {
	case err == nil:
		s.pageError(w, r, errors.New("web: passkey sign-in status "+res.Status))
		return
	case errors.Is(err, twostep.ErrInvalidCredentials):
		p.Error, status = p.T("passkey.unknown"), describe(err).Status
	case errors.Is(err, twostep.ErrExpired):
		p.Error, status = p.T("passkey.expired"), http.StatusBadRequest
	default:
		if status = s.formError(w, p, err); status == 0 {
			s.pageError(w, r, err)
			return
		}
		p.Field = "" // about the key, not about a field of this page
	}
	s.renderSignInAfterPasskey(w, r, status, p)
}
