package web

import (
	"net/http"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Owners manage their organisation's Verify API keys (API.md §10): the key
// id always, the secret once, in the answer that made the key.

type apiKeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	OrgID      string     `json:"org_id"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Secret     string     `json:"secret,omitempty"`
}

func apiKeyBody(k *twostep.APIKey) apiKeyJSON {
	out := apiKeyJSON{ID: k.ID, Name: k.Name, OrgID: k.OrgID, CreatedAt: k.CreatedAt}
	if !k.LastUsedAt.IsZero() {
		out.LastUsedAt = &k.LastUsedAt
	}
	return out
}

func (s *Server) apiAPIKeys(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	ks, err := s.svc.APIKeys(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]apiKeyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, apiKeyBody(k))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiCreateAPIKey(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Name string `json:"name"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	k, secret, err := s.svc.CreateAPIKey(r.Context(), c, "", body.Name)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := apiKeyBody(k)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) apiRevokeAPIKey(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.svc.RevokeAPIKey(r.Context(), c, r.PathValue("id")); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
