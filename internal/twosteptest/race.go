package twosteptest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Queued is the store Race holds: a twostep.Store (the store adapter's DB)
// that says how many Atomic calls wait for SQLite's one writer and how many
// it takes at once (0: concurrent transactions, as on PostgreSQL). An
// interface, so that this package of the domain's tests needs no adapter.
type Queued interface {
	twostep.Store
	AtomicQueue() (waiting, capacity int)
}

// Race runs fn(0) … fn(n-1) at once over db and counts the calls that returned
// nil, keeping the others' errors.
//
// On PostgreSQL concurrent calls get concurrent transactions, and a
// read-then-write race shows by itself. On SQLite one goroutine runs every
// write transaction in turn, and a call usually commits before the next one
// starts: a single-use decision taken on a read made outside the transaction
// (through the store outside Atomic, or a reader, which sees only committed
// rows) would pass there and fail in production under load. So Race first
// holds SQLite's writer with a transaction of its own, waits until the calls
// are queued for it, then lets them all into one shared transaction, where
// each reads what the others have not committed yet, as concurrent
// transactions do. The calls must reach Atomic without writing outside it
// first (that would wait behind the held writer); Race fails t if they are
// not queued within ten seconds.
func Race(t testing.TB, db Queued, n int, fn func(i int) error) (ok int, errs []error) {
	t.Helper()
	release := hold(t, db)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var returned atomic.Int64
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			err := fn(i)
			returned.Add(1)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else {
				errs = append(errs, err)
			}
		})
	}
	close(start)
	release(func() bool {
		waiting, capacity := db.AtomicQueue()
		return waiting >= capacity || waiting+int(returned.Load()) >= n
	})
	wg.Wait()
	return ok, errs
}

// hold holds SQLite's writer in a transaction that does nothing until the
// returned function is called; that function waits until ready reports true
// (polling, for at most ten seconds), then lets the writer go. On PostgreSQL
// nothing is held.
func hold(t testing.TB, db Queued) (release func(ready func() bool)) {
	t.Helper()
	if _, capacity := db.AtomicQueue(); capacity == 0 {
		return func(func() bool) {}
	}
	held, let, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.Atomic(context.Background(), func(context.Context, twostep.Store) error {
			close(held)
			<-let
			return nil
		})
	}()
	<-held
	return func(ready func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ready() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		timedOut := !ready()
		close(let)
		if err := <-done; err != nil {
			t.Errorf("holding the writer: %v", err)
		}
		if timedOut {
			waiting, _ := db.AtomicQueue()
			t.Errorf("race: after 10s only %d calls wait for the SQLite writer; did one write outside Atomic first?", waiting)
		}
	}
}
