package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
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

// TestAtomicQueuedWrites: a write that PostgreSQL's transaction queues to go
// with a later statement (a session, an audit event) fails the transaction as
// it would have failed at once: the conflict comes back from Atomic, and none
// of the transaction's writes stays, those made before it included. An event
// gets its id once its insert has gone, and a read in the transaction sees
// the writes queued before it.
func TestAtomicQueuedWrites(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		acc := newMember(t, db)
		newSession(t, db, "taken", acc.ID)
		ev := &twostep.AuditEvent{At: t0, Type: "sign_in.succeeded", AccountID: acc.ID, OrgID: acc.OrgID, Detail: map[string]any{}}
		err := db.Atomic(ctx, func(ctx context.Context, tx twostep.Store) error {
			if err := tx.AppendEvent(ctx, ev); err != nil {
				return err
			}
			return tx.CreateSession(ctx, &twostep.Session{ID: "taken", TokenHash: []byte("other"), AccountID: acc.ID,
				CreatedAt: t0, LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(time.Hour)})
		})
		wantErr(t, "a session with a taken id, queued", err, twostep.ErrConflict)
		evs, err := db.Events(ctx, twostep.EventFilter{AccountID: acc.ID})
		ok(t, err)
		if len(evs) != 0 {
			t.Errorf("the failed transaction left %d events", len(evs))
		}

		err = db.Atomic(ctx, func(ctx context.Context, tx twostep.Store) error {
			if err := tx.CreateSession(ctx, &twostep.Session{ID: "fresh", TokenHash: []byte("token-fresh"), AccountID: acc.ID,
				CreatedAt: t0, LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(time.Hour)}); err != nil {
				return err
			}
			if err := tx.AppendEvent(ctx, ev); err != nil {
				return err
			}
			s, err := tx.SessionByToken(ctx, []byte("token-fresh"))
			if err != nil || s.ID != "fresh" {
				t.Errorf("the transaction does not see its own queued session: %+v, %v", s, err)
			}
			return nil
		})
		ok(t, err)
		if ev.ID == 0 {
			t.Error("the committed event has no id")
		}
		evs, err = db.Events(ctx, twostep.EventFilter{AccountID: acc.ID})
		ok(t, err)
		if len(evs) != 1 || evs[0].ID != ev.ID {
			t.Errorf("events after the commit: %d, want the one with id %d", len(evs), ev.ID)
		}
	})
}
