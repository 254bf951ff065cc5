package twostep

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/netip"
	"net/url"
	"strings"
)

// NewOIDCClient is what registers a client (API.md §7, `twostep oidc client
// create` and POST /api/v1/org/oidc-clients).
type NewOIDCClient struct {
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	BackchannelLogoutURI   string
	Public                 bool
	// Org is the organisation (id or slug) whose members alone may use the
	// client; "" for any. An owner's clients always belong to the owner's.
	Org            string
	RequireTwoStep bool
}

// CreateOIDCClient registers a client and returns it with its secret (""
// for a public client), which is shown once and stored only hashed (API-01:
// 256 random bits). c is the owner who asks through the API, nil for the
// operator's CLI: an owner's client belongs to the owner's organisation and
// its back-channel URI must be https on a public address unless the operator
// allows private URLs; the operator may register any URL. Bad input is an
// *InvalidError naming the field.
func (s *Service) CreateOIDCClient(ctx context.Context, c *Caller, n NewOIDCClient) (*OIDCClient, string, error) {
	cl := &OIDCClient{ID: s.newID("cli"), Name: strings.TrimSpace(n.Name), RequireTwoStep: n.RequireTwoStep, CreatedAt: s.now()}
	if c != nil {
		if err := s.requireOwner(c); err != nil {
			return nil, "", err
		}
		cl.OrgID = c.Account.OrgID
	} else if n.Org != "" {
		org, err := s.findOrg(ctx, n.Org)
		if err != nil {
			return nil, "", err
		}
		cl.OrgID = org.ID
	}
	if err := checkText("name", cl.Name); err != nil {
		return nil, "", err
	}
	if cl.Name == "" || len(cl.Name) > 100 {
		return nil, "", invalid("name", ReasonLength, "Min", "1", "Max", "100")
	}
	if len(n.RedirectURIs) == 0 {
		return nil, "", invalid("redirect_uris", ReasonRedirectURIs)
	}
	for _, u := range n.RedirectURIs {
		if err := checkClientURL("redirect_uris", u); err != nil {
			return nil, "", err
		}
	}
	for _, u := range n.PostLogoutRedirectURIs {
		if err := checkClientURL("post_logout_redirect_uris", u); err != nil {
			return nil, "", err
		}
	}
	cl.RedirectURIs, cl.PostLogoutRedirectURIs = n.RedirectURIs, n.PostLogoutRedirectURIs
	if n.BackchannelLogoutURI != "" {
		if err := checkClientURL("backchannel_logout_uri", n.BackchannelLogoutURI); err != nil {
			return nil, "", err
		}
		if c != nil {
			if err := s.checkPublicURL(ctx, "backchannel_logout_uri", n.BackchannelLogoutURI); err != nil {
				return nil, "", err
			}
		}
		cl.BackchannelLogoutURI = n.BackchannelLogoutURI
	}
	secret := ""
	if !n.Public {
		b := make([]byte, 32)
		s.mustRead(b)
		secret = base64.RawURLEncoding.EncodeToString(b)
		cl.SecretHash = HashToken(secret)
	}
	if err := s.store.CreateOIDCClient(ctx, cl); err != nil {
		return nil, "", err
	}
	return cl, secret, nil
}

// requireOwner returns ErrForbidden unless the caller is an owner, signed in
// as requireAdmin demands.
func (s *Service) requireOwner(c *Caller) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	if c.Account.Role != RoleOwner {
		return ErrForbidden
	}
	return nil
}

// checkClientURL accepts an absolute URL without fragment or user info. Any
// scheme is allowed (native apps use their own), but http(s) needs a host.
func checkClientURL(field, raw string) error {
	if err := checkText(field, raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(raw, "#") || u.User != nil ||
		((u.Scheme == "http" || u.Scheme == "https") && u.Host == "") || len(raw) > 2000 {
		return invalid(field, ReasonClientURL)
	}
	return nil
}

// checkPublicURL refuses what an owner may not make Twostep call: anything but
// https, and hosts that resolve to loopback, private, link-local or
// unspecified addresses (a server-side request forgery into the operator's
// network), unless the operator allows private URLs.
func (s *Service) checkPublicURL(ctx context.Context, field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return invalid(field, ReasonURL)
	}
	if s.oidc.AllowPrivateURLs {
		return nil
	}
	if u.Scheme != "https" {
		return invalid(field, ReasonHTTPSURL)
	}
	host := u.Hostname()
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else if s.oidc.Resolve != nil {
		if addrs, err = s.oidc.Resolve(ctx, host); err != nil || len(addrs) == 0 {
			return invalid(field, ReasonHostUnresolved, "Host", host)
		}
	} else {
		return invalid(field, ReasonHostUnchecked, "Host", host)
	}
	for _, a := range addrs {
		a = a.Unmap()
		if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() ||
			a.IsMulticast() || a.IsInterfaceLocalMulticast() || strings.EqualFold(host, "localhost") {
			return invalid(field, ReasonPrivateAddress, "Address", a.String())
		}
	}
	return nil
}

// OIDCClients lists the clients an owner's organisation has, or, for the
// operator (c nil), every client.
func (s *Service) OIDCClients(ctx context.Context, c *Caller) ([]*OIDCClient, error) {
	if c == nil {
		return s.store.OIDCClients(ctx, "")
	}
	if err := s.requireOwner(c); err != nil {
		return nil, err
	}
	return s.store.OIDCClients(ctx, c.Account.OrgID)
}

// DeleteOIDCClient removes a client, and with it every token it holds. An
// owner removes only the organisation's clients (another's is ErrNotFound).
func (s *Service) DeleteOIDCClient(ctx context.Context, c *Caller, id string) error {
	cl, err := s.store.OIDCClient(ctx, id)
	if err != nil {
		return err
	}
	if c != nil {
		if err := s.requireOwner(c); err != nil {
			return err
		}
		if cl.OrgID != c.Account.OrgID {
			return ErrNotFound
		}
	}
	return s.store.DeleteOIDCClient(ctx, id)
}

// OIDCClient returns a client by id; ErrNotFound if there is none.
func (s *Service) OIDCClient(ctx context.Context, id string) (*OIDCClient, error) {
	if id == "" {
		return nil, ErrNotFound
	}
	return s.store.OIDCClient(ctx, id)
}

// CheckOIDCClientSecret returns nil when secret is the confidential client's
// secret, compared in constant time, and records the use (API-01);
// ErrInvalidCredentials otherwise, for a public client too.
func (s *Service) CheckOIDCClientSecret(ctx context.Context, id, secret string) error {
	cl, err := s.OIDCClient(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return ErrInvalidCredentials
	}
	if err != nil {
		return err
	}
	if cl.Public() || subtle.ConstantTimeCompare(HashToken(secret), cl.SecretHash) != 1 {
		return ErrInvalidCredentials
	}
	return s.store.TouchOIDCClient(ctx, id, s.now())
}
