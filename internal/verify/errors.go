package verify

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Twilio error codes the API answers with (API.md §10).
const (
	codeInvalidParameter = 60200 // a parameter is missing or wrong
	codeMaxChecks        = 60202 // the verification's checks are used up
	codeMaxSends         = 60203 // too many sends, or the resend cooldown
	codeFraudGuard       = 60410 // a toll-fraud guard refused the send
	codeCountry          = 60605 // sending to that country is not allowed
	codeNotFound         = 20404
	codeAuthenticate     = 20003
	codeUnavailable      = 20503
	codeInternal         = 20500
)

// twilioError is Twilio's error body.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// twilioParams names the domain's fields as Twilio's parameters.
var twilioParams = map[string]string{
	"to": "To", "channel": "Channel", "locale": "Locale", "code": "Code", "code_length": "CodeLength",
	"friendly_name": "FriendlyName", "factor_type": "FactorType", "auth_payload": "AuthPayload",
	"factor_sid": "FactorSid", "identity": "Identity", "status": "Status",
}

// fail answers err in Twilio's shape. throttledCode is the Twilio code of a
// *ThrottledError wrapping ErrThrottled in this operation (60202 for checks,
// 60410 for a send refused by a toll-fraud cap); 0 for 60202.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error, throttledCode int) {
	var inv *twostep.InvalidError
	wait := twostep.RetryAfter(err)
	switch {
	case errors.As(err, &inv):
		param := twilioParams[inv.Field]
		if param == "" {
			param = inv.Field
		}
		words := string(inv.Code)
		if a.describe != nil {
			words = a.describe(inv)
		}
		switch inv.Code {
		case twostep.ReasonPhoneCountryNotAllowed:
			a.writeError(w, http.StatusForbidden, codeCountry, "Permission to send to this country is not enabled: "+words, 0)
		case twostep.ReasonPhonePremium:
			a.writeError(w, http.StatusForbidden, codeFraudGuard, "Verification delivery attempt blocked: "+words, 0)
		default:
			a.writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid parameter `"+param+"`: "+words, 0)
		}
	case errors.Is(err, twostep.ErrUnauthenticated):
		a.writeError(w, http.StatusUnauthorized, codeAuthenticate, "Authenticate", 0)
	case errors.Is(err, twostep.ErrNotFound):
		a.writeError(w, http.StatusNotFound, codeNotFound, "The requested resource "+r.URL.Path+" was not found", 0)
	case errors.Is(err, twostep.ErrResendTooSoon):
		a.writeError(w, http.StatusTooManyRequests, codeMaxSends, "Max send attempts reached", wait)
	case errors.Is(err, twostep.ErrThrottled) && throttledCode == codeFraudGuard:
		a.writeError(w, http.StatusForbidden, codeFraudGuard, "Verification delivery attempt blocked", wait)
	case errors.Is(err, twostep.ErrThrottled):
		a.writeError(w, http.StatusTooManyRequests, codeMaxChecks, "Max check attempts reached", wait)
	case errors.Is(err, twostep.ErrUnavailable), errors.Is(err, twostep.ErrBusy):
		if wait == 0 {
			wait = time.Second
		}
		a.writeError(w, http.StatusServiceUnavailable, codeUnavailable, "Service unavailable", wait)
	default:
		a.log.Error("verify api", "path", r.URL.Path, "err", err)
		a.writeError(w, http.StatusInternalServerError, codeInternal, "Internal Server Error", 0)
	}
}

func (a *API) writeError(w http.ResponseWriter, status, code int, message string, wait time.Duration) {
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	}
	writeJSON(w, status, twilioError{Code: code, Message: message,
		MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(code), Status: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
