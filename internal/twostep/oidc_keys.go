package twostep

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// SigningKey is the active key that signs ID tokens, access tokens and
// logout tokens (RS256).
type SigningKey struct {
	ID      string
	Private *rsa.PrivateKey
}

// PublicSigningKey is a key published at the JWKS endpoint.
type PublicSigningKey struct {
	ID     string
	Public *rsa.PublicKey
}

// signingKeyBits is the size of the RSA keys (RFC 7518 §3.3 asks at least 2048).
const signingKeyBits = 2048

// keyPublishMargin is how long a retired key stays published beyond the
// longest life of a token it signed: clocks differ, and a client may have
// fetched the token just before the rotation.
const keyPublishMargin = 5 * time.Minute

// EnsureSigningKey makes a signing key when none is active (first start).
// Instances that start together may each make one; the newest is active and
// every one is published, so that is harmless.
func (s *Service) EnsureSigningKey(ctx context.Context) error {
	keys, err := s.store.SigningKeys(ctx, s.now())
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			return nil
		}
	}
	_, err = s.newSigningKey(ctx)
	return err
}

// RotateSigningKey makes a new active signing key and retires the others,
// which stay published until every token they signed has expired (OP-05).
// It returns the new key's id.
func (s *Service) RotateSigningKey(ctx context.Context) (string, error) {
	k, err := s.newSigningKey(ctx)
	if err != nil {
		return "", err
	}
	now := s.now()
	return k.ID, s.store.RetireSigningKeys(ctx, k.ID, now, now.Add(s.oidc.AccessTTL+keyPublishMargin))
}

func (s *Service) newSigningKey(ctx context.Context) (*SigningKeyRecord, error) {
	priv, err := rsa.GenerateKey(s.rand, signingKeyBits)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	k := &SigningKeyRecord{ID: s.newID("sig"), Public: pub, CreatedAt: s.now()}
	if k.Private, err = s.sealer.Seal(der, []byte(k.ID)); err != nil {
		return nil, err
	}
	return k, s.store.CreateSigningKey(ctx, k)
}

// ActiveSigningKey returns the key that signs now, read from the database so
// that every instance signs with the same one after a rotation elsewhere.
func (s *Service) ActiveSigningKey(ctx context.Context) (*SigningKey, error) {
	keys, err := s.store.SigningKeys(ctx, s.now())
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if !k.RetiredAt.IsZero() {
			continue
		}
		der, err := s.sealer.Open(k.Private, []byte(k.ID))
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		rk, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signing key %s is not RSA", k.ID)
		}
		return &SigningKey{ID: k.ID, Private: rk}, nil
	}
	return nil, errors.New("twostep: no active signing key (run serve once to make one)")
}

// PublishedSigningKeys returns the public keys to publish: the active one
// and the retired ones whose tokens may still be alive.
func (s *Service) PublishedSigningKeys(ctx context.Context) ([]PublicSigningKey, error) {
	keys, err := s.store.SigningKeys(ctx, s.now())
	if err != nil {
		return nil, err
	}
	out := make([]PublicSigningKey, 0, len(keys))
	for _, k := range keys {
		pub, err := x509.ParsePKIXPublicKey(k.Public)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		if rk, ok := pub.(*rsa.PublicKey); ok {
			out = append(out, PublicSigningKey{ID: k.ID, Public: rk})
		}
	}
	return out, nil
}

// resealSigningKeys seals the private signing keys still published anew under
// the active server key.
func (s *Service) resealSigningKeys(ctx context.Context) (int, error) {
	keys, err := s.store.SigningKeys(ctx, s.now())
	if err != nil {
		return 0, err
	}
	n := 0
	active := s.sealer.ActiveKeyID()
	for _, k := range keys {
		if keyIDOf(k.Private) == active {
			continue
		}
		plain, err := s.sealer.Open(k.Private, []byte(k.ID))
		if err != nil {
			return n, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		sealed, err := s.sealer.Seal(plain, []byte(k.ID))
		if err != nil {
			return n, err
		}
		if ok, err := s.store.ResealSigningKey(ctx, k.ID, k.Private, sealed); err != nil {
			return n, err
		} else if ok {
			n++
		}
	}
	return n, nil
}
