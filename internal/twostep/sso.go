package twostep

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// SSORule says when an organisation's SSO members prove a second step at
// Twostep (API.md §12, the connection's second_step).
type SSORule string

// SSO rules.
const (
	// SSONever: the organisation's two-step policy does not apply to SSO
	// members; for owners and admins it acts as SSOTrustUpstream (ORG-02).
	SSONever SSORule = "never"
	// SSOTrustUpstream: the provider's amr/acr saying it did a second step
	// counts; otherwise Twostep asks for its own.
	SSOTrustUpstream SSORule = "trust_upstream"
	// SSOAlways: Twostep always asks for its own second step.
	SSOAlways SSORule = "always"
)

func (r SSORule) valid() bool { return r == SSONever || r == SSOTrustUpstream || r == SSOAlways }

// SSOConnection is an organisation's own OpenID Connect provider: Twostep is
// its client. ClientSecret is sealed to the organisation's id and never
// leaves the domain.
type SSOConnection struct {
	OrgID        string
	Issuer       string
	ClientID     string
	ClientSecret []byte // sealed
	SecondStep   SSORule
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// SSOIdentity links a person at an organisation's provider (its issuer and
// the provider's stable sub) to the Twostep account they sign in to.
type SSOIdentity struct {
	OrgID        string
	Issuer       string
	Subject      string
	AccountID    string
	Email        string // as the provider last said it
	CreatedAt    time.Time
	LastSignInAt time.Time
}

// SSODomain is an e-mail domain whose addresses sign in through an
// organisation's provider. The operator gives them, never an owner.
type SSODomain struct {
	Domain    string
	OrgID     string
	CreatedAt time.Time
}

// SSOLogin is a sign-in sent to an organisation's provider and not back yet:
// the state (its hash), the nonce and the PKCE verifier (sealed to the row's
// id) that the callback must match.
type SSOLogin struct {
	ID          string
	StateHash   []byte
	OrgID       string
	Issuer      string // the connection's issuer when it started (mix-up defence)
	Nonce       string
	Verifier    []byte // sealed
	IssRequired bool   // the provider announces the iss response parameter (RFC 9207)
	// SessionID is the session whose identity confirmation this sign-in is
	// (max_age=0 at the provider), "" for a sign-in.
	SessionID  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ConsumedAt time.Time
}

// SSOStore keeps organisations' SSO connections, domains, linked identities
// and sign-ins in flight.
type SSOStore interface {
	// PutSSOConnection adds or replaces the organisation's connection.
	PutSSOConnection(ctx context.Context, c *SSOConnection) error
	// SSOConnection returns the organisation's connection, or ErrNotFound.
	SSOConnection(ctx context.Context, orgID string) (*SSOConnection, error)
	// DeleteSSOConnection removes it; false if there was none.
	DeleteSSOConnection(ctx context.Context, orgID string) (bool, error)
	// AnySSOConnection reports whether any organisation has a connection.
	AnySSOConnection(ctx context.Context) (bool, error)

	// AddSSODomain stores d; ErrConflict when the domain belongs to an organisation.
	AddSSODomain(ctx context.Context, d *SSODomain) error
	// RemoveSSODomain removes the organisation's domain; false if it has none such.
	RemoveSSODomain(ctx context.Context, orgID, domain string) (bool, error)
	// SSODomain returns the domain's record, or ErrNotFound.
	SSODomain(ctx context.Context, domain string) (*SSODomain, error)
	// SSODomains lists the organisation's domains, by name.
	SSODomains(ctx context.Context, orgID string) ([]*SSODomain, error)

	// CreateSSOIdentity stores i; ErrConflict when (org, issuer, subject) or
	// (account, issuer) is taken.
	CreateSSOIdentity(ctx context.Context, i *SSOIdentity) error
	// SSOIdentity returns the identity (org, issuer, subject), or ErrNotFound.
	SSOIdentity(ctx context.Context, orgID, issuer, subject string) (*SSOIdentity, error)
	// TouchSSOIdentity records a sign-in of the identity and the e-mail the
	// provider gave.
	TouchSSOIdentity(ctx context.Context, orgID, issuer, subject, email string, at time.Time) error
	// SSOIdentities lists the identities linked to accounts of the organisation.
	SSOIdentities(ctx context.Context, orgID string) ([]*SSOIdentity, error)

	// CreateSSOLogin stores l; ErrConflict if its id or state is taken.
	CreateSSOLogin(ctx context.Context, l *SSOLogin) error
	// SSOLoginByState returns the sign-in with stateHash, or ErrNotFound.
	SSOLoginByState(ctx context.Context, stateHash []byte) (*SSOLogin, error)
	// ConsumeSSOLogin marks it consumed unless it is, and reports whether this call did.
	ConsumeSSOLogin(ctx context.Context, id string, at time.Time) (bool, error)
}

// SSOProvider makes the HTTP calls of SSO to organisations' providers
// (internal/sso implements it; main wires it). It holds no rule: the
// Service decides what a provider's answer is worth.
type SSOProvider interface {
	// Discover reads the issuer's OpenID configuration, which must name the
	// same issuer. ErrSSOUnavailable when the provider cannot be reached or
	// does not answer as an OpenID Connect provider.
	Discover(ctx context.Context, issuer string) (*SSOMetadata, error)
	// AuthURL returns the authorization request to send the browser to.
	AuthURL(ctx context.Context, c SSOClientConfig, r SSOAuthRequest) (string, error)
	// Exchange redeems code with the PKCE verifier and returns the claims of
	// the ID token, verified against the provider's keys, issuer, audience
	// (the client id) and expiry (at the Service's clock). It does not check
	// the nonce: the Service does. ErrSSOUnavailable when the provider cannot
	// be reached or refuses the code; ErrSSOTokenExpired, ErrSSOToken for an
	// ID token that does not verify.
	Exchange(ctx context.Context, c SSOClientConfig, code, verifier string) (*SSOClaims, error)
}

// Errors an SSOProvider wraps.
var (
	ErrSSOUnavailable  = errors.New("twostep: the identity provider cannot be reached")
	ErrSSOToken        = errors.New("twostep: the identity provider's ID token does not verify")
	ErrSSOTokenExpired = errors.New("twostep: the identity provider's ID token has expired")
)

// SSOClientConfig is Twostep as a client of one provider.
type SSOClientConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string
}

// SSOAuthRequest is what an authorization request carries.
type SSOAuthRequest struct {
	State         string
	Nonce         string
	CodeChallenge string // S256 of the verifier
	LoginHint     string
	// Reauthenticate asks the provider for a new sign-in (max_age=0).
	Reauthenticate bool
}

// SSOMetadata is what discovery says that the Service needs, and what
// testing a connection shows.
type SSOMetadata struct {
	Issuer                string
	AuthorizationEndpoint string
	TokenEndpoint         string
	JWKSURI               string
	UserinfoEndpoint      string
	// PKCES256: code_challenge_methods_supported lists S256.
	PKCES256 bool
	// IssParameter: the provider adds iss to its authorization responses
	// (RFC 9207), so one without it is refused.
	IssParameter bool
}

// SSOClaims are the claims of a verified ID token.
type SSOClaims struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Nonce         string
	AMR           []string
	ACR           string
	AuthTime      time.Time
	IssuedAt      time.Time
}

// SSOConnectionInput is what an owner gives for the organisation's connection.
type SSOConnectionInput struct {
	Issuer       string
	ClientID     string
	ClientSecret string // "" keeps the stored one when there is one
	SecondStep   SSORule
}

// SSOCallbackPath is the path of the redirect URI of an organisation's
// connection; the organisation's slug follows it.
const SSOCallbackPath = "/sso/callback/"

// SSORedirectURL is the redirect URI to register at the organisation's provider.
func (s *Service) SSORedirectURL(org *Org) string {
	return strings.TrimRight(s.baseURL, "/") + SSOCallbackPath + url.PathEscape(org.Slug)
}

// SSOConnection returns the caller's organisation's connection (owners and
// admins, who see it without its secret); ErrNotFound when it has none.
func (s *Service) SSOConnection(ctx context.Context, c *Caller) (*SSOConnection, error) {
	if err := s.requireAdmin(c); err != nil {
		return nil, err
	}
	return s.store.SSOConnection(ctx, c.Account.OrgID)
}

// PutSSOConnection sets the organisation's connection (owners, with a recent
// identity confirmation). The issuer must be https and public unless the
// operator allows private URLs, and must answer discovery naming itself
// (an *InvalidError on "issuer" otherwise). An empty ClientSecret keeps the
// stored one. The secret is sealed to the organisation; the change is audited
// without it.
func (s *Service) PutSSOConnection(ctx context.Context, c *Caller, in SSOConnectionInput) (*SSOConnection, error) {
	if err := s.requireOwner(c); err != nil {
		return nil, err
	}
	if err := s.requireConfirmed(c); err != nil {
		return nil, err
	}
	issuer := strings.TrimSpace(in.Issuer)
	if issuer == "" {
		return nil, invalid("issuer", ReasonRequired)
	}
	if err := checkIssuerURL(issuer); err != nil {
		return nil, err
	}
	if err := s.checkPublicURL(ctx, "issuer", issuer); err != nil {
		return nil, err
	}
	in.ClientID = strings.TrimSpace(in.ClientID)
	if in.ClientID == "" {
		return nil, invalid("client_id", ReasonRequired)
	}
	for _, f := range []struct{ field, v string }{{"client_id", in.ClientID}, {"client_secret", in.ClientSecret}} {
		if utf8.RuneCountInString(f.v) > 500 {
			return nil, invalid(f.field, ReasonTooLong, "Max", "500")
		}
		if err := checkText(f.field, f.v); err != nil {
			return nil, err
		}
	}
	if in.SecondStep == "" {
		return nil, invalid("second_step", ReasonRequired)
	}
	if !in.SecondStep.valid() {
		return nil, invalid("second_step", ReasonSSORule)
	}
	old, err := s.store.SSOConnection(ctx, c.Account.OrgID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if in.ClientSecret == "" && old == nil {
		return nil, invalid("client_secret", ReasonRequired)
	}
	if _, err := s.discover(ctx, issuer); err != nil {
		return nil, err
	}
	now := s.now()
	conn := &SSOConnection{OrgID: c.Account.OrgID, Issuer: issuer, ClientID: in.ClientID, SecondStep: in.SecondStep,
		CreatedAt: now, UpdatedAt: now}
	if old != nil {
		conn.CreatedAt, conn.ClientSecret = old.CreatedAt, old.ClientSecret
	}
	if in.ClientSecret != "" {
		if conn.ClientSecret, err = s.sealer.Seal([]byte(in.ClientSecret), ssoSecretAD(conn.OrgID)); err != nil {
			return nil, err
		}
	}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.PutSSOConnection(ctx, conn); err != nil {
			return err
		}
		d := &SSOConnectionChanged{Issuer: conn.Issuer, ClientID: conn.ClientID, SecondStep: conn.SecondStep,
			SecretChanged: in.ClientSecret != ""}
		if old != nil {
			d.Before = &SSOConnectionState{Issuer: old.Issuer, ClientID: old.ClientID, SecondStep: old.SecondStep}
		}
		return s.audit(ctx, tx, event{detail: d, caller: c, actorID: c.Account.ID, orgID: conn.OrgID})
	})
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// ssoSecretAD binds a sealed client secret to its organisation.
func ssoSecretAD(orgID string) []byte { return []byte("sso-secret:" + orgID) }

// checkIssuerURL accepts an absolute http(s) URL without query, fragment or
// user info (OIDC Discovery §2: the issuer is a URL of those parts only).
func checkIssuerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "#?") || len(raw) > 2000 {
		return invalid("issuer", ReasonURL)
	}
	return nil
}

// discover asks the provider at issuer for its configuration, as an
// *InvalidError on "issuer" when it cannot answer.
func (s *Service) discover(ctx context.Context, issuer string) (*SSOMetadata, error) {
	if s.sso == nil {
		return nil, errors.New("twostep: no SSO provider client is wired")
	}
	md, err := s.sso.Discover(ctx, issuer)
	if err != nil {
		s.log.Warn("sso discovery failed", "issuer", issuer, "err", err)
		if errors.Is(err, ErrSSOUnavailable) {
			return nil, invalid("issuer", ReasonSSODiscovery, "Issuer", issuer)
		}
		return nil, err
	}
	return md, nil
}

// DeleteSSOConnection removes the organisation's connection (owners, with a
// recent identity confirmation). Its SSO members cannot sign in until it has
// one again or an admin moves them off SSO, which sends them a set-password
// invitation (API.md §12). ErrNotFound when there is none.
func (s *Service) DeleteSSOConnection(ctx context.Context, c *Caller) error {
	if err := s.requireOwner(c); err != nil {
		return err
	}
	if err := s.requireConfirmed(c); err != nil {
		return err
	}
	return s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		old, err := tx.SSOConnection(ctx, c.Account.OrgID)
		if err != nil {
			return err
		}
		if _, err := tx.DeleteSSOConnection(ctx, c.Account.OrgID); err != nil {
			return err
		}
		return s.audit(ctx, tx, event{detail: &SSOConnectionRemoved{Issuer: old.Issuer}, caller: c, actorID: c.Account.ID, orgID: old.OrgID})
	})
}

// TestSSOConnection runs discovery against issuer, as an owner typed it
// before saving, or with "" against the organisation's connection (owners
// and admins). The issuer is checked as PutSSOConnection checks it. An
// *InvalidError on "issuer" when the provider does not answer as itself;
// ErrNotFound for "" without a connection.
func (s *Service) TestSSOConnection(ctx context.Context, c *Caller, issuer string) (*SSOMetadata, error) {
	if err := s.requireAdmin(c); err != nil {
		return nil, err
	}
	if issuer = strings.TrimSpace(issuer); issuer == "" {
		conn, err := s.SSOConnection(ctx, c)
		if err != nil {
			return nil, err
		}
		issuer = conn.Issuer
	}
	if err := checkIssuerURL(issuer); err != nil {
		return nil, err
	}
	if err := s.checkPublicURL(ctx, "issuer", issuer); err != nil {
		return nil, err
	}
	return s.discover(ctx, issuer)
}

// AnySSO reports whether any organisation has an SSO connection: then the
// sign-in page asks for the e-mail first (API.md §12). One indexed read.
func (s *Service) AnySSO(ctx context.Context) (bool, error) { return s.store.AnySSOConnection(ctx) }

// normalizeDomain lower-cases an e-mail domain and checks it has the shape of one.
func normalizeDomain(field, d string) (string, error) {
	d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	if d == "" {
		return "", invalid(field, ReasonRequired)
	}
	if len(d) > 253 || !strings.Contains(d, ".") || strings.HasPrefix(d, ".") || strings.Contains(d, "..") {
		return "", invalid(field, ReasonSSODomain)
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return "", invalid(field, ReasonSSODomain)
		}
	}
	return d, nil
}

// AddSSODomain gives an e-mail domain to an organisation (the operator's
// CLI: never an owner, who could claim another's addresses). A domain
// belongs to one organisation: ErrConflict when it has one.
func (s *Service) AddSSODomain(ctx context.Context, orgRef, domain string) (*SSODomain, error) {
	org, err := s.findOrg(ctx, orgRef)
	if err != nil {
		return nil, err
	}
	if domain, err = normalizeDomain("domain", domain); err != nil {
		return nil, err
	}
	d := &SSODomain{Domain: domain, OrgID: org.ID, CreatedAt: s.now()}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.AddSSODomain(ctx, d); err != nil {
			return err
		}
		return s.audit(ctx, tx, event{detail: &SSODomainChanged{Domain: domain, Added: true}, actorID: OperatorActor, orgID: org.ID})
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// RemoveSSODomain takes an e-mail domain from an organisation (operator);
// ErrNotFound when the organisation does not have it.
func (s *Service) RemoveSSODomain(ctx context.Context, orgRef, domain string) error {
	org, err := s.findOrg(ctx, orgRef)
	if err != nil {
		return err
	}
	if domain, err = normalizeDomain("domain", domain); err != nil {
		return err
	}
	return s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		ok, err := tx.RemoveSSODomain(ctx, org.ID, domain)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		return s.audit(ctx, tx, event{detail: &SSODomainChanged{Domain: domain}, actorID: OperatorActor, orgID: org.ID})
	})
}

// SSODomains lists the e-mail domains of the caller's organisation (owners
// and admins see them; the operator gives them).
func (s *Service) SSODomains(ctx context.Context, c *Caller) ([]string, error) {
	if err := s.requireAdmin(c); err != nil {
		return nil, err
	}
	ds, err := s.store.SSODomains(ctx, c.Account.OrgID)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Domain)
	}
	return out, nil
}

// SSORoute is where an e-mail address signs in: its organisation's provider,
// through StartURL (a path on Twostep that sets the state and redirects).
type SSORoute struct {
	Org      *Org
	StartURL string
}

// SSOStartPath starts a sign-in at an organisation's provider (web's redirect handler).
const SSOStartPath = "/sso/start"

// SSOFor is home-realm discovery: the route of an address that signs in
// through its organisation's provider — an SSO account's, or any other in a
// domain of an organisation with a connection, whether or not a password
// account has it: the answer must not tell which addresses have one (EN-01).
// Such an account is still never taken over (the callback refuses it,
// sso_account_taken) and still signs in with its password at
// POST /api/v1/sign-in. ErrNotFound for any other address, and for an SSO
// account whose organisation has no connection (ErrSSOManaged at sign-in says
// the rest).
func (s *Service) SSOFor(ctx context.Context, email string) (*SSORoute, error) {
	email = NormalizeEmail(email)
	if email == "" {
		return nil, invalid("email", ReasonEmail)
	}
	a, err := s.store.AccountByEmail(ctx, email)
	var orgID string
	switch {
	case err == nil && a.SSO:
		orgID = a.OrgID
	case err == nil || errors.Is(err, ErrNotFound):
		at := strings.LastIndexByte(email, '@')
		d, err := s.store.SSODomain(ctx, email[at+1:])
		if err != nil {
			return nil, err
		}
		orgID = d.OrgID
	default:
		return nil, err
	}
	org, err := s.store.Org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if !org.HasSSOConnection() {
		return nil, ErrNotFound
	}
	q := url.Values{"org": {org.Slug}, "login_hint": {email}}
	return &SSORoute{Org: org, StartURL: SSOStartPath + "?" + q.Encode()}, nil
}

// ssoMemberIdentities returns the provider identities of the organisation's
// accounts, by account id.
func (s *Service) ssoMemberIdentities(ctx context.Context, orgID string) (map[string]*SSOIdentity, error) {
	ids, err := s.store.SSOIdentities(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*SSOIdentity, len(ids))
	for _, i := range ids {
		if old, ok := out[i.AccountID]; !ok || i.LastSignInAt.After(old.LastSignInAt) {
			out[i.AccountID] = i
		}
	}
	return out, nil
}

// UpstreamShowsSecondStep reports whether a provider's amr or acr says its
// sign-in had a second step: an RFC 8176 value of a second factor or of
// several (mfa, otp, hwk…), or an acr that names multi-factor or a level of
// assurance of 2 or more (NIST AAL2/3, Keycloak's "2", eIDAS substantial/high).
func UpstreamShowsSecondStep(amr []string, acr string) bool {
	second := []string{"mfa", "mca", "otp", "hwk", "swk", "sms", "tel", "sc", "fpt", "face", "iris", "retina", "vbm", "pop"}
	if slices.ContainsFunc(amr, func(m string) bool { return slices.Contains(second, strings.ToLower(m)) }) {
		return true
	}
	a := strings.ToLower(acr)
	if a == "2" || a == "3" || a == "4" {
		return true
	}
	for _, s := range []string{"mfa", "multifactor", "multi-factor", "two-step", "two-factor", "2fa", "aal2", "aal3",
		"aal/2", "aal/3", "loa2", "loa3", "loa-2", "loa-3", "substantial", "high"} {
		if strings.Contains(a, s) {
			return true
		}
	}
	return false
}

// ssoDomainManaged reports whether email's domain belongs to an organisation
// with an SSO connection.
func (s *Service) ssoDomainManaged(ctx context.Context, email string) (bool, error) {
	d, err := s.store.SSODomain(ctx, email[strings.LastIndexByte(email, '@')+1:])
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	org, err := s.store.Org(ctx, d.OrgID)
	if err != nil {
		return false, err
	}
	return org.HasSSOConnection(), nil
}
