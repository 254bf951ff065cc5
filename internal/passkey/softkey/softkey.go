// Package softkey is a software WebAuthn authenticator for tests: it answers a relying party's options as a browser with a security key would.
//
// It makes P-256 credentials (COSE ES256), "none" attestation, and
// assertions signed with crypto/ecdsa over authenticatorData ‖
// SHA-256(clientDataJSON). Its Tamper options break one thing at a time, so
// that tests can show each check of WebAuthn §7 refusing it (SECURITY.md
// WA-02). Never use it outside tests.
package softkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Flags of authenticatorData (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// Key is one credential the authenticator holds.
type Key struct {
	ID         []byte
	Private    *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	// SignCount is the counter the next assertion carries (it then goes up
	// by one); 0 keeps it at 0, as synced passkeys do.
	SignCount uint32
	// Synced marks the key backup eligible and backed up (a passkey).
	Synced bool
}

// Tamper says how an answer should be wrong, or how the authenticator behaves.
type Tamper struct {
	// UV: the authenticator verified its holder (PIN, biometrics).
	UV bool
	// NoUP leaves the user-presence flag unset.
	NoUP bool
	// Type replaces clientData.type ("webauthn.get" / "webauthn.create").
	Type string
	// Origin replaces clientData.origin (default: the origin given).
	Origin string
	// Challenge replaces the challenge echoed in clientData.
	Challenge []byte
	// RPID is hashed into authenticatorData instead of the options' RP ID.
	RPID string
	// BadSignature flips a bit of the signature.
	BadSignature bool
	// SignCount, when set, is the counter sent instead of the key's.
	SignCount *uint32
}

var b64 = base64.RawURLEncoding

// creationOptions is what Create reads of PublicKeyCredentialCreationOptions.
type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

// requestOptions is what Get reads of PublicKeyCredentialRequestOptions.
type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	} `json:"publicKey"`
}

// Create answers creation options (as navigator.credentials.create would)
// from origin: a new key, and the credential's JSON for the relying party.
func Create(options json.RawMessage, origin string, t Tamper) (*Key, json.RawMessage, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, nil, fmt.Errorf("softkey: creation options: %w", err)
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("softkey: user id: %w", err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	k := &Key{ID: make([]byte, 32), Private: priv, RPID: o.PublicKey.RP.ID, UserHandle: handle}
	if _, err := rand.Read(k.ID); err != nil {
		return nil, nil, err
	}
	cred, err := k.answerCreate(o.PublicKey.Challenge, origin, t)
	return k, cred, err
}

// Attest answers creation options with k again (as another account trying to
// register the same key would: WA-05).
func (k *Key) Attest(options json.RawMessage, origin string, t Tamper) (json.RawMessage, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("softkey: creation options: %w", err)
	}
	return k.answerCreate(o.PublicKey.Challenge, origin, t)
}

func (k *Key) answerCreate(challenge, origin string, t Tamper) (json.RawMessage, error) {
	cose, err := k.coseKey()
	if err != nil {
		return nil, err
	}
	att := make([]byte, 16+2, 16+2+len(k.ID)+len(cose)) // AAGUID zero: "none" attestation
	binary.BigEndian.PutUint16(att[16:], uint16(len(k.ID)))
	att = append(append(att, k.ID...), cose...)
	auth := k.authData(t, k.RPID, flagAT, k.SignCount)
	auth = append(auth, att...)
	cd, err := clientData(defaultString(t.Type, "webauthn.create"), challenge, origin, t)
	if err != nil {
		return nil, err
	}
	obj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"authenticatorAttachment": "cross-platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"attestationObject": b64.EncodeToString(obj),
			"transports":        []string{"usb"},
		},
	})
}

// Get answers request options (as navigator.credentials.get would) from
// origin, signing with k; the counter then goes up unless it is 0.
func (k *Key) Get(options json.RawMessage, origin string, t Tamper) (json.RawMessage, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("softkey: request options: %w", err)
	}
	if o.PublicKey.Challenge == "" {
		return nil, errors.New("softkey: request options without a challenge")
	}
	count := k.SignCount
	if k.SignCount > 0 {
		k.SignCount++
		count = k.SignCount
	}
	if t.SignCount != nil {
		count = *t.SignCount
	}
	rpid := defaultString(o.PublicKey.RPID, k.RPID)
	auth := k.authData(t, rpid, 0, count)
	cd, err := clientData(defaultString(t.Type, "webauthn.get"), o.PublicKey.Challenge, origin, t)
	if err != nil {
		return nil, err
	}
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.Private, digest[:])
	if err != nil {
		return nil, err
	}
	if t.BadSignature {
		sig[len(sig)-1] ^= 0x01
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"authenticatorAttachment": "cross-platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(auth),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(k.UserHandle),
		},
	})
}

func (k *Key) authData(t Tamper, rpid string, extra byte, count uint32) []byte {
	h := sha256.Sum256([]byte(defaultString(t.RPID, rpid)))
	flags := extra
	if !t.NoUP {
		flags |= flagUP
	}
	if t.UV {
		flags |= flagUV
	}
	if k.Synced {
		flags |= flagBE | flagBS
	}
	out := append(h[:], flags, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(out[33:], count)
	return out
}

// coseKey is the key's public half as a COSE_Key (RFC 9053 §7.1.1: EC2, ES256, P-256).
func (k *Key) coseKey() ([]byte, error) {
	pub, err := k.Private.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := pub.Bytes() // 0x04 ‖ X ‖ Y
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
}

func clientData(typ, challenge, origin string, t Tamper) ([]byte, error) {
	if t.Challenge != nil {
		challenge = b64.EncodeToString(t.Challenge)
	}
	return json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": defaultString(t.Origin, origin), "crossOrigin": false})
}

func defaultString(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
