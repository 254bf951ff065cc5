package store_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
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
