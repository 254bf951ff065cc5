package twostep

import (
	"context"
	"fmt"
)

// Resealed counts what Reseal did.
type Resealed struct {
	Factors, Messages, SigningKeys int
}

// Reseal seals every stored secret (authenticator seeds, pending message
// payloads, OIDC signing keys) that is under another key anew under the active key. Values
// changed meanwhile are left to their writer, who sealed them with the active
// key. Recovery codes are keyed hashes that cannot be re-keyed without the
// codes: they keep their key, which must stay in the key file until they are
// regenerated or used up.
func (s *Service) Reseal(ctx context.Context) (Resealed, error) {
	var n Resealed
	active := s.sealer.ActiveKeyID()
	for after := ""; ; {
		factors, err := s.store.SealedFactors(ctx, after, 500)
		if err != nil {
			return n, err
		}
		if len(factors) == 0 {
			break
		}
		for _, f := range factors {
			after = f.ID
			if keyIDOf(f.Secret) == active {
				continue
			}
			plain, err := s.sealer.Open(f.Secret, []byte(f.ID))
			if err != nil {
				return n, fmt.Errorf("factor %s: %w", f.ID, err)
			}
			sealed, err := s.sealer.Seal(plain, []byte(f.ID))
			if err != nil {
				return n, err
			}
			if ok, err := s.store.ResealFactor(ctx, f.ID, f.Secret, sealed); err != nil {
				return n, err
			} else if ok {
				n.Factors++
			}
		}
	}
	for after := ""; ; {
		msgs, err := s.store.SealedMessages(ctx, after, 500)
		if err != nil {
			return n, err
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			after = m.ID
			if keyIDOf(m.Payload) == active {
				continue
			}
			plain, err := s.sealer.Open(m.Payload, []byte(m.ID))
			if err != nil {
				return n, fmt.Errorf("message %s: %w", m.ID, err)
			}
			sealed, err := s.sealer.Seal(plain, []byte(m.ID))
			if err != nil {
				return n, err
			}
			if ok, err := s.store.ResealMessage(ctx, m.ID, m.Payload, sealed); err != nil {
				return n, err
			} else if ok {
				n.Messages++
			}
		}
	}
	var err error
	n.SigningKeys, err = s.resealSigningKeys(ctx)
	return n, err
}
