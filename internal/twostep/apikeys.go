package twostep

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// APIKey lets a product's backend call the Verify API (API.md §10) for its
// organisation, and for it only. ID is "SK" and 32 hex digits, like Twilio's
// API key SIDs, and is no secret; SecretHash is the SHA-256 of a 256-bit
// secret shown once (API-01): a secret that random needs no slow hash.
type APIKey struct {
	ID         string
	OrgID      string
	Name       string
	SecretHash []byte
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// APIKeyStore keeps API keys.
type APIKeyStore interface {
	// CreateAPIKey stores k; ErrConflict if its id is taken.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKey returns the key with id, or ErrNotFound.
	APIKey(ctx context.Context, id string) (*APIKey, error)
	// APIKeys lists an organisation's keys ("" for every key), oldest first.
	APIKeys(ctx context.Context, orgID string) ([]*APIKey, error)
	// DeleteAPIKey removes the key; ErrNotFound if there is none.
	DeleteAPIKey(ctx context.Context, id string) error
	// TouchAPIKey records a use of the key at at.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// KeyCaller is a request made with an API key: the key, and where it came from.
type KeyCaller struct {
	Key       *APIKey
	IP        string
	UserAgent string
}

// newSID returns prefix and 32 hex digits of randomness, the shape of every
// Twilio resource SID (SK…, VA…, VE…, YF…, YC…).
func (s *Service) newSID(prefix string) string {
	b := make([]byte, 16)
	s.mustRead(b)
	return prefix + hex.EncodeToString(b)
}

// CreateAPIKey makes a key for an organisation and returns it with its
// secret, which is shown once and stored only hashed (API-01: 256 random
// bits). c is the owner who asks through the API, whose own organisation the
// key is for; nil for the operator's CLI, which names the organisation by id
// or slug in org. Bad input is an *InvalidError naming the field ("name",
// "org"); a caller who is not an owner gets ErrForbidden.
func (s *Service) CreateAPIKey(ctx context.Context, c *Caller, org, name string) (*APIKey, string, error) {
	name = strings.TrimSpace(name)
	if err := checkText("name", name); err != nil {
		return nil, "", err
	}
	if name == "" || len(name) > 100 {
		return nil, "", invalid("name", ReasonLength, "Min", "1", "Max", "100")
	}
	k := &APIKey{ID: s.newSID("SK"), Name: name, CreatedAt: s.now()}
	actor := "operator"
	if c != nil {
		if err := s.requireOwner(c); err != nil {
			return nil, "", err
		}
		k.OrgID, actor = c.Account.OrgID, c.Account.ID
	} else {
		o, err := s.findOrg(ctx, org)
		if err != nil {
			return nil, "", err
		}
		k.OrgID = o.ID
	}
	b := make([]byte, 32)
	s.mustRead(b)
	secret := base64.RawURLEncoding.EncodeToString(b)
	k.SecretHash = HashToken(secret)
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return s.audit(ctx, tx, event{detail: &APIKeyCreated{KeyID: k.ID, Name: k.Name}, orgID: k.OrgID, actorID: actor, caller: c})
	})
	if err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// APIKeys lists the keys of the owner's organisation, or every key for the
// operator (c nil). Secrets are never returned again.
func (s *Service) APIKeys(ctx context.Context, c *Caller) ([]*APIKey, error) {
	if c == nil {
		return s.store.APIKeys(ctx, "")
	}
	if err := s.requireOwner(c); err != nil {
		return nil, err
	}
	return s.store.APIKeys(ctx, c.Account.OrgID)
}

// RevokeAPIKey removes a key: requests made with it fail from now on. An
// owner may revoke only the keys of the owner's organisation (another's is
// ErrNotFound, as is an unknown id); the operator (c nil) any.
func (s *Service) RevokeAPIKey(ctx context.Context, c *Caller, id string) error {
	actor := "operator"
	if c != nil {
		if err := s.requireOwner(c); err != nil {
			return err
		}
		actor = c.Account.ID
	}
	return s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		k, err := tx.APIKey(ctx, id)
		if err != nil {
			return err
		}
		if c != nil && k.OrgID != c.Account.OrgID {
			return ErrNotFound
		}
		if err := tx.DeleteAPIKey(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, event{detail: &APIKeyRevoked{KeyID: k.ID, Name: k.Name}, orgID: k.OrgID, actorID: actor, caller: c})
	})
}

// dummyKeyHash is compared against when the key id is unknown, so that an
// unknown id and a wrong secret take the same time.
var dummyKeyHash = sha256.Sum256([]byte("twostep: no such key"))

// AuthenticateKey returns the caller that key id and secret identify (HTTP
// Basic authentication of the Verify API), comparing the secret's hash in
// constant time; ErrUnauthenticated for an unknown id or a wrong secret,
// without saying which. The use is recorded (last use, audit event) by the
// operation the caller then makes, in that operation's transaction.
func (s *Service) AuthenticateKey(ctx context.Context, id, secret, ip, userAgent string) (*KeyCaller, error) {
	k, err := s.store.APIKey(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	want := dummyKeyHash[:]
	if k != nil {
		want = k.SecretHash
	}
	if subtle.ConstantTimeCompare(HashToken(secret), want) != 1 || k == nil {
		s.verifyMetric("auth", "", "unauthenticated")
		return nil, ErrUnauthenticated
	}
	return &KeyCaller{Key: k, IP: ip, UserAgent: truncate(userAgent, 512)}, nil
}

// keyUsed records, in tx, one use of the caller's key: its last use, and an
// audit event naming the key, what it did, on which resource and with which
// outcome (API-01: every use attributable).
func (s *Service) keyUsed(ctx context.Context, tx Store, k *KeyCaller, op, sid, outcome string) error {
	if err := tx.TouchAPIKey(ctx, k.Key.ID, s.now()); err != nil {
		return err
	}
	return s.audit(ctx, tx, event{detail: &APIKeyUsed{KeyID: k.Key.ID, Operation: op, SID: sid, Outcome: outcome},
		orgID: k.Key.OrgID, actorID: k.Key.ID, caller: &Caller{IP: k.IP, UserAgent: k.UserAgent}})
}
