package twostep

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"
)

// NewAuthRequest is an authorization request as the authorize endpoint
// parsed it (the library has already checked the client and its redirect URI
// against the registered ones).
type NewAuthRequest struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	ResponseMode        string
	Scopes              []string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              *uint
	ACRValues           []string
}

// CreateAuthRequest stores an authorization request after the rules the
// library leaves to us (OP-02): the redirect URI registered exactly, the code
// flow only, openid among the scopes, and PKCE with S256 — required for public
// clients, accepted for all; `plain`, any other method and a challenge without
// its method are refused here, where the library would default to plain.
// ErrNotFound for an unknown client; an *InvalidError naming the parameter
// otherwise.
func (s *Service) CreateAuthRequest(ctx context.Context, n NewAuthRequest) (*AuthRequest, error) {
	cl, err := s.OIDCClient(ctx, n.ClientID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(cl.RedirectURIs, n.RedirectURI) {
		return nil, invalid("redirect_uri", ReasonRedirectURIUnknown)
	}
	if n.ResponseType != "code" {
		return nil, invalid("response_type", ReasonResponseTypeCode)
	}
	if !slices.Contains(n.Scopes, "openid") {
		return nil, invalid("scope", ReasonScopeOpenID)
	}
	switch {
	case n.CodeChallenge == "" && n.CodeChallengeMethod != "":
		return nil, invalid("code_challenge", ReasonPKCEChallenge)
	case n.CodeChallenge == "" && cl.Public():
		return nil, invalid("code_challenge", ReasonPKCEPublic)
	case n.CodeChallenge != "" && n.CodeChallengeMethod != "S256":
		return nil, invalid("code_challenge_method", ReasonPKCEMethod)
	case n.CodeChallenge != "" && (len(n.CodeChallenge) != 43 || strings.Trim(n.CodeChallenge, base64URLAlphabet) != ""):
		return nil, invalid("code_challenge", ReasonPKCEFormat)
	}
	if len(n.State) > 2000 || len(n.Nonce) > 2000 {
		return nil, invalid("state", ReasonStateLong, "Max", "2000")
	}
	now := s.now()
	r := &AuthRequest{ID: s.authRequestID(), ClientID: cl.ID, RedirectURI: n.RedirectURI, Scopes: n.Scopes, State: n.State,
		Nonce: n.Nonce, ResponseMode: n.ResponseMode, CodeChallenge: n.CodeChallenge, CodeChallengeMethod: n.CodeChallengeMethod,
		Prompt: n.Prompt, MaxAge: -1, ACRValues: n.ACRValues, CreatedAt: now, ExpiresAt: now.Add(AuthRequestTTL)}
	if n.MaxAge != nil {
		r.MaxAge = int(min(*n.MaxAge, 1<<31-1))
	}
	return r, s.store.CreateAuthRequest(ctx, r)
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// authRequestID is a time-ordered id with 256 random bits: it travels in the
// browser's address bar and opens the callback that hands out the code, so
// it must not be guessable.
func (s *Service) authRequestID() string {
	b := make([]byte, 32)
	s.mustRead(b)
	return s.newID("oar") + base64.RawURLEncoding.EncodeToString(b)
}

// AuthRequest returns a stored authorization request; ErrNotFound if there is none.
func (s *Service) AuthRequest(ctx context.Context, id string) (*AuthRequest, error) {
	if id == "" {
		return nil, ErrNotFound
	}
	return s.store.AuthRequest(ctx, id)
}

// AuthRequestStep is what the pages do with a person a product sent: go back
// to the product now (Callback: the request is done or failed), or sign in,
// telling them which product asked (ClientName).
type AuthRequestStep struct {
	Callback   bool
	ClientName string
	// RedirectURI is where the sign-in ends: the request's redirect URI.
	RedirectURI string
	// TwoStep: the product asks for two-step verification (acr_values or
	// --require-two-step): an account without it is led through enrolment.
	TwoStep bool
}

// wantsTwoStep reports whether the request needs a second step proven.
func (r *AuthRequest) wantsTwoStep(cl *OIDCClient) bool {
	return cl.RequireTwoStep || slices.Contains(r.ACRValues, ACRTwoStep) || slices.Contains(r.ACRValues, ACRPhishingResistant)
}

// wantsPhishingResistant reports whether the request asks for a passkey or
// security key that verified its holder (acr_values phishing-resistant): a
// step-up that nothing less satisfies (OP-04).
func (r *AuthRequest) wantsPhishingResistant() bool {
	return slices.Contains(r.ACRValues, ACRPhishingResistant)
}

// liveAuthRequest returns a request still waiting for its sign-in, with its
// client; ErrExpired otherwise.
func (s *Service) liveAuthRequest(ctx context.Context, id string) (*AuthRequest, *OIDCClient, error) {
	r, err := s.AuthRequest(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrExpired
	}
	if err != nil {
		return nil, nil, err
	}
	if !r.DoneAt.IsZero() || !s.now().Before(r.ExpiresAt) {
		return nil, nil, ErrExpired
	}
	cl, err := s.OIDCClient(ctx, r.ClientID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrExpired
	}
	return r, cl, err
}

// ResumeAuthRequest decides what a person sent by a product does now, given
// the session token their browser holds ("" for none): a live session that
// satisfies the request completes it at once (single sign-on); with
// prompt=none anything else fails it (login_required, or
// interaction_required when only a second step is missing) without a page; a
// signed-in account outside the client's organisation fails it with
// access_denied; otherwise they sign in. ErrExpired when the request is
// unknown, finished or out of time.
func (s *Service) ResumeAuthRequest(ctx context.Context, id, sessionToken, ip, userAgent string) (*AuthRequestStep, error) {
	r, cl, err := s.liveAuthRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	step := &AuthRequestStep{ClientName: cl.Name, RedirectURI: r.RedirectURI, TwoStep: r.wantsTwoStep(cl)}
	var caller *Caller
	if sessionToken != "" {
		caller, err = s.Authenticate(ctx, sessionToken, ip, userAgent)
		if err != nil && !errors.Is(err, ErrUnauthenticated) {
			return nil, err
		}
	}
	reason := AuthErrLoginRequired
	if caller != nil {
		if cl.OrgID != "" && caller.Account.OrgID != cl.OrgID {
			return &AuthRequestStep{Callback: true}, s.failAuthRequest(ctx, r, AuthErrAccessDenied, "this application is not open to your organisation")
		}
		why := s.unsatisfied(r, cl, caller.Session)
		if why == "" {
			return &AuthRequestStep{Callback: true}, s.completeAuthRequest(ctx, r, caller.Account, caller.Session)
		}
		reason = why
	}
	if slices.Contains(r.Prompt, "none") {
		return &AuthRequestStep{Callback: true}, s.failAuthRequest(ctx, r, reason, "the user must sign in")
	}
	return step, nil
}

// unsatisfied returns "" when the session satisfies the request, else the
// error prompt=none answers: a legacy client's session never yields a token;
// a session older than max_age (prompt=login makes it 0: signed in after the
// request) needs a new sign-in; one without a proven second step does not
// satisfy a request for two-step, nor one without a key that verified its
// holder a request for phishing resistance (OP-04).
func (s *Service) unsatisfied(r *AuthRequest, cl *OIDCClient, sess *Session) string {
	switch {
	case sess.Legacy || sess.AppPasswordID != "":
		return AuthErrLoginRequired
	case slices.Contains(r.Prompt, "login") && sess.CreatedAt.Before(r.CreatedAt):
		return AuthErrLoginRequired
	case r.MaxAge == 0 && sess.CreatedAt.Before(r.CreatedAt):
		return AuthErrLoginRequired
	case r.MaxAge > 0 && s.now().Sub(sess.CreatedAt) > time.Duration(r.MaxAge)*time.Second:
		return AuthErrLoginRequired
	case r.wantsTwoStep(cl) && achievedACR(sess) == ACRPassword:
		return AuthErrInteractionRequired
	case r.wantsPhishingResistant() && achievedACR(sess) != ACRPhishingResistant:
		return AuthErrInteractionRequired
	}
	return ""
}

// achievedACR is the class a session's sign-in reached: two-step only for a
// second step proven in it or trusted from an SSO provider (API.md, the
// paragraph before §7); never more than what happened.
//
// A session earned by a passkey or security key that verified its holder
// (amr hwk and mfa) is phishing-resistant: nothing a person can be tricked
// into typing was enough.
func achievedACR(sess *Session) string {
	if sess.SecondStep == SecondStepProven && slices.Contains(sess.AMR, "hwk") && slices.Contains(sess.AMR, "mfa") {
		return ACRPhishingResistant
	}
	if sess.SecondStep == SecondStepProven || sess.SecondStep == SecondStepUpstream {
		return ACRTwoStep
	}
	return ACRPassword
}

// CompleteAuthRequest ends the request with the session a sign-in just made
// (sessionToken): done when the session satisfies it, otherwise failed with
// the error the client will get (access_denied for an account outside the
// client's organisation or a sign-in that did not reach what the client
// requires). Either way the browser goes to the callback next. ErrExpired
// when the request is unknown, finished or out of time.
func (s *Service) CompleteAuthRequest(ctx context.Context, id, sessionToken, ip, userAgent string) error {
	r, cl, err := s.liveAuthRequest(ctx, id)
	if err != nil {
		return err
	}
	caller, err := s.Authenticate(ctx, sessionToken, ip, userAgent)
	if err != nil {
		return err
	}
	switch {
	case cl.OrgID != "" && caller.Account.OrgID != cl.OrgID:
		return s.failAuthRequest(ctx, r, AuthErrAccessDenied, "this application is not open to your organisation")
	case s.unsatisfied(r, cl, caller.Session) != "":
		return s.failAuthRequest(ctx, r, AuthErrAccessDenied, "the sign-in did not meet what this application requires")
	}
	return s.completeAuthRequest(ctx, r, caller.Account, caller.Session)
}

func (s *Service) completeAuthRequest(ctx context.Context, r *AuthRequest, a *Account, sess *Session) error {
	r.AccountID, r.SessionID, r.AMR, r.ACR, r.AuthTime, r.DoneAt = a.ID, sess.ID, sess.AMR, achievedACR(sess), sess.CreatedAt, s.now()
	ok, err := s.store.FinishAuthRequest(ctx, r)
	if err == nil && !ok {
		return ErrExpired
	}
	return err
}

func (s *Service) failAuthRequest(ctx context.Context, r *AuthRequest, code, text string) error {
	r.Error, r.ErrorText, r.DoneAt = code, text, s.now()
	ok, err := s.store.FinishAuthRequest(ctx, r)
	if err == nil && !ok {
		return ErrExpired
	}
	return err
}

// authRequestWantsPhishingResistant reports whether the live request id
// ("" for none) asks for a passkey or security key: a sign-in for it is
// then offered only keys (Decide).
func (s *Service) authRequestWantsPhishingResistant(ctx context.Context, id string) bool {
	if id == "" {
		return false
	}
	r, _, err := s.liveAuthRequest(ctx, id)
	return err == nil && r.wantsPhishingResistant()
}

// authRequestWantsTwoStep reports whether the live request id (from the
// browser, "" for none) asks for a second step: a sign-in for it then leads
// an account without one through enrolment.
func (s *Service) authRequestWantsTwoStep(ctx context.Context, id string) bool {
	if id == "" {
		return false
	}
	r, cl, err := s.liveAuthRequest(ctx, id)
	return err == nil && r.wantsTwoStep(cl)
}

// SaveAuthCode gives a done request its code, once: the code lives
// TWOSTEP_OIDC_CODE_TTL (60 s, OP-01) and is stored as its SHA-256.
func (s *Service) SaveAuthCode(ctx context.Context, id, code string) error {
	r, err := s.AuthRequest(ctx, id)
	if err != nil {
		return err
	}
	if !r.Done() || !s.now().Before(r.ExpiresAt) {
		return ErrExpired
	}
	ok, err := s.store.SetAuthCode(ctx, id, HashToken(code), s.now().Add(s.oidc.CodeTTL))
	if err == nil && !ok {
		return ErrExpired // a code was handed out already for this request
	}
	return err
}

// ExchangeCode spends an authorization code and returns its request, whose
// client, redirect URI and PKCE challenge the caller then checks against the
// token request (OP-01). A code presented a second time fails and revokes
// every token the first exchange issued; an expired code fails. Both are
// ErrExpired.
func (s *Service) ExchangeCode(ctx context.Context, code string) (*AuthRequest, error) {
	r, err := s.store.AuthRequestByCode(ctx, HashToken(code))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrExpired
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !r.CodeUsedAt.IsZero() {
		return nil, s.codeReused(ctx, r)
	}
	if !now.Before(r.CodeExpiresAt) {
		return nil, ErrExpired
	}
	ok, err := s.store.UseAuthCode(ctx, r.ID, now)
	if err != nil {
		return nil, err
	}
	if !ok { // a parallel exchange won: this one is the second use
		return nil, s.codeReused(ctx, r)
	}
	r.CodeUsedAt = now
	return r, nil
}

// codeReused revokes what the code of r issued, or will issue (OP-01), and
// returns ErrExpired. The first exchange may still be between spending the
// code and issuing its tokens: marking the code revoked first, in the same
// transaction as the chain's revocation, means that its issuing either sees
// the mark and issues nothing, or had locked the row first and committed
// tokens this transaction then revokes (IssueCodeTokens).
func (s *Service) codeReused(ctx context.Context, r *AuthRequest) error {
	now := s.now()
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.RevokeAuthCode(ctx, r.ID, now); err != nil {
			return err
		}
		return tx.RevokeOIDCChain(ctx, r.ID, now)
	})
	if err != nil {
		return err
	}
	s.log.Warn("oidc: authorization code used twice; its tokens are revoked", "client_id", r.ClientID, "account_id", r.AccountID)
	return ErrExpired
}

// AuthRequestClient returns, for the live request id, the name of its client
// (for the pages to say which product asked) and the redirect URI the sign-in
// ends at (for the pages to allow their forms to lead there); "", "" when
// there is no such request.
func (s *Service) AuthRequestClient(ctx context.Context, id string) (name, redirectURI string) {
	if id == "" {
		return "", ""
	}
	r, cl, err := s.liveAuthRequest(ctx, id)
	if err != nil {
		return "", ""
	}
	return cl.Name, r.RedirectURI
}
