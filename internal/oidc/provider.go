// Package oidc is Twostep's OpenID Connect provider (API.md §7): zitadel/oidc's
// op package over the domain service. Products' standard OIDC clients use it to
// sign their users in through Twostep's pages.
package oidc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twostep/twostep/internal/twostep"
)

// Paths of the provider's endpoints (API.md §7 suggests them; clients follow
// discovery).
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	// CallbackPath is where the pages send the browser once a sign-in for an
	// authorization request ended: CallbackPath + "?id=" + the request's id.
	CallbackPath = "/oauth2/authorize/callback"
)

// Options configure the provider.
type Options struct {
	Service *twostep.Service
	// Issuer is TWOSTEP_BASE_URL.
	Issuer *url.URL
	// LoginPath is the pages' sign-in URL that takes an authorization
	// request's id appended (e.g. "/sign-in?auth_request=").
	LoginPath string
	Logger    *slog.Logger
	// Describe says what is wrong with a request value, in words (the words
	// live in the web adapter's catalogue); nil: its reason code.
	Describe func(*twostep.InvalidError) string
}

// Provider serves the provider's endpoints.
type Provider struct {
	op      *op.Provider
	svc     *twostep.Service
	issuer  string
	log     *slog.Logger
	handler http.Handler
}

// New returns the provider. It fails only on an unusable issuer.
func New(o Options) (*Provider, error) {
	if o.Service == nil || o.Issuer == nil {
		return nil, errors.New("oidc: Service and Issuer are required")
	}
	issuer := o.Issuer.String()
	login := func(id string) string { return o.Issuer.JoinPath().String() + o.LoginPath + url.QueryEscape(id) }
	// The key encrypts nothing that must survive this process: codes are
	// random and looked up by their hash, access tokens are JWTs.
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	cfg := &op.Config{
		CryptoKey:                         key,
		DefaultLogoutRedirectURI:          o.Issuer.JoinPath("/sign-in").String() + "?done=signed_out",
		CodeMethodS256:                    true,
		AuthMethodPost:                    true,
		GrantTypeRefreshToken:             true,
		SupportedScopes:                   []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeProfile, oidc.ScopeOfflineAccess, twostep.ScopeOrg},
		SupportedClaims:                   append(op.DefaultSupportedClaims, "sid", "org_id", "org_slug", "org_role"),
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
	}
	opts := []op.Option{
		op.WithCustomEndpoints(op.NewEndpoint("oauth2/authorize"), op.NewEndpoint("oauth2/token"), op.NewEndpoint("oauth2/userinfo"),
			op.NewEndpoint("oauth2/revoke"), op.NewEndpoint("oauth2/end-session"), op.NewEndpoint("oauth2/keys")),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint("oauth2/introspect")),
	}
	if o.Issuer.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	describe := o.Describe
	if describe == nil {
		describe = func(ie *twostep.InvalidError) string { return string(ie.Code) }
	}
	st := &storage{svc: o.Service, login: login, describe: describe}
	p, err := op.NewOpenIDProvider(issuer, cfg, st, opts...)
	if err != nil {
		return nil, err
	}
	pr := &Provider{op: p, svc: o.Service, issuer: issuer, log: o.Logger}
	if pr.log == nil {
		pr.log = slog.New(slog.DiscardHandler)
	}
	pr.handler = pr.routes()
	return pr, nil
}

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// callback sends the browser back to the client once the pages ended the
// sign-in: with a code when the request is done, with the error the domain
// recorded when it failed (login_required, interaction_required,
// access_denied: never a page of ours for prompt=none), or, for an unknown
// request, an error page (no redirect to a URI nobody checked).
func (p *Provider) callback(w http.ResponseWriter, r *http.Request) {
	req, err := p.svc.AuthRequest(r.Context(), r.URL.Query().Get("id"))
	if err != nil {
		op.AuthRequestError(w, r, nil, errors.New("this sign-in link is not valid any more: go back to the application and start again"), p.op)
		return
	}
	if req.Error != "" {
		var e *oidc.Error
		switch req.Error {
		case twostep.AuthErrLoginRequired:
			e = oidc.ErrLoginRequired()
		case twostep.AuthErrInteractionRequired:
			e = oidc.ErrInteractionRequired()
		default:
			e = oidc.ErrAccessDenied()
		}
		op.AuthRequestError(w, r, &authRequest{req}, e.WithDescription("%s", req.ErrorText), p.op)
		return
	}
	op.AuthorizeCallback(w, r, p.op)
}

// SignLogoutToken signs the claims of a back-channel logout (the payload
// the domain queued: aud, sub, sid, jti) as a logout token (OIDC Back-Channel
// Logout 1.0 §2.4, OP-06): the events claim, no nonce, signed with the active
// key, living two minutes from this delivery attempt.
func SignLogoutToken(ctx context.Context, svc *twostep.Service, issuer, claims string) (string, error) {
	var c struct{ Aud, Sub, Sid, Jti string }
	if err := json.Unmarshal([]byte(claims), &c); err != nil {
		return "", errors.New("oidc: logout claims are not JSON")
	}
	k, err := svc.ActiveSigningKey(ctx)
	if err != nil {
		return "", err
	}
	lt := oidc.NewLogoutTokenClaims(issuer, c.Sub, oidc.Audience{c.Aud}, time.Now().Add(2*time.Minute), c.Jti, c.Sid, 0)
	signer, err := op.SignerFromKey(signingKey{k})
	if err != nil {
		return "", err
	}
	return crypto.Sign(lt, signer)
}
