package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/twostep/twostep/internal/twostep"
)

// exec runs a write.
func (db *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := db.refuseInsideAtomic(ctx); err != nil {
		return nil, err
	}
	return db.write.ExecContext(ctx, db.d.bind(q), args...)
}

// execOne runs a write meant for one row and returns ErrNotFound if there was none.
func (db *DB) execOne(ctx context.Context, op, q string, args ...any) error {
	n, err := affected(db.exec(ctx, q, args...))
	if err != nil {
		return wrap(err, op)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", op, twostep.ErrNotFound)
	}
	return nil
}

// execDid runs a conditional write and reports whether it changed a row.
func (db *DB) execDid(ctx context.Context, op, q string, args ...any) (bool, error) {
	n, err := affected(db.exec(ctx, q, args...))
	return n > 0, wrap(err, op)
}

func affected(r sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// row runs a read that returns at most one row.
func (db *DB) row(ctx context.Context, q string, args ...any) scanner {
	if err := db.refuseInsideAtomic(ctx); err != nil {
		return failedRow{err}
	}
	return db.read.QueryRowContext(ctx, db.d.bind(q), args...)
}

// writeRow runs a write that returns a row (RETURNING, FOR UPDATE).
func (db *DB) writeRow(ctx context.Context, q string, args ...any) scanner {
	if err := db.refuseInsideAtomic(ctx); err != nil {
		return failedRow{err}
	}
	return db.write.QueryRowContext(ctx, db.d.bind(q), args...)
}

type scanner interface{ Scan(dest ...any) error }

// scanFunc is a scanner made of a function.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// scanBoth scans a row that holds the columns of A, then those of B, with the
// scan functions of each: they keep their own conversions of what they read.
func scanBoth[A, B any](s scanner, scanA func(scanner) (*A, error), scanB func(scanner) (*B, error)) (*A, *B, error) {
	var b *B
	a, err := scanA(scanFunc(func(destA ...any) error {
		var err error
		b, err = scanB(scanFunc(func(destB ...any) error { return s.Scan(append(destA, destB...)...) }))
		return err
	}))
	return a, b, err
}

// qualify prefixes each column of a comma-separated list with table.
func qualify(table, cols string) string {
	fields := strings.Split(cols, ",")
	for i, f := range fields {
		fields[i] = table + "." + strings.TrimSpace(f)
	}
	return strings.Join(fields, ", ")
}

func one[T any](row scanner, scan func(scanner) (*T, error), op string) (*T, error) {
	v, err := scan(row)
	if err != nil {
		return nil, wrap(err, op)
	}
	return v, nil
}

func list[T any](ctx context.Context, db *DB, scan func(scanner) (*T, error), op, q string, args ...any) ([]*T, error) {
	if err := db.refuseInsideAtomic(ctx); err != nil {
		return nil, wrap(err, op)
	}
	return query(ctx, db.read, db.d, scan, op, q, args...)
}

// writeList runs a write that returns rows (UPDATE … RETURNING).
func writeList[T any](ctx context.Context, db *DB, scan func(scanner) (*T, error), op, q string, args ...any) ([]*T, error) {
	if err := db.refuseInsideAtomic(ctx); err != nil {
		return nil, wrap(err, op)
	}
	return query(ctx, db.write, db.d, scan, op, q, args...)
}

func query[T any](ctx context.Context, on querier, d *dialect, scan func(scanner) (*T, error), op, q string, args ...any) ([]*T, error) {
	// A list may run long, unlike a lookup by key: on SQLite, only it stops
	// where its deadline passes (see uncancellable).
	rows, err := on.QueryContext(interruptible(ctx), d.bind(q), args...)
	if err != nil {
		return nil, wrap(err, op)
	}
	defer rows.Close()
	var vs []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(err, op)
		}
		vs = append(vs, v)
	}
	return vs, wrap(rows.Err(), op)
}

// wrap names the operation and turns the drivers' errors into the Store's.
func wrap(err error, op string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrOuterStore):
		return fmt.Errorf("%w (%s)", err, op)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: %s: %w", op, twostep.ErrNotFound)
	case isUnique(err):
		return fmt.Errorf("store: %s: %w", op, twostep.ErrConflict)
	}
	return fmt.Errorf("store: %s: %w", op, unavailable(err))
}

func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}

// us stores t as unix microseconds, and the zero time as NULL.
func us(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// tm scans what us stored back into a UTC time.
type tm struct{ t *time.Time }

func (s tm) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("store: cannot scan %T into a time", v)
	}
	return nil
}

// null stores "" and empty byte slices as NULL, so that unique columns may
// hold many of them.
func null[T string | []byte](v T) any {
	if len(v) == 0 {
		return nil
	}
	return v
}

func join[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ",")
}

func split[T ~string](s string) []T {
	if s == "" {
		return nil
	}
	var vs []T
	for v := range strings.SplitSeq(s, ",") {
		vs = append(vs, T(v))
	}
	return vs
}
