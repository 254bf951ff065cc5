-- Links that set a password die once the account has one (SECURITY.md SU-01,
-- issue 11 item 9). The service now ends them as it sets the password; this
-- ends those that earlier versions left alive: an old invitation or
-- set-password link of an account that has a password could still set it.

-- +goose Up
UPDATE challenges SET consumed_at = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT
WHERE consumed_at IS NULL AND purpose IN ('invite', 'set_password')
  AND account_id IN (SELECT id FROM accounts WHERE password_hash <> '');

-- +goose Down
-- Nothing to undo: a dead link stays dead.
SELECT 1;
