-- A provider's status report (Twilio's status callback) names the message by
-- the provider's id: find it without reading the whole outbox.

-- +goose Up
CREATE INDEX outbox_provider ON outbox (provider_id) WHERE provider_id <> '';

-- +goose Down
DROP INDEX outbox_provider;
