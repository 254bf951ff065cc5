package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// maxBatch bounds how many Atomic calls share one SQLite transaction, and so
// how long the last of them waits for the commit.
const maxBatch = 64

// errClosed answers an Atomic call made after Close.
var errClosed = errors.New("store: closed")

// batcher is SQLite's group commit. SQLite has one writer, and on it the cost
// of a small transaction is mostly its commit: the pages it dirtied written to
// the WAL, two system calls each, and the locks taken and released. Concurrent
// Atomic calls therefore queue here, and one goroutine runs as many as are
// waiting in a single transaction, each inside a savepoint of its own: a
// function that fails rolls back to its savepoint and leaves the others' work
// alone, and the pages they share (the ends of the sessions and audit tables,
// their indexes' right edges) are written once per batch instead of once per
// call. Each caller still learns its own outcome only after the commit.
type batcher struct {
	writer *sql.DB
	stmts  *stmtCache
	d      *dialect
	ckpt   *checkpointer
	queue  chan *batchItem
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	mu     sync.RWMutex
	closed bool
	// largest is the most items one transaction has held, for tests.
	largest atomic.Int64
}

type batchItem struct {
	ctx      context.Context
	fn       func(context.Context, *DB) error
	err      error
	panicked any // what fn panicked with, raised again in the caller
	ok       chan struct{}
}

func newBatcher(writer *sql.DB, stmts *stmtCache, d *dialect, ckpt *checkpointer) *batcher {
	b := &batcher{writer: writer, stmts: stmts, d: d, ckpt: ckpt,
		queue: make(chan *batchItem, maxBatch), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

// do runs fn in a transaction shared with other callers and returns once that
// transaction has committed or rolled back. fn's error is returned as is, and
// fn's writes are undone; a failed commit is returned to every caller.
func (b *batcher) do(ctx context.Context, fn func(context.Context, *DB) error) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	it := &batchItem{ctx: ctx, fn: fn, ok: make(chan struct{})}
	if err := b.enqueue(it); err != nil {
		return err
	}
	// Once queued, the item is always answered: a caller that left early could
	// otherwise not know whether its writes were committed.
	<-it.ok
	if it.panicked != nil {
		panic(it.panicked)
	}
	return it.err
}

// enqueue hands it to the loop, unless the batcher is closed or ctx ends first.
func (b *batcher) enqueue(it *batchItem) error {
	// The read lock keeps close from stopping the loop while an item is on its
	// way into the queue, where nothing would answer it.
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errClosed
	}
	select {
	case b.queue <- it:
		return nil
	case <-it.ctx.Done():
		return unavailable(it.ctx.Err())
	}
}

func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.once.Do(func() { close(b.stop) })
	<-b.done
}

func (b *batcher) loop() {
	defer close(b.done)
	items := make([]*batchItem, 0, maxBatch)
	for {
		select {
		case it := <-b.queue:
			items = append(items[:0], it)
		case f := <-b.ckpt.between:
			f()
			continue
		case <-b.stop:
			for {
				select {
				case it := <-b.queue:
					it.err = errClosed
					close(it.ok)
				default:
					return
				}
			}
		}
	drain:
		for len(items) < maxBatch {
			select {
			case it := <-b.queue:
				items = append(items, it)
			default:
				break drain
			}
		}
		if n := int64(len(items)); n > b.largest.Load() {
			b.largest.Store(n)
		}
		b.run(items)
		for _, it := range items {
			close(it.ok)
		}
	}
}

// run runs items in one transaction and sets each item's outcome.
func (b *batcher) run(items []*batchItem) {
	ctx := context.Background() // each item's own context is checked before it runs
	q := cachedTx{c: b.stmts, missed: new([]string)}
	defer q.prepareMissed(ctx) // once the writer is free
	tx, err := b.writer.BeginTx(ctx, b.d.txOptions)
	if err != nil {
		for _, it := range items {
			it.err = fmt.Errorf("store: begin: %w", err)
		}
		return
	}
	defer tx.Rollback() // after Commit, a no-op
	q.tx = tx
	// A lone item needs no savepoint: if it fails, the whole transaction goes.
	alone := len(items) == 1
	// Reads may stop at an item's deadline: SQLite keeps the transaction of
	// an interrupted read. Writes may not when others share it (cachedTx.shared).
	w := q
	w.shared = !alone
	st := &DB{d: b.d, read: q, write: w}
	// sp runs a savepoint statement; if one fails, the transaction is lost to all.
	sp := func(stmt string) bool {
		if _, err := q.ExecContext(ctx, stmt); err != nil {
			b.fail(items, fmt.Errorf("store: %s: %w", stmt, err))
			return false
		}
		return true
	}
	committed := 0
	for _, it := range items {
		if it.err = unavailable(it.ctx.Err()); it.err != nil {
			continue
		}
		if !alone && !sp("SAVEPOINT item") {
			return
		}
		it.err, it.panicked = call(it.ctx, it.fn, st)
		switch {
		case it.err == nil && it.panicked == nil:
			committed++
		case alone:
			return // the deferred Rollback undoes it
		case !sp("ROLLBACK TO item"):
			return
		}
		if !alone && !sp("RELEASE item") {
			return
		}
	}
	if committed == 0 {
		return
	}
	if err := tx.Commit(); err != nil {
		b.fail(items, fmt.Errorf("store: commit: %w", err))
		return
	}
	b.ckpt.committed()
}

// fail gives err to every item that had succeeded so far: the transaction that
// held their writes is gone.
func (b *batcher) fail(items []*batchItem, err error) {
	for _, it := range items {
		if it.err == nil && it.panicked == nil {
			it.err = err
		}
	}
}

// call runs fn and turns a panic into a value, so that one caller's bug does
// not take down the goroutine that commits everyone's writes.
func call(ctx context.Context, fn func(context.Context, *DB) error, st *DB) (err error, panicked any) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	return fn(ctx, st), nil
}
