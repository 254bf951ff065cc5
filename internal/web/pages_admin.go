package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

func (s *Server) pageAdmin(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	redirect(w, r, "/admin/members")
}

// option is one choice of a select, radio group or set of checkboxes.
type option struct {
	Value, Label string
	Selected     bool
}

// adminPage starts an administration page: only owners and admins get one
// (ErrForbidden otherwise). It names the organisation.
func (s *Server) adminPage(r *http.Request, c *twostep.Caller) (*page, *twostep.Org, error) {
	org, err := s.svc.Org(r.Context(), c)
	if err != nil {
		return nil, nil, err
	}
	p := s.newPage(r, c)
	p.Org, p.Wide = org.Name, true
	return p, org, nil
}

// adminError answers an administration page that failed; members, who may
// not see these pages, are told so with 403.
func (s *Server) adminError(w http.ResponseWriter, r *http.Request, err error) {
	f := s.fail(r, err)
	if errors.Is(err, twostep.ErrForbidden) {
		f.Message = "admin.forbidden"
	}
	s.errorPage(w, r, f)
}

func (p *page) roleName(r twostep.Role) string { return p.T("role." + string(r)) }

// methodNames lists methods in words: "Authenticator app, E-mail".
func (p *page) methodNames(ms []twostep.Method) string {
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		names = append(names, p.methodName(string(m)))
	}
	return strings.Join(names, ", ")
}

func (p *page) methodName(m string) string {
	if name, ok := p.tr("method." + m); ok {
		return name
	}
	return m
}

var roles = []twostep.Role{twostep.RoleMember, twostep.RoleAdmin, twostep.RoleOwner}

// roleOptions are the roles c may give, with selected selected.
func (p *page) roleOptions(c *twostep.Caller, selected twostep.Role) []option {
	var out []option
	for _, r := range roles {
		if r != twostep.RoleMember && c.Account.Role != twostep.RoleOwner {
			continue // only owners grant the owner and admin roles
		}
		out = append(out, option{Value: string(r), Label: p.roleName(r), Selected: r == selected})
	}
	return out
}
