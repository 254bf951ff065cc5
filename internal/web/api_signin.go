package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

type signInJSON struct {
	Status         string        `json:"status"`
	SessionToken   string        `json:"session_token,omitempty"`
	DeviceToken    string        `json:"device_token,omitempty"`
	SignInToken    string        `json:"sign_in_token,omitempty"`
	ExpiresAt      jsonTime      `json:"expires_at"`
	AMR            []string      `json:"amr,omitempty"`
	Methods        []methodJSON  `json:"methods,omitempty"`
	DefaultMethod  string        `json:"default_method,omitempty"`
	CodeSent       *codeSentJSON `json:"code_sent,omitempty"`
	AllowedMethods []string      `json:"allowed_methods,omitempty"`
	GraceUntil     *string       `json:"grace_until,omitempty"`
	// RememberedUntil: until when this device skips the second step, when
	// this sign-in remembered it.
	RememberedUntil *string `json:"remembered_until,omitempty"`
}

type methodJSON struct {
	Method   string `json:"method"`
	FactorID string `json:"factor_id,omitempty"`
	To       string `json:"to,omitempty"`
	// Options: for webauthn, the PublicKeyCredentialRequestOptions for all
	// of the account's keys (API.md §11).
	Options json.RawMessage `json:"options,omitempty"`
}

func signInBody(res *twostep.SignInResult) signInJSON {
	out := signInJSON{Status: res.Status, SessionToken: res.SessionToken, DeviceToken: res.DeviceToken, SignInToken: res.SignInToken,
		ExpiresAt: jsonTime(res.ExpiresAt), DefaultMethod: string(res.DefaultMethod)}
	if res.Session != nil {
		out.AMR = res.Session.AMR
	}
	for _, m := range res.Methods {
		mj := methodJSON{Method: string(m.Method), FactorID: m.FactorID, To: m.To}
		if m.Method == twostep.MethodWebAuthn {
			mj.Options = res.WebAuthnOptions
		}
		out.Methods = append(out.Methods, mj)
	}
	if res.CodeSent != nil {
		cs := codeSentBody(res.CodeSent)
		out.CodeSent = &cs
	}
	if res.Status == twostep.StatusEnrollmentRequired {
		out.AllowedMethods = methodStrings(res.AllowedMethods)
	}
	if !res.GraceUntil.IsZero() {
		g := res.GraceUntil.UTC().Format(time.RFC3339)
		out.GraceUntil = &g
	}
	if !res.RememberedUntil.IsZero() {
		u := res.RememberedUntil.UTC().Format(time.RFC3339)
		out.RememberedUntil = &u
	}
	return out
}

func (s *Server) apiSignIn(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email         string `json:"email"`
		Password      string `json:"password"`
		ClientVersion string `json:"client_version"`
		DeviceToken   string `json:"device_token"`
	}
	if err := decode(r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	res, err := s.svc.SignIn(r.Context(), twostep.SignInRequest{Email: body.Email, Password: body.Password,
		ClientVersion: body.ClientVersion, IP: s.clientIP(r), UserAgent: r.UserAgent(), Locale: s.browserLocale(r), DeviceToken: body.DeviceToken})
	if errors.Is(err, twostep.ErrSSOManaged) {
		s.apiSSOManaged(w, r, body.Email, err)
		return
	}
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, signInBody(res))
}

func (s *Server) apiSignInSend(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SignInToken string `json:"sign_in_token"`
		Method      string `json:"method"`
		FactorID    string `json:"factor_id"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	cs, err := s.svc.SendSignInCode(r.Context(), twostep.SendRequest{SignInToken: body.SignInToken, Method: twostep.Method(body.Method),
		FactorID: body.FactorID, IP: s.clientIP(r), UserAgent: r.UserAgent()})
	s.codeSent(w, r, cs, err)
}

func (s *Server) apiSignInVerify(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SignInToken    string `json:"sign_in_token"`
		Method         string `json:"method"`
		Code           string `json:"code"`
		FactorID       string `json:"factor_id"`
		DeviceToken    string `json:"device_token"`
		RememberDevice bool   `json:"remember_device"`
		// Credential: for webauthn, the browser's PublicKeyCredential JSON.
		Credential json.RawMessage `json:"credential"`
	}
	if err := decode(r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	res, err := s.svc.VerifySignIn(r.Context(), twostep.VerifyRequest{SignInToken: body.SignInToken,
		Method: twostep.Method(body.Method), Code: body.Code, FactorID: body.FactorID, IP: s.clientIP(r), UserAgent: r.UserAgent(),
		DeviceToken: body.DeviceToken, RememberDevice: body.RememberDevice, Credential: body.Credential})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, signInBody(res))
}

func (s *Server) apiSignInComplete(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SignInToken string `json:"sign_in_token"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	res, err := s.svc.CompleteSignIn(r.Context(), body.SignInToken, s.clientIP(r), r.UserAgent())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, signInBody(res))
}

func (s *Server) apiPasswordReset(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email string `json:"email"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	err := s.svc.RequestPasswordReset(r.Context(), body.Email, &twostep.Caller{IP: s.clientIP(r), UserAgent: r.UserAgent()})
	s.answer(w, r, http.StatusAccepted, nil, err)
}

func (s *Server) apiSignOut(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.svc.SignOut(r.Context(), c); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
