-- +goose Up
-- Organisations' own identity providers (API.md §12). Times are unix
-- microseconds (UTC), as everywhere.
--
-- sso_connections: one per organisation; client_secret sealed (AES-GCM) to
-- the organisation's id.
CREATE TABLE sso_connections (
    org_id        TEXT NOT NULL PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    issuer        TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret BYTEA NOT NULL,
    second_step   TEXT NOT NULL,
    created_at    BIGINT,
    updated_at    BIGINT
);
-- sso_domains: e-mail domains the operator gave; one organisation each.
CREATE TABLE sso_domains (
    domain     TEXT NOT NULL PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    created_at BIGINT
);
CREATE INDEX sso_domains_org ON sso_domains (org_id, domain);
-- sso_identities: (organisation, issuer, the provider's sub) -> account; an
-- account has at most one identity per issuer.
CREATE TABLE sso_identities (
    org_id          TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    created_at      BIGINT,
    last_sign_in_at BIGINT,
    PRIMARY KEY (org_id, issuer, subject)
);
CREATE UNIQUE INDEX sso_identities_account ON sso_identities (account_id, issuer);
-- sso_logins: sign-ins sent to a provider and not back yet: the state's
-- SHA-256, the nonce, the PKCE verifier sealed to the row's id.
CREATE TABLE sso_logins (
    id           TEXT NOT NULL PRIMARY KEY,
    state_hash   BYTEA NOT NULL UNIQUE,
    org_id       TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    issuer       TEXT NOT NULL,
    nonce        TEXT NOT NULL,
    verifier     BYTEA NOT NULL,
    iss_required BOOLEAN NOT NULL DEFAULT FALSE,
    session_id   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT,
    expires_at   BIGINT,
    consumed_at  BIGINT
);
CREATE INDEX sso_logins_expires ON sso_logins (expires_at);
-- The provider's answer that an SSO sign-in's token carries (JSON), '' for others.
ALTER TABLE challenges ADD COLUMN upstream TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE challenges DROP COLUMN upstream;
DROP TABLE sso_logins;
DROP TABLE sso_identities;
DROP TABLE sso_domains;
DROP TABLE sso_connections;
