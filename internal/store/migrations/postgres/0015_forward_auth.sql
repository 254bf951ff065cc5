-- +goose Up
-- Forward auth (API.md §8): the twostep_fa cookie's token, stored hashed on
-- the session it belongs to, so that whatever ends the session (sign-out,
-- expiry, a password change, an admin's reset) ends it too. NULL for a
-- session that has none (an API client, or no TWOSTEP_COOKIE_DOMAIN); the
-- index is unique, and both dialects let NULLs repeat in it.
ALTER TABLE sessions ADD COLUMN forward_hash BYTEA;
CREATE UNIQUE INDEX sessions_forward_hash ON sessions (forward_hash);

-- +goose Down
DROP INDEX sessions_forward_hash;
ALTER TABLE sessions DROP COLUMN forward_hash;
