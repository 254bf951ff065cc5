-- How a session's second step was met (API.md, before §7): proven, remembered,
-- upstream, exempt or none. Sessions made before this column are judged by
-- what they recorded: a legacy client's is exempt, one whose amr holds more
-- than the password proved a second step.

-- +goose Up
ALTER TABLE sessions ADD COLUMN second_step TEXT NOT NULL DEFAULT 'none';
UPDATE sessions SET second_step = CASE
    WHEN legacy THEN 'exempt'
    WHEN amr <> 'pwd' AND amr <> '' THEN 'proven'
    ELSE 'none' END;

-- +goose Down
ALTER TABLE sessions DROP COLUMN second_step;
