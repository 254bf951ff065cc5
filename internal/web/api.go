package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// decode reads one JSON object into v, refusing unknown fields, trailing data
// and wrong types with a message that names what is wrong. A body declared as
// anything but application/json (parameters such as charset allowed) is
// errNotJSON, before the body is read: curl -d sends a form, and the answer
// must say so rather than find the body empty. A body with no Content-Type
// at all is read as JSON.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return errNotJSON
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("", reasonBodyTrailing)
	}
	return nil
}

// describeJSONError is the *InvalidError saying what is wrong with a body.
func describeJSONError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("", reasonBodyEmpty)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", reasonBodyTruncated)
	case errors.As(err, &syntax):
		return badRequest("", reasonBodySyntax, "Offset", strconv.FormatInt(syntax.Offset, 10))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("", reasonBodyNotObject)
		}
		return badRequest(typ.Field, jsonKind(typ.Type.Kind().String()))
	case errors.As(err, &tooBig):
		return badRequest("", reasonBodyTooLarge)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("", reasonUnknownField, "Name", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return badRequest("", reasonBodyInvalid)
}

func jsonKind(k string) twostep.Reason {
	switch k {
	case "string":
		return reasonNotString
	case "bool":
		return reasonNotBoolean
	case "ptr":
		return reasonWrongType
	}
	return reasonNotNumber
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// jsonTime is a time in RFC 3339 UTC, or null when zero.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(time.Time(t).UTC().Format(time.RFC3339))
}

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
}

type methodJSON struct {
	Method   string `json:"method"`
	FactorID string `json:"factor_id,omitempty"`
	To       string `json:"to,omitempty"`
}

func signInBody(res *twostep.SignInResult) signInJSON {
	out := signInJSON{Status: res.Status, SessionToken: res.SessionToken, DeviceToken: res.DeviceToken, SignInToken: res.SignInToken,
		ExpiresAt: jsonTime(res.ExpiresAt), DefaultMethod: string(res.DefaultMethod)}
	if res.Session != nil {
		out.AMR = res.Session.AMR
	}
	for _, m := range res.Methods {
		out.Methods = append(out.Methods, methodJSON{Method: string(m.Method), FactorID: m.FactorID, To: m.To})
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
		ClientVersion: body.ClientVersion, IP: s.clientIP(r), UserAgent: r.UserAgent(), DeviceToken: body.DeviceToken})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, signInBody(res))
}

func (s *Server) apiSignInVerify(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SignInToken string `json:"sign_in_token"`
		Method      string `json:"method"`
		Code        string `json:"code"`
		FactorID    string `json:"factor_id"`
		DeviceToken string `json:"device_token"`
	}
	if err := decode(r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	res, err := s.svc.VerifySignIn(r.Context(), twostep.VerifyRequest{SignInToken: body.SignInToken,
		Method: twostep.Method(body.Method), Code: body.Code, FactorID: body.FactorID, IP: s.clientIP(r), UserAgent: r.UserAgent(),
		DeviceToken: body.DeviceToken})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, signInBody(res))
}

func (s *Server) apiSignOut(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.svc.SignOut(r.Context(), c); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

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
}

type codeSentJSON struct {
	Method      string `json:"method"`
	FactorID    string `json:"factor_id,omitempty"`
	To          string `json:"to"`
	ExpiresIn   int    `json:"expires_in"`
	ResendAfter int    `json:"resend_after"`
}

func codeSentBody(cs *twostep.CodeSent) codeSentJSON {
	return codeSentJSON{Method: string(cs.Method), FactorID: cs.FactorID, To: cs.To,
		ExpiresIn: int(cs.ExpiresIn.Round(time.Second).Seconds()), ResendAfter: int(cs.ResendAfter.Seconds())}
}

func factorBody(f *twostep.Factor) factorJSON {
	out := factorJSON{ID: f.ID, Method: string(f.Method), Status: string(f.Status), Label: f.Label,
		To: twostep.MaskAddress(f.Method, f.Address), CreatedAt: jsonTime(f.CreatedAt), LastUsedAt: jsonTime(f.LastUsedAt), Default: f.Default}
	for _, c := range f.Channels {
		out.Channels = append(out.Channels, string(c))
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
		Code string `json:"code"`
	}
	if err := decode(r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	f, codes, err := s.svc.VerifyFactor(r.Context(), c, r.PathValue("id"), body.Code)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Factor        factorJSON `json:"factor"`
		RecoveryCodes []string   `json:"recovery_codes,omitempty"`
	}{factorBody(f), codes})
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

// recoveryCodesFile is the downloadable form of a set of recovery codes.
func recoveryCodesFile(issuer, email string, codes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s recovery codes for %s\n\n", issuer, email)
	for _, c := range codes {
		b.WriteString(c + "\n")
	}
	b.WriteString("\nEach code works once. Keep them somewhere safe, away from your phone.\n")
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
		io.WriteString(w, recoveryCodesFile(s.svc.Issuer(), c.Account.Email, codes))
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
}

func (s *Server) apiConfirmIdentity(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Password string `json:"password"`
		Method   string `json:"method"`
		Code     string `json:"code"`
		FactorID string `json:"factor_id"`
	}
	if err := decode(r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	token, sess, err := s.svc.ConfirmIdentity(r.Context(), c, twostep.ConfirmRequest{Password: body.Password,
		Method: twostep.Method(body.Method), Code: body.Code, FactorID: body.FactorID})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if _, err := r.Cookie(s.sessionCookie()); err == nil && bearer(r) == "" {
		s.setCookie(w, s.sessionCookie(), token, sess.ExpiresAt)
	}
	writeJSON(w, http.StatusOK, map[string]any{"confirmed_until": jsonTime(sess.ConfirmedUntil), "session_token": token,
		"expires_at": jsonTime(sess.ExpiresAt)})
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

func (s *Server) apiOutbox(w http.ResponseWriter, r *http.Request) {
	msgs, err := s.svc.DevMessages(r.Context(), 100)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	type msgJSON struct {
		ID      string   `json:"id"`
		Channel string   `json:"channel"`
		To      string   `json:"to"`
		Subject string   `json:"subject"`
		Text    string   `json:"text"`
		At      jsonTime `json:"at"`
	}
	out := make([]msgJSON, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, msgJSON{m.ID, m.Channel, m.To, m.Subject, m.Text, jsonTime(m.At)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	s.apiError(w, r, twostep.ErrNotFound)
}

// codeSent answers 202 with where a code went, or the error.
func (s *Server) codeSent(w http.ResponseWriter, r *http.Request, cs *twostep.CodeSent, err error) {
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, codeSentBody(cs))
}

// decodeInto decodes the request body into v, answering the error itself; it
// reports whether the handler may go on.
func (s *Server) decodeInto(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decode(r, v); err != nil {
		s.apiError(w, r, err)
		return false
	}
	return true
}

// answer writes v with status, or err as a problem.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if v == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, v)
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

func (s *Server) apiResendFactor(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	cs, err := s.svc.ResendFactorCode(r.Context(), c, r.PathValue("id"))
	s.codeSent(w, r, cs, err)
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

type policyJSON struct {
	TwoStep            string   `json:"two_step"`
	GracePeriodDays    int      `json:"grace_period_days"`
	AllowedMethods     []string `json:"allowed_methods"`
	MinClientVersion   *string  `json:"min_client_version"`
	AllowLegacyClients bool     `json:"allow_legacy_clients"`
}

func policyBody(p twostep.Policy) policyJSON {
	out := policyJSON{TwoStep: p.TwoStep, GracePeriodDays: p.GracePeriodDays, AllowedMethods: methodStrings(p.AllowedMethods),
		MinClientVersion: nullString(p.MinClientVersion), AllowLegacyClients: p.AllowLegacyClients}
	return out
}

func methodStrings(ms []twostep.Method) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, string(m))
	}
	return out
}

func (s *Server) apiOrg(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	org, err := s.svc.Org(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": org.ID, "name": org.Name, "slug": org.Slug, "policy": policyBody(org.Policy)})
}

func (s *Server) apiSetPolicy(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		TwoStep            *string   `json:"two_step"`
		GracePeriodDays    *int      `json:"grace_period_days"`
		AllowedMethods     *[]string `json:"allowed_methods"`
		MinClientVersion   *string   `json:"min_client_version"`
		AllowLegacyClients *bool     `json:"allow_legacy_clients"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	// PUT replaces the policy: every field is needed (min_client_version may be null).
	switch {
	case body.TwoStep == nil:
		s.apiError(w, r, badRequest("two_step", twostep.ReasonRequired))
		return
	case body.GracePeriodDays == nil:
		s.apiError(w, r, badRequest("grace_period_days", twostep.ReasonRequired))
		return
	case body.AllowedMethods == nil:
		s.apiError(w, r, badRequest("allowed_methods", twostep.ReasonRequired))
		return
	case body.AllowLegacyClients == nil:
		s.apiError(w, r, badRequest("allow_legacy_clients", twostep.ReasonRequired))
		return
	}
	p := twostep.Policy{TwoStep: *body.TwoStep, GracePeriodDays: *body.GracePeriodDays, AllowLegacyClients: *body.AllowLegacyClients}
	for _, m := range *body.AllowedMethods {
		p.AllowedMethods = append(p.AllowedMethods, twostep.Method(m))
	}
	if body.MinClientVersion != nil {
		p.MinClientVersion = *body.MinClientVersion
	}
	got, err := s.svc.SetPolicy(r.Context(), c, p)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policyBody(*got))
}

type memberJSON struct {
	ID             string   `json:"id"`
	Email          string   `json:"email"`
	Role           string   `json:"role"`
	SSO            bool     `json:"sso"`
	TwoStepEnabled bool     `json:"two_step_enabled"`
	Methods        []string `json:"methods"`
	LockedUntil    *string  `json:"locked_until,omitempty"`
	LastSignInAt   jsonTime `json:"last_sign_in_at"`
}

func memberBody(m twostep.Member) memberJSON {
	out := memberJSON{ID: m.Account.ID, Email: m.Account.Email, Role: string(m.Account.Role), SSO: m.Account.SSO,
		TwoStepEnabled: m.Account.TwoStepEnabled(), Methods: methodStrings(m.Methods), LastSignInAt: jsonTime(m.Account.LastSignInAt)}
	if !m.LockedUntil.IsZero() {
		t := m.LockedUntil.UTC().Format(time.RFC3339)
		out.LockedUntil = &t
	}
	return out
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	members, err := s.svc.Members(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]memberJSON, 0, len(members))
	for _, m := range members {
		out = append(out, memberBody(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiInvite(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Email string `json:"email"`
		Role  string `json:"role"`
		SSO   bool   `json:"sso"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	a, err := s.svc.Invite(r.Context(), c, body.Email, twostep.Role(body.Role), body.SSO)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	waiting, err := s.svc.AwaitsSSOConnection(r.Context(), a)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	// The invitation went out either way; can_sign_in tells the caller
	// whether the invitee will get in once they follow it.
	out := struct {
		memberJSON
		CanSignIn bool   `json:"can_sign_in"`
		Warning   string `json:"warning,omitempty"`
	}{memberJSON: memberBody(twostep.Member{Account: a}), CanSignIn: !waiting}
	if waiting {
		out.Warning = "this organisation has no single sign-on (SSO) connection yet: the member cannot sign in until it has one"
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) apiUpdateMember(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Role *string `json:"role"`
		SSO  *bool   `json:"sso"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	var ch twostep.MemberChange
	if body.Role != nil {
		role := twostep.Role(*body.Role)
		ch.Role = &role
	}
	ch.SSO = body.SSO
	a, err := s.svc.UpdateMember(r.Context(), c, r.PathValue("id"), ch)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, memberBody(twostep.Member{Account: a}))
}

func (s *Server) apiResetMember(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.answer(w, r, http.StatusNoContent, nil, s.svc.ResetMember(r.Context(), c, r.PathValue("id")))
}

func (s *Server) apiEndMemberSessions(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.answer(w, r, http.StatusNoContent, nil, s.svc.EndMemberSessions(r.Context(), c, r.PathValue("id")))
}

func (s *Server) apiUnlockMember(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.answer(w, r, http.StatusNoContent, nil, s.svc.UnlockMember(r.Context(), c, r.PathValue("id")))
}

func (s *Server) apiOrgAudit(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	before, limit, err := pageQuery(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	q := r.URL.Query()
	evs, err := s.svc.OrgEvents(r.Context(), c, twostep.EventFilter{Before: before, Limit: limit, Type: twostep.EventType(q.Get("type")), AccountID: q.Get("account_id")})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, eventsBody(evs))
}
