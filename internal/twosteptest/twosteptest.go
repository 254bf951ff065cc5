// Package twosteptest holds what the tests of Twostep's domain, adapters and
// command share, as net/http/httptest does for HTTP: a clock moved by hand, a
// sealer under a fresh key, cheap password hashing, the outbox drained as the
// delivery worker would, and parallel calls that really race on both backends.
//
// Tests only: it imports the store, which the domain itself never does.
package twosteptest

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Clock is a time that tests move by hand, safe for concurrent use. Pass its
// Now method as the service's and the server's clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads t until it is moved.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// NewKeys returns one fresh sealing key, "k1".
func NewKeys(t testing.TB) []twostep.Key {
	t.Helper()
	line, err := twostep.NewKeyLine("k1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := twostep.ParseKeys([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// NewSealer returns a sealer over keys, the first active; without keys, over
// NewKeys.
func NewSealer(t testing.TB, keys ...twostep.Key) *twostep.Sealer {
	t.Helper()
	if len(keys) == 0 {
		keys = NewKeys(t)
	}
	sealer, err := twostep.NewSealer(keys, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sealer
}

// CheapArgon2 keeps password hashing fast in tests; a hash carries its own
// cost parameters, so nothing else changes.
var CheapArgon2 = twostep.Argon2Params{Memory: 64, Time: 1, Threads: 1}
