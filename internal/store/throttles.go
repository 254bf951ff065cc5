package store

import (
	"context"
	"errors"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

// Throttles.

const throttleCols = `key, failures, hour_start, hour_failures, locked_until`

func scanThrottle(s scanner) (*twostep.Throttle, error) {
	var t twostep.Throttle
	err := s.Scan(&t.Key, &t.Failures, tm{&t.HourStart}, &t.HourFailures, tm{&t.LockedUntil})
	return &t, err
}

const throttleByKey = `SELECT ` + throttleCols + ` FROM throttles WHERE key = ?`

// Throttle reads the throttle under key; a zero Throttle with that key if none.
func (db *DB) Throttle(ctx context.Context, key string) (twostep.Throttle, error) {
	return throttleOrZero(db.row(ctx, throttleByKey, key), key, "throttle")
}

// throttleOrZero scans the throttle row read under key, or gives a zero
// Throttle with that key if there is none.
func throttleOrZero(row scanner, key, op string) (twostep.Throttle, error) {
	t, err := one(row, scanThrottle, op)
	if errors.Is(err, twostep.ErrNotFound) {
		return twostep.Throttle{Key: key}, nil
	}
	if err != nil {
		return twostep.Throttle{}, err
	}
	return *t, nil
}

// LockThrottle is Throttle for use inside Atomic: it holds the row until the
// transaction ends (on PostgreSQL it creates the row if needed and locks it
// FOR UPDATE; on SQLite the write transaction already holds the whole
// database, and a new key's row is created by PutThrottle only).
func (db *DB) LockThrottle(ctx context.Context, key string) (twostep.Throttle, error) {
	if t, ok := db.pg.lockedThrottle(key); ok {
		return t, nil
	}
	if db.d == sqliteDialect {
		// SQLite's one write transaction holds the whole database: there is no
		// row to lock, and a row of defaults reads as no row (Throttle), so the
		// row waits for the PutThrottle that records a failure, one statement
		// fewer on the writer for every sign-in that does not fail.
		return throttleOrZero(db.writeRow(ctx, throttleByKey, key), key, "lock throttle")
	}
	// Inserting first gives FOR UPDATE a row to lock even for a new key; two
	// transactions inserting the same key wait for each other on the primary key.
	if _, err := db.exec(ctx, `INSERT INTO throttles (key) VALUES (?) ON CONFLICT (key) DO NOTHING`, key); err != nil {
		return twostep.Throttle{}, wrap(err, "lock throttle")
	}
	t, err := one(db.writeRow(ctx, throttleByKey+db.d.forUpdate, key),
		scanThrottle, "lock throttle")
	if err != nil {
		return twostep.Throttle{}, err
	}
	return *t, nil
}

// PutThrottle stores t under its key.
// In a PostgreSQL transaction the write goes with the next statement.
func (db *DB) PutThrottle(ctx context.Context, t twostep.Throttle) error {
	if db.pg != nil {
		db.pg.putThrottle(t)
		return nil
	}
	_, err := db.exec(ctx, putThrottleSQL, t.Key, t.Failures, us(t.HourStart), t.HourFailures, us(t.LockedUntil))
	return wrap(err, "put throttle")
}

const putThrottleSQL = `INSERT INTO throttles (` + throttleCols + `) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, hour_start = excluded.hour_start,
	hour_failures = excluded.hour_failures, locked_until = excluded.locked_until`

// Throttles reads the throttles under keys that exist, in no given order.
func (db *DB) Throttles(ctx context.Context, keys []string) ([]twostep.Throttle, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	ts, err := list(ctx, db, scanThrottle, "throttles", `SELECT `+throttleCols+` FROM throttles
		WHERE key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	out := make([]twostep.Throttle, len(ts))
	for i, t := range ts {
		out[i] = *t
	}
	return out, nil
}
