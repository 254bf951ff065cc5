package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/twostep/twostep/internal/twostep"
)

// ErrOuterStore is returned, at once, by a DB used with a context that this
// same DB's Atomic handed its function: the function called the store Atomic
// was called on instead of the one it was handed. On SQLite that call would
// wait for ever (the one writer is busy with the function, and statements run
// without their cancellation), and with it every write of the server; on
// PostgreSQL it would run beside the transaction, not in it, and could wait
// for the transaction's own row locks. It is a bug, never retried.
var ErrOuterStore = errors.New("store: the outer store was used inside Atomic: use the Store handed to fn")

// atomicKey marks the context Atomic hands its function; its value is the
// pools of the DB whose transaction is open. Only that DB refuses: another
// database is another writer.
type atomicKey struct{}

// refuseInsideAtomic returns ErrOuterStore if db is an outer DB (not the one
// Atomic hands its function) and ctx is marked by db's own Atomic.
//
// A function can still hide the call from this check by using a context not
// derived from the one it was handed (the caller's, captured in a closure):
// that is why Atomic hands fn a context and every function uses it.
func (db *DB) refuseInsideAtomic(ctx context.Context) error {
	if db.pools != nil && ctx.Value(atomicKey{}) == db.pools {
		return ErrOuterStore
	}
	return nil
}

// Atomic runs fn in one write transaction (BEGIN IMMEDIATE on SQLite). fn is
// handed ctx marked as inside this transaction, and the Store of the
// transaction; it must use both: db itself refuses with ErrOuterStore a call
// made with the marked context (on SQLite the DB's own writer is busy with
// the transaction until fn returns). Atomic inside Atomic, on the Store handed
// to fn, joins the transaction.
// On SQLite, concurrent calls share one transaction, each fn in a savepoint of
// its own (see batcher): fn's error undoes only fn's writes, and Atomic returns
// only after the commit. fn must therefore not wait for another Atomic call.
func (db *DB) Atomic(ctx context.Context, fn func(ctx context.Context, tx twostep.Store) error) error {
	return db.atomic(ctx, func(ctx context.Context, tx *DB) error { return fn(ctx, tx) })
}

func (db *DB) atomic(ctx context.Context, fn func(context.Context, *DB) error) error {
	if db.pools == nil {
		return fn(ctx, db)
	}
	if err := db.refuseInsideAtomic(ctx); err != nil {
		return err
	}
	ctx = context.WithValue(ctx, atomicKey{}, db.pools)
	if db.pools.batch != nil {
		return db.pools.batch.do(ctx, fn) // SQLite
	}
	tx, err := beginPG(ctx, db.pools.pgx, db.d)
	if err != nil {
		return fmt.Errorf("store: begin: %w", unavailable(err))
	}
	defer tx.release(ctx) // after the commit, a no-op; on error or panic, the undo
	if err := fn(ctx, &DB{d: db.d, read: tx, write: tx, pg: tx}); err != nil {
		return err
	}
	if err := tx.commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", unavailable(err))
	}
	return nil
}

// failedRow is a row whose Scan returns err: a refused read.
type failedRow struct{ err error }

func (r failedRow) Scan(...any) error { return r.err }
