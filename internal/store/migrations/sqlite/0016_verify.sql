-- +goose Up
-- The Verify API (API.md §10): API keys of organisations, and the Twilio-shaped
-- services, verifications and authenticator-app factors they act on. Times are
-- unix microseconds (UTC). A verification's code lives in its challenge row
-- (purpose verify): the same code engine as sign-in, hashed, counted, single use.

-- secret_hash is the SHA-256 of a 256-bit secret, shown once (API-01).
CREATE TABLE api_keys (
    id           TEXT NOT NULL PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    created_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE verify_services (
    sid           TEXT NOT NULL PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    code_length   INTEGER NOT NULL,
    created_at    BIGINT,
    updated_at    BIGINT
);
CREATE INDEX verify_services_org ON verify_services (org_id);

-- A verification goes with its challenge: when housekeeping removes the
-- expired challenge, the verification goes too (Twilio forgets them as well).
CREATE TABLE verifications (
    sid           TEXT NOT NULL PRIMARY KEY,
    service_sid   TEXT NOT NULL REFERENCES verify_services (sid) ON DELETE CASCADE,
    challenge_id  TEXT NOT NULL UNIQUE REFERENCES challenges (id) ON DELETE CASCADE,
    to_addr       TEXT NOT NULL,
    channel       TEXT NOT NULL,
    locale        TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    send_attempts TEXT NOT NULL DEFAULT '', -- newline-joined "channel time(us)"
    created_at    BIGINT,
    updated_at    BIGINT,
    expires_at    BIGINT
);
CREATE INDEX verifications_to ON verifications (service_sid, to_addr, created_at);

-- Authenticator apps of a service's entities (the product's own users);
-- secret is the sealed seed, bound to sid.
CREATE TABLE verify_factors (
    sid            TEXT NOT NULL PRIMARY KEY,
    service_sid    TEXT NOT NULL REFERENCES verify_services (sid) ON DELETE CASCADE,
    identity       TEXT NOT NULL,
    friendly_name  TEXT NOT NULL DEFAULT '',
    factor_type    TEXT NOT NULL,
    status         TEXT NOT NULL,
    secret         BLOB NOT NULL,
    last_totp_step BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT,
    updated_at     BIGINT
);
CREATE INDEX verify_factors_entity ON verify_factors (service_sid, identity);

CREATE TABLE verify_challenges (
    sid          TEXT NOT NULL PRIMARY KEY,
    factor_sid   TEXT NOT NULL REFERENCES verify_factors (sid) ON DELETE CASCADE,
    status       TEXT NOT NULL,
    created_at   BIGINT,
    updated_at   BIGINT
);
CREATE INDEX verify_challenges_factor ON verify_challenges (factor_sid);

-- +goose Down
DROP TABLE verify_challenges;
DROP TABLE verify_factors;
DROP TABLE verifications;
DROP TABLE verify_services;
DROP TABLE api_keys;
