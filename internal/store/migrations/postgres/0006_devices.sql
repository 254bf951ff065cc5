-- +goose Up
-- A client that signed in before (OWASP's device cookie): its token, stored
-- hashed, lets it past a lock that others caused on the account's e-mail.
-- Times are unix microseconds (UTC), as everywhere.
CREATE TABLE devices (
    id           TEXT NOT NULL PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash   BYTEA NOT NULL UNIQUE,
    created_at   BIGINT,
    last_used_at BIGINT,
    expires_at   BIGINT,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX devices_account ON devices (account_id, created_at);
CREATE INDEX devices_expires ON devices (expires_at);

-- +goose Down
DROP TABLE devices;
