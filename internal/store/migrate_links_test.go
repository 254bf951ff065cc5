package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestMigrateDeadPasswordLinks: migration 0007 ends the invitation and
// set-password links that earlier versions left alive for accounts that have a
// password, and nothing else (SU-01).
func TestMigrateDeadPasswordLinks(t *testing.T) { // SU-01
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
			ok(t, db.MigrateToForTest(ctx, 4))
			ok(t, db.ExecForTest(ctx, `INSERT INTO orgs (id, name, slug, two_step) VALUES ('o1', 'Acme', 'acme', 'optional')`))
			for _, a := range [][2]string{{"with", "$argon2id$x"}, {"without", ""}} {
				ok(t, db.ExecForTest(ctx, `INSERT INTO accounts (id, org_id, email, email_key, role, password_hash)
					VALUES (?, 'o1', ?, ?, 'member', ?)`, a[0], a[0]+"@example.com", a[0]+"@example.com", a[1]))
			}
			for _, c := range [][3]string{
				{"old-invite", "with", "invite"}, {"old-spw", "with", "set_password"}, {"reset", "with", "password_reset"},
				{"sign-in", "with", "sign_in"}, {"invite", "without", "invite"},
			} {
				ok(t, db.ExecForTest(ctx, `INSERT INTO challenges (id, token_hash, purpose, account_id, created_at, expires_at)
					VALUES (?, ?, ?, ?, ?, ?)`, c[0], []byte(c[0]), c[2], c[1], t0.UnixMicro(), t0.Add(time.Hour).UnixMicro()))
			}
			ok(t, db.Migrate(ctx))
			for id, dead := range map[string]bool{"old-invite": true, "old-spw": true, "reset": false, "sign-in": false, "invite": false} {
				c := get[*twostep.Challenge](t)(db.Challenge(ctx, id))
				if got := !c.ConsumedAt.IsZero(); got != dead {
					t.Errorf("%s consumed: %v, want %v", id, got, dead)
				}
				if dead && time.Since(c.ConsumedAt) > time.Hour {
					t.Errorf("%s consumed at %v, want about now", id, c.ConsumedAt)
				}
			}
		})
	}
}
