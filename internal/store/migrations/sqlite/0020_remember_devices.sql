-- +goose Up
-- Remembered devices (API.md §11): a device the member asked to remember
-- skips the second step until remembered_until, within the organisation's
-- remember_device_days (0: off). allow_app_passwords lets members make app
-- passwords for old clients. Times are unix microseconds (UTC), as everywhere.
ALTER TABLE devices ADD COLUMN remembered_at BIGINT;
ALTER TABLE devices ADD COLUMN remembered_until BIGINT;
ALTER TABLE orgs ADD COLUMN remember_device_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN allow_app_passwords BOOLEAN NOT NULL DEFAULT TRUE;

-- +goose Down
ALTER TABLE orgs DROP COLUMN allow_app_passwords;
ALTER TABLE orgs DROP COLUMN remember_device_days;
ALTER TABLE devices DROP COLUMN remembered_until;
ALTER TABLE devices DROP COLUMN remembered_at;
