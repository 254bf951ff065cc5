package store

import (
	"context"

	"github.com/twostep/twostep/internal/twostep"
)

// RenewSession writes s over the session s.ID of s.AccountID, keeping the
// row's id (the session's sid); false if it is gone (signed out meanwhile).
func (db *DB) RenewSession(ctx context.Context, s *twostep.Session) (bool, error) {
	step := s.SecondStep
	if step == "" {
		step = twostep.SecondStepNone
	}
	return db.execDid(ctx, "renew session", `UPDATE sessions SET token_hash = ?, amr = ?, second_step = ?, legacy = ?,
		confirmed_until = ?, created_at = ?, last_seen_at = ?, idle_expires_at = ?, expires_at = ?, ip = ?, user_agent = ?
		WHERE id = ? AND account_id = ?`,
		s.TokenHash, join(s.AMR), string(step), s.Legacy, us(s.ConfirmedUntil), us(s.CreatedAt), us(s.LastSeenAt),
		us(s.IdleExpiresAt), us(s.ExpiresAt), s.IP, s.UserAgent, s.ID, s.AccountID)
}
