package store

import (
	"context"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Sessions.

const sessionCols = `id, token_hash, account_id, amr, second_step, legacy, confirmed_until, created_at,
	last_seen_at, idle_expires_at, expires_at, ip, user_agent, app_password_id`

func scanSession(s scanner) (*twostep.Session, error) {
	var ss twostep.Session
	var amr string
	err := s.Scan(&ss.ID, &ss.TokenHash, &ss.AccountID, &amr, &ss.SecondStep, &ss.Legacy, tm{&ss.ConfirmedUntil},
		tm{&ss.CreatedAt}, tm{&ss.LastSeenAt}, tm{&ss.IdleExpiresAt}, tm{&ss.ExpiresAt}, &ss.IP, &ss.UserAgent,
		&ss.AppPasswordID)
	ss.AMR = split[string](amr)
	return &ss, err
}

// CreateSession stores s; ErrConflict if its id or token hash is taken.
func (db *DB) CreateSession(ctx context.Context, s *twostep.Session) error {
	step := s.SecondStep
	if step == "" {
		step = twostep.SecondStepNone
	}
	_, err := db.exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TokenHash, s.AccountID, join(s.AMR), string(step), s.Legacy, us(s.ConfirmedUntil), us(s.CreatedAt),
		us(s.LastSeenAt), us(s.IdleExpiresAt), us(s.ExpiresAt), s.IP, s.UserAgent, s.AppPasswordID)
	return wrap(err, "create session")
}

// SessionByToken returns the session with tokenHash, or ErrNotFound.
func (db *DB) SessionByToken(ctx context.Context, tokenHash []byte) (*twostep.Session, error) {
	return one(db.row(ctx, `SELECT `+sessionCols+` FROM sessions WHERE token_hash = ?`, tokenHash),
		scanSession, "session by token")
}

// TouchSession moves the session's idle expiry forward. A session deleted
// meanwhile is no error: it stays deleted.
func (db *DB) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	_, err := db.exec(ctx, `UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?`,
		us(lastSeen), us(idleExpires), id)
	return wrap(err, "touch session")
}

// DeleteSession deletes the session with id, if there is one.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := db.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return wrap(err, "delete session")
}

// DeleteSessions ends every session of the account except the one with id except.
func (db *DB) DeleteSessions(ctx context.Context, accountID, except string) error {
	_, err := db.exec(ctx, `DELETE FROM sessions WHERE account_id = ? AND id <> ?`, accountID, except)
	return wrap(err, "delete sessions")
}

// AccountSessions returns the account's sessions, ended ones that are not yet
// deleted included, the most recently seen first.
func (db *DB) AccountSessions(ctx context.Context, accountID string) ([]*twostep.Session, error) {
	return list(ctx, db, scanSession, "account sessions", `SELECT `+sessionCols+` FROM sessions
		WHERE account_id = ? ORDER BY last_seen_at DESC, id`, accountID)
}

// DeleteAccountSession deletes the account's session id; false when the
// account has no such session.
func (db *DB) DeleteAccountSession(ctx context.Context, accountID, id string) (bool, error) {
	return db.execDid(ctx, "delete account session", `DELETE FROM sessions WHERE id = ? AND account_id = ?`, id, accountID)
}
