package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache prepares each query once for a pool. database/sql then keeps it
// prepared on every connection that runs it, so SQLite does not compile the
// same SQL again on each call (that was a sixth of the cost of a second step).
// PostgreSQL does not need it: pgx caches prepared statements itself.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[q]
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	if st := c.lookup(q); st != nil {
		return st, nil
	}
	// Prepared without the lock: preparing may wait for the writer connection,
	// which a transaction looking up its statements may hold.
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[q]; ok {
		st.Close()
		return old, nil
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// cachedPool is a querier over a pool whose statements are cached.
type cachedPool struct{ c *stmtCache }

func (p cachedPool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = uncancellable(ctx)
	st, err := p.c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (p cachedPool) QueryContext(ctx context.Context, q string, args ...any) (rows, error) {
	ctx = uncancellable(ctx)
	st, err := p.c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return sqlRows(st.QueryContext(ctx, args...))
}

func (p cachedPool) QueryRowContext(ctx context.Context, q string, args ...any) scanner {
	ctx = uncancellable(ctx)
	st, err := p.c.get(ctx, q)
	if err != nil {
		return p.c.db.QueryRowContext(ctx, q, args...) // fails the same way, as a *sql.Row
	}
	return st.QueryRowContext(ctx, args...)
}

// cachedTx is a querier in a transaction that uses the writer's cached
// statements. A statement not cached yet cannot be prepared on the pool now:
// the transaction holds SQLite's only writer connection. It runs uncached and
// is prepared once the transaction is over (prepareMissed).
type cachedTx struct {
	tx     *sql.Tx
	c      *stmtCache
	missed *[]string
	// shared: other callers' writes are in the transaction too, so none of
	// its statements may be interrupted (neverInterrupted).
	shared bool
}

func (t cachedTx) context(ctx context.Context) context.Context {
	if t.shared {
		return neverInterrupted(ctx)
	}
	return uncancellable(ctx)
}

func (t cachedTx) stmt(ctx context.Context, q string) *sql.Stmt {
	st := t.c.lookup(q)
	if st == nil {
		*t.missed = append(*t.missed, q)
		return nil
	}
	return t.tx.StmtContext(ctx, st)
}

// prepareMissed caches what a finished transaction ran uncached.
func (t cachedTx) prepareMissed(ctx context.Context) {
	for _, q := range *t.missed {
		t.c.get(ctx, q) // a statement that fails to prepare simply stays uncached
	}
}

func (t cachedTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t cachedTx) QueryContext(ctx context.Context, q string, args ...any) (rows, error) {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return sqlRows(st.QueryContext(ctx, args...))
	}
	return sqlRows(t.tx.QueryContext(ctx, q, args...))
}

func (t cachedTx) QueryRowContext(ctx context.Context, q string, args ...any) scanner {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}
