package store

import (
	"context"
	"fmt"

	"github.com/twostep/twostep/internal/twostep"
)

// Atomic runs fn in one write transaction (BEGIN IMMEDIATE on SQLite). fn must
// use the ctx and Store it is given: on SQLite the DB's own writer is busy with
// the transaction until fn returns. Atomic inside Atomic joins the transaction.
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
	if db.pools.batch != nil {
		return db.pools.batch.do(ctx, fn) // SQLite
	}
	tx, err := db.pools.writer.BeginTx(ctx, db.d.txOptions)
	if err != nil {
		return fmt.Errorf("store: begin: %w", unavailable(err))
	}
	defer tx.Rollback() // after Commit, a no-op; on error or panic, the undo
	if err := fn(ctx, &DB{d: db.d, read: tx, write: tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", unavailable(err))
	}
	return nil
}
