package store

import (
	"context"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// The OpenID Connect provider's tables (migration 0011): twostep.OIDCStore.

var _ twostep.OIDCStore = (*DB)(nil)

func joinLines(vs []string) string { return strings.Join(vs, "\n") }

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Clients.

const oidcClientCols = `id, org_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri,
	require_two_step, created_at, last_used_at`

func scanOIDCClient(s scanner) (*twostep.OIDCClient, error) {
	var c twostep.OIDCClient
	var org *string
	var redirects, logouts string
	err := s.Scan(&c.ID, &org, &c.Name, &c.SecretHash, &redirects, &logouts, &c.BackchannelLogoutURI, &c.RequireTwoStep,
		tm{&c.CreatedAt}, tm{&c.LastUsedAt})
	if org != nil {
		c.OrgID = *org
	}
	c.RedirectURIs, c.PostLogoutRedirectURIs = splitLines(redirects), splitLines(logouts)
	return &c, err
}

// CreateOIDCClient stores c; ErrConflict if its id is taken.
func (db *DB) CreateOIDCClient(ctx context.Context, c *twostep.OIDCClient) error {
	_, err := db.exec(ctx, `INSERT INTO oidc_clients (`+oidcClientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, null(c.OrgID), c.Name, null(c.SecretHash), joinLines(c.RedirectURIs), joinLines(c.PostLogoutRedirectURIs),
		c.BackchannelLogoutURI, c.RequireTwoStep, us(c.CreatedAt), us(c.LastUsedAt))
	return wrap(err, "create oidc client")
}

// OIDCClient returns the client with id, or ErrNotFound.
func (db *DB) OIDCClient(ctx context.Context, id string) (*twostep.OIDCClient, error) {
	return one(db.row(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients WHERE id = ?`, id), scanOIDCClient, "oidc client")
}

// OIDCClients lists an organisation's clients, or every client for "", oldest first.
func (db *DB) OIDCClients(ctx context.Context, orgID string) ([]*twostep.OIDCClient, error) {
	if orgID == "" {
		return list(ctx, db, scanOIDCClient, "oidc clients", `SELECT `+oidcClientCols+` FROM oidc_clients ORDER BY created_at, id`)
	}
	return list(ctx, db, scanOIDCClient, "oidc clients",
		`SELECT `+oidcClientCols+` FROM oidc_clients WHERE org_id = ? ORDER BY created_at, id`, orgID)
}

// DeleteOIDCClient removes the client; its requests, tokens and session
// links go with it (ON DELETE CASCADE). ErrNotFound if there is none.
func (db *DB) DeleteOIDCClient(ctx context.Context, id string) error {
	return db.execOne(ctx, "delete oidc client", `DELETE FROM oidc_clients WHERE id = ?`, id)
}

// TouchOIDCClient records a use of the client's secret.
func (db *DB) TouchOIDCClient(ctx context.Context, id string, at time.Time) error {
	_, err := db.exec(ctx, `UPDATE oidc_clients SET last_used_at = ? WHERE id = ?`, us(at), id)
	return wrap(err, "touch oidc client")
}

// Authorization requests.

const authRequestCols = `id, client_id, redirect_uri, scopes, state, nonce, response_mode, code_challenge,
	code_challenge_method, prompt, max_age, acr_values, created_at, expires_at, account_id, session_id, amr, acr,
	auth_time, done_at, error, error_text, code_hash, code_expires_at, code_used_at`

func scanAuthRequest(s scanner) (*twostep.AuthRequest, error) {
	var r twostep.AuthRequest
	var scopes, prompt, acrValues, amr string
	err := s.Scan(&r.ID, &r.ClientID, &r.RedirectURI, &scopes, &r.State, &r.Nonce, &r.ResponseMode, &r.CodeChallenge,
		&r.CodeChallengeMethod, &prompt, &r.MaxAge, &acrValues, tm{&r.CreatedAt}, tm{&r.ExpiresAt}, &r.AccountID,
		&r.SessionID, &amr, &r.ACR, tm{&r.AuthTime}, tm{&r.DoneAt}, &r.Error, &r.ErrorText, &r.CodeHash,
		tm{&r.CodeExpiresAt}, tm{&r.CodeUsedAt})
	r.Scopes, r.Prompt, r.ACRValues, r.AMR = split[string](scopes), split[string](prompt), split[string](acrValues), split[string](amr)
	return &r, err
}

// CreateAuthRequest stores r; ErrConflict if its id is taken.
func (db *DB) CreateAuthRequest(ctx context.Context, r *twostep.AuthRequest) error {
	_, err := db.exec(ctx, `INSERT INTO oidc_auth_requests (`+authRequestCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.ClientID, r.RedirectURI, join(r.Scopes), r.State, r.Nonce, r.ResponseMode, r.CodeChallenge,
		r.CodeChallengeMethod, join(r.Prompt), r.MaxAge, join(r.ACRValues), us(r.CreatedAt), us(r.ExpiresAt), r.AccountID,
		r.SessionID, join(r.AMR), r.ACR, us(r.AuthTime), us(r.DoneAt), r.Error, r.ErrorText, null(r.CodeHash),
		us(r.CodeExpiresAt), us(r.CodeUsedAt))
	return wrap(err, "create auth request")
}

// AuthRequest returns the request with id, or ErrNotFound.
func (db *DB) AuthRequest(ctx context.Context, id string) (*twostep.AuthRequest, error) {
	return one(db.row(ctx, `SELECT `+authRequestCols+` FROM oidc_auth_requests WHERE id = ?`, id), scanAuthRequest, "auth request")
}

// FinishAuthRequest writes the outcome of a request not finished yet.
func (db *DB) FinishAuthRequest(ctx context.Context, r *twostep.AuthRequest) (bool, error) {
	return db.execDid(ctx, "finish auth request", `UPDATE oidc_auth_requests SET account_id = ?, session_id = ?, amr = ?,
		acr = ?, auth_time = ?, done_at = ?, error = ?, error_text = ? WHERE id = ? AND done_at IS NULL`,
		r.AccountID, r.SessionID, join(r.AMR), r.ACR, us(r.AuthTime), us(r.DoneAt), r.Error, r.ErrorText, r.ID)
}

// SetAuthCode gives a done request without a code its code.
func (db *DB) SetAuthCode(ctx context.Context, id string, codeHash []byte, expires time.Time) (bool, error) {
	return db.execDid(ctx, "set auth code", `UPDATE oidc_auth_requests SET code_hash = ?, code_expires_at = ?
		WHERE id = ? AND code_hash IS NULL AND done_at IS NOT NULL AND error = ''`, codeHash, us(expires), id)
}

// AuthRequestByCode returns the request whose code hash is codeHash, or ErrNotFound.
func (db *DB) AuthRequestByCode(ctx context.Context, codeHash []byte) (*twostep.AuthRequest, error) {
	return one(db.row(ctx, `SELECT `+authRequestCols+` FROM oidc_auth_requests WHERE code_hash = ?`, codeHash),
		scanAuthRequest, "auth request by code")
}

// UseAuthCode marks the request's code used if it was not.
func (db *DB) UseAuthCode(ctx context.Context, id string, at time.Time) (bool, error) {
	return db.execDid(ctx, "use auth code", `UPDATE oidc_auth_requests SET code_used_at = ? WHERE id = ? AND code_used_at IS NULL`,
		us(at), id)
}

// Tokens.

const oidcTokenCols = `id, kind, token_hash, chain_id, client_id, account_id, session_id, scopes, amr, acr, nonce,
	auth_time, created_at, expires_at, used_at, revoked_at`

func scanOIDCToken(s scanner) (*twostep.OIDCToken, error) {
	var t twostep.OIDCToken
	var scopes, amr string
	err := s.Scan(&t.ID, &t.Kind, &t.TokenHash, &t.ChainID, &t.ClientID, &t.AccountID, &t.SessionID, &scopes, &amr, &t.ACR,
		&t.Nonce, tm{&t.AuthTime}, tm{&t.CreatedAt}, tm{&t.ExpiresAt}, tm{&t.UsedAt}, tm{&t.RevokedAt})
	t.Scopes, t.AMR = split[string](scopes), split[string](amr)
	return &t, err
}

// CreateOIDCToken stores t; ErrConflict if its id or hash is taken.
func (db *DB) CreateOIDCToken(ctx context.Context, t *twostep.OIDCToken) error {
	_, err := db.exec(ctx, `INSERT INTO oidc_tokens (`+oidcTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Kind, null(t.TokenHash), t.ChainID, t.ClientID, t.AccountID, t.SessionID, join(t.Scopes), join(t.AMR), t.ACR,
		t.Nonce, us(t.AuthTime), us(t.CreatedAt), us(t.ExpiresAt), us(t.UsedAt), us(t.RevokedAt))
	return wrap(err, "create oidc token")
}

// OIDCToken returns the token with id, or ErrNotFound.
func (db *DB) OIDCToken(ctx context.Context, id string) (*twostep.OIDCToken, error) {
	return one(db.row(ctx, `SELECT `+oidcTokenCols+` FROM oidc_tokens WHERE id = ?`, id), scanOIDCToken, "oidc token")
}

// OIDCTokenByHash returns the refresh token with hash, or ErrNotFound.
func (db *DB) OIDCTokenByHash(ctx context.Context, hash []byte) (*twostep.OIDCToken, error) {
	return one(db.row(ctx, `SELECT `+oidcTokenCols+` FROM oidc_tokens WHERE token_hash = ?`, hash), scanOIDCToken, "oidc token by hash")
}

// UseRefreshToken marks an unused, unrevoked refresh token used.
func (db *DB) UseRefreshToken(ctx context.Context, id string, at time.Time) (bool, error) {
	return db.execDid(ctx, "use refresh token", `UPDATE oidc_tokens SET used_at = ?
		WHERE id = ? AND kind = 'refresh' AND used_at IS NULL AND revoked_at IS NULL`, us(at), id)
}

// RevokeOIDCChain revokes every token of the chain not revoked yet.
func (db *DB) RevokeOIDCChain(ctx context.Context, chainID string, at time.Time) error {
	_, err := db.exec(ctx, `UPDATE oidc_tokens SET revoked_at = ? WHERE chain_id = ? AND revoked_at IS NULL`, us(at), chainID)
	return wrap(err, "revoke oidc chain")
}

// RevokeOIDCToken revokes one token.
func (db *DB) RevokeOIDCToken(ctx context.Context, id string, at time.Time) error {
	_, err := db.exec(ctx, `UPDATE oidc_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, us(at), id)
	return wrap(err, "revoke oidc token")
}

// RevokeAccountOIDCTokens revokes the account's tokens, of one session unless sessionID is "".
func (db *DB) RevokeAccountOIDCTokens(ctx context.Context, accountID, sessionID string, at time.Time) error {
	q, args := `UPDATE oidc_tokens SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL`, []any{us(at), accountID}
	if sessionID != "" {
		q, args = q+` AND session_id = ?`, append(args, sessionID)
	}
	_, err := db.exec(ctx, q, args...)
	return wrap(err, "revoke account oidc tokens")
}

// Session links.

// AddSessionClient records that the client got tokens from the session.
func (db *DB) AddSessionClient(ctx context.Context, c *twostep.SessionClient) error {
	_, err := db.exec(ctx, `INSERT INTO oidc_session_clients (session_id, client_id, account_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (session_id, client_id) DO NOTHING`, c.SessionID, c.ClientID, c.AccountID, us(c.CreatedAt))
	return wrap(err, "add session client")
}

// SessionClients lists the account's session links, oldest first.
func (db *DB) SessionClients(ctx context.Context, accountID string) ([]*twostep.SessionClient, error) {
	return list(ctx, db, func(s scanner) (*twostep.SessionClient, error) {
		var c twostep.SessionClient
		err := s.Scan(&c.SessionID, &c.ClientID, &c.AccountID, tm{&c.CreatedAt})
		return &c, err
	}, "session clients", `SELECT session_id, client_id, account_id, created_at FROM oidc_session_clients
		WHERE account_id = ? ORDER BY created_at, client_id`, accountID)
}

// DeleteSessionClients removes the links of one session of the account.
func (db *DB) DeleteSessionClients(ctx context.Context, accountID, sessionID string) error {
	_, err := db.exec(ctx, `DELETE FROM oidc_session_clients WHERE account_id = ? AND session_id = ?`, accountID, sessionID)
	return wrap(err, "delete session clients")
}

// Signing keys.

const signingKeyCols = `id, private_key, public_key, created_at, retired_at, publish_until`

func scanSigningKey(s scanner) (*twostep.SigningKeyRecord, error) {
	var k twostep.SigningKeyRecord
	err := s.Scan(&k.ID, &k.Private, &k.Public, tm{&k.CreatedAt}, tm{&k.RetiredAt}, tm{&k.PublishUntil})
	return &k, err
}

// CreateSigningKey stores k.
func (db *DB) CreateSigningKey(ctx context.Context, k *twostep.SigningKeyRecord) error {
	_, err := db.exec(ctx, `INSERT INTO oidc_signing_keys (`+signingKeyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Private, k.Public, us(k.CreatedAt), us(k.RetiredAt), us(k.PublishUntil))
	return wrap(err, "create signing key")
}

// SigningKeys lists the keys published at t, newest first.
func (db *DB) SigningKeys(ctx context.Context, t time.Time) ([]*twostep.SigningKeyRecord, error) {
	// Reads the writer's view: a key rotated a moment ago elsewhere must sign now.
	return writeList(ctx, db, scanSigningKey, "signing keys", `SELECT `+signingKeyCols+` FROM oidc_signing_keys
		WHERE retired_at IS NULL OR publish_until > ? ORDER BY created_at DESC, id DESC`, us(t))
}

// RetireSigningKeys retires every key but keepID not retired yet.
func (db *DB) RetireSigningKeys(ctx context.Context, keepID string, at, publishUntil time.Time) error {
	_, err := db.exec(ctx, `UPDATE oidc_signing_keys SET retired_at = ?, publish_until = ? WHERE id <> ? AND retired_at IS NULL`,
		us(at), us(publishUntil), keepID)
	return wrap(err, "retire signing keys")
}

// ResealSigningKey replaces a sealed private key if it is still old.
func (db *DB) ResealSigningKey(ctx context.Context, id string, old, sealed []byte) (bool, error) {
	return db.execDid(ctx, "reseal signing key", `UPDATE oidc_signing_keys SET private_key = ? WHERE id = ? AND private_key = ?`,
		sealed, id, old)
}

// deleteExpiredOIDC removes, in tx, authorization requests and tokens that
// ended before t.
func deleteExpiredOIDC(ctx context.Context, tx *DB, t time.Time) error {
	if _, err := tx.exec(ctx, `DELETE FROM oidc_auth_requests WHERE expires_at < ?`, us(t)); err != nil {
		return wrap(err, "delete expired auth requests")
	}
	_, err := tx.exec(ctx, `DELETE FROM oidc_tokens WHERE expires_at < ?`, us(t))
	return wrap(err, "delete expired oidc tokens")
}
