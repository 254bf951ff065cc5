package twostep

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// Password hashes other systems made, which an import keeps as they are
// (API.md §9) until the account's first correct password replaces them with
// Twostep's argon2id. Only the well-kept implementations of golang.org/x/crypto
// compute them; this file parses the encodings, bounds their cost and compares
// in constant time.

// Foreign hash schemes, as the audit trail names them.
const (
	SchemeBcrypt       = "bcrypt"
	SchemeArgon2id     = "argon2id"
	SchemeArgon2i      = "argon2i"
	SchemeScrypt       = "scrypt"
	SchemePBKDF2SHA256 = "pbkdf2_sha256"
)

// Cost ceilings of imported hashes: one sign-in against a costlier hash would
// hold a hashing slot (and, for argon2 and scrypt, memory) long enough to
// exhaust the server. The scrypt work N·r·p is bounded too, so that p cannot
// multiply an allowed N.
const (
	MaxBcryptCost   = 14
	MaxArgon2Memory = 65536 // KiB
	MaxArgon2Time   = 10
	MaxScryptLogN   = 17
	MaxScryptR      = 8
	MaxScryptWork   = 1 << 20 // N·r·p: 2^17 with r = 8 and p = 1
	MaxPBKDF2Iter   = 1_000_000
)

// maxHashLen bounds what is parsed at all.
const maxHashLen = 512

// foreignHash is a parsed foreign hash: its scheme and what verifying needs.
type foreignHash struct {
	scheme    string
	bcrypt    []byte // the whole encoded bcrypt hash
	salt, key []byte
	argon     Argon2Params
	n, r, p   int // scrypt
	iter      int // PBKDF2
}

var bcryptForm = regexp.MustCompile(`^\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}$`)

// parseForeignHash parses a hash another system made. Errors are
// *InvalidError for field: ReasonHashUnknown for a scheme Twostep does not
// verify, ReasonHashMalformed (Scheme) for one it cannot read, and
// ReasonHashTooCostly (Scheme, Max) for one over the ceilings. The errors
// never hold the hash.
func parseForeignHash(field, s string) (*foreignHash, error) {
	if len(s) > maxHashLen {
		return nil, invalid(field, ReasonHashUnknown)
	}
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return parseBcrypt(field, s)
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2PHC(field, s, SchemeArgon2id)
	case strings.HasPrefix(s, "$argon2i$"):
		return parseArgon2PHC(field, s, SchemeArgon2i)
	case strings.HasPrefix(s, "$scrypt$"):
		return parseScrypt(field, s)
	case strings.HasPrefix(s, "pbkdf2_sha256$"):
		return parseDjangoPBKDF2(field, s)
	case strings.HasPrefix(s, "$pbkdf2-sha256$"):
		return parsePHCPBKDF2(field, s)
	}
	return nil, invalid(field, ReasonHashUnknown)
}

func malformed(field, scheme string) error {
	return invalid(field, ReasonHashMalformed, "Scheme", scheme)
}

func tooCostly(field, scheme, max string) error {
	return invalid(field, ReasonHashTooCostly, "Scheme", scheme, "Max", max)
}

func parseBcrypt(field, s string) (*foreignHash, error) {
	m := bcryptForm.FindStringSubmatch(s)
	if m == nil {
		return nil, malformed(field, SchemeBcrypt)
	}
	cost, _ := strconv.Atoi(m[1])
	if cost < bcrypt.MinCost {
		return nil, malformed(field, SchemeBcrypt)
	}
	if cost > MaxBcryptCost {
		return nil, tooCostly(field, SchemeBcrypt, "cost "+strconv.Itoa(MaxBcryptCost))
	}
	return &foreignHash{scheme: SchemeBcrypt, bcrypt: []byte(s)}, nil
}

// phcParams reads "k=v,k=v" into a map of positive integers; nil if malformed
// or a key repeats.
func phcParams(s string) map[string]int {
	out := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if _, dup := out[k]; !ok || dup || err != nil || n < 1 || len(v) > 10 {
			return nil
		}
		out[k] = n
	}
	return out
}

// phcBase64 decodes PHC's base64 (standard alphabet, no padding), also in
// passlib's variant that writes "." for "+".
func phcBase64(s string) ([]byte, bool) {
	b, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(s, ".", "+"))
	return b, err == nil
}

// saltAndKey decodes a PHC salt and key, with lengths a real hash has.
func saltAndKey(salt, key string) ([]byte, []byte, bool) {
	sb, ok1 := phcBase64(salt)
	kb, ok2 := phcBase64(key)
	return sb, kb, ok1 && ok2 && len(sb) >= 1 && len(sb) <= 64 && len(kb) >= 16 && len(kb) <= 128
}

// parseArgon2PHC reads $argon2id$v=19$m=…,t=…,p=…$salt$key (and argon2i).
// golang.org/x/crypto computes version 19 (0x13) only.
func parseArgon2PHC(field, s, scheme string) (*foreignHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, malformed(field, scheme)
	}
	ps := phcParams(parts[3])
	if ps == nil || len(ps) != 3 || ps["m"] == 0 || ps["t"] == 0 || ps["p"] == 0 || ps["p"] > 255 {
		return nil, malformed(field, scheme)
	}
	salt, key, ok := saltAndKey(parts[4], parts[5])
	if !ok {
		return nil, malformed(field, scheme)
	}
	if ps["m"] > MaxArgon2Memory || ps["t"] > MaxArgon2Time {
		return nil, tooCostly(field, scheme, "m="+strconv.Itoa(MaxArgon2Memory)+" KiB, t="+strconv.Itoa(MaxArgon2Time))
	}
	return &foreignHash{scheme: scheme, salt: salt, key: key,
		argon: Argon2Params{Memory: uint32(ps["m"]), Time: uint32(ps["t"]), Threads: uint8(ps["p"])}}, nil
}

// parseScrypt reads $scrypt$ln=…,r=…,p=…$salt$key (passlib's form).
func parseScrypt(field, s string) (*foreignHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 {
		return nil, malformed(field, SchemeScrypt)
	}
	ps := phcParams(parts[2])
	if ps == nil || len(ps) != 3 || ps["ln"] == 0 || ps["r"] == 0 || ps["p"] == 0 || ps["ln"] > 62 {
		return nil, malformed(field, SchemeScrypt)
	}
	salt, key, ok := saltAndKey(parts[3], parts[4])
	if !ok {
		return nil, malformed(field, SchemeScrypt)
	}
	n, r, p := 1<<ps["ln"], ps["r"], ps["p"]
	if ps["ln"] > MaxScryptLogN || r > MaxScryptR || p > MaxScryptWork || n*r*p > MaxScryptWork {
		return nil, tooCostly(field, SchemeScrypt, "N=2^17, r=8, p=1")
	}
	return &foreignHash{scheme: SchemeScrypt, salt: salt, key: key, n: n, r: r, p: p}, nil
}

// parseDjangoPBKDF2 reads Django's pbkdf2_sha256$ITER$SALT$HASH: the salt is
// used as it is written, the hash is padded base64 of 32 bytes.
func parseDjangoPBKDF2(field, s string) (*foreignHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[2] == "" || len(parts[2]) > 128 {
		return nil, malformed(field, SchemePBKDF2SHA256)
	}
	iter, err := strconv.Atoi(parts[1])
	key, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || iter < 1 || len(parts[1]) > 10 || err2 != nil || len(key) != sha256.Size {
		return nil, malformed(field, SchemePBKDF2SHA256)
	}
	return pbkdf2Hash(field, []byte(parts[2]), key, iter)
}

// parsePHCPBKDF2 reads $pbkdf2-sha256$ITER$salt$key (passlib) or
// $pbkdf2-sha256$i=ITER$salt$key (the PHC form).
func parsePHCPBKDF2(field, s string) (*foreignHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 {
		return nil, malformed(field, SchemePBKDF2SHA256)
	}
	it := strings.TrimPrefix(parts[2], "i=")
	iter, err := strconv.Atoi(it)
	salt, key, ok := saltAndKey(parts[3], parts[4])
	if err != nil || iter < 1 || len(it) > 10 || !ok {
		return nil, malformed(field, SchemePBKDF2SHA256)
	}
	return pbkdf2Hash(field, salt, key, iter)
}

func pbkdf2Hash(field string, salt, key []byte, iter int) (*foreignHash, error) {
	if iter > MaxPBKDF2Iter {
		return nil, tooCostly(field, SchemePBKDF2SHA256, strconv.Itoa(MaxPBKDF2Iter)+" iterations")
	}
	return &foreignHash{scheme: SchemePBKDF2SHA256, salt: salt, key: key, iter: iter}, nil
}

// verify reports whether password matches h, comparing in constant time.
func (h *foreignHash) verify(password string) bool {
	pw := []byte(password)
	var got []byte
	switch h.scheme {
	case SchemeBcrypt:
		return bcrypt.CompareHashAndPassword(h.bcrypt, pw) == nil
	case SchemeArgon2id:
		got = argon2.IDKey(pw, h.salt, h.argon.Time, h.argon.Memory, h.argon.Threads, uint32(len(h.key)))
	case SchemeArgon2i:
		got = argon2.Key(pw, h.salt, h.argon.Time, h.argon.Memory, h.argon.Threads, uint32(len(h.key)))
	case SchemeScrypt:
		var err error
		if got, err = scrypt.Key(pw, h.salt, h.n, h.r, h.p, len(h.key)); err != nil {
			return false
		}
	case SchemePBKDF2SHA256:
		got = pbkdf2.Key(pw, h.salt, h.iter, len(h.key), sha256.New)
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// IsNativeHash reports whether encoded is a hash Twostep verifies without
// replacing it: an argon2id hash it can read, whatever its parameters (the
// load generator's cheap ones included). Every other stored hash came from an
// import and is replaced at the first correct password.
func IsNativeHash(encoded string) bool {
	_, _, _, ok := parseArgon2(encoded)
	return ok
}
