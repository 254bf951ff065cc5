package twostep

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"slices"
	"time"
)

// SSOLoginTTL is how long a sign-in sent to a provider may take to come back.
const SSOLoginTTL = 10 * time.Minute

// BeginSSORequest starts a sign-in at an organisation's provider.
type BeginSSORequest struct {
	OrgSlug   string
	LoginHint string // the address the person gave, passed on to the provider
	// Confirm is the caller whose identity confirmation this sign-in is: the
	// provider is asked for a new sign-in (max_age=0). Nil for a sign-in.
	Confirm *Caller
}

// SSOStart is where to send the browser: AuthURL, the provider's
// authorization request. State is the value the browser must bring back,
// also kept in a cookie of the browser that started it (so that a callback
// URL sent to someone else signs nobody in: login CSRF).
type SSOStart struct {
	AuthURL   string
	State     string
	ExpiresAt time.Time
	Org       *Org
}

// BeginSSO starts a sign-in at the organisation's provider: a fresh state,
// nonce and PKCE verifier, kept server-side (the verifier sealed) until the
// callback. ErrNotFound for an unknown organisation or one without a
// connection; an *InvalidError on "issuer" when the provider does not answer
// discovery.
func (s *Service) BeginSSO(ctx context.Context, r BeginSSORequest) (*SSOStart, error) {
	org, err := s.store.OrgBySlug(ctx, r.OrgSlug)
	if err != nil {
		return nil, err
	}
	conn, err := s.store.SSOConnection(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	md, err := s.discover(ctx, conn.Issuer)
	if err != nil {
		return nil, err
	}
	secret, err := s.sealer.Open(conn.ClientSecret, ssoSecretAD(org.ID))
	if err != nil {
		return nil, err
	}
	now := s.now()
	state, stateHash := s.newToken()
	nonce, _ := s.newToken()
	verifier, _ := s.newToken() // 43+ characters of the unreserved set (RFC 7636 §4.1)
	l := &SSOLogin{ID: s.newID("ssl"), StateHash: stateHash, OrgID: org.ID, Issuer: conn.Issuer, Nonce: nonce,
		IssRequired: md.IssParameter, CreatedAt: now, ExpiresAt: now.Add(SSOLoginTTL)}
	if r.Confirm != nil {
		if r.Confirm.Session == nil || r.Confirm.Account.OrgID != org.ID || !r.Confirm.Account.SSO {
			return nil, ErrForbidden
		}
		l.SessionID = r.Confirm.Session.ID
	}
	if l.Verifier, err = s.sealer.Seal([]byte(verifier), []byte(l.ID)); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(verifier))
	hint := NormalizeEmail(r.LoginHint)
	authURL, err := s.sso.AuthURL(ctx, SSOClientConfig{Issuer: conn.Issuer, ClientID: conn.ClientID, ClientSecret: string(secret),
		RedirectURL: s.SSORedirectURL(org)}, SSOAuthRequest{State: state, Nonce: nonce,
		CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), LoginHint: hint, Reauthenticate: r.Confirm != nil})
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateSSOLogin(ctx, l); err != nil {
		return nil, err
	}
	return &SSOStart{AuthURL: authURL, State: state, ExpiresAt: l.ExpiresAt, Org: org}, nil
}

// FinishSSORequest is the provider's answer at /sso/callback/{org-slug}.
type FinishSSORequest struct {
	OrgSlug string
	// State is the state parameter; BrowserState what the browser's cookie
	// holds. Both must be the state BeginSSO gave.
	State, BrowserState string
	Code                string
	// Iss is the authorization response's iss parameter (RFC 9207), "" when absent.
	Iss string
	// Error is the provider's error parameter, "" for none.
	Error       string
	IP          string
	UserAgent   string
	DeviceToken string
	// Locale is the language the browser asks for (see Caller.Locale).
	Locale string
	// AuthRequestID is the OpenID Connect authorization request the person
	// signs in for, "" for none (as SignInRequest.AuthRequestID).
	AuthRequestID string
	// Session is the session token of the browser, for an identity
	// confirmation; "" for a sign-in.
	Session string
}

// FinishSSO ends a sign-in at the organisation's provider. The state must be
// the one this browser started for this organisation, live and unused; the
// response's iss, when the provider sends one (and it must when it announces
// it), the connection's issuer (mix-up defence, RFC 9700 §4.4); the ID token
// must verify against the provider's keys and carry the nonce. Then, by the
// provider's sub, the account of an earlier sign-in, or, the first time, an
// SSO account of the organisation with that verified e-mail, or a new member
// (role member, sso); an account with a password is never taken over. What
// comes next is Decide's, with the connection's rule and the provider's
// amr: a session, a second step, or enrolment, as SignIn answers.
//
// Errors: ErrExpired for an unknown, used or out-of-time state; an
// *InvalidError naming what did not hold ("state", "iss", "nonce",
// "id_token", "email_verified", "email"); ErrSSOUnavailable when the
// provider cannot be reached. Nothing is created on any of them.
func (s *Service) FinishSSO(ctx context.Context, r FinishSSORequest) (*SignInResult, error) {
	res, err := s.finishSSO(ctx, r)
	if err != nil {
		s.metrics.SignIn(outcome(err))
	} else {
		s.metrics.SignIn(res.Status)
	}
	return res, err
}

func (s *Service) finishSSO(ctx context.Context, r FinishSSORequest) (*SignInResult, error) {
	if r.State == "" {
		return nil, invalid("state", ReasonRequired)
	}
	if r.BrowserState == "" || subtle.ConstantTimeCompare([]byte(r.State), []byte(r.BrowserState)) != 1 {
		// Not the browser that started this sign-in: a callback URL sent to
		// someone else must not sign them in to the sender's account.
		return nil, invalid("state", ReasonSSOState)
	}
	l, err := s.store.SSOLoginByState(ctx, HashToken(r.State))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrExpired
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !l.ConsumedAt.IsZero() || !now.Before(l.ExpiresAt) {
		return nil, ErrExpired
	}
	org, err := s.store.OrgBySlug(ctx, r.OrgSlug)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if org == nil || org.ID != l.OrgID {
		return nil, invalid("state", ReasonSSOState) // started for another organisation
	}
	// Used once, whatever follows: a state that failed once is not retried.
	if ok, err := s.store.ConsumeSSOLogin(ctx, l.ID, now); err != nil || !ok {
		return nil, cmpErr(err, ErrExpired)
	}
	conn, err := s.store.SSOConnection(ctx, org.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrSSOManaged // SSO was turned off meanwhile
	}
	if err != nil {
		return nil, err
	}
	if conn.Issuer != l.Issuer {
		return nil, invalid("iss", ReasonSSOIssuer) // the connection changed meanwhile
	}
	if r.Iss != "" || l.IssRequired {
		if r.Iss != conn.Issuer {
			s.ssoRefused(ctx, org, conn, "iss", r)
			return nil, invalid("iss", ReasonSSOIssuer)
		}
	}
	if r.Error != "" {
		s.ssoRefused(ctx, org, conn, "provider_error", r)
		return nil, invalid("", ReasonSSOProviderError, "Error", truncate(r.Error, 64))
	}
	if r.Code == "" {
		return nil, invalid("code", ReasonRequired)
	}
	verifier, err := s.sealer.Open(l.Verifier, []byte(l.ID))
	if err != nil {
		return nil, err
	}
	secret, err := s.sealer.Open(conn.ClientSecret, ssoSecretAD(org.ID))
	if err != nil {
		return nil, err
	}
	cl, err := s.sso.Exchange(ctx, SSOClientConfig{Issuer: conn.Issuer, ClientID: conn.ClientID, ClientSecret: string(secret),
		RedirectURL: s.SSORedirectURL(org)}, r.Code, string(verifier))
	switch {
	case errors.Is(err, ErrSSOTokenExpired):
		s.ssoRefused(ctx, org, conn, "token_expired", r)
		return nil, invalid("id_token", ReasonSSOTokenExpired)
	case errors.Is(err, ErrSSOToken):
		s.log.Warn("sso id token refused", "org", org.ID, "issuer", conn.Issuer, "err", err)
		s.ssoRefused(ctx, org, conn, "token", r)
		return nil, invalid("id_token", ReasonSSOToken)
	case errors.Is(err, ErrSSOUnavailable):
		s.log.Warn("sso token exchange failed", "org", org.ID, "issuer", conn.Issuer, "err", err)
		return nil, err
	case err != nil:
		return nil, err
	}
	if cl.Issuer != conn.Issuer {
		s.ssoRefused(ctx, org, conn, "token", r)
		return nil, invalid("id_token", ReasonSSOToken)
	}
	if subtle.ConstantTimeCompare([]byte(cl.Nonce), []byte(l.Nonce)) != 1 {
		s.ssoRefused(ctx, org, conn, "nonce", r)
		return nil, invalid("nonce", ReasonSSONonce)
	}
	if cl.Subject == "" {
		return nil, invalid("id_token", ReasonSSOToken)
	}
	if l.SessionID != "" {
		return s.finishSSOConfirm(ctx, l, org, conn, cl, r)
	}
	return s.ssoSignIn(ctx, org, conn, cl, r)
}

// ssoSignIn finds or makes the account of a verified provider identity and
// takes its sign-in on through Decide.
func (s *Service) ssoSignIn(ctx context.Context, org *Org, conn *SSOConnection, cl *SSOClaims, r FinishSSORequest) (*SignInResult, error) {
	caller := &Caller{IP: r.IP, UserAgent: r.UserAgent, DeviceToken: r.DeviceToken, Locale: r.Locale}
	email := NormalizeEmail(cl.Email)
	var res *SignInResult
	var refusal string
	err := s.atomically(ctx, func(ctx context.Context, tx Store) (error, error) {
		acct, linked, err := s.ssoAccount(ctx, tx, org, conn, cl, email, caller)
		if err != nil {
			var inv *InvalidError
			if errors.As(err, &inv) {
				refusal = string(inv.Code)
				return err, nil
			}
			return nil, err
		}
		caller.Account = acct
		if err := s.adoptLocale(ctx, tx, acct, caller); err != nil {
			return nil, err
		}
		if !linked {
			if err := tx.TouchSSOIdentity(ctx, org.ID, conn.Issuer, cl.Subject, email, s.now()); err != nil {
				return nil, err
			}
		}
		up := &Upstream{Issuer: conn.Issuer, Rule: conn.SecondStep, AMR: slices.Clone(cl.AMR), ACR: cl.ACR,
			Proven: UpstreamShowsSecondStep(cl.AMR, cl.ACR)}
		st, err := s.signInState(ctx, tx, acct, org, nil)
		if err != nil {
			return nil, err
		}
		st.Upstream = up
		st.RequireSecondStep = s.authRequestWantsTwoStep(ctx, r.AuthRequestID)
		next := Decide(st)
		switch next.Kind {
		case NextEnrol:
			res, err = s.enrolmentRequired(ctx, tx, acct, org, next, caller)
			return nil, err
		case NextSession:
			if res, err = s.signedIn(ctx, tx, acct, next, caller); err != nil {
				return nil, err
			}
			res.Org = org
			return nil, s.audit(ctx, tx, event{detail: &SignInSucceeded{AMR: next.AMR, SecondStep: next.SecondStep,
				Provider: conn.Issuer, UpstreamAMR: up.AMR}, account: acct, caller: caller})
		}
		res, err = s.ssoSecondStep(ctx, tx, acct, org, next, up, caller)
		return nil, err
	})
	if err != nil {
		if refusal != "" {
			s.ssoRefused(ctx, org, conn, refusal, r)
		}
		return nil, err
	}
	s.wake()
	return res, nil
}

// ssoAccount returns the account of the provider's identity cl inside tx,
// linking or creating it the first time, and whether it did either (then
// the identity's last sign-in is already now). The first time needs a
// verified e-mail; it links only an account that is already SSO in this
// organisation, never one that signs in with a password (no takeover).
func (s *Service) ssoAccount(ctx context.Context, tx Store, org *Org, conn *SSOConnection, cl *SSOClaims, email string, c *Caller) (*Account, bool, error) {
	id, err := tx.SSOIdentity(ctx, org.ID, conn.Issuer, cl.Subject)
	if err == nil {
		a, err := tx.Account(ctx, id.AccountID)
		if err != nil {
			return nil, false, err
		}
		if !a.SSO || a.OrgID != org.ID {
			// Taken off SSO since (an admin sent a set-password
			// invitation): the provider no longer signs this account in.
			return nil, false, ErrSSOManaged
		}
		return a, false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	if !cl.EmailVerified {
		return nil, false, invalid("email_verified", ReasonSSOEmailUnverified)
	}
	if email == "" {
		return nil, false, invalid("email", ReasonSSONoEmail)
	}
	now := s.now()
	a, err := tx.AccountByEmail(ctx, email)
	created := false
	switch {
	case errors.Is(err, ErrNotFound):
		a = &Account{ID: s.newID("acc"), OrgID: org.ID, Email: email, Role: RoleMember, SSO: true, CreatedAt: now}
		if err := tx.CreateAccount(ctx, a); err != nil {
			return nil, false, err
		}
		if err := s.audit(ctx, tx, event{detail: &AccountCreated{Role: a.Role, SSO: true}, account: a, caller: c}); err != nil {
			return nil, false, err
		}
		created = true
	case err != nil:
		return nil, false, err
	case a.OrgID != org.ID || !a.SSO:
		// Someone else's address, or an account that signs in with its own
		// password: a provider never takes it over. (An account an admin
		// moved to SSO may keep a dormant password hash, which only taking
		// it off SSO again brings back: the move was the consent.)
		return nil, false, invalid("email", ReasonSSOAccountTaken, "Email", email)
	}
	err = tx.CreateSSOIdentity(ctx, &SSOIdentity{OrgID: org.ID, Issuer: conn.Issuer, Subject: cl.Subject, AccountID: a.ID,
		Email: email, CreatedAt: now, LastSignInAt: now})
	if errors.Is(err, ErrConflict) {
		// The account is linked to another identity at this provider.
		return nil, false, invalid("email", ReasonSSOAccountTaken, "Email", email)
	}
	if err != nil {
		return nil, false, err
	}
	return a, true, s.audit(ctx, tx, event{detail: &SSOLinked{Provider: conn.Issuer, Subject: cl.Subject, Created: created},
		account: a, caller: c})
}

// ssoSecondStep starts the Twostep second step of an SSO sign-in: a
// sign-in token that carries the provider's answer, as SignIn's does.
func (s *Service) ssoSecondStep(ctx context.Context, tx Store, a *Account, org *Org, next Next, up *Upstream, c *Caller) (*SignInResult, error) {
	now := s.now()
	token, hash := s.newToken()
	ch := &Challenge{ID: s.newID("sgn"), TokenHash: hash, Purpose: PurposeSignIn, AccountID: a.ID, AMR: []string{},
		Upstream: up, CreatedAt: now, ExpiresAt: now.Add(s.signInTTL)}
	if err := tx.CreateChallenge(ctx, ch); err != nil {
		return nil, err
	}
	res := &SignInResult{Status: StatusSecondStep, Account: a, Org: org, SignInToken: token, ExpiresAt: ch.ExpiresAt}
	res.Methods, res.DefaultMethod = methodOptions(next)
	if def, ok := defaultChoice(next); ok && def.Method.delivers() {
		cs, err := s.sendCode(ctx, tx, a, ch, def.Method, def.Factor.ID, def.Factor.Address, c)
		if err != nil && !errors.Is(err, ErrThrottled) {
			return nil, err
		}
		res.CodeSent = cs
	}
	return res, nil
}

// ssoRefused records a refused SSO callback in the organisation's audit
// trail, naming the provider and why (never the code or the token).
func (s *Service) ssoRefused(ctx context.Context, org *Org, conn *SSOConnection, why string, r FinishSSORequest) {
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		return s.audit(ctx, tx, event{detail: &SSOSignInFailed{Provider: conn.Issuer, Reason: why},
			orgID: org.ID, caller: &Caller{IP: r.IP, UserAgent: r.UserAgent}})
	})
	if err != nil {
		s.log.Warn("sso audit failed", "org", org.ID, "err", err)
	}
}

// PurposeSSOReauth is a new sign-in at the provider for an identity
// confirmation, which ConfirmIdentity takes in place of the password of an
// SSO member who also has a Twostep method to prove.
const PurposeSSOReauth Purpose = "sso_reauth"

// finishSSOConfirm ends an identity confirmation at the provider: the
// session's own identity, newly signed in there (auth_time after the start,
// as max_age=0 asked). Without a Twostep method that renews the session
// confirmed (StatusSignedIn). With one it is half of it: StatusSecondStep,
// and ConfirmIdentity with a code of that method, for this session, within
// the sign-in lifetime, does the rest (API.md §12).
func (s *Service) finishSSOConfirm(ctx context.Context, l *SSOLogin, org *Org, conn *SSOConnection, cl *SSOClaims, r FinishSSORequest) (*SignInResult, error) {
	caller, err := s.Authenticate(ctx, r.Session, r.IP, r.UserAgent)
	if err != nil {
		return nil, err
	}
	if caller.Session.ID != l.SessionID {
		return nil, invalid("state", ReasonSSOState)
	}
	id, err := s.store.SSOIdentity(ctx, org.ID, conn.Issuer, cl.Subject)
	if errors.Is(err, ErrNotFound) || err == nil && id.AccountID != caller.Account.ID {
		return nil, invalid("id_token", ReasonSSOOtherAccount)
	}
	if err != nil {
		return nil, err
	}
	// auth_time against the token's own iat (both the provider's clock):
	// the sign-in there happened within the time this confirmation took by
	// ours, give or take a minute, whatever the skew between the clocks.
	took := s.now().Sub(l.CreatedAt)
	if cl.AuthTime.IsZero() || cl.IssuedAt.IsZero() || cl.AuthTime.Before(cl.IssuedAt.Add(-took-time.Minute)) {
		// The provider did not sign the person in again (max_age=0 ignored).
		return nil, invalid("id_token", ReasonSSONotFresh)
	}
	st, err := s.signInState(ctx, s.store, caller.Account, org, nil)
	if err != nil {
		return nil, err
	}
	if st.HasMethod() {
		now := s.now()
		_, hash := s.newToken()
		ch := &Challenge{ID: s.newID("sra"), TokenHash: hash, Purpose: PurposeSSOReauth, AccountID: caller.Account.ID,
			SessionID: caller.Session.ID, AMR: slices.Clone(cl.AMR), CreatedAt: now, ExpiresAt: now.Add(s.signInTTL)}
		if err := s.store.CreateChallenge(ctx, ch); err != nil {
			return nil, err
		}
		res := &SignInResult{Status: StatusSecondStep, Account: caller.Account, Org: org, ExpiresAt: ch.ExpiresAt}
		res.Methods, res.DefaultMethod = methodOptions(Decide(st))
		return res, nil
	}
	var res *SignInResult
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		token, sess := s.newSession(caller.Account, slices.Clone(cl.AMR), caller.Session.SecondStep, true, "", caller)
		sess.ID = caller.Session.ID
		if sess.SecondStep == SecondStepExempt {
			// newSession confirms no exempt session: a sign-in under
			// "never" proved no second step. This new sign-in at the
			// provider is the whole identity an SSO member without a
			// method has, so it confirms (SU-01; requireConfirmed).
			sess.ConfirmedUntil = s.now().Add(s.confirmWindow)
		}
		if ok, err := tx.RenewSession(ctx, sess); err != nil || !ok {
			return cmpErr(err, ErrUnauthenticated)
		}
		if err := s.issueForward(ctx, tx, sess); err != nil {
			return err
		}
		res = &SignInResult{Status: StatusSignedIn, Account: caller.Account, Org: org, SessionToken: token, Session: sess,
			ExpiresAt: sess.ExpiresAt}
		return s.audit(ctx, tx, event{detail: &IdentityConfirmed{AMR: cl.AMR, Provider: conn.Issuer}, account: caller.Account, caller: caller})
	})
	return res, err
}
