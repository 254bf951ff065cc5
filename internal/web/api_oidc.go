package web

import (
	"net/http"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Owners manage their organisation's OpenID Connect clients (API.md §7): the
// fields of `twostep oidc client create`, in snake_case. A client made here
// always belongs to the owner's organisation, and its back-channel logout URI
// must be https on a public address (unless TWOSTEP_ALLOW_PRIVATE_URLS).

type oidcClientJSON struct {
	ID                     string     `json:"id"`
	Name                   string     `json:"name"`
	Public                 bool       `json:"public"`
	OrgID                  string     `json:"org_id"`
	RedirectURIs           []string   `json:"redirect_uris"`
	PostLogoutRedirectURIs []string   `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string     `json:"backchannel_logout_uri,omitempty"`
	RequireTwoStep         bool       `json:"require_two_step"`
	CreatedAt              time.Time  `json:"created_at"`
	LastUsedAt             *time.Time `json:"last_used_at"`
	// ClientSecret comes once, in the answer that made the client.
	ClientSecret string `json:"client_secret,omitempty"`
}

func oidcClientBody(c *twostep.OIDCClient) oidcClientJSON {
	out := oidcClientJSON{ID: c.ID, Name: c.Name, Public: c.Public(), OrgID: c.OrgID, RedirectURIs: c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, BackchannelLogoutURI: c.BackchannelLogoutURI,
		RequireTwoStep: c.RequireTwoStep, CreatedAt: c.CreatedAt}
	if out.RedirectURIs == nil {
		out.RedirectURIs = []string{}
	}
	if out.PostLogoutRedirectURIs == nil {
		out.PostLogoutRedirectURIs = []string{}
	}
	if !c.LastUsedAt.IsZero() {
		out.LastUsedAt = &c.LastUsedAt
	}
	return out
}

func (s *Server) apiOIDCClients(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	cs, err := s.svc.OIDCClients(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]oidcClientJSON, 0, len(cs))
	for _, cl := range cs {
		out = append(out, oidcClientBody(cl))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiCreateOIDCClient(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	var body struct {
		Name                   string   `json:"name"`
		RedirectURIs           []string `json:"redirect_uris"`
		PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
		BackchannelLogoutURI   string   `json:"backchannel_logout_uri"`
		Public                 bool     `json:"public"`
		RequireTwoStep         bool     `json:"require_two_step"`
	}
	if !s.decodeInto(w, r, &body) {
		return
	}
	cl, secret, err := s.svc.CreateOIDCClient(r.Context(), c, twostep.NewOIDCClient{Name: body.Name, RedirectURIs: body.RedirectURIs,
		PostLogoutRedirectURIs: body.PostLogoutRedirectURIs, BackchannelLogoutURI: body.BackchannelLogoutURI, Public: body.Public,
		RequireTwoStep: body.RequireTwoStep})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := oidcClientBody(cl)
	out.ClientSecret = secret
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) apiDeleteOIDCClient(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.svc.DeleteOIDCClient(r.Context(), c, r.PathValue("id")); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
