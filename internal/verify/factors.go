package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Authenticator apps: Twilio's Entities, Factors (FactorType=totp) and
// Challenges. A wrong AuthPayload is a 200/201 with status unverified or
// pending, as Twilio answers.

// entitySID stands for Twilio's entity SID: YE and 32 hex digits from the
// service and the product's identity.
func entitySID(serviceSID, identity string) string {
	h := sha256.Sum256([]byte(serviceSID + "\x00" + identity))
	return "YE" + hex.EncodeToString(h[:16])
}

type bindingJSON struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

type factorJSON struct {
	SID          string         `json:"sid"`
	AccountSID   string         `json:"account_sid"`
	ServiceSID   string         `json:"service_sid"`
	EntitySID    string         `json:"entity_sid"`
	Identity     string         `json:"identity"`
	Binding      *bindingJSON   `json:"binding"`
	Options      map[string]any `json:"options"`
	DateCreated  string         `json:"date_created"`
	DateUpdated  string         `json:"date_updated"`
	FriendlyName string         `json:"friendly_name"`
	Status       string         `json:"status"`
	FactorType   string         `json:"factor_type"`
	Config       map[string]any `json:"config"`
	Metadata     map[string]any `json:"metadata"`
	URL          string         `json:"url"`
}

func (a *API) factorBody(r *http.Request, k *twostep.KeyCaller, f *twostep.VerifyFactor) factorJSON {
	return factorJSON{SID: f.SID, AccountSID: accountSID(k.Key.OrgID), ServiceSID: f.ServiceSID, EntitySID: entitySID(f.ServiceSID, f.Identity),
		Identity: f.Identity, DateCreated: twilioTime(f.CreatedAt), DateUpdated: twilioTime(f.UpdatedAt), FriendlyName: f.FriendlyName,
		Status: f.Status, FactorType: f.Type, Config: map[string]any{"alg": "sha1", "code_length": 6, "time_step": 30, "skew": 1},
		Metadata: map[string]any{}, URL: a.url(r, "/Services/"+f.ServiceSID+"/Entities/"+f.Identity+"/Factors/"+f.SID)}
}

// createFactor: POST /Services/{sid}/Entities/{Identity}/Factors (FactorType=totp, FriendlyName).
func (a *API) createFactor(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	nf, err := a.svc.CreateVerifyFactor(r.Context(), k, r.PathValue("service"), r.PathValue("identity"),
		r.PostForm.Get("FactorType"), r.PostForm.Get("FriendlyName"))
	if err != nil {
		a.fail(w, r, err, 0)
		return
	}
	out := a.factorBody(r, k, nf.Factor)
	out.Binding = &bindingJSON{Secret: nf.Secret, URI: nf.URI} // shown once
	writeJSON(w, http.StatusCreated, out)
}

// verifyFactor: POST /Services/{sid}/Entities/{Identity}/Factors/{FactorSid} (AuthPayload).
func (a *API) verifyFactor(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	f, err := a.svc.VerifyFactorCode(r.Context(), k, r.PathValue("service"), r.PathValue("identity"), r.PathValue("factor"),
		r.PostForm.Get("AuthPayload"))
	if err != nil {
		a.fail(w, r, err, codeMaxChecks)
		return
	}
	writeJSON(w, http.StatusOK, a.factorBody(r, k, f))
}

type challengeJSON struct {
	SID             string         `json:"sid"`
	AccountSID      string         `json:"account_sid"`
	ServiceSID      string         `json:"service_sid"`
	EntitySID       string         `json:"entity_sid"`
	Identity        string         `json:"identity"`
	FactorSID       string         `json:"factor_sid"`
	DateCreated     string         `json:"date_created"`
	DateUpdated     string         `json:"date_updated"`
	DateResponded   *string        `json:"date_responded"`
	ExpirationDate  string         `json:"expiration_date"`
	Status          string         `json:"status"`
	RespondedReason *string        `json:"responded_reason"`
	Details         map[string]any `json:"details"`
	HiddenDetails   map[string]any `json:"hidden_details"`
	Metadata        map[string]any `json:"metadata"`
	FactorType      string         `json:"factor_type"`
	URL             string         `json:"url"`
	Links           map[string]any `json:"links"`
}

// createChallenge: POST /Services/{sid}/Entities/{Identity}/Challenges (FactorSid, AuthPayload).
func (a *API) createChallenge(w http.ResponseWriter, r *http.Request, k *twostep.KeyCaller) {
	service, identity := r.PathValue("service"), r.PathValue("identity")
	c, f, err := a.svc.CreateVerifyChallenge(r.Context(), k, service, identity, r.PostForm.Get("FactorSid"), r.PostForm.Get("AuthPayload"))
	if err != nil {
		a.fail(w, r, err, codeMaxChecks)
		return
	}
	out := challengeJSON{SID: c.SID, AccountSID: accountSID(k.Key.OrgID), ServiceSID: service, EntitySID: entitySID(service, identity),
		Identity: identity, FactorSID: f.SID, DateCreated: twilioTime(c.CreatedAt), DateUpdated: twilioTime(c.UpdatedAt),
		ExpirationDate: twilioTime(c.CreatedAt.Add(5 * time.Minute)), Status: c.Status, FactorType: f.Type,
		URL: a.url(r, "/Services/"+service+"/Entities/"+identity+"/Challenges/"+c.SID), Links: map[string]any{}}
	if c.Status == twostep.ChallengeApproved {
		at := twilioTime(c.UpdatedAt)
		out.DateResponded = &at
	}
	writeJSON(w, http.StatusCreated, out)
}
