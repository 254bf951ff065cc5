package store

import (
	"context"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Pending actions (issue 20): a change kept while its session confirms who it is.

const pendingCols = `id, session_id, method, path, form, created_at, expires_at`

func scanPending(s scanner) (*twostep.PendingAction, error) {
	var p twostep.PendingAction
	err := s.Scan(&p.ID, &p.SessionID, &p.Method, &p.Path, &p.Form, tm{&p.CreatedAt}, tm{&p.ExpiresAt})
	return &p, err
}

// CreatePendingAction stores p; ErrConflict if its id is taken. It fails
// when its session is gone.
func (db *DB) CreatePendingAction(ctx context.Context, p *twostep.PendingAction) error {
	_, err := db.exec(ctx, `INSERT INTO pending_actions (`+pendingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.SessionID, p.Method, p.Path, p.Form, us(p.CreatedAt), us(p.ExpiresAt))
	return wrap(err, "create pending action")
}

// TakePendingAction deletes and returns the pending action id of session
// sessionID, unless it expired by now: one statement, so it is taken once.
// ErrNotFound when there is no such live action.
func (db *DB) TakePendingAction(ctx context.Context, id, sessionID string, now time.Time) (*twostep.PendingAction, error) {
	return one(db.writeRow(ctx, `DELETE FROM pending_actions WHERE id = ? AND session_id = ? AND expires_at > ?
		RETURNING `+pendingCols, id, sessionID, us(now)), scanPending, "take pending action")
}

// PendingAction returns the pending action id of session sessionID, live or
// not, or ErrNotFound.
func (db *DB) PendingAction(ctx context.Context, id, sessionID string) (*twostep.PendingAction, error) {
	return one(db.row(ctx, `SELECT `+pendingCols+` FROM pending_actions WHERE id = ? AND session_id = ?`, id, sessionID),
		scanPending, "pending action")
}
