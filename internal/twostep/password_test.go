package twostep

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

// TestHasherDeadlineIsBusy: a request whose deadline passes while it waits for
// a hashing slot is told the server is busy (503 with Retry-After), not that
// the database failed (issue 12, item 2: every request has a deadline now).
func TestHasherDeadlineIsBusy(t *testing.T) {
	h := NewHasher(Argon2Params{Memory: 64, Time: 1, Threads: 1}, 1, 10, time.Minute, rand.Reader)
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.release()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "a long and good password"); !errors.Is(err, ErrBusy) || RetryAfter(err) <= 0 {
		t.Errorf("Hash past the deadline: %v, want ErrBusy with a retry delay", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "a long and good password"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash for a client that left: %v, want context.Canceled", err)
	}
}
