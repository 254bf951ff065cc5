package web

import (
	"encoding/json"
	"net/http"

	"github.com/twostep/twostep/internal/twostep"
)

// passkeyJSON is what an active passkey or security key reported.
type passkeyJSON struct {
	// Synced: a passkey its provider backs up (backup state), rather than
	// a key bound to one device.
	Synced bool `json:"synced"`
	// UserVerified: the key has verified its holder (PIN, biometrics).
	UserVerified bool `json:"user_verified"`
	// CloneWarning: the key once answered with a counter that went back (WA-04).
	CloneWarning bool `json:"clone_warning,omitempty"`
}

func passkeyBody(c *twostep.Credential) *passkeyJSON {
	return &passkeyJSON{Synced: c.BackupState, UserVerified: c.UserVerified, CloneWarning: c.CloneWarning}
}

// apiSignInPasskey begins a passwordless sign-in (API.md §11): a sign-in
// token and request options for any discoverable credential; the answer goes
// to POST /api/v1/sign-in/verify with method webauthn.
func (s *Server) apiSignInPasskey(w http.ResponseWriter, r *http.Request) {
	ps, err := s.svc.BeginPasskeySignIn(r.Context(), s.clientIP(r), r.UserAgent())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		SignInToken string          `json:"sign_in_token"`
		Options     json.RawMessage `json:"options"`
		ExpiresAt   jsonTime        `json:"expires_at"`
	}{ps.SignInToken, ps.Options, jsonTime(ps.ExpiresAt)})
}

// apiFactorOptions gives new creation options for a pending passkey or
// security key (the first ones expired, or were answered wrongly).
func (s *Server) apiFactorOptions(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	opts, err := s.svc.WebAuthnFactorOptions(r.Context(), c, r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]json.RawMessage{"options": opts})
}
