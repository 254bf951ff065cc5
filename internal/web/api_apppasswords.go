package web

import (
	"net/http"

	"github.com/twostep/twostep/internal/twostep"
)

type appPasswordJSON struct {
	ID         string   `json:"id"`
	Label      string   `json:"label"`
	Password   string   `json:"password,omitempty"` // only in the answer that creates it
	CreatedAt  jsonTime `json:"created_at"`
	LastUsedAt jsonTime `json:"last_used_at"`
	LastIP     *string  `json:"last_ip"`
}

func appPasswordBody(p *twostep.AppPassword) appPasswordJSON {
	return appPasswordJSON{ID: p.ID, Label: p.Label, CreatedAt: jsonTime(p.CreatedAt), LastUsedAt: jsonTime(p.LastUsedAt),
		LastIP: nullString(p.LastIP)}
}

// apiCreateAppPassword: POST /api/v1/account/app-passwords {"label"} → 201
// with the password, shown this once (API.md §11).
func (s *Server) apiCreateAppPassword(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Label string `json:"label"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	p, password, err := s.svc.CreateAppPassword(r.Context(), c, body.Label)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := appPasswordBody(p)
	out.Password = password
	writeJSON(w, http.StatusCreated, out)
}

// apiAppPasswords: GET /api/v1/account/app-passwords, oldest first, with their last use.
func (s *Server) apiAppPasswords(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	ps, err := s.svc.AppPasswordsOf(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]appPasswordJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, appPasswordBody(p))
	}
	writeJSON(w, http.StatusOK, out)
}

// apiRevokeAppPassword: DELETE /api/v1/account/app-passwords/{id} → 204.
func (s *Server) apiRevokeAppPassword(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.answer(w, r, http.StatusNoContent, nil, s.svc.RevokeAppPassword(r.Context(), c, r.PathValue("id")))
}
