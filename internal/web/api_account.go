package web

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

type factorJSON struct {
	ID         string   `json:"id"`
	Method     string   `json:"method"`
	Status     string   `json:"status"`
	Label      string   `json:"label"`
	To         string   `json:"to,omitempty"`
	Channels   []string `json:"channels,omitempty"`
	CreatedAt  jsonTime `json:"created_at"`
	LastUsedAt jsonTime `json:"last_used_at"`
	Default    bool     `json:"default"`
	// Only while a new authenticator app is pending.
	Secret     string `json:"secret,omitempty"`
	OTPAuthURI string `json:"otpauth_uri,omitempty"`
	QRPNG      string `json:"qr_png,omitempty"`
	// Only while a new e-mail or phone method waits for its first code.
	CodeSent *codeSentJSON `json:"code_sent,omitempty"`
	// Only while a new passkey or security key is pending: the
	// PublicKeyCredentialCreationOptions for the browser.
	Options json.RawMessage `json:"options,omitempty"`
	// Passkey says, for an active webauthn factor, what the key reported.
	Passkey *passkeyJSON `json:"passkey,omitempty"`
}

type codeSentJSON struct {
	Method      string `json:"method"`
	FactorID    string `json:"factor_id,omitempty"`
	To          string `json:"to"`
	ExpiresIn   int    `json:"expires_in"`
	ResendAfter int    `json:"resend_after"`
	// Options: for webauthn, the PublicKeyCredentialRequestOptions of the
	// ceremony just started.
	Options json.RawMessage `json:"options,omitempty"`
}

func codeSentBody(cs *twostep.CodeSent) codeSentJSON {
	return codeSentJSON{Method: string(cs.Method), FactorID: cs.FactorID, To: cs.To,
		ExpiresIn: int(cs.ExpiresIn.Round(time.Second).Seconds()), ResendAfter: int(cs.ResendAfter.Seconds()), Options: cs.Options}
}

func factorBody(f *twostep.Factor) factorJSON {
	out := factorJSON{ID: f.ID, Method: string(f.Method), Status: string(f.Status), Label: f.Label,
		To: twostep.MaskAddress(f.Method, f.Address), CreatedAt: jsonTime(f.CreatedAt), LastUsedAt: jsonTime(f.LastUsedAt), Default: f.Default}
	for _, c := range f.Channels {
		out.Channels = append(out.Channels, string(c))
	}
	if f.Credential != nil {
		out.Passkey = passkeyBody(f.Credential)
	}
	return out
}

func factorsBody(fs []*twostep.Factor) []factorJSON {
	out := make([]factorJSON, 0, len(fs))
	for _, f := range fs {
		out = append(out, factorBody(f))
	}
	return out
}

type accountJSON struct {
	ID                 string      `json:"id"`
	Email              string      `json:"email"`
	Org                orgJSON     `json:"org"`
	Role               string      `json:"role"`
	SSO                bool        `json:"sso"`
	Locale             *string     `json:"locale"`
	TwoStep            twoStepJSON `json:"two_step"`
	AllowLegacyClients bool        `json:"allow_legacy_clients"`
	MinClientVersion   *string     `json:"min_client_version"`
	ConfirmedUntil     jsonTime    `json:"confirmed_until"`
}

type orgJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

type twoStepJSON struct {
	Enabled           bool         `json:"enabled"`
	EnabledAt         jsonTime     `json:"enabled_at"`
	Required          bool         `json:"required"`
	AllowedMethods    []string     `json:"allowed_methods"`
	Methods           []factorJSON `json:"methods"`
	DefaultMethod     string       `json:"default_method,omitempty"`
	RecoveryCodesLeft int          `json:"recovery_codes_left"`
	RecoveryCodesLow  bool         `json:"recovery_codes_low"`
}

func accountBody(info *twostep.AccountInfo) accountJSON {
	a := info.Account
	allowed := make([]string, 0, len(info.AllowedMethods))
	for _, m := range info.AllowedMethods {
		allowed = append(allowed, string(m))
	}
	return accountJSON{
		ID: a.ID, Email: a.Email, Org: orgJSON{ID: info.Org.ID, Name: info.Org.Name, Slug: info.Org.Slug},
		Role: string(a.Role), SSO: a.SSO, Locale: nullString(a.Locale), AllowLegacyClients: a.AllowLegacyClients,
		ConfirmedUntil: jsonTime(info.ConfirmedUntil), MinClientVersion: nullString(info.MinClientVersion),
		TwoStep: twoStepJSON{Enabled: a.TwoStepEnabled(), EnabledAt: jsonTime(a.TwoStepSince), Required: info.Required,
			AllowedMethods: allowed, Methods: factorsBody(info.Factors), DefaultMethod: string(info.DefaultMethod),
			RecoveryCodesLeft: info.RecoveryCodesLeft,
			RecoveryCodesLow:  a.TwoStepEnabled() && info.RecoveryCodesLeft <= twostep.RecoveryCodesLow},
	}
}

// nullString is s, or null when empty.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) apiAccount(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	info, err := s.svc.AccountInfo(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, accountBody(info))
}

func (s *Server) apiFactors(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	fs, err := s.svc.Factors(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, factorsBody(fs))
}

func (s *Server) apiAddFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Method  string `json:"method"`
		Label   string `json:"label"`
		Address string `json:"address"`
		Phone   string `json:"phone"`
		Country string `json:"country"`
	}
	if err := decode(r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	nf, err := s.svc.AddFactor(r.Context(), c, twostep.FactorRequest{Method: twostep.Method(body.Method), Label: body.Label,
		Address: body.Address, Phone: body.Phone, Country: body.Country})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := factorBody(nf.Factor)
	if len(nf.Factor.Channels) > 0 {
		out.To = nf.Factor.Address // the number as understood, so the person can check it
	}
	if nf.CodeSent != nil {
		cs := codeSentBody(nf.CodeSent)
		out.CodeSent = &cs
	}
	out.Options = nf.Options
	if nf.Secret != "" {
		out.Secret, out.OTPAuthURI = nf.Secret, nf.OTPAuthURI
		out.QRPNG = "/api/v1/account/factors/" + nf.Factor.ID + "/qr.png"
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) apiFactorQR(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	png, err := s.svc.FactorQR(r.Context(), c, r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

func (s *Server) apiVerifyFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Code       string          `json:"code"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := decode(r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	var f *twostep.Factor
	var codes []string
	var err error
	if len(body.Credential) > 0 {
		f, codes, err = s.svc.VerifyWebAuthnFactor(r.Context(), c, r.PathValue("id"), body.Credential)
	} else {
		f, codes, err = s.svc.VerifyFactor(r.Context(), c, r.PathValue("id"), body.Code)
	}
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Factor        factorJSON `json:"factor"`
		RecoveryCodes []string   `json:"recovery_codes,omitempty"`
	}{factorBody(f), codes})
}

func (s *Server) apiResendFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	cs, err := s.svc.ResendFactorCode(r.Context(), c, r.PathValue("id"))
	s.codeSent(w, r, cs, err)
}

func (s *Server) apiUpdateFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Default *bool   `json:"default"`
		Label   *string `json:"label"`
	}
	if err := decode(r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	f, err := s.svc.UpdateFactor(r.Context(), c, r.PathValue("id"), twostep.FactorChange{Default: body.Default, Label: body.Label})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, factorBody(f))
}

func (s *Server) apiRemoveFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.svc.RemoveFactor(r.Context(), c, r.PathValue("id")); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// recoveryCodesFile is the downloadable form of a set of recovery codes, in
// p's language.
func recoveryCodesFile(p *page, issuer, email string, codes []string) string {
	var b strings.Builder
	b.WriteString(p.T("codes.file_title", "Issuer", issuer, "Email", email) + "\n\n")
	for _, c := range codes {
		b.WriteString(c + "\n")
	}
	b.WriteString("\n" + p.T("codes.file_note") + "\n")
	return b.String()
}

func (s *Server) apiRecoveryCodes(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	codes, err := s.svc.RecoveryCodes(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/plain") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="twostep-recovery-codes.txt"`)
		io.WriteString(w, recoveryCodesFile(s.textsIn(s.lang(r, c)), s.svc.Issuer(), c.Account.Email, codes))
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
}

func (s *Server) apiConfirmIdentity(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Password   string          `json:"password"`
		Method     string          `json:"method"`
		Code       string          `json:"code"`
		FactorID   string          `json:"factor_id"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := decode(r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	token, sess, err := s.svc.ConfirmIdentity(r.Context(), c, twostep.ConfirmRequest{Password: body.Password,
		Method: twostep.Method(body.Method), Code: body.Code, FactorID: body.FactorID, Credential: body.Credential})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if _, err := r.Cookie(s.sessionCookie()); err == nil && bearer(r) == "" {
		s.setCookie(w, s.sessionCookie(), token, sess.ExpiresAt)
		s.setForward(w, sess.ForwardToken, sess.ExpiresAt)
	}
	writeJSON(w, http.StatusOK, map[string]any{"confirmed_until": jsonTime(sess.ConfirmedUntil), "session_token": token,
		"expires_at": jsonTime(sess.ExpiresAt)})
}

func (s *Server) apiConfirmIdentitySend(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Method   string `json:"method"`
		FactorID string `json:"factor_id"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	cs, err := s.svc.ConfirmIdentitySend(r.Context(), c, twostep.Method(body.Method), body.FactorID)
	s.codeSent(w, r, cs, err)
}

func (s *Server) apiChangeEmail(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Email string `json:"email"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	cs, err := s.svc.ChangeEmail(r.Context(), c, body.Email)
	s.codeSent(w, r, cs, err)
}

func (s *Server) apiVerifyEmail(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Code string `json:"code"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	if _, err := s.svc.VerifyEmailChange(r.Context(), c, body.Code); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.apiAccount(w, r, c)
}

func (s *Server) apiChangePassword(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		CurrentPassword string `json:"current_password"`
		Password        string `json:"password"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	s.answer(w, r, http.StatusNoContent, nil, s.svc.ChangePassword(r.Context(), c, body.CurrentPassword, body.Password))
}

func (s *Server) apiSettings(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		AllowLegacyClients *bool   `json:"allow_legacy_clients"`
		Locale             *string `json:"locale"`
	}
	if err := decode(r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	if _, err := s.svc.UpdateSettings(r.Context(), c, twostep.Settings{AllowLegacyClients: body.AllowLegacyClients, Locale: body.Locale}); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.apiAccount(w, r, c)
}

func (s *Server) apiEndOthers(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.svc.EndOtherSessions(r.Context(), c); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type eventJSON struct {
	ID        int64          `json:"id"`
	At        jsonTime       `json:"at"`
	Type      string         `json:"type"`
	ActorID   string         `json:"actor_id"`
	AccountID string         `json:"account_id"`
	IP        string         `json:"ip"`
	UserAgent string         `json:"user_agent"`
	Detail    map[string]any `json:"detail"`
}

func eventsBody(evs []*twostep.AuditEvent) []eventJSON {
	out := make([]eventJSON, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventJSON{ID: e.ID, At: jsonTime(e.At), Type: string(e.Type), ActorID: e.ActorID, AccountID: e.AccountID,
			IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail})
	}
	return out
}

// pageQuery reads ?before= and ?limit= with precise errors.
func pageQuery(r *http.Request) (before int64, limit int, err error) {
	q := r.URL.Query()
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			return 0, 0, badRequest("before", reasonEventID)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 200 {
			return 0, 0, badRequest("limit", reasonWholeNumber, "Min", "1", "Max", "200")
		}
	}
	return before, limit, nil
}

func (s *Server) apiActivity(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	before, limit, err := pageQuery(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	evs, err := s.svc.Activity(r.Context(), c, before, limit)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, eventsBody(evs))
}
