package store

import (
	"context"

	"github.com/twostep/twostep/internal/twostep"
)

var _ twostep.PasswordHashes = (*DB)(nil)

// ReplacePasswordHash sets the account's password hash to new if it is still
// old, and reports whether it did: one statement, so a password changed or
// reset since old was read is never overwritten.
func (db *DB) ReplacePasswordHash(ctx context.Context, accountID, old, new string) (bool, error) {
	return db.execDid(ctx, "replace password hash", `UPDATE accounts SET password_hash = ? WHERE id = ? AND password_hash = ?`,
		new, accountID, old)
}
