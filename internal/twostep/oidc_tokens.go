package twostep

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"time"
)

// IssueCodeTokens issues the tokens of a code just exchanged (ExchangeCode):
// an access token, and a refresh token when withRefresh (offline_access). It
// links the client to the Twostep session, so that ending the session reaches
// the client. It returns the access token's id (the JWT's jti), the refresh
// token ("" without) and when the access token expires. ErrExpired when the
// code was presented again since it was spent (OP-01: nothing is issued) or
// its tokens were issued already.
func (s *Service) IssueCodeTokens(ctx context.Context, r *AuthRequest, withRefresh bool) (string, string, time.Time, error) {
	now := s.now()
	g := &OIDCToken{ChainID: r.ID, ClientID: r.ClientID, AccountID: r.AccountID, SessionID: r.SessionID, Scopes: r.Scopes,
		AMR: r.AMR, ACR: r.ACR, Nonce: r.Nonce, AuthTime: r.AuthTime}
	var access *OIDCToken
	refresh := ""
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		// First, so that a second use of the code either came before
		// (nothing is issued) or waits for this transaction and then
		// revokes what it wrote.
		ok, err := tx.ClaimCodeIssue(ctx, r.ID, now)
		if err != nil || !ok {
			return cmpErr(err, ErrExpired)
		}
		if access, refresh, err = s.issue(ctx, tx, g, withRefresh); err != nil {
			return err
		}
		if r.SessionID == "" {
			return nil
		}
		return tx.AddSessionClient(ctx, &SessionClient{SessionID: r.SessionID, ClientID: r.ClientID, AccountID: r.AccountID, CreatedAt: now})
	})
	if err != nil {
		return "", "", time.Time{}, err
	}
	return access.ID, refresh, access.ExpiresAt, nil
}

// issue stores an access token like g, and a refresh token in its chain when
// withRefresh, and returns them (the refresh token as the client holds it).
func (s *Service) issue(ctx context.Context, tx Store, g *OIDCToken, withRefresh bool) (*OIDCToken, string, error) {
	now := s.now()
	access := *g
	access.ID, access.Kind, access.TokenHash, access.CreatedAt, access.ExpiresAt = s.newID("oat"), TokenAccess, nil, now, now.Add(s.oidc.AccessTTL)
	access.UsedAt, access.RevokedAt = time.Time{}, time.Time{}
	if err := tx.CreateOIDCToken(ctx, &access); err != nil {
		return nil, "", err
	}
	if !withRefresh {
		return &access, "", nil
	}
	token, hash := s.newToken()
	rt := access
	rt.ID, rt.Kind, rt.TokenHash, rt.ExpiresAt = s.newID("ort"), TokenRefresh, hash, now.Add(s.oidc.RefreshTTL)
	return &access, token, tx.CreateOIDCToken(ctx, &rt)
}

// RefreshGrant returns the live refresh token a client presents (OP-03): a
// rotated one presented again revokes its whole chain (someone kept a copy);
// a revoked, expired or unknown one fails. All are ErrExpired.
func (s *Service) RefreshGrant(ctx context.Context, token string) (*OIDCToken, error) {
	t, err := s.store.OIDCTokenByHash(ctx, HashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrExpired
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case t.Kind != TokenRefresh || !t.RevokedAt.IsZero() || !now.Before(t.ExpiresAt):
		return nil, ErrExpired
	case !t.UsedAt.IsZero():
		s.log.Warn("oidc: rotated refresh token presented again; its chain is revoked", "client_id", t.ClientID, "account_id", t.AccountID)
		return nil, cmpErr(s.store.RevokeOIDCChain(ctx, t.ChainID, now), ErrExpired)
	}
	if _, err := s.store.Account(ctx, t.AccountID); err != nil {
		return nil, cmpErr(ignoreNotFound(err), ErrExpired)
	}
	return t, nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// RotateRefresh spends the refresh token current and issues its successor
// with a new access token, for scopes (a subset of its own). Whoever loses a
// race to spend the same token is a second presentation: the chain is revoked
// (OP-03) and the answer is ErrExpired.
func (s *Service) RotateRefresh(ctx context.Context, current string, scopes []string) (string, string, time.Time, error) {
	old, err := s.RefreshGrant(ctx, current)
	if err != nil {
		return "", "", time.Time{}, err
	}
	if len(scopes) > 0 {
		old.Scopes = scopes
	}
	var access *OIDCToken
	refresh := ""
	reused := false
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		ok, err := tx.UseRefreshToken(ctx, old.ID, s.now())
		if err != nil {
			return err
		}
		if !ok {
			reused = true
			return tx.RevokeOIDCChain(ctx, old.ChainID, s.now())
		}
		access, refresh, err = s.issue(ctx, tx, old, true)
		return err
	})
	if err == nil && reused {
		err = ErrExpired
	}
	if err != nil {
		return "", "", time.Time{}, err
	}
	return access.ID, refresh, access.ExpiresAt, nil
}

// AccessToken returns the live access token with id (a JWT's jti, whose
// signature the caller checked) and its account; ErrExpired when it is
// revoked, expired, unknown or its account is gone.
func (s *Service) AccessToken(ctx context.Context, id string) (*OIDCToken, *Account, error) {
	t, err := s.store.OIDCToken(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrExpired
	}
	if err != nil {
		return nil, nil, err
	}
	if t.Kind != TokenAccess || !t.RevokedAt.IsZero() || !s.now().Before(t.ExpiresAt) {
		return nil, nil, ErrExpired
	}
	a, err := s.store.Account(ctx, t.AccountID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrExpired
	}
	return t, a, err
}

// RefreshTokenInfo returns the account and id of the client's refresh token;
// ErrNotFound when it is none of the client's refresh tokens.
func (s *Service) RefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, err := s.store.OIDCTokenByHash(ctx, HashToken(token))
	if err != nil {
		return "", "", err
	}
	if t.Kind != TokenRefresh || t.ClientID != clientID {
		return "", "", ErrNotFound
	}
	return t.AccountID, t.ID, nil
}

// RevokeOIDCToken revokes, for the client, an access token by id, or a
// refresh token (the token itself) with every token of its chain (RFC 7009
// §2.1). Unknown tokens and other clients' are no error (RFC 7009 §2.2).
func (s *Service) RevokeOIDCToken(ctx context.Context, clientID, idOrToken string, isAccessID bool) error {
	var t *OIDCToken
	var err error
	if isAccessID {
		t, err = s.store.OIDCToken(ctx, idOrToken)
	} else {
		t, err = s.store.OIDCTokenByHash(ctx, HashToken(idOrToken))
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || t.ClientID != clientID {
		return err
	}
	if t.Kind == TokenRefresh {
		return s.store.RevokeOIDCChain(ctx, t.ChainID, s.now())
	}
	return s.store.RevokeOIDCToken(ctx, t.ID, s.now())
}

// UserClaims are what the ID token and userinfo say about an account beyond
// the protocol's own claims.
type UserClaims struct {
	Email   string
	Locale  string
	OrgID   string
	OrgSlug string
	OrgRole Role
}

// OIDCUserClaims returns the claims of the account for the scopes granted.
func (s *Service) OIDCUserClaims(ctx context.Context, accountID string, scopes []string) (*UserClaims, error) {
	a, err := s.store.Account(ctx, accountID)
	if err != nil {
		return nil, err
	}
	c := &UserClaims{}
	if slices.Contains(scopes, "email") {
		c.Email = a.Email
	}
	if slices.Contains(scopes, "profile") {
		c.Locale = a.Locale
	}
	if slices.Contains(scopes, ScopeOrg) {
		org, err := s.store.Org(ctx, a.OrgID)
		if err != nil {
			return nil, err
		}
		c.OrgID, c.OrgSlug, c.OrgRole = org.ID, org.Slug, a.Role
	}
	return c, nil
}

// EndOIDCSession is RP-initiated logout: it ends the Twostep session sid of
// the account (from a verified id_token_hint), revokes its tokens and sends a
// back-channel logout to every client that shared it. An unknown or ended
// session is no error: the person is signed out already.
func (s *Service) EndOIDCSession(ctx context.Context, accountID, sid string) error {
	if accountID == "" || sid == "" {
		return nil
	}
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := s.endOIDC(ctx, tx, accountID, sid, ""); err != nil {
			return err
		}
		return tx.DeleteSession(ctx, sid)
	})
	if err == nil {
		s.wake()
	}
	return err
}

// endOIDC is what ending Twostep sessions means for the products signed in
// through them, in tx, before the sessions are deleted: every client that
// got tokens from one of them gets a back-channel logout (OP-06, through the
// outbox, with retries), and their tokens are revoked. sessionID "" means
// every session of the account but except; then the account's every token is
// revoked (password change or reset, admin reset, ended sessions: OP-03).
func (s *Service) endOIDC(ctx context.Context, tx Store, accountID, sessionID, except string) error {
	links, err := tx.SessionClients(ctx, accountID)
	if err != nil {
		return err
	}
	for _, l := range links {
		if (sessionID != "" && l.SessionID != sessionID) || l.SessionID == except {
			continue
		}
		cl, err := tx.OIDCClient(ctx, l.ClientID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if cl.BackchannelLogoutURI != "" {
			if err := s.enqueueLogout(ctx, tx, cl, l); err != nil {
				return err
			}
		}
		if err := tx.DeleteSessionClients(ctx, accountID, l.SessionID); err != nil {
			return err
		}
	}
	return tx.RevokeAccountOIDCTokens(ctx, accountID, sessionID, s.now())
}

// ChannelBackchannel is the outbox channel of back-channel logouts: the
// message goes to the client's URI and its payload holds the claims
// ("claims": JSON of aud, sub, sid, jti) that the sender signs as a logout
// token when it delivers.
const ChannelBackchannel = "backchannel"

func (s *Service) enqueueLogout(ctx context.Context, tx Store, cl *OIDCClient, l *SessionClient) error {
	jti := make([]byte, 16)
	s.mustRead(jti)
	claims, err := json.Marshal(map[string]string{"aud": cl.ID, "sub": l.AccountID, "sid": l.SessionID,
		"jti": base64.RawURLEncoding.EncodeToString(jti)})
	if err != nil {
		return err
	}
	return s.enqueue(ctx, tx, Message{Channel: ChannelBackchannel, To: cl.BackchannelLogoutURI, Template: "backchannel_logout",
		Data: map[string]string{"claims": string(claims)}}, "", s.now().Add(logoutTTL))
}
