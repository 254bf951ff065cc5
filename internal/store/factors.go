package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Factors.

const factorCols = `id, account_id, method, status, label, secret, address,
	last_totp_step, is_default, created_at, confirmed_at, last_used_at, channels, credential`

func scanFactor(s scanner) (*twostep.Factor, error) {
	var f twostep.Factor
	var channels, cred string
	err := s.Scan(&f.ID, &f.AccountID, &f.Method, &f.Status, &f.Label, &f.Secret, &f.Address,
		&f.LastTOTPStep, &f.Default, tm{&f.CreatedAt}, tm{&f.ConfirmedAt}, tm{&f.LastUsedAt}, &channels, &cred)
	f.Channels = split[twostep.Method](channels)
	if err == nil && cred != "" {
		f.Credential = new(twostep.Credential)
		if err := json.Unmarshal([]byte(cred), f.Credential); err != nil {
			return nil, fmt.Errorf("store: factor %s: credential: %w", f.ID, err)
		}
	}
	return &f, err
}

// credentialCols returns what the credential_id and credential columns hold
// for c: NULL and "" for none.
func credentialCols(c *twostep.Credential) (any, string, error) {
	if c == nil {
		return nil, "", nil
	}
	b, err := json.Marshal(c)
	return null(c.ID), string(b), err
}

// CreateFactor stores f; ErrConflict if its id is taken.
func (db *DB) CreateFactor(ctx context.Context, f *twostep.Factor) error {
	credID, cred, err := credentialCols(f.Credential)
	if err != nil {
		return err
	}
	_, err = db.exec(ctx, `INSERT INTO factors (`+factorCols+`, credential_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.AccountID, f.Method, f.Status, f.Label, null(f.Secret), f.Address,
		f.LastTOTPStep, f.Default, us(f.CreatedAt), us(f.ConfirmedAt), us(f.LastUsedAt), join(f.Channels), cred, credID)
	return wrap(err, "create factor")
}

// FactorByCredentialID returns the factor whose credential has id, or ErrNotFound.
func (db *DB) FactorByCredentialID(ctx context.Context, id []byte) (*twostep.Factor, error) {
	if len(id) == 0 {
		return nil, twostep.ErrNotFound
	}
	return one(db.row(ctx, `SELECT `+factorCols+` FROM factors WHERE credential_id = ?`, id), scanFactor, "factor by credential")
}

// Factor returns the factor with id, or ErrNotFound.
func (db *DB) Factor(ctx context.Context, id string) (*twostep.Factor, error) {
	return one(db.row(ctx, `SELECT `+factorCols+` FROM factors WHERE id = ?`, id), scanFactor, "factor")
}

// Factors lists an account's factors, oldest first.
func (db *DB) Factors(ctx context.Context, accountID string) ([]*twostep.Factor, error) {
	return list(ctx, db, scanFactor, "factors", `SELECT `+factorCols+` FROM factors
		WHERE account_id = ? ORDER BY created_at, seq`, accountID)
}

// UpdateFactor writes Method, Status, Label, Secret, Address, Channels,
// Credential, Default, ConfirmedAt and LastUsedAt; ErrNotFound if f does not
// exist, ErrConflict if another factor has its credential id. It leaves
// LastTOTPStep alone: only UseTOTPStep moves it, so that a stale copy of f cannot
// move it back and let a used code in again.
func (db *DB) UpdateFactor(ctx context.Context, f *twostep.Factor) error {
	credID, cred, err := credentialCols(f.Credential)
	if err != nil {
		return err
	}
	return db.execOne(ctx, "update factor", `UPDATE factors SET method = ?, status = ?, label = ?,
		secret = ?, address = ?, channels = ?, is_default = ?, confirmed_at = ?, last_used_at = ?,
		credential_id = ?, credential = ? WHERE id = ?`,
		f.Method, f.Status, f.Label, null(f.Secret), f.Address, join(f.Channels), f.Default,
		us(f.ConfirmedAt), us(f.LastUsedAt), credID, cred, f.ID)
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
	return db.execDid(ctx, "use totp step", `UPDATE factors SET last_totp_step = ?, last_used_at = ?
		WHERE id = ? AND last_totp_step < ?`, step, us(at), factorID, step)
}
