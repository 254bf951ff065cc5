package store

import (
	"context"
	"errors"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Recovery codes.

const recoveryCols = `id, account_id, key_id, salt, hash, created_at, used_at`

func scanRecoveryCode(s scanner) (*twostep.RecoveryCode, error) {
	var c twostep.RecoveryCode
	err := s.Scan(&c.ID, &c.AccountID, &c.KeyID, &c.Salt, &c.Hash, tm{&c.CreatedAt}, tm{&c.UsedAt})
	return &c, err
}

// ReplaceRecoveryCodes deletes the account's codes and stores codes instead, in
// one transaction. Each code is stored under accountID, whatever its AccountID.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, accountID string, codes []*twostep.RecoveryCode) error {
	return db.atomic(ctx, func(ctx context.Context, tx *DB) error {
		if err := tx.DeleteRecoveryCodes(ctx, accountID); err != nil {
			return err
		}
		for _, c := range codes {
			_, err := tx.exec(ctx, `INSERT INTO recovery_codes (`+recoveryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				c.ID, accountID, c.KeyID, null(c.Salt), null(c.Hash), us(c.CreatedAt), us(c.UsedAt))
			if err != nil {
				return wrap(err, "create recovery code")
			}
		}
		return nil
	})
}

// RecoveryCodes lists the account's unused codes.
func (db *DB) RecoveryCodes(ctx context.Context, accountID string) ([]*twostep.RecoveryCode, error) {
	if cs, ok := db.pg.takeCodes(accountID); ok {
		return cs, nil
	}
	return list(ctx, db, scanRecoveryCode, "recovery codes", `SELECT `+recoveryCols+` FROM recovery_codes
		WHERE account_id = ? AND used_at IS NULL ORDER BY created_at, id`, accountID)
}

// UseRecoveryCode marks an unused code used and reports whether it did.
func (db *DB) UseRecoveryCode(ctx context.Context, id string, at time.Time) (bool, error) {
	if at.IsZero() {
		return false, errors.New("store: use recovery code: zero time") // would leave it unused
	}
	return db.execDid(ctx, "use recovery code",
		`UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL`, us(at), id)
}

// DeleteRecoveryCodes deletes all codes of an account.
func (db *DB) DeleteRecoveryCodes(ctx context.Context, accountID string) error {
	_, err := db.exec(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, accountID)
	return wrap(err, "delete recovery codes")
}
