-- +goose Up
-- The OpenID Connect provider (API.md §7). Times are unix microseconds (UTC),
-- lists are comma- or newline-joined as elsewhere.

-- Products registered to sign their users in; secret_hash is the SHA-256 of
-- the secret (NULL: a public client, which must use PKCE).
CREATE TABLE oidc_clients (
    id                        TEXT NOT NULL PRIMARY KEY,
    org_id                    TEXT REFERENCES orgs (id) ON DELETE CASCADE,
    name                      TEXT NOT NULL,
    secret_hash               BYTEA,
    redirect_uris             TEXT NOT NULL, -- newline-joined
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '',
    backchannel_logout_uri    TEXT NOT NULL DEFAULT '',
    require_two_step          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                BIGINT,
    last_used_at              BIGINT
);
CREATE INDEX oidc_clients_org ON oidc_clients (org_id);

-- Authorization requests from the authorize endpoint to the code exchange;
-- the code is kept only as its SHA-256.
CREATE TABLE oidc_auth_requests (
    id                    TEXT NOT NULL PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL,
    scopes                TEXT NOT NULL,
    state                 TEXT NOT NULL DEFAULT '',
    nonce                 TEXT NOT NULL DEFAULT '',
    response_mode         TEXT NOT NULL DEFAULT '',
    code_challenge        TEXT NOT NULL DEFAULT '',
    code_challenge_method TEXT NOT NULL DEFAULT '',
    prompt                TEXT NOT NULL DEFAULT '',
    max_age               INTEGER NOT NULL DEFAULT -1,
    acr_values            TEXT NOT NULL DEFAULT '',
    created_at            BIGINT,
    expires_at            BIGINT,
    account_id            TEXT NOT NULL DEFAULT '',
    session_id            TEXT NOT NULL DEFAULT '',
    amr                   TEXT NOT NULL DEFAULT '',
    acr                   TEXT NOT NULL DEFAULT '',
    auth_time             BIGINT,
    done_at               BIGINT,
    error                 TEXT NOT NULL DEFAULT '',
    error_text            TEXT NOT NULL DEFAULT '',
    code_hash             BYTEA UNIQUE,
    code_expires_at       BIGINT,
    code_used_at          BIGINT
);
CREATE INDEX oidc_auth_requests_expires ON oidc_auth_requests (expires_at);

-- Access tokens (id = the JWT's jti) and refresh tokens (token_hash); chain_id
-- is the authorization request every token of one code descends from.
CREATE TABLE oidc_tokens (
    id         TEXT NOT NULL PRIMARY KEY,
    kind       TEXT NOT NULL,
    token_hash BYTEA UNIQUE,
    chain_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_id TEXT NOT NULL DEFAULT '',
    scopes     TEXT NOT NULL DEFAULT '',
    amr        TEXT NOT NULL DEFAULT '',
    acr        TEXT NOT NULL DEFAULT '',
    nonce      TEXT NOT NULL DEFAULT '',
    auth_time  BIGINT,
    created_at BIGINT,
    expires_at BIGINT,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX oidc_tokens_chain ON oidc_tokens (chain_id);
CREATE INDEX oidc_tokens_account ON oidc_tokens (account_id, session_id);
CREATE INDEX oidc_tokens_expires ON oidc_tokens (expires_at);

-- Which clients got tokens from which Twostep session: ending the session
-- sends each a back-channel logout. Gone with the session.
CREATE TABLE oidc_session_clients (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    created_at BIGINT,
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX oidc_session_clients_account ON oidc_session_clients (account_id);

-- RS256 signing keys: private sealed under secret.key (bound to id), public
-- as PKIX. The active key is the newest not retired.
CREATE TABLE oidc_signing_keys (
    id            TEXT NOT NULL PRIMARY KEY,
    private_key   BYTEA NOT NULL,
    public_key    BYTEA NOT NULL,
    created_at    BIGINT,
    retired_at    BIGINT,
    publish_until BIGINT
);

-- +goose Down
DROP TABLE oidc_signing_keys;
DROP TABLE oidc_session_clients;
DROP TABLE oidc_tokens;
DROP TABLE oidc_auth_requests;
DROP TABLE oidc_clients;
