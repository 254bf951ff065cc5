package web

import (
	"net/http"

	"github.com/twostep/twostep/internal/twostep"
)

// appPasswordRow is one app password on the security page.
type appPasswordRow struct {
	ID       string
	Label    string
	Created  string
	LastUsed string // "" until used
	LastIP   string
}

// appPasswordRows lists the caller's app passwords for the security page.
func (s *Server) appPasswordRows(r *http.Request, pg *page, c *twostep.Caller) ([]appPasswordRow, error) {
	ps, err := s.svc.AppPasswordsOf(r.Context(), c)
	if err != nil {
		return nil, err
	}
	out := make([]appPasswordRow, 0, len(ps))
	for _, p := range ps {
		row := appPasswordRow{ID: p.ID, Label: p.Label, Created: pg.When(p.CreatedAt), LastIP: p.LastIP}
		if !p.LastUsedAt.IsZero() {
			row.LastUsed = pg.When(p.LastUsedAt)
		}
		out = append(out, row)
	}
	return out, nil
}

// pageCreateAppPassword makes an app password and shows it, this once.
func (s *Server) pageCreateAppPassword(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, pw, err := s.svc.CreateAppPassword(r.Context(), c, r.PostFormValue("label"))
	if err != nil {
		s.securityError(w, r, c, err)
		return
	}
	pg, _, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	pg.Data = struct{ Label, Password string }{p.Label, pw}
	s.render(w, r, http.StatusOK, "app_password", pg)
}

func (s *Server) pageRevokeAppPassword(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.svc.RevokeAppPassword(r.Context(), c, r.PathValue("id")); err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, "/account/security?done=app_password_revoked")
}
