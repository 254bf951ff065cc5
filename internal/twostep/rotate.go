package twostep

import (
	"context"
	"fmt"
)

// Resealed counts what Reseal did.
type Resealed struct {
	Factors, Messages, SigningKeys, VerifyFactors int
}

// Reseal seals every stored secret (authenticator seeds, pending message
// payloads, Verify API factors' seeds, OIDC signing keys) that is under another
// key anew under the active key. Values changed meanwhile are left to their
// writer, who sealed them with the active key. Recovery codes are keyed hashes
// that cannot be re-keyed without the codes: they keep their key, which must
// stay in the key file until they are regenerated or used up.
func (s *Service) Reseal(ctx context.Context) (Resealed, error) {
	var n Resealed
	var err error
	if n.Factors, err = reseal(ctx, s, "factor", s.store.SealedFactors,
		func(f *Factor) (string, []byte) { return f.ID, f.Secret }, s.store.ResealFactor); err != nil {
		return n, err
	}
	if n.Messages, err = reseal(ctx, s, "message", s.store.SealedMessages,
		func(m *OutboxMessage) (string, []byte) { return m.ID, m.Payload }, s.store.ResealMessage); err != nil {
		return n, err
	}
	if n.VerifyFactors, err = reseal(ctx, s, "verify factor", s.store.SealedVerifyFactors,
		func(f *VerifyFactor) (string, []byte) { return f.SID, f.Secret }, s.store.ResealVerifyFactor); err != nil {
		return n, err
	}
	n.SigningKeys, err = s.resealSigningKeys(ctx)
	return n, err
}

// reseal walks one kind of sealed value, 500 at a time by id, and seals anew
// under the active key each that is under another (its id is the seal's
// associated data); it returns how many it replaced.
func reseal[T any](ctx context.Context, s *Service, what string,
	list func(ctx context.Context, after string, limit int) ([]T, error),
	sealedOf func(T) (id string, sealed []byte),
	replace func(ctx context.Context, id string, old, sealed []byte) (bool, error)) (int, error) {
	active := s.sealer.ActiveKeyID()
	n := 0
	for after := ""; ; {
		page, err := list(ctx, after, 500)
		if err != nil || len(page) == 0 {
			return n, err
		}
		for _, v := range page {
			id, old := sealedOf(v)
			after = id
			if keyIDOf(old) == active {
				continue
			}
			plain, err := s.sealer.Open(old, []byte(id))
			if err != nil {
				return n, fmt.Errorf("%s %s: %w", what, id, err)
			}
			sealed, err := s.sealer.Seal(plain, []byte(id))
			if err != nil {
				return n, err
			}
			if ok, err := replace(ctx, id, old, sealed); err != nil {
				return n, err
			} else if ok {
				n++
			}
		}
	}
}
