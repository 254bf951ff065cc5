package store

import (
	"context"
	"fmt"
)

// ExecForTest runs q on the writer, for what the Store itself never does (such as
// deleting an account to see the cascade).
func (db *DB) ExecForTest(ctx context.Context, q string, args ...any) error {
	_, err := db.exec(ctx, q, args...)
	return err
}

// ValueForTest returns the one value q reads on the writer or on a reader.
func (db *DB) ValueForTest(ctx context.Context, reader bool, q string) (string, error) {
	p := db.pools.writer
	if reader {
		p = db.pools.reader
	}
	var v string
	err := p.QueryRowContext(ctx, q).Scan(&v)
	return v, err
}

// MigrateToForTest migrates up or down to version.
func (db *DB) MigrateToForTest(ctx context.Context, version int64) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	now, err := p.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case version > now:
		_, err = p.UpTo(ctx, version)
	case version < now:
		_, err = p.DownTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("migrate from %d to %d: %w", now, version, err)
	}
	return nil
}

// DialectForTest returns "sqlite" or "postgres".
func (db *DB) DialectForTest() string { return db.d.name }

// QueuedForTest is how many Atomic calls wait for the SQLite writer.
func (db *DB) QueuedForTest() int { return len(db.pools.batch.queue) }

// LargestBatchForTest is the most Atomic calls one SQLite transaction has held.
func (db *DB) LargestBatchForTest() int { return int(db.pools.batch.largest.Load()) }
