package store

import (
	"context"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// DeleteExpired removes challenges, sessions and devices that ended before t
// (a zero expiry never ends), and outbox messages finished and throttles idle
// for twostep.KeepFinished before t. Pending messages stay: they outlive their
// challenge. Only housekeeping (serve) calls it, so it is no part of twostep.Store.
func (db *DB) DeleteExpired(ctx context.Context, t time.Time) error {
	return db.atomic(ctx, func(ctx context.Context, tx *DB) error {
		if _, err := tx.exec(ctx, `DELETE FROM challenges WHERE expires_at < ?`, us(t)); err != nil {
			return wrap(err, "delete expired challenges")
		}
		if _, err := tx.exec(ctx, `DELETE FROM sessions WHERE expires_at < ? OR idle_expires_at < ?`, us(t), us(t)); err != nil {
			return wrap(err, "delete expired sessions")
		}
		if _, err := tx.exec(ctx, `DELETE FROM pending_actions WHERE expires_at < ?`, us(t)); err != nil {
			return wrap(err, "delete expired pending actions")
		}
		if _, err := tx.exec(ctx, `DELETE FROM devices WHERE expires_at < ?`, us(t)); err != nil {
			return wrap(err, "delete expired devices")
		}
		if _, err := tx.exec(ctx, `DELETE FROM sso_logins WHERE expires_at < ?`, us(t)); err != nil {
			return wrap(err, "delete expired sso logins")
		}
		if err := deleteExpiredOIDC(ctx, tx, t); err != nil {
			return err
		}
		old := us(t.Add(-twostep.KeepFinished))
		if _, err := tx.exec(ctx, `DELETE FROM outbox WHERE status <> 'pending' AND created_at < ?`, old); err != nil {
			return wrap(err, "delete finished messages")
		}
		_, err := tx.exec(ctx, `DELETE FROM throttles WHERE (locked_until IS NULL OR locked_until < ?) AND (hour_start IS NULL OR hour_start < ?)`, us(t), old)
		return wrap(err, "delete idle throttles")
	})
}
