package twostep

import (
	"context"
	"errors"
	"net/url"
	"strings"
)

// Forward auth (API.md §8): a product that cannot speak OpenID Connect sits
// behind a reverse proxy that asks Twostep about each of its requests. The
// browser carries, beside its host-only session cookie, a forward-auth token
// whose cookie is scoped to TWOSTEP_COOKIE_DOMAIN: the products under that
// domain receive it, and it is good for nothing but the forward-auth answer,
// so a product never holds the session itself. The token is stored hashed on
// the session row, so whatever ends the session ends it.

// ForwardStore keeps the forward-auth tokens of sessions.
type ForwardStore interface {
	// SetSessionForward stores hash as the forward-auth token hash of the
	// session id, replacing the one it had; ErrNotFound if there is no such
	// session.
	SetSessionForward(ctx context.Context, sessionID string, hash []byte) error
	// ForwardSession returns the session whose forward-auth token hash is
	// hash, with what forward auth tells of its account, in one indexed
	// lookup: it answers every request of the products behind the proxy.
	// ErrNotFound if there is none.
	ForwardSession(ctx context.Context, hash []byte) (*ForwardSession, error)
}

// ForwardSession is what forward auth knows of a session.
type ForwardSession struct {
	// Session holds ID, AccountID, AMR, SecondStep, LastSeenAt,
	// IdleExpiresAt and ExpiresAt; the rest is left zero.
	Session Session
	Email   string
	Role    Role
	OrgSlug string
	// OrgTwoStep is the organisation's policy, PolicyOptional or PolicyRequired.
	OrgTwoStep string
}

// Counts reports whether a session whose second step was met this way lets
// its holder in where a second step is required (required) or not. It is the
// one rule over SecondStep for forward auth and a required policy (API.md,
// the paragraph before §7): proven, remembered and upstream count
// everywhere; none (the account had no method) only where nothing more is
// required; exempt (a legacy client's password alone, for an account that
// has a method) nowhere, since such a session reaches nothing but the API it
// was made for (SU-07).
func (st SecondStep) Counts(required bool) bool {
	switch st {
	case SecondStepProven, SecondStepRemembered, SecondStepUpstream:
		return true
	case SecondStepNone:
		return !required
	}
	return false
}

// ForwardAuth answers a reverse proxy asking whether the holder of the
// forward-auth token may reach the product behind it: the session and its
// account when the session is live and its second step counts — a second
// step is required when requireTwoStep (the proxy's ?require=two-step) or
// when the account's organisation requires two-step. Anything else is
// ErrUnauthenticated. It moves the session's idle expiry at most once a
// minute, so that most answers are one read.
func (s *Service) ForwardAuth(ctx context.Context, token string, requireTwoStep bool) (*ForwardSession, error) {
	if token == "" || len(token) > maxTokenLength {
		return nil, ErrUnauthenticated
	}
	fs, err := s.store.ForwardSession(ctx, HashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	sess := &fs.Session
	required := requireTwoStep || fs.OrgTwoStep == PolicyRequired
	if sess.SecondStep == SecondStepExempt && !sess.Legacy {
		// An SSO sign-in under "never": the organisation's policy does not
		// apply to it (API.md §12), a proxy's explicit require does.
		if requireTwoStep {
			return nil, ErrUnauthenticated
		}
	} else if !sess.SecondStep.Counts(required) {
		return nil, ErrUnauthenticated
	}
	if !now.Before(sess.ExpiresAt) || !now.Before(sess.IdleExpiresAt) {
		return nil, ErrUnauthenticated
	}
	if err := s.touchSession(ctx, sess); err != nil {
		return nil, err
	}
	return fs, nil
}

// maxTokenLength bounds a presented token before it is hashed: ours are 43
// characters, and a longer one is nobody's.
const maxTokenLength = 128

// IssueForwardToken gives the caller's session a new forward-auth token, for
// a browser signed in before forward auth was set up or whose cookie is gone;
// the one it had stops working. ErrUnauthenticated if the session has ended.
func (s *Service) IssueForwardToken(ctx context.Context, c *Caller) (string, error) {
	token, hash := s.newToken()
	err := s.store.SetSessionForward(ctx, c.Session.ID, hash)
	if errors.Is(err, ErrNotFound) {
		return "", ErrUnauthenticated
	}
	if err != nil {
		return "", err
	}
	return token, nil
}

// issueForward gives a new session its forward-auth token, in the
// transaction that made it, when forward auth is set up (a cookie domain).
func (s *Service) issueForward(ctx context.Context, tx Store, sess *Session) error {
	if s.cookieDomain == "" {
		return nil
	}
	token, hash := s.newToken()
	if err := tx.SetSessionForward(ctx, sess.ID, hash); err != nil {
		return err
	}
	sess.ForwardToken = token
	return nil
}

// ReturnURL is rd when a sign-in may send the browser there once it is
// over, "" when it must not (no open redirect).
func (s *Service) ReturnURL(rd string) string { return ReturnURL(s.base, s.cookieDomain, rd) }

// maxReturnURL bounds rd: it rides in a cookie through the sign-in.
const maxReturnURL = 2048

// ReturnURL is the rule of /sign-in?rd= (API.md §8): rd, as a normalised
// absolute URL, when it has no user info, its scheme is https (or http when
// base's is http) and its host is base's or ends with "." + cookieDomain;
// "" otherwise, which drops it. Without a cookie domain only base's host
// qualifies. Backslashes and blanks are refused outright: browsers read a
// backslash as a slash, so "https://app.example.com\@evil.test" would go
// somewhere else than it seems to here.
func ReturnURL(base *url.URL, cookieDomain, rd string) string {
	if base == nil || rd == "" || len(rd) > maxReturnURL || strings.ContainsAny(rd, "\\ \t\r\n") {
		return ""
	}
	u, err := url.Parse(rd)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return ""
	}
	if u.Scheme != "https" && (u.Scheme != "http" || base.Scheme != "http") {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	domain := strings.ToLower(cookieDomain)
	if host == "" || host != strings.ToLower(base.Hostname()) && (domain == "" || !strings.HasSuffix(host, "."+domain)) {
		return ""
	}
	return u.String()
}
