package store

import (
	"context"

	"github.com/twostep/twostep/internal/twostep"
)

// Forward auth's tokens (migration 0015): twostep.ForwardStore. They live on
// the sessions table, so that ending a session ends its token.

var _ twostep.ForwardStore = (*DB)(nil)

// SetSessionForward stores hash as the session's forward-auth token hash;
// ErrNotFound if there is no such session.
func (db *DB) SetSessionForward(ctx context.Context, sessionID string, hash []byte) error {
	const q = `UPDATE sessions SET forward_hash = ? WHERE id = ?`
	if db.pg != nil {
		db.pg.later("set session forward", 1, q, hash, sessionID)
		return nil
	}
	return db.execOne(ctx, "set session forward", q, hash, sessionID)
}

// ForwardSession returns the session whose forward-auth token hash is hash,
// with its account's e-mail and role and its organisation's slug and policy:
// one lookup in the unique index of forward_hash, then two primary keys.
func (db *DB) ForwardSession(ctx context.Context, hash []byte) (*twostep.ForwardSession, error) {
	row := db.row(ctx, `SELECT s.id, s.account_id, s.amr, s.second_step, s.last_seen_at, s.idle_expires_at, s.expires_at,
		a.email, a.role, o.slug, o.two_step
		FROM sessions s JOIN accounts a ON a.id = s.account_id JOIN orgs o ON o.id = a.org_id
		WHERE s.forward_hash = ?`, hash)
	return one(row, func(r scanner) (*twostep.ForwardSession, error) {
		var f twostep.ForwardSession
		var amr string
		s := &f.Session
		err := r.Scan(&s.ID, &s.AccountID, &amr, &s.SecondStep, tm{&s.LastSeenAt}, tm{&s.IdleExpiresAt}, tm{&s.ExpiresAt},
			&f.Email, &f.Role, &f.OrgSlug, &f.OrgTwoStep)
		s.AMR = split[string](amr)
		return &f, err
	}, "forward session")
}
