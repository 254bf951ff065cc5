package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestAtomicRefusesOuterStore: a function given to Atomic that calls the store
// Atomic was called on, instead of the one it was handed, gets ErrOuterStore at
// once, whatever it calls. Before, on SQLite, such a write waited for ever for
// the writer its own transaction held, and with it every write of the server
// (issue 13, item 3); on PostgreSQL it ran outside the transaction.
func TestAtomicRefusesOuterStore(t *testing.T) { storetest.Backends(t, testAtomicRefusesOuterStore) }

func testAtomicRefusesOuterStore(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	newChallenge(t, db, "ch", acc.ID)
	at := t0.Add(time.Minute)
	outer := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"write", func(ctx context.Context) error { return db.PutThrottle(ctx, twostep.Throttle{Key: "k", Failures: 1}) }},
		{"write of one row", func(ctx context.Context) error { return db.SetLastSignIn(ctx, acc.ID, at) }},
		{"conditional write", func(ctx context.Context) error { _, err := db.ConsumeChallenge(ctx, "ch", at); return err }},
		{"write returning a row", func(ctx context.Context) error { _, err := db.CountChallengeAttempt(ctx, "ch"); return err }},
		{"write returning rows", func(ctx context.Context) error {
			_, err := db.ClaimMessages(ctx, at, at.Add(time.Minute), 1)
			return err
		}},
		{"read", func(ctx context.Context) error { _, err := db.Account(ctx, acc.ID); return err }},
		{"read of a join", func(ctx context.Context) error {
			_, _, err := db.ChallengeWithAccount(ctx, []byte("token-ch"))
			return err
		}},
		{"list", func(ctx context.Context) error { _, err := db.Events(ctx, twostep.EventFilter{}); return err }},
		{"its own transaction", func(ctx context.Context) error { return db.ReplaceRecoveryCodes(ctx, acc.ID, nil) }},
		{"Atomic", func(ctx context.Context) error {
			return db.Atomic(ctx, func(context.Context, twostep.Store) error { return nil })
		}},
		{"Ping", db.Ping},
		{"a context derived from the marked one", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			return db.PutThrottle(ctx, twostep.Throttle{Key: "k", Failures: 1})
		}},
	}
	got := map[string]string{}
	var inside error
	// The guard panics in a goroutine of its own: a panic of the test's
	// goroutine would first run its cleanups, and closing a store whose
	// writer is stuck in the function waits for ever.
	guard := time.AfterFunc(time.Second, func() {
		panic("TestAtomicRefusesOuterStore: a call to the outer store inside Atomic blocked for 1s")
	})
	start := time.Now()
	err := db.Atomic(ctx, func(ctx context.Context, tx twostep.Store) error {
		for _, o := range outer {
			if err := o.call(ctx); !errors.Is(err, store.ErrOuterStore) {
				got[o.name] = "error " + errString(err) + ", want ErrOuterStore"
			} else if !strings.Contains(err.Error(), "the outer store was used inside Atomic: use the Store handed to fn") {
				got[o.name] = "unclear error " + err.Error()
			}
		}
		// The Store handed to fn works with the same context.
		inside = tx.PutThrottle(ctx, twostep.Throttle{Key: "k", Failures: 2})
		return nil
	})
	guard.Stop()
	ok(t, err)
	t.Logf("Atomic with %d refused calls took %v", len(outer), time.Since(start))
	if d := cmp.Diff(map[string]string{}, got); d != "" {
		t.Errorf("calls to the outer store inside Atomic (-want +got):\n%s", d)
	}
	ok(t, inside)
	// Once Atomic returned, the outer store works again with the caller's context.
	same(t, "throttle written through the transaction", 2, get[twostep.Throttle](t)(db.Throttle(ctx, "k")).Failures)
	same(t, "challenge untouched by the refused calls", 0, get[*twostep.Challenge](t)(db.Challenge(ctx, "ch")).Attempts)
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
