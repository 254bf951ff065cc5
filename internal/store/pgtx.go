package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/twostep/twostep/internal/twostep"
)

// A PostgreSQL transaction pays for each round trip to the server, not for
// each statement: on this project's 2 cores a second step went from about
// eleven round trips through database/sql to two (TestPostgresRoundTrips).
// pgTx therefore runs Atomic on a connection of pgx's own pool and sends its
// statements in pipelines (pgx.Batch): a statement whose result nobody waits
// for (BEGIN, and the writes queued with later) waits in pending and goes with
// the next statement that has a result, or with COMMIT. The order of the
// statements is kept, so a read sees every write queued before it; a queued
// write that fails fails the statement it went with, or the commit, and with
// it the transaction, as if it had failed at once.

// pgStmt is one statement of a pipeline.
type pgStmt struct {
	op   string
	sql  string
	args []any
	// read reads its result from the pipeline; nil reads an Exec and wants no
	// more than success.
	read func(br pgx.BatchResults) error
}

func (s pgStmt) readResult(br pgx.BatchResults) error {
	if s.read != nil {
		return s.read(br)
	}
	_, err := br.Exec()
	return wrap(err, s.op)
}

// pgTx is a querier in a PostgreSQL transaction: see above.
type pgTx struct {
	conn    *pgxpool.Conn
	d       *dialect
	pending []pgStmt
	started bool  // BEGIN has left
	err     error // a queued write failed: the transaction is lost
	// signIn holds the rows of a sign-in read and locked at once (pgsignin.go).
	signIn *signInRows
}

// beginPG starts a transaction on a connection of pool; BEGIN leaves with the
// first statement.
func beginPG(ctx context.Context, pool *pgxpool.Pool, d *dialect) (*pgTx, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{conn: conn, d: d, pending: []pgStmt{{op: "begin", sql: "BEGIN ISOLATION LEVEL READ COMMITTED"}}}, nil
}

// later queues a write to be sent with the next statement or the commit. It
// must change want rows (0: any number), or the transaction fails with
// ErrNotFound: a write meant for a row that this transaction holds (locked or
// made) cannot miss it unless something is wrong, and then nothing commits.
func (t *pgTx) later(op string, want int64, q string, args ...any) {
	t.pending = append(t.pending, pgStmt{op: op, sql: t.d.bind(q), args: args, read: func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return wrap(err, op)
		}
		if want > 0 && tag.RowsAffected() != want {
			return fmt.Errorf("store: %s: changed %d rows, not %d: %w", op, tag.RowsAffected(), want, twostep.ErrNotFound)
		}
		return nil
	}})
}

// laterRow queues a write that returns one row, scanned into dest once it is
// sent (AppendEvent's id).
func (t *pgTx) laterRow(op string, dest []any, q string, args ...any) {
	t.pending = append(t.pending, pgStmt{op: op, sql: t.d.bind(q), args: args, read: func(br pgx.BatchResults) error {
		return wrap(br.QueryRow().Scan(dest...), op)
	}})
}

// send sends the pending statements and then stmts in one pipeline and reads
// the pending ones' results; the caller reads those of stmts and closes br.
func (t *pgTx) send(ctx context.Context, stmts ...pgStmt) (pgx.BatchResults, error) {
	if t.err != nil {
		return nil, t.err
	}
	b := &pgx.Batch{}
	for _, s := range t.pending {
		b.Queue(s.sql, s.args...)
	}
	for _, s := range stmts {
		b.Queue(s.sql, s.args...)
	}
	pending := t.pending
	t.pending = nil
	t.started = true
	br := t.conn.SendBatch(ctx, b)
	for _, s := range pending {
		if err := s.readResult(br); err != nil {
			br.Close()
			t.err = err
			return nil, err
		}
	}
	return br, nil
}

// run sends stmts (after the pending ones) and reads all their results.
func (t *pgTx) run(ctx context.Context, stmts ...pgStmt) error {
	br, err := t.send(ctx, stmts...)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if err = s.readResult(br); err != nil {
			break
		}
	}
	return errors.Join(err, br.Close())
}

// commit sends what is pending with COMMIT. A transaction that never sent a
// statement has nothing to commit.
func (t *pgTx) commit(ctx context.Context) error {
	if !t.started && len(t.pending) == 1 {
		t.pending = nil
		return nil
	}
	return t.run(ctx, pgStmt{op: "commit", sql: "COMMIT", read: func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err == nil && tag.String() == "ROLLBACK" {
			// PostgreSQL answers COMMIT in a failed transaction by rolling back.
			err = errors.New("the transaction had failed and was rolled back")
		}
		return err
	}})
}

// release rolls back what commit did not commit, and gives the connection back
// to the pool (which closes it if it is still in a transaction).
func (t *pgTx) release(ctx context.Context) {
	defer t.conn.Release()
	if !t.started {
		return
	}
	if t.conn.Conn().PgConn().TxStatus() != 'I' && !t.conn.Conn().IsClosed() {
		t.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
}

// ExecContext runs a statement after the pending ones. Any statement that is
// not one of the sign-in's own drops the sign-in's rows: it may have changed
// them.
func (t *pgTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.signIn = nil
	var tag pgconn.CommandTag
	err := t.run(ctx, pgStmt{sql: q, args: args, read: func(br pgx.BatchResults) error {
		var err error
		tag, err = br.Exec()
		return err
	}})
	if err != nil {
		return nil, err
	}
	return pgResult(tag), nil
}

func (t *pgTx) QueryContext(ctx context.Context, q string, args ...any) (rows, error) {
	t.signIn = nil
	br, err := t.send(ctx, pgStmt{sql: q, args: args})
	if err != nil {
		return nil, err
	}
	r, err := br.Query()
	if err != nil {
		return nil, errors.Join(err, br.Close())
	}
	return &pgRows{Rows: r, br: br}, nil
}

func (t *pgTx) QueryRowContext(ctx context.Context, q string, args ...any) scanner {
	t.signIn = nil
	br, err := t.send(ctx, pgStmt{sql: q, args: args})
	if err != nil {
		return failedRow{err}
	}
	row := br.QueryRow()
	return scanFunc(func(dest ...any) error {
		err := row.Scan(dest...)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// pgResult is a command tag as a sql.Result.
type pgResult pgconn.CommandTag

func (r pgResult) LastInsertId() (int64, error) {
	return 0, errors.New("store: no LastInsertId on PostgreSQL")
}
func (r pgResult) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }

// pgRows are the rows of a query in a pipeline; closing them closes the pipeline.
type pgRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *pgRows) Close() error {
	r.Rows.Close()
	return errors.Join(r.Rows.Err(), r.br.Close())
}

// roundTrips counts what PostgreSQL connections send and wait for: statements
// run alone and pipelines. The statements a connection prepares the first
// time it runs them (pgx caches them per connection) are not counted.
type roundTrips struct{ n atomic.Uint64 }

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// RoundTrips returns how many statements and pipelines this DB has sent to
// PostgreSQL and waited for, not counting each connection's first preparation
// of a statement; 0 on SQLite.
func (db *DB) RoundTrips() uint64 {
	if db.pools == nil || db.pools.trips == nil {
		return 0
	}
	return db.pools.trips.n.Load()
}
