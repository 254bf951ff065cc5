package store

import (
	"context"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// App passwords.

const appPasswordCols = `id, account_id, label, hash, created_at, last_used_at, last_ip`

func scanAppPassword(s scanner) (*twostep.AppPassword, error) {
	var p twostep.AppPassword
	err := s.Scan(&p.ID, &p.AccountID, &p.Label, &p.Hash, tm{&p.CreatedAt}, tm{&p.LastUsedAt}, &p.LastIP)
	return &p, err
}

// CreateAppPassword stores p; ErrConflict if its id or hash is taken.
func (db *DB) CreateAppPassword(ctx context.Context, p *twostep.AppPassword) error {
	_, err := db.exec(ctx, `INSERT INTO app_passwords (`+appPasswordCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.AccountID, p.Label, p.Hash, us(p.CreatedAt), us(p.LastUsedAt), p.LastIP)
	return wrap(err, "create app password")
}

// AppPasswords lists the account's app passwords, oldest first.
func (db *DB) AppPasswords(ctx context.Context, accountID string) ([]*twostep.AppPassword, error) {
	return list(ctx, db, scanAppPassword, "app passwords", `SELECT `+appPasswordCols+` FROM app_passwords
		WHERE account_id = ? ORDER BY created_at, id`, accountID)
}

// UseAppPassword records a sign-in with the account's app password whose hash
// is hash and returns it, in one statement; ErrNotFound when there is none.
func (db *DB) UseAppPassword(ctx context.Context, accountID string, hash []byte, at time.Time, ip string) (*twostep.AppPassword, error) {
	return one(db.writeRow(ctx, `UPDATE app_passwords SET last_used_at = ?, last_ip = ?
		WHERE account_id = ? AND hash = ? RETURNING `+appPasswordCols, us(at), ip, accountID, hash),
		scanAppPassword, "use app password")
}

// DeleteAppPassword removes the account's app password id and ends the
// sessions made with it; false if the account has none such.
func (db *DB) DeleteAppPassword(ctx context.Context, accountID, id string) (bool, error) {
	ok, err := db.execDid(ctx, "delete app password", `DELETE FROM app_passwords WHERE id = ? AND account_id = ?`, id, accountID)
	if err != nil || !ok {
		return ok, err
	}
	_, err = db.exec(ctx, `DELETE FROM sessions WHERE account_id = ? AND app_password_id = ?`, accountID, id)
	return true, wrap(err, "end app password sessions")
}
