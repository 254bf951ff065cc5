-- +goose Up
-- Passkeys and security keys (API.md §11). A webauthn factor keeps its
-- credential: the id, unique across the server (a key registered to one
-- account is refused to another: WA-05), and the rest of the credential
-- record as JSON (public key, sign count, flags, transports, attestation).
-- A challenge keeps the WebAuthn ceremony in progress (its random challenge),
-- taken once by whoever answers it (WA-01). Organisations gain
-- admins_phishing_resistant, and webauthn_offered, set once the server
-- offered webauthn and the allowed methods were brought up to date.
ALTER TABLE factors ADD COLUMN credential_id BLOB;
ALTER TABLE factors ADD COLUMN credential TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX factors_credential_id ON factors (credential_id);
ALTER TABLE challenges ADD COLUMN webauthn BLOB;
ALTER TABLE orgs ADD COLUMN admins_phishing_resistant BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE orgs ADD COLUMN webauthn_offered BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE orgs DROP COLUMN webauthn_offered;
ALTER TABLE orgs DROP COLUMN admins_phishing_resistant;
ALTER TABLE challenges DROP COLUMN webauthn;
DROP INDEX factors_credential_id;
ALTER TABLE factors DROP COLUMN credential;
ALTER TABLE factors DROP COLUMN credential_id;
