package verify

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

// serviceJSON is Twilio's Service resource, with the settings Twostep does
// not have at their off values.
type serviceJSON struct {
	SID                      string            `json:"sid"`
	AccountSID               string            `json:"account_sid"`
	FriendlyName             string            `json:"friendly_name"`
	CodeLength               int               `json:"code_length"`
	LookupEnabled            bool              `json:"lookup_enabled"`
	PSD2Enabled              bool              `json:"psd2_enabled"`
	SkipSMSToLandlines       bool              `json:"skip_sms_to_landlines"`
	DTMFInputRequired        bool              `json:"dtmf_input_required"`
	TTSName                  *string           `json:"tts_name"`
	DoNotShareWarningEnabled bool              `json:"do_not_share_warning_enabled"`
	CustomCodeEnabled        bool              `json:"custom_code_enabled"`
	Push                     map[string]any    `json:"push"`
	TOTP                     map[string]any    `json:"totp"`
	DefaultTemplateSID       *string           `json:"default_template_sid"`
	VerifyEventSubscription  bool              `json:"verify_event_subscription_enabled"`
	DateCreated              string            `json:"date_created"`
	DateUpdated              string            `json:"date_updated"`
	URL                      string            `json:"url"`
	Links                    map[string]string `json:"links"`
}

func (a *API) serviceBody(r *http.Request, v *twostep.VerifyService) serviceJSON {
	u := a.url(r, "/Services/"+v.SID)
	return serviceJSON{SID: v.SID, AccountSID: accountSID(v.OrgID), FriendlyName: v.FriendlyName, CodeLength: v.CodeLength,
		DoNotShareWarningEnabled: true,
		Push:                     map[string]any{"include_date": false, "apn_credential_sid": nil, "fcm_credential_sid": nil},
		TOTP:                     map[string]any{"issuer": v.FriendlyName, "time_step": 30, "code_length": 6, "skew": 1},
		DateCreated:              twilioTime(v.CreatedAt), DateUpdated: twilioTime(v.UpdatedAt), URL: u,
		Links: map[string]string{"verifications": u + "/Verifications", "verification_checks": u + "/VerificationCheck",
			"entities": u + "/Entities"}}
}

// createService: POST /Services (FriendlyName, CodeLength).
func (a *API) createService(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	n := 0
	if s := strings.TrimSpace(r.PostForm.Get("CodeLength")); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			a.writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid parameter `CodeLength`: a whole number from 6 to 10", 0)
			return
		}
	}
	v, err := a.svc.CreateVerifyService(r.Context(), k, r.PostForm.Get("FriendlyName"), n)
	if err != nil {
		a.fail(w, r, err, 0)
		return
	}
	writeJSON(w, http.StatusCreated, a.serviceBody(r, v))
}

// fetchService: GET /Services/{sid}.
func (a *API) fetchService(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	v, err := a.svc.VerifyServiceOf(r.Context(), k, r.PathValue("service"))
	if err != nil {
		a.fail(w, r, err, 0)
		return
	}
	writeJSON(w, http.StatusOK, a.serviceBody(r, v))
}
