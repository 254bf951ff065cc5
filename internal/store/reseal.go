package store

import (
	"context"

	"github.com/twostep/twostep/internal/twostep"
)

// Key rotation.

// SealedFactors returns up to limit factors holding a sealed secret, by id,
// after the id after.
func (db *DB) SealedFactors(ctx context.Context, after string, limit int) ([]*twostep.Factor, error) {
	return list(ctx, db, scanFactor, "sealed factors", `SELECT `+factorCols+` FROM factors
		WHERE secret IS NOT NULL AND id > ? ORDER BY id LIMIT ?`, after, limit)
}

// ResealFactor replaces a factor's sealed secret if it is still old, and
// reports whether it did.
func (db *DB) ResealFactor(ctx context.Context, id string, old, sealed []byte) (bool, error) {
	return db.execDid(ctx, "reseal factor", `UPDATE factors SET secret = ? WHERE id = ? AND secret = ?`, sealed, id, old)
}

// SealedMessages returns up to limit pending messages, by id, after the id after.
func (db *DB) SealedMessages(ctx context.Context, after string, limit int) ([]*twostep.OutboxMessage, error) {
	return list(ctx, db, scanMessage, "sealed messages", `SELECT `+outboxCols+` FROM outbox
		WHERE status = 'pending' AND payload IS NOT NULL AND id > ? ORDER BY id LIMIT ?`, after, limit)
}

// ResealMessage replaces a message's sealed payload if it is still old, and
// reports whether it did.
func (db *DB) ResealMessage(ctx context.Context, id string, old, sealed []byte) (bool, error) {
	return db.execDid(ctx, "reseal message", `UPDATE outbox SET payload = ? WHERE id = ? AND payload = ?`, sealed, id, old)
}

// SealedVerifyFactors returns up to limit Verify API factors holding a sealed
// seed, by sid, after the sid after.
func (db *DB) SealedVerifyFactors(ctx context.Context, after string, limit int) ([]*twostep.VerifyFactor, error) {
	return list(ctx, db, scanVerifyFactor, "sealed verify factors", `SELECT `+verifyFactorCols+` FROM verify_factors
		WHERE secret IS NOT NULL AND sid > ? ORDER BY sid LIMIT ?`, after, limit)
}

// ResealVerifyFactor replaces a Verify API factor's sealed seed if it is still
// old, and reports whether it did.
func (db *DB) ResealVerifyFactor(ctx context.Context, sid string, old, sealed []byte) (bool, error) {
	return db.execDid(ctx, "reseal verify factor", `UPDATE verify_factors SET secret = ? WHERE sid = ? AND secret = ?`, sealed, sid, old)
}
