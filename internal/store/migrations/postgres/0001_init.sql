-- Times are unix microseconds (UTC), NULL for none; the same in both dialects.

-- +goose Up
CREATE TABLE orgs (
    id                   TEXT NOT NULL PRIMARY KEY,
    name                 TEXT NOT NULL,
    slug                 TEXT NOT NULL UNIQUE,
    two_step             TEXT NOT NULL,
    grace_period_days    INTEGER NOT NULL DEFAULT 0,
    allowed_methods      TEXT NOT NULL DEFAULT '', -- comma-joined
    min_client_version   TEXT NOT NULL DEFAULT '',
    allow_legacy_clients BOOLEAN NOT NULL DEFAULT FALSE,
    policy_changed_at    BIGINT,
    created_at           BIGINT
);

CREATE TABLE accounts (
    id                   TEXT NOT NULL PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    email                TEXT NOT NULL,
    email_key            TEXT NOT NULL UNIQUE, -- lower-cased e-mail: unique across the server
    password_hash        TEXT NOT NULL DEFAULT '',
    role                 TEXT NOT NULL,
    sso                  BOOLEAN NOT NULL DEFAULT FALSE,
    locale               TEXT NOT NULL DEFAULT '',
    allow_legacy_clients BOOLEAN NOT NULL DEFAULT FALSE,
    two_step_since       BIGINT,
    created_at           BIGINT,
    last_sign_in_at      BIGINT
);
CREATE INDEX accounts_org ON accounts (org_id);

CREATE TABLE factors (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- insertion order, for factors created in the same microsecond
    id             TEXT NOT NULL UNIQUE,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    method         TEXT NOT NULL,
    status         TEXT NOT NULL,
    label          TEXT NOT NULL DEFAULT '',
    secret         BYTEA,
    address        TEXT NOT NULL DEFAULT '',
    last_totp_step BIGINT NOT NULL DEFAULT 0,
    is_default     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT,
    confirmed_at   BIGINT,
    last_used_at   BIGINT
);
CREATE INDEX factors_account ON factors (account_id, created_at, seq);

CREATE TABLE recovery_codes (
    id         TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_id     TEXT NOT NULL DEFAULT '',
    salt       BYTEA,
    hash       BYTEA,
    created_at BIGINT,
    used_at    BIGINT
);
CREATE INDEX recovery_codes_account ON recovery_codes (account_id);

CREATE TABLE challenges (
    id            TEXT NOT NULL PRIMARY KEY,
    token_hash    BYTEA UNIQUE,
    purpose       TEXT NOT NULL,
    account_id    TEXT REFERENCES accounts (id) ON DELETE CASCADE, -- NULL for setup
    factor_id     TEXT NOT NULL DEFAULT '',
    method        TEXT NOT NULL DEFAULT '',
    code_hash     BYTEA,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sends         INTEGER NOT NULL DEFAULT 0,
    last_sent_at  BIGINT,
    amr           TEXT NOT NULL DEFAULT '', -- comma-joined
    client_legacy BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT,
    expires_at    BIGINT,
    consumed_at   BIGINT
);
CREATE INDEX challenges_account ON challenges (account_id);
CREATE INDEX challenges_expires ON challenges (expires_at);

CREATE TABLE sessions (
    id              TEXT NOT NULL PRIMARY KEY,
    token_hash      BYTEA NOT NULL UNIQUE,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    amr             TEXT NOT NULL DEFAULT '', -- comma-joined
    legacy          BOOLEAN NOT NULL DEFAULT FALSE,
    confirmed_until BIGINT,
    created_at      BIGINT,
    last_seen_at    BIGINT,
    idle_expires_at BIGINT,
    expires_at      BIGINT,
    ip              TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_idle_expires ON sessions (idle_expires_at);

CREATE TABLE throttles (
    key           TEXT NOT NULL PRIMARY KEY,
    failures      INTEGER NOT NULL DEFAULT 0,
    hour_start    BIGINT,
    hour_failures INTEGER NOT NULL DEFAULT 0,
    locked_until  BIGINT
);

-- Append-only, without foreign keys: the trail outlives what it is about.
CREATE TABLE audit_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT,
    type       TEXT NOT NULL,
    org_id     TEXT NOT NULL DEFAULT '',
    actor_id   TEXT NOT NULL DEFAULT '',
    account_id TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    detail     JSONB
);
CREATE INDEX audit_events_org ON audit_events (org_id, id);
CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_type ON audit_events (type, id);

CREATE TABLE dev_messages (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- insertion order: newest first even within one microsecond
    id        TEXT NOT NULL UNIQUE,
    channel   TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject   TEXT NOT NULL DEFAULT '',
    body      TEXT NOT NULL DEFAULT '',
    at        BIGINT
);

-- +goose Down
DROP TABLE dev_messages;
DROP TABLE audit_events;
DROP TABLE throttles;
DROP TABLE sessions;
DROP TABLE challenges;
DROP TABLE recovery_codes;
DROP TABLE factors;
DROP TABLE accounts;
DROP TABLE orgs;
