-- +goose Up
-- Pending actions (issue 20, GitHub's sudo mode): a change that needed an
-- identity confirmation is kept here, bound to its session, while the person
-- confirms; afterwards it is taken (deleted) once and carried on. The form
-- holds the submitted values minus passwords and codes. Times are unix
-- microseconds (UTC), as everywhere.
CREATE TABLE pending_actions (
    id         TEXT NOT NULL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    method     TEXT NOT NULL,
    path       TEXT NOT NULL,
    form       TEXT NOT NULL,
    created_at BIGINT,
    expires_at BIGINT
);
CREATE INDEX pending_actions_session ON pending_actions (session_id);

-- +goose Down
DROP TABLE pending_actions;
