-- Serves LastMessageTo: whether the provider refused the last SMS to a number
-- for good, so that the next sign-in offers the call first.

-- +goose Up
CREATE INDEX outbox_to ON outbox (to_addr, channel, created_at, seq);

-- +goose Down
DROP INDEX outbox_to;
