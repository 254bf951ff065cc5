package web

import (
	"context"
	"errors"

	"github.com/twostep/twostep/internal/twostep"
)

// The pages' view of organisations' own identity providers (API.md §12).

// ssoAny reports whether any organisation has an SSO connection: the sign-in
// page then asks for the e-mail address first.
func (s *Server) ssoAny(ctx context.Context) (bool, error) { return s.svc.AnySSO(ctx) }

// ssoRoute is where home-realm discovery sends an address: the local path
// that starts the sign-in at its organisation's provider.
type ssoRoute struct {
	URL string
	Org string // the organisation's name
}

// ssoRouteFor returns where home-realm discovery sends email, or nil when the
// address signs in with a password (or has no account: the answer must not
// tell them apart, SECURITY.md EN-01).
func (s *Server) ssoRouteFor(ctx context.Context, email string) (*ssoRoute, error) {
	route, err := s.svc.SSOFor(ctx, email)
	if errors.Is(err, twostep.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &ssoRoute{URL: route.StartURL, Org: route.Org.Name}, nil
}

// ssoConnection is an organisation's SSO connection as its owners see it:
// never the client secret, only whether one is kept.
type ssoConnection struct {
	Issuer     string
	ClientID   string
	HasSecret  bool
	SecondStep string // never, trust_upstream, always
}

// ssoSettings is what an owner submits; an empty ClientSecret keeps the one
// saved.
type ssoSettings struct {
	Issuer, ClientID, ClientSecret, SecondStep string
}

// ssoOrg returns the caller's organisation's connection (nil for none) and
// its SSO domains; owners only (ErrForbidden otherwise), as the API's.
func (s *Server) ssoOrg(ctx context.Context, c *twostep.Caller) (*ssoConnection, []string, error) {
	if c.Account.Role != twostep.RoleOwner {
		return nil, nil, twostep.ErrForbidden
	}
	var out *ssoConnection
	conn, err := s.svc.SSOConnection(ctx, c)
	switch {
	case errors.Is(err, twostep.ErrNotFound):
	case err != nil:
		return nil, nil, err
	default:
		out = &ssoConnection{Issuer: conn.Issuer, ClientID: conn.ClientID, HasSecret: len(conn.ClientSecret) > 0,
			SecondStep: string(conn.SecondStep)}
	}
	domains, err := s.svc.SSODomains(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return out, domains, nil
}

// ssoSave saves the connection (owners).
func (s *Server) ssoSave(ctx context.Context, c *twostep.Caller, in ssoSettings) error {
	_, err := s.svc.PutSSOConnection(ctx, c, twostep.SSOConnectionInput{Issuer: in.Issuer, ClientID: in.ClientID,
		ClientSecret: in.ClientSecret, SecondStep: twostep.SSORule(in.SecondStep)})
	return err
}

// ssoRemove removes the connection (owners).
func (s *Server) ssoRemove(ctx context.Context, c *twostep.Caller) error {
	return s.svc.DeleteSSOConnection(ctx, c)
}

// ssoTest runs discovery at issuer ("" for the saved one).
func (s *Server) ssoTest(ctx context.Context, c *twostep.Caller, issuer string) (*twostep.SSOMetadata, error) {
	return s.svc.TestSSOConnection(ctx, c, issuer)
}
