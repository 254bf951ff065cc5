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

// checkpointer copies the WAL into the database file from a connection of its
// own, so that the writer, the one connection every write waits for, does not
// do it itself after a commit (SQLite's automatic checkpoint, a tenth of the
// writer's time under load, sync included). A PASSIVE checkpoint never waits
// for the writer or the readers; what it cannot copy now it copies next time.
// The writer keeps a higher automatic threshold as a backstop.
type checkpointer struct {
	db     *sql.DB
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
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
		// An error (the disk full, the file gone) is the writer's to report:
		// its own commits meet the same cause.
		c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

func (c *checkpointer) close() error {
	c.closed.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
