package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// The request deadlines of issue 12, item 2 on SQLite: the database is a local
// file, but a statement can still run long, and the writer is shared.

// TestSQLiteLongStatementStopsAtDeadline: a statement that would run for about
// ten seconds ends at its caller's deadline, as ErrUnavailable.
func TestSQLiteLongStatementStopsAtDeadline(t *testing.T) {
	db := storetest.SQLite(t)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := db.CountToForTest(ctx, 50_000_000)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the statement ran %v past a 200ms deadline", took)
	}
	if !errors.Is(err, twostep.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want ErrUnavailable for the deadline", err)
	}
	if n, err := db.CountToForTest(t.Context(), 10); n != 10 || err != nil {
		t.Errorf("the next statement: %d, %v", n, err)
	}
}

// TestSQLiteDeadlineInTransaction: an Atomic call whose deadline passes in the
// middle of a long write leaves nothing of its writes, alone in its
// transaction or sharing it with other callers (the batcher), and the callers
// it shared with keep theirs.
func TestSQLiteDeadlineInTransaction(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := t.Context()
	if err := db.ExecForTest(ctx, "CREATE TABLE scratch (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	rows := func() map[int]bool {
		got := map[int]bool{}
		for _, x := range []int{1, 2, 3} {
			v, err := db.ValueForTest(ctx, false, "SELECT count(*) FROM scratch WHERE x = "+string(rune('0'+x)))
			if err != nil {
				t.Fatal(err)
			}
			got[x] = v != "0"
		}
		return got
	}
	// late writes x, then a write that outlasts its deadline, then y.
	late := func(ctx context.Context, x, y int) error {
		return db.Atomic(ctx, func(ctx context.Context, tx twostep.Store) error {
			s := tx.(*store.DB)
			if err := s.ExecForTest(ctx, "INSERT INTO scratch (x) VALUES (?)", x); err != nil {
				return err
			}
			if err := s.CountIntoForTest(ctx, 5_000_000); err != nil { // about a second
				return err
			}
			return s.ExecForTest(ctx, "INSERT INTO scratch (x) VALUES (?)", y)
		})
	}

	t.Run("alone", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if err := late(dctx, 1, 1); !errors.Is(err, twostep.ErrUnavailable) {
			t.Errorf("Atomic past its deadline: %v, want ErrUnavailable", err)
		}
		if got := rows(); got[1] {
			t.Errorf("the writes of a call past its deadline stayed: %v", got)
		}
		if err := db.ExecForTest(ctx, "DELETE FROM scratch"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("shared", func(t *testing.T) {
		// The first call holds the writer until the two others are queued,
		// so that they share the next transaction: the late one first.
		started, release := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- db.Atomic(ctx, func(context.Context, twostep.Store) error { close(started); <-release; return nil })
		}()
		<-started
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		lateErr, otherErr := make(chan error, 1), make(chan error, 1)
		go func() { lateErr <- late(dctx, 1, 2) }()
		waitQueued(t, db, 1)
		go func() {
			otherErr <- db.Atomic(ctx, func(ctx context.Context, tx twostep.Store) error {
				return tx.(*store.DB).ExecForTest(ctx, "INSERT INTO scratch (x) VALUES (3)")
			})
		}()
		waitQueued(t, db, 2)
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err := <-lateErr; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the call past its deadline: %v, want its deadline", err)
		}
		if err := <-otherErr; err != nil {
			t.Errorf("the call that shared its transaction: %v", err)
		}
		if got, want := rows(), map[int]bool{1: false, 2: false, 3: true}; got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
			t.Errorf("rows %v, want %v", got, want)
		}
	})

	// The writer goes on.
	if err := db.Atomic(ctx, func(ctx context.Context, tx twostep.Store) error {
		return tx.(*store.DB).ExecForTest(ctx, "INSERT INTO scratch (x) VALUES (2)")
	}); err != nil {
		t.Errorf("Atomic afterwards: %v", err)
	}
}

func waitQueued(t *testing.T, db *store.DB, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); db.QueuedForTest() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d Atomic calls queued, want %d", db.QueuedForTest(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
