// Package sso is Twostep's OpenID Connect client of organisations' own identity providers: the HTTP calls of twostep.SSOProvider.
package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/twostep/twostep/internal/twostep"
)

// Options configure the client.
type Options struct {
	// AllowPrivate lets it call providers on loopback, private and
	// link-local addresses (TWOSTEP_ALLOW_PRIVATE_URLS); otherwise every
	// connection is checked at dial time, after name resolution, so a name
	// that resolves somewhere else later is refused too.
	AllowPrivate bool
	// Clock verifies ID tokens' expiry; time.Now when nil.
	Clock func() time.Time
	// Timeout bounds each call to a provider; 10 s when zero.
	Timeout time.Duration
	// CacheFor is how long a provider's discovery and keys are reused; 5
	// minutes when zero.
	CacheFor time.Duration
}

// Client implements twostep.SSOProvider with go-oidc and x/oauth2. It is
// safe for concurrent use.
type Client struct {
	http     *http.Client
	now      func() time.Time
	cacheFor time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	p   *oidc.Provider
	md  *twostep.SSOMetadata
	exp time.Time
}

// New returns a Client.
func New(o Options) *Client {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.CacheFor <= 0 {
		o.CacheFor = 5 * time.Minute
	}
	dialer := &net.Dialer{Timeout: o.Timeout}
	if !o.AllowPrivate {
		dialer.Control = refusePrivate
	}
	transport := &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: o.Timeout,
		ResponseHeaderTimeout: o.Timeout, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	return &Client{http: &http.Client{Transport: transport, Timeout: o.Timeout}, now: o.Clock, cacheFor: o.CacheFor,
		cache: map[string]cached{}}
}

// refusePrivate refuses connections to addresses an owner may not make
// Twostep call (API.md §7, owner-given URLs).
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("sso: unexpected address %q", address)
	}
	a := ap.Addr().Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() ||
		a.IsMulticast() || a.IsInterfaceLocalMulticast() {
		return fmt.Errorf("sso: %s is a private address", a)
	}
	return nil
}

// unavailable wraps err as twostep.ErrSSOUnavailable.
func unavailable(err error) error { return fmt.Errorf("%w: %v", twostep.ErrSSOUnavailable, err) }

// provider returns the provider at issuer, from the cache unless fresh.
func (c *Client) provider(ctx context.Context, issuer string, fresh bool) (*oidc.Provider, *twostep.SSOMetadata, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.cache[issuer]
	c.mu.Unlock()
	if ok && !fresh && now.Before(e.exp) {
		return e.p, e.md, nil
	}
	// Discovery checks that the document names issuer itself (OIDC Discovery §4.3).
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.http), issuer)
	if err != nil {
		return nil, nil, unavailable(err)
	}
	var extra struct {
		Iss      bool     `json:"authorization_response_iss_parameter_supported"`
		JWKSURI  string   `json:"jwks_uri"`
		PKCE     []string `json:"code_challenge_methods_supported"`
		UserInfo string   `json:"userinfo_endpoint"`
	}
	if err := p.Claims(&extra); err != nil {
		return nil, nil, unavailable(err)
	}
	if p.Endpoint().AuthURL == "" || p.Endpoint().TokenURL == "" {
		return nil, nil, unavailable(errors.New("sso: the provider names no authorization or token endpoint"))
	}
	md := &twostep.SSOMetadata{Issuer: issuer, AuthorizationEndpoint: p.Endpoint().AuthURL, TokenEndpoint: p.Endpoint().TokenURL,
		JWKSURI: extra.JWKSURI, UserinfoEndpoint: extra.UserInfo, PKCES256: slices.Contains(extra.PKCE, "S256"),
		IssParameter: extra.Iss}
	c.mu.Lock()
	c.cache[issuer] = cached{p: p, md: md, exp: now.Add(c.cacheFor)}
	c.mu.Unlock()
	return p, md, nil
}

// Discover reads the issuer's OpenID configuration afresh.
func (c *Client) Discover(ctx context.Context, issuer string) (*twostep.SSOMetadata, error) {
	_, md, err := c.provider(ctx, issuer, true)
	return md, err
}

func (c *Client) config(p *oidc.Provider, cc twostep.SSOClientConfig) *oauth2.Config {
	return &oauth2.Config{ClientID: cc.ClientID, ClientSecret: cc.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: cc.RedirectURL, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
}

// AuthURL returns the authorization request: code flow, PKCE S256, state,
// nonce, and for a re-authentication max_age=0 with prompt=login.
func (c *Client) AuthURL(ctx context.Context, cc twostep.SSOClientConfig, r twostep.SSOAuthRequest) (string, error) {
	p, _, err := c.provider(ctx, cc.Issuer, false)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(r.Nonce),
		oauth2.SetAuthURLParam("code_challenge", r.CodeChallenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256")}
	if r.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", r.LoginHint))
	}
	if r.Reauthenticate {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", "0"), oauth2.SetAuthURLParam("prompt", "login"))
	}
	return c.config(p, cc).AuthCodeURL(r.State, opts...), nil
}

// Exchange redeems code at the token endpoint and verifies the ID token.
func (c *Client) Exchange(ctx context.Context, cc twostep.SSOClientConfig, code, verifier string) (*twostep.SSOClaims, error) {
	p, _, err := c.provider(ctx, cc.Issuer, false)
	if err != nil {
		return nil, err
	}
	tok, err := c.config(p, cc).Exchange(oidc.ClientContext(ctx, c.http), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			// The provider refused the code (used, expired, not ours, or a
			// wrong verifier): no identity comes of it.
			return nil, fmt.Errorf("%w: token endpoint: %s", twostep.ErrSSOToken, re.ErrorCode)
		}
		return nil, unavailable(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%w: no id_token in the token response", twostep.ErrSSOToken)
	}
	// Verify checks the signature against the provider's keys (RS256 and
	// what discovery lists; never none), iss, aud and exp.
	idt, err := p.Verifier(&oidc.Config{ClientID: cc.ClientID, Now: c.now}).Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return nil, fmt.Errorf("%w: %v", twostep.ErrSSOTokenExpired, err)
		}
		if isNetwork(err) {
			return nil, unavailable(err)
		}
		return nil, fmt.Errorf("%w: %v", twostep.ErrSSOToken, err)
	}
	var cl struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
		AMR           []string        `json:"amr"`
		ACR           string          `json:"acr"`
		AuthTime      int64           `json:"auth_time"`
	}
	if err := idt.Claims(&cl); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", twostep.ErrSSOToken, err)
	}
	out := &twostep.SSOClaims{Issuer: idt.Issuer, Subject: idt.Subject, Email: cl.Email, Nonce: idt.Nonce,
		AMR: cl.AMR, ACR: cl.ACR, EmailVerified: verified(cl.EmailVerified), IssuedAt: idt.IssuedAt.UTC()}
	if cl.AuthTime > 0 {
		out.AuthTime = time.Unix(cl.AuthTime, 0).UTC()
	}
	return out, nil
}

// verified reads email_verified as a boolean, or as the string "true" that
// some providers send; anything else is false.
func verified(raw json.RawMessage) bool {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	return s == "true"
}

// isNetwork reports whether err came from reaching the provider (its keys).
func isNetwork(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || strings.Contains(err.Error(), "fetching keys")
}
