package oidc

import (
	"crypto/rsa"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twostep/twostep/internal/twostep"
)

// client is a twostep.OIDCClient as the library sees it.
type client struct {
	c        *twostep.OIDCClient
	login    func(id string) string
	idTTL    time.Duration
	allowOrg bool
}

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

// ApplicationType is web for a confidential client and user agent for a
// public one: never native, whose loopback redirect URIs the library matches
// on any port (OP-02 wants them exact).
func (c *client) ApplicationType() op.ApplicationType {
	if c.c.Public() {
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *client) LoginURL(id string) string            { return c.login(id) }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *client) IDTokenLifetime() time.Duration       { return c.idTTL }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) IsScopeAllowed(scope string) bool     { return scope == twostep.ScopeOrg }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// DevMode lets a redirect URI registered with http through the library's
// scheme rule: the operator or owner registered it exactly, and the domain
// matches it exactly (the library's glob and loopback relaxations stay off).
func (c *client) DevMode() bool { return true }

// authRequest is a twostep.AuthRequest as the library sees it.
type authRequest struct{ r *twostep.AuthRequest }

func (a *authRequest) GetID() string         { return a.r.ID }
func (a *authRequest) GetACR() string        { return a.r.ACR }
func (a *authRequest) GetAMR() []string      { return a.r.AMR }
func (a *authRequest) GetAudience() []string { return []string{a.r.ClientID} }
func (a *authRequest) GetAuthTime() time.Time {
	return a.r.AuthTime
}
func (a *authRequest) GetClientID() string { return a.r.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.r.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.CodeChallengeMethod)}
}
func (a *authRequest) GetNonce() string                   { return a.r.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.r.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseTypeCode }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.r.ResponseMode) }
func (a *authRequest) GetScopes() []string                { return a.r.Scopes }
func (a *authRequest) GetState() string                   { return a.r.State }
func (a *authRequest) GetSubject() string                 { return a.r.AccountID }
func (a *authRequest) Done() bool                         { return a.r.Done() }

// refreshRequest is a live refresh token as the library sees it.
type refreshRequest struct {
	t      *twostep.OIDCToken
	scopes []string
}

func (r *refreshRequest) GetAMR() []string            { return r.t.AMR }
func (r *refreshRequest) GetAudience() []string       { return []string{r.t.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.t.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.t.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.t.AccountID }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = slices.Clone(s) }

// signingKey is the active key as the library signs with it.
type signingKey struct{ k *twostep.SigningKey }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.k.Private }
func (k signingKey) ID() string                                  { return k.k.ID }

// publicKey is a published key.
type publicKey struct {
	id  string
	key *rsa.PublicKey
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }
