package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/store"
)

func TestSQLite(t *testing.T) {
	testStore(t, func(t *testing.T) *store.DB {
		// A directory that does not exist yet: Open creates it.
		return openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "data", "twostep.db"), store.Options{})
	})
}

// TestPostgres runs the contract suite in a fresh schema per test, dropped afterwards.
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("TWOSTEP_TEST_POSTGRES_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TWOSTEP_TEST_POSTGRES_URL is not set; CI must test PostgreSQL")
		}
		t.Skip("set TWOSTEP_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to test PostgreSQL")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	testStore(t, func(t *testing.T) *store.DB {
		schema := fmt.Sprintf("twostep_test_%016x", rand.Uint64())
		if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				t.Error(err)
			}
		})
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema) // pgx sends unknown parameters as session settings
		u.RawQuery = q.Encode()
		return openDB(t, u.String(), store.Options{})
	})
}

// openDB opens and migrates the database at url, and closes it when t ends.
func openDB(t testing.TB, url string, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
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
