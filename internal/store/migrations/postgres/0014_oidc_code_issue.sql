-- An authorization code's single use and the revocation of what it issued are
-- one decision (OP-01): tokens are issued for a used code only by the statement
-- that sets issued_at while code_revoked_at is unset, and a second use of the
-- code sets code_revoked_at before revoking the chain. Whichever of the two
-- comes first, the other sees it.

-- +goose Up
ALTER TABLE oidc_auth_requests ADD COLUMN issued_at BIGINT;
ALTER TABLE oidc_auth_requests ADD COLUMN code_revoked_at BIGINT;

-- +goose Down
ALTER TABLE oidc_auth_requests DROP COLUMN code_revoked_at;
ALTER TABLE oidc_auth_requests DROP COLUMN issued_at;
