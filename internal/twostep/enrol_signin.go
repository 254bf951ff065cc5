package twostep

import (
	"context"
	"errors"
	"slices"
	"time"
)

// enrolmentRequired starts a sign-in whose token may only set up a method the
// organisation allows, then complete (ORG-01); next (NextEnrol) says which and
// the token carries what was proven so far.
func (s *Service) enrolmentRequired(ctx context.Context, st Store, a *Account, org *Org, next Next, caller *Caller) (*SignInResult, error) {
	now := s.now()
	token, hash := s.newToken()
	c := &Challenge{ID: s.newID("sge"), TokenHash: hash, Purpose: PurposeEnrolSignIn, AccountID: a.ID,
		AMR: slices.Clone(next.AMR), Upstream: next.Upstream, CreatedAt: now, ExpiresAt: now.Add(s.signInTTL)}
	if err := st.CreateChallenge(ctx, c); err != nil {
		return nil, err
	}
	return &SignInResult{Status: StatusEnrollmentRequired, Account: a, Org: org, SignInToken: token, ExpiresAt: c.ExpiresAt,
		AllowedMethods: next.Allowed, GraceUntil: next.GraceUntil}, nil
}

// AuthenticateEnrolment returns the caller a sign-in token from
// enrollment_required belongs to; ErrUnauthenticated for anything else.
func (s *Service) AuthenticateEnrolment(ctx context.Context, token, ip, userAgent string) (*Caller, error) {
	if token == "" {
		return nil, ErrUnauthenticated
	}
	ch, err := s.liveToken(ctx, token, PurposeEnrolSignIn)
	if errors.Is(err, ErrExpired) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	a, err := s.store.Account(ctx, ch.AccountID)
	if err != nil {
		return nil, err
	}
	return &Caller{Account: a, SignIn: ch, IP: ip, UserAgent: userAgent}, nil
}

// CompleteSignIn ends a sign-in that had to enrol, as Decide says from what the
// sign-in has proven (the method just enrolled included): with a session once a
// method the organisation allows is active and proven; during a grace period,
// without one (GraceUntil says until when); after it, ErrEnrolmentRequired.
// ErrExpired for a spent or unknown token, and for an account that gained a
// method this sign-in did not prove (SU-07).
func (s *Service) CompleteSignIn(ctx context.Context, token, ip, userAgent string) (*SignInResult, error) {
	if token == "" {
		return nil, invalid("sign_in_token", ReasonRequired)
	}
	ch, err := s.liveToken(ctx, token, PurposeEnrolSignIn)
	if err != nil {
		return nil, err
	}
	a, err := s.store.Account(ctx, ch.AccountID)
	if err != nil {
		return nil, err
	}
	caller := &Caller{Account: a, IP: ip, UserAgent: userAgent}
	var res *SignInResult
	var next Next
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		st, err := s.challengeState(ctx, tx, a, ch)
		if err != nil {
			return err
		}
		switch next = Decide(st); {
		case next.Kind == NextSecondStep:
			return ErrExpired
		case next.Kind == NextEnrol && next.GraceUntil.IsZero():
			return ErrEnrolmentRequired
		}
		if ok, err := tx.ConsumeChallenge(ctx, ch.ID, s.now()); err != nil || !ok {
			return cmpErr(err, ErrExpired)
		}
		if res, err = s.signedIn(ctx, tx, a, next, caller); err != nil {
			return err
		}
		detail := &SignInSucceeded{AMR: next.AMR, Enrolled: next.Kind == NextSession, SecondStep: next.SecondStep,
			Provider: st.Upstream.issuer()}
		if next.Kind == NextEnrol {
			detail.GraceUntil = next.GraceUntil.Format(time.RFC3339)
		}
		return s.audit(ctx, tx, event{detail: detail, account: a, caller: caller})
	})
	if err != nil {
		return nil, err
	}
	res.GraceUntil = next.GraceUntil
	return res, nil
}
