package twostep

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync/atomic"
)

// Key is one 32-byte server key with its id.
type Key struct {
	ID     string
	Secret []byte
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ParseKeys reads a key file: one key per line, "KEYID:BASE64" of 32 bytes, the
// first line the active key. Blank lines and lines starting with # are ignored.
func ParseKeys(data []byte) ([]Key, error) {
	var keys []Key
	seen := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, b64, ok := strings.Cut(line, ":")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("line %d: want KEYID:BASE64 with a key id of letters, digits, - or _", i+1)
		}
		secret, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(secret) != 32 {
			return nil, fmt.Errorf("line %d: key %q is not base64 of 32 bytes", i+1, id)
		}
		if seen[id] {
			return nil, fmt.Errorf("line %d: key id %q appears twice", i+1, id)
		}
		seen[id] = true
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	if len(keys) == 0 {
		return nil, errors.New("no key found")
	}
	return keys, nil
}

// Line returns the key as a key file line, "KEYID:BASE64".
func (k Key) Line() string { return k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret) }

// NewKeyLine makes a fresh key file line "KEYID:BASE64" from r.
func NewKeyLine(id string, r io.Reader) (string, error) {
	secret := make([]byte, 32)
	if _, err := io.ReadFull(r, secret); err != nil {
		return "", err
	}
	return id + ":" + base64.StdEncoding.EncodeToString(secret), nil
}

// Sealer encrypts secrets at rest with AES-256-GCM under the active key and opens
// values sealed under any key it holds. A sealed value is bound to its row: the
// associated data (the row id) must match to open it.
type Sealer struct {
	ring atomic.Pointer[keyRing]
	rand io.Reader
}

type keyRing struct {
	active Key
	aeads  map[string]cipher.AEAD
	keys   map[string]Key
}

// NewSealer returns a Sealer whose active key is keys[0].
func NewSealer(keys []Key, rand io.Reader) (*Sealer, error) {
	s := &Sealer{rand: rand}
	return s, s.SetKeys(keys)
}

// SetKeys replaces the keys, keys[0] becoming the active one; values sealed
// under a key no longer given stop opening. Safe to call while in use.
func (s *Sealer) SetKeys(keys []Key) error {
	if len(keys) == 0 {
		return errors.New("twostep: no key")
	}
	r := &keyRing{active: keys[0], aeads: map[string]cipher.AEAD{}, keys: map[string]Key{}}
	for _, k := range keys {
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return fmt.Errorf("twostep: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return err
		}
		r.aeads[k.ID] = aead
		r.keys[k.ID] = k
	}
	s.ring.Store(r)
	return nil
}

// ActiveKeyID returns the id of the key new values are sealed under.
func (s *Sealer) ActiveKeyID() string { return s.ring.Load().active.ID }

// Seal encrypts plaintext bound to ad. The result is "KEYID:" followed by nonce
// and ciphertext.
func (s *Sealer) Seal(plaintext, ad []byte) ([]byte, error) {
	r := s.ring.Load()
	aead := r.aeads[r.active.ID]
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, err
	}
	out := append([]byte(r.active.ID+":"), nonce...)
	return aead.Seal(out, nonce, plaintext, ad), nil
}

// Open decrypts a value made by Seal with the same ad, under whichever key sealed it.
func (s *Sealer) Open(sealed, ad []byte) ([]byte, error) {
	id, rest, ok := bytes.Cut(sealed, []byte(":"))
	if !ok {
		return nil, errors.New("twostep: sealed value has no key id")
	}
	aead, ok := s.ring.Load().aeads[string(id)]
	if !ok {
		return nil, fmt.Errorf("twostep: sealed under unknown key %q", id)
	}
	if len(rest) < aead.NonceSize() {
		return nil, errors.New("twostep: sealed value too short")
	}
	pt, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], ad)
	if err != nil {
		return nil, errors.New("twostep: sealed value does not open")
	}
	return pt, nil
}

// mac returns HMAC-SHA256 of data under a key derived from the server key keyID
// for one purpose, so that the raw key never signs anything itself.
func (s *Sealer) mac(keyID, purpose string, data ...[]byte) ([]byte, error) {
	k, ok := s.ring.Load().keys[keyID]
	if !ok {
		return nil, fmt.Errorf("twostep: unknown key %q", keyID)
	}
	d := hmac.New(sha256.New, k.Secret)
	d.Write([]byte("twostep " + purpose))
	m := hmac.New(sha256.New, d.Sum(nil))
	for _, b := range data {
		m.Write(b)
	}
	return m.Sum(nil), nil
}

// keyID returns the id of the key a sealed value is under.
func keyIDOf(sealed []byte) string {
	id, _, _ := bytes.Cut(sealed, []byte(":"))
	return string(id)
}
