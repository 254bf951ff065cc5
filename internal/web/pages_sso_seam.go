package web

import (
	"context"

	"github.com/twostep/twostep/internal/twostep"
)

// The pages' view of organisations' own identity providers (API.md §12).
// Until the domain's SSO service lands these say "no SSO anywhere"; they are
// the only place the pages ask the domain about SSO, so wiring them is one
// edit.

// ssoAny reports whether any organisation has an SSO connection: the sign-in
// page then asks for the e-mail address first.
func (s *Server) ssoAny(ctx context.Context) (bool, error) { return false, nil }

// ssoRoute is where home-realm discovery sends an address: the local path
// that starts the sign-in at its organisation's provider.
type ssoRoute struct {
	URL string
	Org string // the organisation's name
}

// ssoStart returns where home-realm discovery sends email, or nil when the
// address signs in with a password (or has no account: the answer must not
// tell them apart, SECURITY.md EN-01).
func (s *Server) ssoStart(ctx context.Context, email string) (*ssoRoute, error) { return nil, nil }

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

// ssoDiscovery is what "test the connection" found at the provider.
type ssoDiscovery struct {
	Issuer, AuthorizationEndpoint, TokenEndpoint, JWKSURI, UserinfoEndpoint string
	PKCES256                                                                bool
}

// ssoOrg returns the caller's organisation's connection (nil for none) and
// its SSO domains; owners only (ErrForbidden otherwise).
func (s *Server) ssoOrg(ctx context.Context, c *twostep.Caller) (*ssoConnection, []string, error) {
	if c.Account.Role != twostep.RoleOwner {
		return nil, nil, twostep.ErrForbidden
	}
	return nil, nil, nil
}

// ssoSave saves the connection (owners).
func (s *Server) ssoSave(ctx context.Context, c *twostep.Caller, in ssoSettings) error {
	return twostep.ErrUnavailable
}

// ssoRemove removes the connection (owners).
func (s *Server) ssoRemove(ctx context.Context, c *twostep.Caller) error {
	return twostep.ErrUnavailable
}

// ssoTest runs discovery at issuer (owners).
func (s *Server) ssoTest(ctx context.Context, c *twostep.Caller, issuer string) (*ssoDiscovery, error) {
	return nil, twostep.ErrUnavailable
}
