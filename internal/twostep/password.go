package twostep

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id cost parameters; they are stored in every hash, so a
// hash keeps verifying after the defaults change.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 is OWASP's argon2id minimum (PW-01): m=19456 KiB, t=2, p=1.
var DefaultArgon2 = Argon2Params{Memory: 19456, Time: 2, Threads: 1}

// Password length limits (PW-02, PW-03): the maximum bounds hashing cost, it does
// not truncate.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

// Hasher hashes and verifies passwords with argon2id, with at most a fixed number
// of hashes in flight and a bounded queue, so a flood of sign-ins waits or gets
// ErrBusy instead of exhausting memory.
type Hasher struct {
	params   Argon2Params
	slots    chan struct{}
	waiting  atomic.Int64
	maxQueue int64
	maxWait  time.Duration
	rand     io.Reader
}

// NewHasher returns a Hasher running at most inFlight hashes at once with at most
// maxQueue callers waiting, each for at most maxWait.
func NewHasher(p Argon2Params, inFlight, maxQueue int, maxWait time.Duration, rand io.Reader) *Hasher {
	if inFlight < 1 {
		inFlight = 1
	}
	return &Hasher{params: p, slots: make(chan struct{}, inFlight), maxQueue: int64(maxQueue), maxWait: maxWait, rand: rand}
}

// Queued returns how many callers wait for a hashing slot.
func (h *Hasher) Queued() int64 { return h.waiting.Load() }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	if h.waiting.Add(1) > h.maxQueue {
		h.waiting.Add(-1)
		return throttled(ErrBusy, time.Second)
	}
	defer h.waiting.Add(-1)
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return throttled(ErrBusy, time.Second)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The request's time ran out in the queue: the server is busy,
			// which is not the database's failure.
			return throttled(ErrBusy, time.Second)
		}
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns an encoded argon2id hash of password in the PHC string format.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	return h.HashWith(ctx, password, h.params)
}

// HashWith is Hash with other parameters (cheap ones for load-test accounts).
func (h *Hasher) HashWith(ctx context.Context, password string, p Argon2Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded: Twostep's argon2id, or a
// hash an import brought (hashes.go), under the same bound on hashes in
// flight. A malformed hash never matches.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	p, salt, want, ok := parseArgon2(encoded)
	if !ok && len(password) <= MaxPasswordLen {
		if f, err := parseForeignHash("password_hash", encoded); err == nil {
			if err := h.acquire(ctx); err != nil {
				return false, err
			}
			defer h.release()
			return f.verify(password), nil
		}
	}
	if !ok || len(password) > MaxPasswordLen {
		// Spend the same time as a real check so that the answer tells nothing.
		p, salt, want = h.params, make([]byte, 16), make([]byte, 32)
		password = ""
		encoded = ""
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return encoded != "" && subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parseArgon2(s string) (p Argon2Params, salt, key []byte, ok bool) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, false
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || threads == 0 || threads > 255 {
		return p, nil, nil, false
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || p.Memory > 1<<21 || p.Time > 16 {
		return p, nil, nil, false
	}
	return p, salt, key, true
}

// common passwords refused outright (PW-02 blocklist); a short list of the worst.
var commonPasswords = map[string]bool{
	"password": true, "password1": true, "password123": true, "12345678": true, "123456789": true,
	"1234567890": true, "qwertyuiop": true, "qwerty123": true, "11111111": true, "00000000": true,
	"iloveyou": true, "abc12345": true, "abcd1234": true, "letmein1": true, "welcome1": true,
	"motdepasse": true, "azertyuiop": true, "baseball": true, "football": true, "sunshine": true,
	"princess": true, "trustno1": true, "passw0rd": true, "changeme": true, "twostep1": true,
}

// CheckPassword returns an *InvalidError for field if password is too short, too
// long or too common (PW-02). It imposes no composition rules.
func CheckPassword(field, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLen:
		return invalid(field, ReasonPasswordShort, "Min", strconv.Itoa(MinPasswordLen))
	case len(password) > MaxPasswordLen:
		return invalid(field, ReasonPasswordLong, "Max", strconv.Itoa(MaxPasswordLen))
	case commonPasswords[strings.ToLower(password)]:
		return invalid(field, ReasonPasswordCommon)
	}
	return nil
}
