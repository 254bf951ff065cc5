// Package storetest opens real, migrated stores for tests: SQLite in a temporary
// directory, PostgreSQL in a fresh schema when TWOSTEP_TEST_POSTGRES_URL is set.
package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/twostep/twostep/internal/store"
)

// SQLite returns a migrated SQLite store in t's temporary directory, closed when t ends.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	return Open(t, "sqlite:"+filepath.Join(t.TempDir(), "twostep.db"))
}

// PostgresURL returns TWOSTEP_TEST_POSTGRES_URL. Without it the test is
// skipped, or fails when CI=true: CI must test PostgreSQL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("TWOSTEP_TEST_POSTGRES_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TWOSTEP_TEST_POSTGRES_URL is not set; CI must test PostgreSQL")
		}
		t.Skip("set TWOSTEP_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to test PostgreSQL")
	}
	return dsn
}

// PostgresSchemaURL creates a fresh schema, dropped when t ends, and returns a
// database URL whose connections use it.
func PostgresSchemaURL(t testing.TB) string {
	t.Helper()
	dsn := PostgresURL(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("twostep_test_%016x", rand.Uint64())
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
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
	return u.String()
}

// Postgres returns a migrated PostgreSQL store in a fresh schema.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	return Open(t, PostgresSchemaURL(t))
}

// Open opens and migrates the database at url and closes it when t ends.
func Open(t testing.TB, url string) *store.DB {
	t.Helper()
	return OpenWith(t, url, store.Options{})
}

// OpenWith is Open with options.
func OpenWith(t testing.TB, url string, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// Backends runs fn as a subtest on SQLite and on PostgreSQL.
func Backends(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}
