package store

import (
	"context"
	"fmt"
	"time"
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
	p, done, err := db.migrator()
	if err != nil {
		return err
	}
	defer done()
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

// CountToForTest counts to n in one statement on a reader, as a list does: a
// statement that runs as long as n makes it.
func (db *DB) CountToForTest(ctx context.Context, n int) (int, error) {
	vs, err := list(ctx, db, scanInt, "count to", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) FROM c", n)
	if err != nil {
		return 0, err
	}
	return *vs[0], nil
}

// CountIntoForTest writes the count to n into the table scratch(x) in one
// statement that returns rows, as a claim does.
func (db *DB) CountIntoForTest(ctx context.Context, n int) error {
	_, err := writeList(ctx, db, scanInt, "count into", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) INSERT INTO scratch (x) SELECT count(*) FROM c RETURNING x", n)
	return err
}

func scanInt(s scanner) (*int, error) {
	var v int
	err := s.Scan(&v)
	return &v, err
}

// SetCheckpointsForTest sets the WAL length, in pages, past which the
// checkpointer has the WAL restarted, and the interval of its checkpoints.
// Call it before the first write.
func (db *DB) SetCheckpointsForTest(pages int, every time.Duration) {
	db.pools.checkpoint.restartPages, db.pools.checkpoint.every = pages, every
}
