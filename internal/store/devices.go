package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Devices.

const deviceCols = `id, account_id, token_hash, created_at, last_used_at, expires_at, ip, user_agent,
	remembered_at, remembered_until`

func scanDevice(s scanner) (*twostep.Device, error) {
	var d twostep.Device
	err := s.Scan(&d.ID, &d.AccountID, &d.TokenHash, tm{&d.CreatedAt}, tm{&d.LastUsedAt}, tm{&d.ExpiresAt},
		&d.IP, &d.UserAgent, tm{&d.RememberedAt}, tm{&d.RememberedUntil})
	return &d, err
}

// CreateDevice stores d; ErrConflict if its id or token hash is taken.
func (db *DB) CreateDevice(ctx context.Context, d *twostep.Device) error {
	q := `INSERT INTO devices (` + deviceCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	args := []any{d.ID, d.AccountID, d.TokenHash, us(d.CreatedAt), us(d.LastUsedAt), us(d.ExpiresAt), d.IP, d.UserAgent,
		us(d.RememberedAt), us(d.RememberedUntil)}
	if db.pg != nil {
		db.pg.later("create device", 1, q, args...)
		return nil
	}
	_, err := db.exec(ctx, q, args...)
	return wrap(err, "create device")
}

// DeviceByToken returns the device with tokenHash, expired or not, or ErrNotFound.
func (db *DB) DeviceByToken(ctx context.Context, tokenHash []byte) (*twostep.Device, error) {
	return one(db.row(ctx, `SELECT `+deviceCols+` FROM devices WHERE token_hash = ?`, tokenHash),
		scanDevice, "device by token")
}

// RenewDevice gives the live device of d.AccountID whose token hash is oldHash
// d's new token hash, last use, expiry, address and user agent, in one
// statement, and fills in d's ID, CreatedAt and remembered times; false if
// there is no such device.
func (db *DB) RenewDevice(ctx context.Context, oldHash []byte, d *twostep.Device) (bool, error) {
	err := db.writeRow(ctx, `UPDATE devices SET token_hash = ?, last_used_at = ?, expires_at = ?, ip = ?, user_agent = ?
		WHERE token_hash = ? AND account_id = ? AND expires_at > ? RETURNING id, created_at, remembered_at, remembered_until`,
		d.TokenHash, us(d.LastUsedAt), us(d.ExpiresAt), d.IP, d.UserAgent, oldHash, d.AccountID, us(d.LastUsedAt),
	).Scan(&d.ID, tm{&d.CreatedAt}, tm{&d.RememberedAt}, tm{&d.RememberedUntil})
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, wrap(err, "renew device")
}

// Devices lists the account's devices, expired or not, oldest first.
func (db *DB) Devices(ctx context.Context, accountID string) ([]*twostep.Device, error) {
	return list(ctx, db, scanDevice, "devices", `SELECT `+deviceCols+` FROM devices
		WHERE account_id = ? ORDER BY created_at, id`, accountID)
}

// RememberDevice marks the account's device id remembered from at until
// until; false if the account has no such device.
func (db *DB) RememberDevice(ctx context.Context, accountID, id string, at, until time.Time) (bool, error) {
	return db.execDid(ctx, "remember device", `UPDATE devices SET remembered_at = ?, remembered_until = ?
		WHERE id = ? AND account_id = ?`, us(at), us(until), id, accountID)
}

// ForgetDevices ends the remembering of every device of the account that is
// remembered beyond now, and returns how many there were.
func (db *DB) ForgetDevices(ctx context.Context, accountID string, now time.Time) (int, error) {
	n, err := affected(db.exec(ctx, `UPDATE devices SET remembered_at = NULL, remembered_until = NULL
		WHERE account_id = ? AND remembered_until > ?`, accountID, us(now)))
	return int(n), wrap(err, "forget devices")
}

// DeleteDevice removes the account's device id; false if it has none such.
func (db *DB) DeleteDevice(ctx context.Context, accountID, id string) (bool, error) {
	return db.execDid(ctx, "delete device", `DELETE FROM devices WHERE id = ? AND account_id = ?`, id, accountID)
}

// DeleteDevices removes every device of the account and returns how many.
func (db *DB) DeleteDevices(ctx context.Context, accountID string) (int, error) {
	n, err := affected(db.exec(ctx, `DELETE FROM devices WHERE account_id = ?`, accountID))
	return int(n), wrap(err, "delete devices")
}
