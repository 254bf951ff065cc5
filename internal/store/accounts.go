package store

import (
	"context"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Accounts.

const accountCols = `id, org_id, email, password_hash, role, sso, locale,
	allow_legacy_clients, two_step_since, created_at, last_sign_in_at`

func scanAccount(s scanner) (*twostep.Account, error) {
	var a twostep.Account
	err := s.Scan(&a.ID, &a.OrgID, &a.Email, &a.PasswordHash, &a.Role, &a.SSO, &a.Locale,
		&a.AllowLegacyClients, tm{&a.TwoStepSince}, tm{&a.CreatedAt}, tm{&a.LastSignInAt})
	return &a, err
}

// emailKey is what makes e-mails unique: the same lower-casing in both dialects,
// where SQLite's lower() would fold ASCII only.
func emailKey(email string) string { return strings.ToLower(email) }

// CreateAccount stores a; ErrConflict if its id or e-mail (in any case) is taken.
func (db *DB) CreateAccount(ctx context.Context, a *twostep.Account) error {
	_, err := db.exec(ctx, `INSERT INTO accounts (`+accountCols+`, email_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.OrgID, a.Email, a.PasswordHash, a.Role, a.SSO, a.Locale,
		a.AllowLegacyClients, us(a.TwoStepSince), us(a.CreatedAt), us(a.LastSignInAt), emailKey(a.Email))
	return wrap(err, "create account")
}

// Account returns the account with id, or ErrNotFound.
func (db *DB) Account(ctx context.Context, id string) (*twostep.Account, error) {
	return one(db.row(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id), scanAccount, "account")
}

// AccountByEmail returns the account with email, compared case-insensitively, or ErrNotFound.
func (db *DB) AccountByEmail(ctx context.Context, email string) (*twostep.Account, error) {
	return one(db.row(ctx, `SELECT `+accountCols+` FROM accounts WHERE email_key = ?`, emailKey(email)),
		scanAccount, "account by email")
}

// Accounts lists the accounts of an organisation by e-mail.
func (db *DB) Accounts(ctx context.Context, orgID string) ([]*twostep.Account, error) {
	return list(ctx, db, scanAccount, "accounts", `SELECT `+accountCols+` FROM accounts WHERE org_id = ? ORDER BY email_key`, orgID)
}

// UpdateAccount writes everything of a but its creation time; ErrNotFound if it
// does not exist, ErrConflict if its new e-mail is taken.
func (db *DB) UpdateAccount(ctx context.Context, a *twostep.Account) error {
	return db.execOne(ctx, "update account", `UPDATE accounts SET org_id = ?, email = ?, email_key = ?,
		password_hash = ?, role = ?, sso = ?, locale = ?, allow_legacy_clients = ?,
		two_step_since = ?, last_sign_in_at = ? WHERE id = ?`,
		a.OrgID, a.Email, emailKey(a.Email), a.PasswordHash, a.Role, a.SSO, a.Locale,
		a.AllowLegacyClients, us(a.TwoStepSince), us(a.LastSignInAt), a.ID)
}

// AdoptLocale implements twostep.Store.
func (db *DB) AdoptLocale(ctx context.Context, accountID, locale string) (bool, error) {
	return db.execDid(ctx, "adopt locale", `UPDATE accounts SET locale = ? WHERE id = ? AND locale = ''`, locale, accountID)
}

// SetLastSignIn implements twostep.Store.
func (db *DB) SetLastSignIn(ctx context.Context, accountID string, at time.Time) error {
	return db.execOne(ctx, "set last sign-in", `UPDATE accounts SET last_sign_in_at = ? WHERE id = ?`, us(at), accountID)
}
