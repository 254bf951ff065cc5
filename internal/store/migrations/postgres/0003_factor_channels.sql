-- +goose Up
-- A phone factor is one proven number with every channel it can take.
ALTER TABLE factors ADD COLUMN channels TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE factors DROP COLUMN channels;
