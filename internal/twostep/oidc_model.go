package twostep

import (
	"context"
	"net/netip"
	"time"
)

// The OpenID Connect provider's own things (API.md §7): the clients products
// register, the authorization requests they start, the codes and tokens they
// get, and the keys that sign them. The protocol (JOSE, PKCE maths, discovery)
// is the library's, in the oidc adapter; the rules are here.

// Authentication context classes (API.md §7): what a sign-in achieved.
const (
	ACRPassword          = "urn:twostep:acr:password"
	ACRTwoStep           = "urn:twostep:acr:two-step"
	ACRPhishingResistant = "urn:twostep:acr:phishing-resistant"
)

// Scopes Twostep grants beside openid, email, profile and offline_access.
const ScopeOrg = "twostep:org"

// Lifetimes of the provider's artefacts when Options leave them out.
const (
	DefaultOIDCCodeTTL    = 60 * time.Second
	DefaultOIDCAccessTTL  = 10 * time.Minute
	DefaultOIDCRefreshTTL = 30 * 24 * time.Hour
	// AuthRequestTTL is how long a person has to sign in once a product sent
	// them: as long as a sign-in token lives.
	AuthRequestTTL = 10 * time.Minute
	// logoutTTL is how long a back-channel logout is retried.
	logoutTTL = time.Hour
)

// Errors an authorization request can end with, sent to the client's redirect
// URI (OIDC Core §3.1.2.6).
const (
	AuthErrLoginRequired       = "login_required"
	AuthErrInteractionRequired = "interaction_required"
	AuthErrAccessDenied        = "access_denied"
)

// OIDCClient is a product registered to sign its users in through Twostep.
// SecretHash is the SHA-256 of its secret (API-01); a public client (a
// single-page or native app) has none and must use PKCE.
type OIDCClient struct {
	ID                     string
	OrgID                  string // "": any organisation's members
	Name                   string
	SecretHash             []byte
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	BackchannelLogoutURI   string
	RequireTwoStep         bool
	CreatedAt              time.Time
	LastUsedAt             time.Time
}

// Public reports whether the client has no secret.
func (c *OIDCClient) Public() bool { return len(c.SecretHash) == 0 }

// AuthRequest is an authorization request (OIDC Core §3.1.2.1) from its start
// at the authorize endpoint until its code is exchanged. Once done it holds
// who signed in, by which session, how (AMR, ACR) and when (AuthTime); once
// failed, the error the client gets. Its code is kept only as a hash.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	State               string
	Nonce               string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              int // seconds; -1 when the client set none
	ACRValues           []string
	CreatedAt           time.Time
	ExpiresAt           time.Time

	AccountID string
	SessionID string
	AMR       []string
	ACR       string
	AuthTime  time.Time
	DoneAt    time.Time
	Error     string // AuthErr…: the request failed
	ErrorText string // said to the client with Error

	CodeHash      []byte
	CodeExpiresAt time.Time
	CodeUsedAt    time.Time
}

// Done reports whether a person signed in for the request.
func (r *AuthRequest) Done() bool { return !r.DoneAt.IsZero() && r.Error == "" }

// Token kinds.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// OIDCToken is an access token (its ID is the JWT's jti) or a refresh token
// (TokenHash is the SHA-256 of what the client holds). Every token that
// descends from one authorization code shares its ChainID, the code's
// authorization request: a code used twice, or a rotated refresh token
// presented again, revokes the chain (OP-01, OP-03). For a refresh token,
// ExpiresAt is its idle expiry and UsedAt when it was rotated.
type OIDCToken struct {
	ID        string
	Kind      string
	TokenHash []byte
	ChainID   string
	ClientID  string
	AccountID string
	SessionID string
	Scopes    []string
	AMR       []string
	ACR       string
	Nonce     string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
	RevokedAt time.Time
}

// SessionClient records that a client got tokens from a Twostep session, so
// that ending the session reaches it (back-channel logout, OP-06).
type SessionClient struct {
	SessionID string
	ClientID  string
	AccountID string
	CreatedAt time.Time
}

// SigningKeyRecord is a stored signing key: Private is the sealed PKCS #8 of
// its RSA key (bound to ID), Public the PKIX of its public key. The active key
// is the newest not retired; a retired key stays published until PublishUntil,
// when every token it signed has expired (OP-05).
type SigningKeyRecord struct {
	ID           string
	Private      []byte
	Public       []byte
	CreatedAt    time.Time
	RetiredAt    time.Time
	PublishUntil time.Time
}

// OIDCStore keeps the provider's things. Single-use writes (SetAuthCode,
// UseAuthCode, UseRefreshToken, FinishAuthRequest) are one conditional
// statement each: of concurrent calls for one row, one reports true.
type OIDCStore interface {
	CreateOIDCClient(ctx context.Context, c *OIDCClient) error
	OIDCClient(ctx context.Context, id string) (*OIDCClient, error)
	// OIDCClients lists the clients of an organisation ("" for every client), oldest first.
	OIDCClients(ctx context.Context, orgID string) ([]*OIDCClient, error)
	// DeleteOIDCClient removes the client with its requests, tokens and session links.
	DeleteOIDCClient(ctx context.Context, id string) error
	TouchOIDCClient(ctx context.Context, id string, at time.Time) error

	CreateAuthRequest(ctx context.Context, r *AuthRequest) error
	AuthRequest(ctx context.Context, id string) (*AuthRequest, error)
	// FinishAuthRequest writes the outcome fields (AccountID … ErrorText) of a
	// request not finished yet, and reports whether it did.
	FinishAuthRequest(ctx context.Context, r *AuthRequest) (bool, error)
	// SetAuthCode gives a done request without a code the code codeHash.
	SetAuthCode(ctx context.Context, id string, codeHash []byte, expires time.Time) (bool, error)
	AuthRequestByCode(ctx context.Context, codeHash []byte) (*AuthRequest, error)
	// UseAuthCode marks the request's code used if it was not, and reports whether it did.
	UseAuthCode(ctx context.Context, id string, at time.Time) (bool, error)

	CreateOIDCToken(ctx context.Context, t *OIDCToken) error
	OIDCToken(ctx context.Context, id string) (*OIDCToken, error)
	OIDCTokenByHash(ctx context.Context, hash []byte) (*OIDCToken, error)
	// UseRefreshToken marks an unused, unrevoked refresh token used.
	UseRefreshToken(ctx context.Context, id string, at time.Time) (bool, error)
	// RevokeOIDCChain revokes every token of the chain.
	RevokeOIDCChain(ctx context.Context, chainID string, at time.Time) error
	RevokeOIDCToken(ctx context.Context, id string, at time.Time) error
	// RevokeAccountOIDCTokens revokes the account's tokens, only those of the
	// session sessionID unless it is "".
	RevokeAccountOIDCTokens(ctx context.Context, accountID, sessionID string, at time.Time) error

	// AddSessionClient records c (again: no error).
	AddSessionClient(ctx context.Context, c *SessionClient) error
	// SessionClients lists the account's session links.
	SessionClients(ctx context.Context, accountID string) ([]*SessionClient, error)
	DeleteSessionClients(ctx context.Context, accountID, sessionID string) error

	CreateSigningKey(ctx context.Context, k *SigningKeyRecord) error
	// SigningKeys lists the keys published at t (not retired, or retired with
	// PublishUntil after t), newest first.
	SigningKeys(ctx context.Context, t time.Time) ([]*SigningKeyRecord, error)
	// RetireSigningKeys retires every key but keepID that is not retired yet.
	RetireSigningKeys(ctx context.Context, keepID string, at, publishUntil time.Time) error
	ResealSigningKey(ctx context.Context, id string, old, sealed []byte) (bool, error)
}

// OIDCOptions configure the provider's rules.
type OIDCOptions struct {
	CodeTTL, AccessTTL, RefreshTTL time.Duration // zero: the defaults above
	// AllowPrivateURLs lets owners register back-channel URIs on loopback,
	// private and link-local addresses (TWOSTEP_ALLOW_PRIVATE_URLS).
	AllowPrivateURLs bool
	// Resolve looks up a host's addresses for that check; nil refuses every
	// host name that is not an address literal.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

func (o OIDCOptions) withDefaults() OIDCOptions {
	o.CodeTTL = orDefault(o.CodeTTL, DefaultOIDCCodeTTL)
	o.AccessTTL = orDefault(o.AccessTTL, DefaultOIDCAccessTTL)
	o.RefreshTTL = orDefault(o.RefreshTTL, DefaultOIDCRefreshTTL)
	return o
}

// OIDCLifetimes returns the code, access token and refresh token (idle) lifetimes.
func (s *Service) OIDCLifetimes() (code, access, refresh time.Duration) {
	return s.oidc.CodeTTL, s.oidc.AccessTTL, s.oidc.RefreshTTL
}
