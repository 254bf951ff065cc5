package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// checkpointEvery spaces the background checkpoints: each one writes the pages
// committed since the last to the database file and syncs it.
const checkpointEvery = 100 * time.Millisecond

// walRestartPages is the WAL's length, in pages (4 KB), past which the
// checkpointer has it restarted: the WAL then stays within about this many
// pages plus what is committed in checkpointEvery.
const walRestartPages = 1000

// walBackstopPages is the writer's own automatic checkpoint threshold, for
// when the checkpointer cannot restart the WAL (a reader holding an old
// snapshot for long). Once the WAL is past it, SQLite checkpoints on the writer
// after every commit, so it must lie well above walRestartPages.
const walBackstopPages = 4000

// checkpointer copies the WAL into the database file from a connection of its
// own, so that the writer, the one connection every write waits for, does not
// do it itself after a commit (SQLite's automatic checkpoint, a tenth of the
// writer's time under load, sync included). A PASSIVE checkpoint never waits
// for the writer or the readers; what it cannot copy now it copies next time.
//
// Copying alone does not shorten the WAL: only a writer that starts while every
// frame is copied starts it over, and a busy writer starts again at once after
// each commit, before a PASSIVE checkpoint can catch up. The WAL then grows to
// the writer's automatic threshold, past which SQLite checkpoints on the writer
// after every commit (measured: 22 µs of writer time a second step). So
// once the WAL is walRestartPages long, the checkpointer has the writer wait
// between two transactions while it copies what the last PASSIVE checkpoint
// left: little, since it just ran. The writer's next transaction then finds
// the WAL copied and starts it over, unless a reader still reads an older
// snapshot from it (it does not wait for the readers; the next round will).
type checkpointer struct {
	db           *sql.DB
	restartPages int
	every        time.Duration // checkpointEvery but in tests
	// between takes a function that the batcher runs between two
	// transactions, the writer idle.
	between chan func()
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	closed  sync.Once
}

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, restartPages: walRestartPages, every: checkpointEvery, between: make(chan func()), wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// committed tells the checkpointer that the WAL grew; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.checkpoint(context.Background())
		select {
		case <-c.stop:
			return
		case <-time.After(c.every):
		}
	}
}

// checkpoint copies the WAL, and when it is long, copies what is left while
// the writer waits between two transactions, so that the writer's next
// transaction starts the WAL over. An error (the disk full, the file gone) is
// the writer's to report: its own commits meet the same cause.
func (c *checkpointer) checkpoint(ctx context.Context) {
	var busy, log, copied int
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied); err != nil {
		return
	}
	if log < c.restartPages {
		return
	}
	done := make(chan struct{})
	select {
	case c.between <- func() {
		defer close(done)
		c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	}:
		<-done
	case <-c.stop:
	}
}

func (c *checkpointer) close() error {
	c.closed.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
