package store

import (
	"context"
	"time"
)

// Issuing the tokens of an authorization code (OP-01): both statements lock
// the request's row, so on PostgreSQL one waits for the other's transaction,
// then sees what it wrote.

// ClaimCodeIssue marks that the tokens of request id's used code are being
// issued, if they were not and the code was not revoked.
func (db *DB) ClaimCodeIssue(ctx context.Context, id string, at time.Time) (bool, error) {
	return db.execDid(ctx, "claim code issue", `UPDATE oidc_auth_requests SET issued_at = ?
		WHERE id = ? AND code_used_at IS NOT NULL AND issued_at IS NULL AND code_revoked_at IS NULL`, us(at), id)
}

// RevokeAuthCode marks request id's code revoked: no token is issued for it after.
func (db *DB) RevokeAuthCode(ctx context.Context, id string, at time.Time) error {
	_, err := db.exec(ctx, `UPDATE oidc_auth_requests SET code_revoked_at = ? WHERE id = ? AND code_revoked_at IS NULL`, us(at), id)
	return wrap(err, "revoke auth code")
}
