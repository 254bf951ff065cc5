package store_test

import (
	"context"
	"testing"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
)

// TestPostgresPoolSize: an instance opens at most 16 connections to
// PostgreSQL unless the URL's pool_max_conns says otherwise, which PostgreSQL
// itself never sees as a setting (README, "Many instances"); SQLite has no pool.
func TestPostgresPoolSize(t *testing.T) {
	url := storetest.PostgresSchemaURL(t)
	for _, tc := range []struct {
		url  string
		want int32
	}{{url, store.PostgresMaxConns}, {url + "&pool_max_conns=3", 3}} {
		db := storetest.Open(t, tc.url)
		if err := db.Ping(context.Background()); err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		st, ok := db.PoolStats()
		if !ok || st.Max != tc.want {
			t.Errorf("pool of %q: %+v (%v), want at most %d connections", tc.url, st, ok, tc.want)
		}
	}
	if _, ok := storetest.SQLite(t).PoolStats(); ok {
		t.Error("SQLite reports a PostgreSQL pool")
	}
}
