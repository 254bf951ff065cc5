-- Challenges gain the fields of codes sent for a session or a new address, and
-- an insertion order; the outbox holds messages until a worker delivers them.

-- +goose Up
ALTER TABLE challenges
    DROP COLUMN client_legacy,
    ADD COLUMN seq             BIGINT GENERATED ALWAYS AS IDENTITY, -- insertion order, for challenges created in the same microsecond
    ADD COLUMN session_id      TEXT NOT NULL DEFAULT '',
    ADD COLUMN address         TEXT NOT NULL DEFAULT '',
    ADD COLUMN code_expires_at BIGINT,
    ADD COLUMN last_channel    TEXT NOT NULL DEFAULT '';
-- Serves LatestChallenge and the cascade from accounts.
DROP INDEX challenges_account;
CREATE INDEX challenges_account ON challenges (account_id, purpose, created_at, seq);

-- Without a foreign key to challenges: a message outlives the challenge whose
-- code it carries (DeleteExpired).
CREATE TABLE outbox (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- insertion order, for messages created in the same microsecond
    id              TEXT NOT NULL UNIQUE,
    channel         TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    locale          TEXT NOT NULL DEFAULT '',
    template        TEXT NOT NULL,
    payload         BYTEA, -- sealed; NULL once sent or failed
    challenge_id    TEXT,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL, -- the zero time (due at once) is its unix microseconds, not NULL
    lease_until     BIGINT,
    expires_at      BIGINT,
    error           TEXT NOT NULL DEFAULT '',
    permanent       BOOLEAN NOT NULL DEFAULT FALSE,
    provider_id     TEXT NOT NULL DEFAULT '',
    created_at      BIGINT,
    sent_at         BIGINT
);
-- Serves ClaimMessages and PendingMessages, whose queries spell status = 'pending' out.
CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at, seq) WHERE status = 'pending';
CREATE INDEX outbox_challenge ON outbox (challenge_id, created_at, seq);

-- +goose Down
DROP TABLE outbox;
DROP INDEX challenges_account;
ALTER TABLE challenges
    DROP COLUMN last_channel,
    DROP COLUMN code_expires_at,
    DROP COLUMN address,
    DROP COLUMN session_id,
    DROP COLUMN seq,
    ADD COLUMN client_legacy BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX challenges_account ON challenges (account_id);
