package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
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

// TestSQLiteThrottleRowOnFailureOnly: on SQLite LockThrottle inserts nothing;
// the throttle row of a new key appears with the PutThrottle that records a
// failure (RL-05), and not at all when that item fails.
func TestSQLiteThrottleRowOnFailureOnly(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := t.Context()
	rows := func() string {
		v, err := db.ValueForTest(ctx, false, `SELECT count(*) || ':' || coalesce(sum(failures), 0) FROM throttles`)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	lock := func(fail, abort bool) error {
		return db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error {
			th, err := s.LockThrottle(ctx, "account:a")
			if err != nil {
				return err
			}
			if fail {
				th.Failures++
				if err := s.PutThrottle(ctx, th); err != nil {
					return err
				}
			}
			if abort {
				return errAbort
			}
			return nil
		})
	}
	steps := []struct {
		name        string
		fail, abort bool
		want        string
	}{
		{"a right code leaves no row", false, false, "0:0"},
		{"a failed item leaves no row", true, true, "0:0"},
		{"a wrong code leaves its failure", true, false, "1:1"},
		{"another wrong code counts on", true, false, "1:2"},
		{"a right code leaves the row as it was", false, false, "1:2"},
	}
	for _, st := range steps {
		if err := lock(st.fail, st.abort); err != nil && !errors.Is(err, errAbort) {
			t.Fatal(st.name, err)
		}
		if got := rows(); got != st.want {
			t.Errorf("%s: throttles (rows:failures) %s, want %s", st.name, got, st.want)
		}
	}
}

var errAbort = errors.New("abort")
