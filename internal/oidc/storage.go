package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twostep/twostep/internal/twostep"
)

// storage is op.Storage over the domain service: every rule (single use,
// expiry, revocation, what a session satisfies) is the service's; this only
// translates between the library's interfaces and the domain's types.
type storage struct {
	svc      *twostep.Service
	login    func(id string) string
	describe func(*twostep.InvalidError) string
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
)

// oidcError turns a domain error into the protocol's: a bad parameter is
// invalid_request naming it and saying what is wrong, anything spent or
// unknown invalid_grant.
func (s *storage) oidcError(err error) error {
	var ie *twostep.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return oidc.ErrInvalidRequest().WithDescription("%s %s", ie.Field, s.describe(ie))
	case errors.Is(err, twostep.ErrExpired), errors.Is(err, twostep.ErrNotFound):
		return oidc.ErrInvalidGrant().WithParent(err)
	}
	return oidc.ErrServerError().WithParent(err)
}

func (s *storage) CreateAuthRequest(ctx context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	req, err := s.svc.CreateAuthRequest(ctx, twostep.NewAuthRequest{
		ClientID: r.ClientID, RedirectURI: r.RedirectURI, ResponseType: string(r.ResponseType), ResponseMode: string(r.ResponseMode),
		Scopes: r.Scopes, State: r.State, Nonce: r.Nonce, CodeChallenge: r.CodeChallenge,
		CodeChallengeMethod: string(r.CodeChallengeMethod), Prompt: r.Prompt, MaxAge: r.MaxAge, ACRValues: r.ACRValues,
	})
	if err != nil {
		return nil, s.oidcError(err)
	}
	return &authRequest{req}, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.svc.AuthRequest(ctx, id)
	if err != nil {
		return nil, s.oidcError(err)
	}
	return &authRequest{r}, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.svc.ExchangeCode(ctx, code)
	if err != nil {
		return nil, s.oidcError(err)
	}
	return &authRequest{r}, nil
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.oidcError(s.svc.SaveAuthCode(ctx, id, code))
}

// DeleteAuthRequest keeps the request: a code presented again must still find
// it, to revoke what the first exchange issued (OP-01). Housekeeping removes it.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	ar, ok := req.(*authRequest)
	if !ok {
		return "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	id, _, exp, err := s.svc.IssueCodeTokens(ctx, ar.r, false)
	return id, exp, s.oidcError(err)
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	switch r := req.(type) {
	case *authRequest:
		id, refresh, exp, err := s.svc.IssueCodeTokens(ctx, r.r, true)
		return id, refresh, exp, s.oidcError(err)
	case *refreshRequest:
		id, refresh, exp, err := s.svc.RotateRefresh(ctx, current, r.scopes)
		return id, refresh, exp, s.oidcError(err)
	}
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
}

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	t, err := s.svc.RefreshGrant(ctx, token)
	if err != nil {
		return nil, s.oidcError(err)
	}
	return &refreshRequest{t: t, scopes: t.Scopes}, nil
}

// TerminateSession is not used: TerminateSessionFromRequest ends the session
// the id_token_hint names.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// TerminateSessionFromRequest is RP-initiated logout: the Twostep session
// named by the verified id_token_hint's sid ends, its tokens are revoked and
// every client that shared it gets a back-channel logout. Without a hint
// nothing is ended (nothing says which session), and the browser goes to
// the registered post_logout_redirect_uri the library checked, or the default.
func (s *storage) TerminateSessionFromRequest(ctx context.Context, r *op.EndSessionRequest) (string, error) {
	if r.IDTokenHintClaims != nil {
		sid, _ := r.IDTokenHintClaims.Claims["sid"].(string)
		if err := s.svc.EndOIDCSession(ctx, r.UserID, sid); err != nil {
			return "", err
		}
	}
	return r.RedirectURI, nil
}

func (s *storage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	if err := s.svc.RevokeOIDCToken(ctx, clientID, tokenOrID, userID != ""); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	user, id, err := s.svc.RefreshTokenInfo(ctx, clientID, token)
	if errors.Is(err, twostep.ErrNotFound) {
		return "", "", op.ErrInvalidRefreshToken
	}
	return user, id, err
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, err := s.svc.ActiveSigningKey(ctx)
	if err != nil {
		return nil, err
	}
	return signingKey{k}, nil
}

// SignatureAlgorithms is RS256 alone: alg=none is never issued nor accepted (OP-05).
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	keys, err := s.svc.PublishedSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, len(keys))
	for i, k := range keys {
		out[i] = publicKey{id: k.ID, key: k.Public}
	}
	return out, nil
}

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.svc.OIDCClient(ctx, id)
	if errors.Is(err, twostep.ErrNotFound) {
		return nil, fmt.Errorf("unknown client %q", id)
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	_, access, _ := s.svc.OIDCLifetimes()
	return &client{c: c, login: s.login, idTTL: access}, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	err := s.svc.CheckOIDCClientSecret(ctx, id, secret)
	if err != nil && !errors.Is(err, twostep.ErrInvalidCredentials) {
		return oidc.ErrServerError().WithParent(err)
	}
	return err
}

// SetUserinfoFromScopes is empty, as the library asks: SetUserinfoFromRequest does it.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims about the account, with
// sid (the Twostep session, stable across refreshes) and, on a refresh, the
// acr of the original sign-in, which the library takes only from an
// authorization request.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, u *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.userinfo(ctx, u, req.GetSubject(), scopes); err != nil {
		return err
	}
	switch r := req.(type) {
	case *authRequest:
		u.AppendClaims("sid", r.r.SessionID)
	case *refreshRequest:
		u.AppendClaims("sid", r.t.SessionID)
		u.AppendClaims("acr", r.t.ACR)
	}
	return nil
}

func (s *storage) userinfo(ctx context.Context, u *oidc.UserInfo, accountID string, scopes []string) error {
	c, err := s.svc.OIDCUserClaims(ctx, accountID, scopes)
	if err != nil {
		return err
	}
	u.Subject = accountID
	if c.Email != "" {
		u.Email, u.EmailVerified = c.Email, true
	}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		u.PreferredUsername = c.Email
		if c.Email == "" {
			if a, err := s.svc.OIDCUserClaims(ctx, accountID, []string{oidc.ScopeEmail}); err == nil {
				u.PreferredUsername = a.Email
			}
		}
	}
	if c.OrgID != "" {
		u.AppendClaims("org_id", c.OrgID)
		u.AppendClaims("org_slug", c.OrgSlug)
		u.AppendClaims("org_role", string(c.OrgRole))
	}
	return nil
}

// SetUserinfoFromToken answers userinfo for a live access token: the same
// claims as its ID token (API.md §7).
func (s *storage) SetUserinfoFromToken(ctx context.Context, u *oidc.UserInfo, tokenID, subject, _ string) error {
	t, _, err := s.svc.AccessToken(ctx, tokenID)
	if err != nil || t.AccountID != subject {
		return oidc.ErrAccessDenied().WithDescription("the access token is not valid")
	}
	if err := s.userinfo(ctx, u, t.AccountID, t.Scopes); err != nil {
		return err
	}
	u.AppendClaims("sid", t.SessionID)
	u.AppendClaims("acr", t.ACR)
	u.AppendClaims("amr", t.AMR)
	return nil
}

// SetIntrospectionFromToken answers for a live access token of the asking
// client; anything else is inactive.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, r *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, _, err := s.svc.AccessToken(ctx, tokenID)
	if err != nil || t.AccountID != subject || t.ClientID != clientID {
		return nil
	}
	u := new(oidc.UserInfo)
	if err := s.userinfo(ctx, u, t.AccountID, t.Scopes); err != nil {
		return err
	}
	r.SetUserInfo(u)
	r.Active, r.Scope, r.ClientID, r.TokenType, r.Subject = true, t.Scopes, t.ClientID, oidc.BearerToken, t.AccountID
	r.Expiration, r.IssuedAt, r.AuthTime = oidc.FromTime(t.ExpiresAt), oidc.FromTime(t.CreatedAt), oidc.FromTime(t.AuthTime)
	r.Audience, r.AuthenticationMethodsReferences, r.JWTID = oidc.Audience{t.ClientID}, t.AMR, t.ID
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT client authentication is not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not supported")
}

func (s *storage) Health(context.Context) error { return nil }
