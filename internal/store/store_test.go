package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

func TestSQLite(t *testing.T) {
	testStore(t, func(t *testing.T) *store.DB {
		// A directory that does not exist yet: Open creates it.
		return openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "data", "twostep.db"), store.Options{})
	})
}

// TestPostgres runs the contract suite in a fresh schema per test, dropped afterwards.
func TestPostgres(t *testing.T) {
	storetest.PostgresURL(t)
	testStore(t, func(t *testing.T) *store.DB { return storetest.Postgres(t) })
}

func openDB(t testing.TB, url string, opts store.Options) *store.DB {
	t.Helper()
	return storetest.OpenWith(t, url, opts)
}

func TestOpenUnsupported(t *testing.T) {
	tests := []struct{ url, scheme string }{
		{"mysql://root:hunter2@db.example/twostep", `"mysql"`},
		{"hunter2", `""`},
		{"", `""`},
		{"/var/lib/twostep.db", `""`},
	}
	for _, tt := range tests {
		_, err := store.Open(t.Context(), tt.url, store.Options{})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", tt.url)
		}
		if msg := err.Error(); !strings.Contains(msg, "unsupported database URL scheme "+tt.scheme) || strings.Contains(msg, "hunter2") {
			t.Errorf("Open(%q) = %q, want the scheme %s and no password", tt.url, msg, tt.scheme)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	dir := t.TempDir()
	for _, url := range []string{"sqlite::memory:", "sqlite:" + dir + "/x.db?mode=ro", "sqlite:"} {
		if _, err := store.Open(t.Context(), url, store.Options{}); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", url)
		}
	}
	if _, err := store.Open(t.Context(), "sqlite:"+dir+"/x.db", store.Options{SQLiteSync: "off"}); err == nil {
		t.Error("SQLiteSync off accepted")
	}

	tests := []struct {
		url, sync, wantSync string
	}{
		{"sqlite:" + dir + "/normal.db", "", "1"},
		{"sqlite://" + dir + "/full.db", "full", "2"},
	}
	for _, tt := range tests {
		db := openDB(t, tt.url, store.Options{SQLiteSync: tt.sync})
		if err := db.Migrate(t.Context()); err != nil {
			t.Errorf("second Migrate: %v", err)
		}
		for _, p := range []struct {
			reader       bool
			pragma, want string
		}{
			{false, "journal_mode", "wal"},
			{false, "synchronous", tt.wantSync},
			{false, "foreign_keys", "1"},
			{false, "busy_timeout", "10000"},
			{true, "foreign_keys", "1"},
			{true, "query_only", "1"},
			{true, "busy_timeout", "10000"},
		} {
			got, err := db.ValueForTest(t.Context(), p.reader, "PRAGMA "+p.pragma)
			if err != nil {
				t.Fatal(err)
			}
			if got != p.want {
				t.Errorf("%s: PRAGMA %s (reader %v) = %q, want %q", tt.url, p.pragma, p.reader, got, p.want)
			}
		}
	}
}

// TestMigrateOutbox moves a database holding challenges from version 1 to 2,
// back down and up again.
func TestMigrateOutbox(t *testing.T) {
	backends := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "twostep.db") },
		"postgres": func(t *testing.T) string { return storetest.PostgresSchemaURL(t) },
	}
	for name, url := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db, err := store.Open(ctx, url(t), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			ok(t, db.MigrateToForTest(ctx, 1))
			ok(t, db.ExecForTest(ctx, `INSERT INTO orgs (id, name, slug, two_step) VALUES ('o1', 'Acme', 'acme', 'optional')`))
			ok(t, db.ExecForTest(ctx, `INSERT INTO accounts (id, org_id, email, email_key, role)
				VALUES ('a1', 'o1', 'ann@example.com', 'ann@example.com', 'member')`))
			// Created in the same microsecond: b, inserted last, is the newer.
			for _, id := range []string{"b", "a"} {
				ok(t, db.ExecForTest(ctx, `INSERT INTO challenges (id, token_hash, purpose, account_id, code_hash,
					attempts, sends, amr, client_legacy, created_at, expires_at)
					VALUES (?, ?, 'sign_in', 'a1', ?, 2, 1, 'pwd', TRUE, ?, ?)`,
					id, []byte("tok-"+id), []byte("code"), t0.UnixMicro(), t0.Add(time.Hour).UnixMicro()))
			}
			want := &twostep.Challenge{ID: "a", TokenHash: []byte("tok-a"), Purpose: twostep.PurposeSignIn,
				AccountID: "a1", CodeHash: []byte("code"), Attempts: 2, Sends: 1, AMR: []string{"pwd"},
				CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}

			for range 2 {
				ok(t, db.Migrate(ctx))
				same(t, "Challenge after migrating", want, get[*twostep.Challenge](t)(db.Challenge(ctx, "a")))
				same(t, "LatestChallenge after migrating", "a",
					get[*twostep.Challenge](t)(db.LatestChallenge(ctx, "a1", twostep.PurposeSignIn)).ID)
				ok(t, db.EnqueueMessage(ctx, &twostep.OutboxMessage{ID: "m", Channel: "email", To: "ann@example.com",
					Template: "code", ChallengeID: "a"}))
				ok(t, db.MigrateToForTest(ctx, 1))
				n, err := db.ValueForTest(ctx, false, "SELECT count(*) FROM challenges")
				ok(t, err)
				same(t, "challenges after migrating down", "2", n)
			}
		})
	}
}

// TestAtomicBatches runs many Atomic calls at once on SQLite, where they share
// transactions: each call's outcome must still be its own. A call that fails or
// panics leaves no write behind, and the calls beside it in the same
// transaction keep theirs.
func TestAtomicBatches(t *testing.T) {
	db := openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "twostep.db"), store.Options{})
	ctx := t.Context()
	errRefused := errors.New("refused")
	const n = 48
	// The first call holds the writer until the others are queued, so that
	// they run together in the batches that follow.
	started, hold := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- db.Atomic(ctx, func(ctx context.Context, tx twostep.Store) error {
			close(started)
			<-hold
			return tx.PutThrottle(ctx, twostep.Throttle{Key: "first", Failures: 1})
		})
	}()
	<-started
	var wg sync.WaitGroup
	errs := make([]error, n)
	panics := make([]any, n)
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = db.Atomic(ctx, func(ctx context.Context, tx twostep.Store) error {
				if err := tx.PutThrottle(ctx, twostep.Throttle{Key: fmt.Sprint("k", i), Failures: i + 1}); err != nil {
					return err
				}
				switch i % 4 {
				case 1:
					return errRefused
				case 3:
					panic(fmt.Sprint("bug in call ", i))
				}
				return nil
			})
		})
	}
	for db.QueuedForTest() < n {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("first call: %v", err)
	}
	if got := db.LargestBatchForTest(); got < n/2 {
		t.Errorf("largest batch %d calls, want at least %d: the calls did not share transactions", got, n/2)
	}
	for i := range n {
		got, err := db.Throttle(ctx, fmt.Sprint("k", i))
		if err != nil {
			t.Fatal(err)
		}
		wantPanic := ""
		if i%4 == 3 {
			wantPanic = fmt.Sprint("bug in call ", i)
		}
		if p, _ := panics[i].(string); p != wantPanic {
			t.Errorf("call %d panicked with %v, want %q", i, panics[i], wantPanic)
		}
		switch i % 4 {
		case 1:
			if !errors.Is(errs[i], errRefused) {
				t.Errorf("call %d returned %v, want its own error", i, errs[i])
			}
			fallthrough
		case 3:
			if got.Failures != 0 {
				t.Errorf("call %d failed, yet its write is there: %+v", i, got)
			}
		default:
			if errs[i] != nil || got.Failures != i+1 {
				t.Errorf("call %d returned %v and left %+v, want its write committed", i, errs[i], got)
			}
		}
	}
}

// TestAtomicAfterClose: a closed store refuses new transactions instead of
// waiting forever for a writer that is gone.
func TestAtomicAfterClose(t *testing.T) {
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "twostep.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err = db.Atomic(t.Context(), func(context.Context, twostep.Store) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Atomic after Close = %v, want a closed error", err)
	}
}
