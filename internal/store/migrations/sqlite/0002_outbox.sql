-- Challenges gain the fields of codes sent for a session or a new address, and
-- an insertion order; the outbox holds messages until a worker delivers them.
--
-- SQLite cannot add an INTEGER PRIMARY KEY to a table, so challenges is rebuilt
-- (its rows are short-lived; existing ones keep their order), which also drops
-- client_legacy. Nothing references challenges, so the drop cascades nowhere.

-- +goose Up
CREATE TABLE challenges_new (
    seq             INTEGER PRIMARY KEY, -- insertion order, for challenges created in the same microsecond
    id              TEXT NOT NULL UNIQUE,
    token_hash      BLOB UNIQUE,
    purpose         TEXT NOT NULL,
    account_id      TEXT REFERENCES accounts (id) ON DELETE CASCADE, -- NULL for setup
    session_id      TEXT NOT NULL DEFAULT '',
    factor_id       TEXT NOT NULL DEFAULT '',
    method          TEXT NOT NULL DEFAULT '',
    address         TEXT NOT NULL DEFAULT '',
    code_hash       BLOB,
    code_expires_at BIGINT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    sends           INTEGER NOT NULL DEFAULT 0,
    last_sent_at    BIGINT,
    last_channel    TEXT NOT NULL DEFAULT '',
    amr             TEXT NOT NULL DEFAULT '', -- comma-joined
    created_at      BIGINT,
    expires_at      BIGINT,
    consumed_at     BIGINT
);
INSERT INTO challenges_new (id, token_hash, purpose, account_id, factor_id, method, code_hash,
    attempts, sends, last_sent_at, amr, created_at, expires_at, consumed_at)
SELECT id, token_hash, purpose, account_id, factor_id, method, code_hash,
    attempts, sends, last_sent_at, amr, created_at, expires_at, consumed_at
FROM challenges ORDER BY created_at, rowid;
DROP TABLE challenges;
ALTER TABLE challenges_new RENAME TO challenges;
-- Serves LatestChallenge and the cascade from accounts.
CREATE INDEX challenges_account ON challenges (account_id, purpose, created_at, seq);
CREATE INDEX challenges_expires ON challenges (expires_at);

-- Without a foreign key to challenges: a message outlives the challenge whose
-- code it carries (DeleteExpired).
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY, -- insertion order, for messages created in the same microsecond
    id              TEXT NOT NULL UNIQUE,
    channel         TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    locale          TEXT NOT NULL DEFAULT '',
    template        TEXT NOT NULL,
    payload         BLOB, -- sealed; NULL once sent or failed
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
CREATE TABLE challenges_old (
    id            TEXT NOT NULL PRIMARY KEY,
    token_hash    BLOB UNIQUE,
    purpose       TEXT NOT NULL,
    account_id    TEXT REFERENCES accounts (id) ON DELETE CASCADE, -- NULL for setup
    factor_id     TEXT NOT NULL DEFAULT '',
    method        TEXT NOT NULL DEFAULT '',
    code_hash     BLOB,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sends         INTEGER NOT NULL DEFAULT 0,
    last_sent_at  BIGINT,
    amr           TEXT NOT NULL DEFAULT '', -- comma-joined
    client_legacy BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT,
    expires_at    BIGINT,
    consumed_at   BIGINT
);
INSERT INTO challenges_old (id, token_hash, purpose, account_id, factor_id, method, code_hash,
    attempts, sends, last_sent_at, amr, created_at, expires_at, consumed_at)
SELECT id, token_hash, purpose, account_id, factor_id, method, code_hash,
    attempts, sends, last_sent_at, amr, created_at, expires_at, consumed_at
FROM challenges ORDER BY seq;
DROP TABLE challenges;
ALTER TABLE challenges_old RENAME TO challenges;
CREATE INDEX challenges_account ON challenges (account_id);
CREATE INDEX challenges_expires ON challenges (expires_at);
