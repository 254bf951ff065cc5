-- +goose Up
-- App passwords (API.md §11): an old client signs in with the e-mail and one
-- of these instead of the password, and gets a session marked with its id.
-- Each is 24 random characters, stored only as its SHA-256 (too long to
-- guess, so no slow hash is needed); revoking deletes the row. Times are unix
-- microseconds (UTC), as everywhere.
CREATE TABLE app_passwords (
    id           TEXT NOT NULL PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_at   BIGINT,
    last_used_at BIGINT,
    last_ip      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX app_passwords_account ON app_passwords (account_id, created_at);
ALTER TABLE sessions ADD COLUMN app_password_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sessions DROP COLUMN app_password_id;
DROP TABLE app_passwords;
