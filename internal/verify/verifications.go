package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"

	"github.com/twostep/twostep/internal/twostep"
)

// Twilio's channel words and the domain's methods.
var channels = map[string]twostep.Method{"sms": twostep.MethodSMS, "call": twostep.MethodVoice, "email": twostep.MethodEmail}

func channelWord(m twostep.Method) string {
	if m == twostep.MethodVoice {
		return "call"
	}
	return string(m)
}

type attemptJSON struct {
	AttemptSID string `json:"attempt_sid"`
	Channel    string `json:"channel"`
	Time       string `json:"time"`
}

// verificationJSON is Twilio's Verification resource (and, without
// send_code_attempts and url, its VerificationCheck).
type verificationJSON struct {
	SID          string         `json:"sid"`
	ServiceSID   string         `json:"service_sid"`
	AccountSID   string         `json:"account_sid"`
	To           string         `json:"to"`
	Channel      string         `json:"channel"`
	Status       string         `json:"status"`
	Valid        bool           `json:"valid"`
	Lookup       map[string]any `json:"lookup,omitempty"`
	Amount       *string        `json:"amount"`
	Payee        *string        `json:"payee"`
	SendAttempts []attemptJSON  `json:"send_code_attempts,omitempty"`
	DateCreated  string         `json:"date_created"`
	DateUpdated  string         `json:"date_updated"`
	SNA          *string        `json:"sna"`
	URL          string         `json:"url,omitempty"`
	// SNAAttemptsErrorCodes is VerificationCheck's.
	SNAAttemptsErrorCodes []any `json:"sna_attempts_error_codes,omitempty"`
}

func (a *API) verificationBody(r *http.Request, k *twostep.KeyCaller, v *twostep.Verification) verificationJSON {
	out := verificationJSON{SID: v.SID, ServiceSID: v.ServiceSID, AccountSID: accountSID(k.Key.OrgID), To: v.To,
		Channel: channelWord(v.Method), Status: v.Status, Valid: v.Valid(), Lookup: map[string]any{"carrier": nil},
		SendAttempts: []attemptJSON{}, DateCreated: twilioTime(v.CreatedAt), DateUpdated: twilioTime(v.UpdatedAt),
		URL: a.url(r, "/Services/"+v.ServiceSID+"/Verifications/"+v.SID)}
	for i, at := range v.SendAttempts {
		out.SendAttempts = append(out.SendAttempts, attemptJSON{AttemptSID: attemptSID(v.SID, i), Channel: channelWord(at.Method),
			Time: twilioTime(at.At)})
	}
	return out
}

// attemptSID names the i-th send of a verification: VL and 32 hex digits,
// the same at every fetch.
func attemptSID(verificationSID string, i int) string {
	h := sha256.Sum256([]byte(verificationSID + "\x00" + strconv.Itoa(i)))
	return "VL" + hex.EncodeToString(h[:16])
}

// createVerification: POST /Services/{sid}/Verifications (To, Channel, Locale).
func (a *API) createVerification(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	ch := r.PostForm.Get("Channel")
	m, ok := channels[ch]
	if !ok {
		a.writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid parameter `Channel`: sms, call or email", 0)
		return
	}
	v, err := a.svc.StartVerification(r.Context(), k, r.PathValue("service"),
		twostep.NewVerification{To: r.PostForm.Get("To"), Method: m, Locale: r.PostForm.Get("Locale")})
	if err != nil {
		a.fail(w, r, err, codeFraudGuard)
		return
	}
	writeJSON(w, http.StatusCreated, a.verificationBody(r, k, v))
}

// fetchVerification: GET /Services/{sid}/Verifications/{sid}.
func (a *API) fetchVerification(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	v, err := a.svc.Verification(r.Context(), k, r.PathValue("service"), r.PathValue("sid"))
	if err != nil {
		a.fail(w, r, err, 0)
		return
	}
	writeJSON(w, http.StatusOK, a.verificationBody(r, k, v))
}

// updateVerification: POST /Services/{sid}/Verifications/{sid} with
// Status=canceled. Twilio's Status=approved (for its custom codes) is not
// offered: Twostep makes every code itself.
func (a *API) updateVerification(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	if r.PostForm.Get("Status") != twostep.VerificationCanceled {
		a.writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid parameter `Status`: only canceled", 0)
		return
	}
	v, err := a.svc.CancelVerification(r.Context(), k, r.PathValue("service"), r.PathValue("sid"))
	if err != nil {
		a.fail(w, r, err, 0)
		return
	}
	writeJSON(w, http.StatusOK, a.verificationBody(r, k, v))
}

// checkVerification: POST /Services/{sid}/VerificationCheck (To or
// VerificationSid, Code). A wrong code is a 200 with status pending.
func (a *API) checkVerification(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	v, err := a.svc.CheckVerification(r.Context(), k, r.PathValue("service"), twostep.CheckVerification{
		To: r.PostForm.Get("To"), SID: r.PostForm.Get("VerificationSid"), Code: r.PostForm.Get("Code")})
	if err != nil {
		a.fail(w, r, err, codeMaxChecks)
		return
	}
	out := a.verificationBody(r, k, v)
	out.SendAttempts, out.URL, out.Lookup, out.SNAAttemptsErrorCodes = nil, "", nil, []any{}
	writeJSON(w, http.StatusOK, out)
}
