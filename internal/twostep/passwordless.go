package twostep

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// PasskeySignIn is a passwordless sign-in begun: a sign-in token that only
// VerifySignIn with MethodWebAuthn accepts, and the request options for any
// discoverable credential.
type PasskeySignIn struct {
	SignInToken string
	Options     json.RawMessage
	ExpiresAt   time.Time
}

// BeginPasskeySignIn starts a passwordless sign-in (API.md §11): no e-mail,
// the key says whose it is. It answers *InvalidError (ReasonWebAuthnIPHost…)
// when the server offers no passkeys, and a *ThrottledError (ErrThrottled)
// once the client address ip has begun Limits.PasskeyBegin of them in the
// window, counted in one locked step so that parallel requests cannot pass
// it (RL-12).
func (s *Service) BeginPasskeySignIn(ctx context.Context, ip, userAgent string) (*PasskeySignIn, error) {
	if ok, why := s.WebAuthnOffered(); !ok {
		return nil, why
	}
	opts, session, err := s.passkeys.BeginDiscoverableLogin()
	if err != nil {
		return nil, err
	}
	now := s.now()
	token, hash := s.newToken()
	ch := &Challenge{ID: s.newID("psk"), TokenHash: hash, Purpose: PurposePasskeySignIn, CreatedAt: now, ExpiresAt: now.Add(WebAuthnTTL)}
	if err := s.newCeremony(ch, ceremonyDiscoverable, "", session); err != nil {
		return nil, err
	}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		t, err := tx.LockThrottle(ctx, "passkey:"+ipKey(ip))
		if err != nil {
			return err
		}
		t, wait, ok := s.limits.PasskeyBegin.Take(t, now)
		if !ok {
			return throttled(ErrThrottled, wait)
		}
		if err := tx.PutThrottle(ctx, t); err != nil {
			return err
		}
		return tx.CreateChallenge(ctx, ch)
	})
	if err != nil {
		return nil, err
	}
	return &PasskeySignIn{SignInToken: token, Options: opts, ExpiresAt: ch.ExpiresAt}, nil
}

// verifyPasskeySignIn ends a passwordless sign-in with the assertion in r.
// The challenge serves once, right or wrong. A response that fails is
// ErrInvalidCredentials (it counts against nobody: a key's id and handle
// are not secrets, and counting them would let anyone lock an account); a
// key that did not verify its holder is refused with ReasonPasskeyNoUV
// (WA-03: a password is then still needed); an account in back-off is a
// *ThrottledError (RL-09); a key its policy does not let it use now is
// ErrMethodNotAllowed. Otherwise the sign-in goes on as Decide says, with
// amr ["hwk","user","mfa"].
func (s *Service) verifyPasskeySignIn(ctx context.Context, r VerifyRequest, ch *Challenge) (*SignInResult, error) {
	if s.passkeys == nil {
		return nil, ErrExpired
	}
	var res *SignInResult
	err := s.atomically(ctx, func(ctx context.Context, tx Store) (error, error) {
		now := s.now()
		if ok, err := tx.ConsumeChallenge(ctx, ch.ID, now); err != nil || !ok {
			return ErrExpired, err
		}
		cer, err := s.takeCeremony(ctx, tx, ch.ID, ceremonyDiscoverable)
		if err != nil {
			return nil, err
		}
		if cer == nil {
			return ErrExpired, nil
		}
		var acct *Account
		var key *Factor
		var lookupErr error
		find := func(credID, handle []byte) (*PasskeyUser, error) {
			f, err := tx.FactorByCredentialID(ctx, credID)
			if err == nil && (f.AccountID != string(handle) || f.Status != FactorActive || f.Method != MethodWebAuthn) {
				err = ErrNotFound // a key of another account, or not yet proven
			}
			if err == nil {
				acct, err = tx.Account(ctx, f.AccountID)
			}
			if err != nil {
				if !errors.Is(err, ErrNotFound) {
					lookupErr = err
				}
				return nil, ErrCredentialRefused
			}
			key = f
			return passkeyUser(acct, []*Factor{f}), nil
		}
		_, as, err := s.passkeys.FinishDiscoverableLogin(cer.Session, r.Credential, find)
		if lookupErr != nil {
			return nil, lookupErr
		}
		if err != nil {
			if !errors.Is(err, ErrCredentialRefused) && !isInvalid(err) {
				return nil, err
			}
			s.log.Info("passkey sign-in refused", "err", err.Error())
			return ErrInvalidCredentials, nil
		}
		caller := &Caller{Account: acct, IP: r.IP, UserAgent: r.UserAgent, DeviceToken: r.DeviceToken}
		if acct.SSO {
			return ErrSSOManaged, nil
		}
		t, err := tx.LockThrottle(ctx, accountKey(acct.ID))
		if err != nil {
			return nil, err
		}
		if wait, locked := t.Locked(now); locked {
			return throttled(ErrThrottled, wait), nil
		}
		st, err := s.signInState(ctx, tx, acct, nil, nil)
		if err != nil {
			return nil, err
		}
		if !Decide(st).Offers(MethodWebAuthn, key.ID) {
			return ErrMethodNotAllowed, nil
		}
		proof, err := s.usedKey(ctx, tx, acct, key, as, caller)
		if err != nil {
			return nil, err
		}
		if proof == nil {
			if err := s.audit(ctx, tx, event{detail: &SignInFailed{Reason: "passkey"}, account: acct, caller: caller}); err != nil {
				return nil, err
			}
			return ErrInvalidCredentials, nil
		}
		if !as.UserVerified {
			// WA-03: presence alone is one factor; the password must come first.
			if err := s.audit(ctx, tx, event{detail: &SignInFailed{Reason: "passkey_no_uv"}, account: acct, caller: caller}); err != nil {
				return nil, err
			}
			return invalid("", ReasonPasskeyNoUV), nil
		}
		if t.Failures > 0 {
			if err := tx.PutThrottle(ctx, s.limits.Account.Succeed(t)); err != nil {
				return nil, err
			}
		}
		st.Proven = proof
		next := Decide(st)
		if next.Kind == NextEnrol {
			res, err = s.enrolmentRequired(ctx, tx, acct, st.Org, next, caller)
			return nil, err
		}
		if next.Kind != NextSession {
			return nil, errors.New("twostep: passkey sign-in still needs a second step")
		}
		if res, err = s.signedIn(ctx, tx, acct, next, caller); err != nil {
			return nil, err
		}
		if r.RememberDevice {
			if res.RememberedUntil, err = s.rememberDevice(ctx, tx, acct, st.Org, res.Device, caller); err != nil {
				return nil, err
			}
		}
		return nil, s.audit(ctx, tx, event{detail: &SignInSucceeded{AMR: next.AMR, Method: MethodWebAuthn, SecondStep: next.SecondStep, Passwordless: true},
			account: acct, caller: caller})
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	return res, nil
}
