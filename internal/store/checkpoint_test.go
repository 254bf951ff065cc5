package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

// TestWALStaysBounded: under a steady stream of writes the WAL is restarted at
// the checkpointer's bound, not only at the writer's own automatic checkpoint
// (16 MB), which once passed runs on the writer after every commit.
func TestWALStaysBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twostep.db")
	db, err := store.Open(t.Context(), "sqlite:"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	// 10 ms between checkpoints: the writes below commit about 30,000
	// pages a second.
	db.SetCheckpointsForTest(50, 10*time.Millisecond)
	// About 24 MB of rows and index entries: past the writer's 16 MB.
	pad := strings.Repeat("x", 3000)
	const calls, workers = 4000, 8
	var wg sync.WaitGroup
	var largest int64
	var mu sync.Mutex
	for w := range workers {
		wg.Go(func() {
			for i := w; i < calls; i += workers {
				err := db.Atomic(t.Context(), func(ctx context.Context, tx twostep.Store) error {
					return tx.PutThrottle(ctx, twostep.Throttle{Key: fmt.Sprintf("%05d%s", i, pad), Failures: 1})
				})
				if err != nil {
					t.Error(err)
					return
				}
				if fi, err := os.Stat(path + "-wal"); err == nil {
					mu.Lock()
					largest = max(largest, fi.Size())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if limit := int64(8 << 20); largest > limit {
		t.Errorf("the WAL grew to %d bytes, want at most %d", largest, limit)
	}
	t.Logf("largest WAL: %d bytes", largest)
}
