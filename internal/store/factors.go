package store

import (
	"context"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Factors.

const factorCols = `id, account_id, method, status, label, secret, address,
	last_totp_step, is_default, created_at, confirmed_at, last_used_at, channels`

func scanFactor(s scanner) (*twostep.Factor, error) {
	var f twostep.Factor
	var channels string
	err := s.Scan(&f.ID, &f.AccountID, &f.Method, &f.Status, &f.Label, &f.Secret, &f.Address,
		&f.LastTOTPStep, &f.Default, tm{&f.CreatedAt}, tm{&f.ConfirmedAt}, tm{&f.LastUsedAt}, &channels)
	f.Channels = split[twostep.Method](channels)
	return &f, err
}

// CreateFactor stores f; ErrConflict if its id is taken.
func (db *DB) CreateFactor(ctx context.Context, f *twostep.Factor) error {
	_, err := db.exec(ctx, `INSERT INTO factors (`+factorCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.AccountID, f.Method, f.Status, f.Label, null(f.Secret), f.Address,
		f.LastTOTPStep, f.Default, us(f.CreatedAt), us(f.ConfirmedAt), us(f.LastUsedAt), join(f.Channels))
	return wrap(err, "create factor")
}

// Factor returns the factor with id, or ErrNotFound.
func (db *DB) Factor(ctx context.Context, id string) (*twostep.Factor, error) {
	return one(db.row(ctx, `SELECT `+factorCols+` FROM factors WHERE id = ?`, id), scanFactor, "factor")
}

// Factors lists an account's factors, oldest first.
func (db *DB) Factors(ctx context.Context, accountID string) ([]*twostep.Factor, error) {
	if fs, ok := db.pg.takeFactors(accountID); ok {
		return fs, nil
	}
	return list(ctx, db, scanFactor, "factors", `SELECT `+factorCols+` FROM factors
		WHERE account_id = ? ORDER BY created_at, seq`, accountID)
}

// UpdateFactor writes Method, Status, Label, Secret, Address, Channels,
// Default, ConfirmedAt and LastUsedAt; ErrNotFound if f does not exist. It leaves
// LastTOTPStep alone: only UseTOTPStep moves it, so that a stale copy of f cannot
// move it back and let a used code in again.
func (db *DB) UpdateFactor(ctx context.Context, f *twostep.Factor) error {
	if db.pg.updateFactor(f) {
		return nil
	}
	return db.execOne(ctx, "update factor", updateFactorSQL, factorUpdateArgs(f)...)
}

const updateFactorSQL = `UPDATE factors SET method = ?, status = ?, label = ?,
	secret = ?, address = ?, channels = ?, is_default = ?, confirmed_at = ?, last_used_at = ? WHERE id = ?`

func factorUpdateArgs(f *twostep.Factor) []any {
	return []any{f.Method, f.Status, f.Label, null(f.Secret), f.Address, join(f.Channels), f.Default,
		us(f.ConfirmedAt), us(f.LastUsedAt), f.ID}
}

// DeleteFactor deletes the factor with id; ErrNotFound if there is none.
func (db *DB) DeleteFactor(ctx context.Context, id string) error {
	return db.execOne(ctx, "delete factor", `DELETE FROM factors WHERE id = ?`, id)
}

// DeleteFactors deletes all factors of an account.
func (db *DB) DeleteFactors(ctx context.Context, accountID string) error {
	_, err := db.exec(ctx, `DELETE FROM factors WHERE account_id = ?`, accountID)
	return wrap(err, "delete factors")
}

// UseTOTPStep records step as the factor's last accepted TOTP step if it is
// greater than the one recorded, and reports whether it did. A missing factor
// reports false.
func (db *DB) UseTOTPStep(ctx context.Context, factorID string, step int64, at time.Time) (bool, error) {
	if did, ok := db.pg.useStep(factorID, step, at); ok {
		return did, nil
	}
	return db.execDid(ctx, "use totp step", useStepSQL, step, us(at), factorID, step)
}

const useStepSQL = `UPDATE factors SET last_totp_step = ?, last_used_at = ? WHERE id = ? AND last_totp_step < ?`
