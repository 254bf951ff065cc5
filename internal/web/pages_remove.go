package web

import (
	"net/http"

	"github.com/twostep/twostep/internal/twostep"
)

// removeData is the page that asks before a method is removed.
type removeData struct {
	ID   string
	Name string
	// Last: it is the only active method, so removing it turns two-step
	// off; Required: the organisation requires two-step, so it cannot go.
	Last, Required bool
	CodesLeft      int
}

// pageRemoveFactorConfirm asks before removing a method, saying what follows
// (the "Remove" button of the security page leads here; the removal itself is
// the POST this page's form makes). Without JavaScript nothing else asks.
func (s *Server) pageRemoveFactorConfirm(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, info, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	var f *twostep.Factor
	active := 0
	for _, x := range info.Factors {
		if x.Status == twostep.FactorActive {
			active++
		}
		if x.ID == r.PathValue("id") {
			f = x
		}
	}
	if f == nil || f.Status != twostep.FactorActive {
		s.pageError(w, r, twostep.ErrNotFound)
		return
	}
	last := active == 1
	p.Data = removeData{ID: f.ID, Name: p.factorName(f), Last: last, Required: last && info.Required, CodesLeft: info.RecoveryCodesLeft}
	s.render(w, r, http.StatusOK, "remove_factor", p)
}

// pageRecoveryCodesConfirm asks before making new recovery codes, since the
// ones the person saved stop working.
func (s *Server) pageRecoveryCodesConfirm(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, info, err := s.accountPage(r, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if !info.Account.TwoStepEnabled() {
		redirect(w, r, "/account/security")
		return
	}
	p.Data = struct{ CodesLeft int }{info.RecoveryCodesLeft}
	s.render(w, r, http.StatusOK, "new_codes", p)
}
