package twostep

import (
	"context"
	"errors"
)

// SignInNext returns what the sign-in that token opens must do next, so that a
// page can ask rather than guess it from which lookup fails:
//   - a sign-in token (second_step) gets the Next of Decide from what its
//     sign-in has proven so far, NextSecondStep with its choices;
//   - a token of enrollment_required, which may only set up a method and then
//     complete (ORG-01), gets NextEnrol with the methods the policy allows and,
//     during a grace period, GraceUntil;
//   - a token that is empty, unknown, used, out of time, out of attempts or of
//     another purpose is ErrExpired. So is a sign-in token whose account has no
//     second step left to prove (its methods were reset since): that token can
//     do nothing more, and the sign-in starts again from the password.
//
// It reads and changes nothing; the step itself (VerifySignIn, CompleteSignIn)
// decides again.
func (s *Service) SignInNext(ctx context.Context, token string) (Next, error) {
	if token == "" {
		return Next{}, ErrExpired
	}
	c, a, err := s.store.ChallengeWithAccount(ctx, HashToken(token))
	switch {
	case errors.Is(err, ErrNotFound):
		return Next{}, ErrExpired
	case err != nil:
		return Next{}, err
	case !c.ConsumedAt.IsZero() || !s.now().Before(c.ExpiresAt):
		return Next{}, ErrExpired
	}
	switch c.Purpose {
	case PurposeSignIn:
		if c.Attempts >= s.limits.Attempts {
			return Next{}, ErrExpired
		}
		st, err := s.challengeState(ctx, s.store, a, c)
		if err != nil {
			return Next{}, err
		}
		if next := Decide(st); next.Kind == NextSecondStep {
			return next, nil
		}
		return Next{}, ErrExpired
	case PurposeEnrolSignIn:
		org, err := s.store.Org(ctx, a.OrgID)
		if err != nil {
			return Next{}, err
		}
		next := Next{Kind: NextEnrol, Allowed: allowedMethods(org, s.methods)}
		if until := graceUntil(org, a); s.now().Before(until) {
			next.GraceUntil = until
		}
		return next, nil
	}
	return Next{}, ErrExpired
}
