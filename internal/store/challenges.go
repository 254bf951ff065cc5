package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Challenges.

const challengeCols = `id, token_hash, purpose, account_id, session_id, factor_id, method, address,
	code_hash, code_expires_at, attempts, sends, last_sent_at, last_channel, amr, created_at,
	expires_at, consumed_at, webauthn, upstream`

func scanChallenge(s scanner) (*twostep.Challenge, error) {
	var c twostep.Challenge
	var account sql.NullString
	var amr, upstream string
	err := s.Scan(&c.ID, &c.TokenHash, &c.Purpose, &account, &c.SessionID, &c.FactorID, &c.Method, &c.Address,
		&c.CodeHash, tm{&c.CodeExpiresAt}, &c.Attempts, &c.Sends, tm{&c.LastSentAt}, &c.LastChannel, &amr,
		tm{&c.CreatedAt}, tm{&c.ExpiresAt}, tm{&c.ConsumedAt}, &c.WebAuthn, &upstream)
	c.AccountID = account.String
	c.AMR = split[string](amr)
	if err == nil {
		c.Upstream, err = parseUpstream(upstream)
	}
	return &c, err
}

// CreateChallenge stores c; ErrConflict if its id or token hash is taken.
func (db *DB) CreateChallenge(ctx context.Context, c *twostep.Challenge) error {
	upstream, err := upstreamJSON(c.Upstream)
	if err != nil {
		return err
	}
	_, err = db.exec(ctx, `INSERT INTO challenges (`+challengeCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, null(c.TokenHash), c.Purpose, null(c.AccountID), c.SessionID, c.FactorID, c.Method, c.Address,
		null(c.CodeHash), us(c.CodeExpiresAt), c.Attempts, c.Sends, us(c.LastSentAt), c.LastChannel, join(c.AMR),
		us(c.CreatedAt), us(c.ExpiresAt), us(c.ConsumedAt), null(c.WebAuthn), upstream)
	return wrap(err, "create challenge")
}

// Challenge returns the challenge with id, or ErrNotFound.
func (db *DB) Challenge(ctx context.Context, id string) (*twostep.Challenge, error) {
	return one(db.row(ctx, `SELECT `+challengeCols+` FROM challenges WHERE id = ?`, id),
		scanChallenge, "challenge")
}

// ChallengeByToken returns the challenge with tokenHash, or ErrNotFound.
func (db *DB) ChallengeByToken(ctx context.Context, tokenHash []byte) (*twostep.Challenge, error) {
	return one(db.row(ctx, `SELECT `+challengeCols+` FROM challenges WHERE token_hash = ?`, tokenHash),
		scanChallenge, "challenge by token")
}

// challengeAccountCols are challengeCols then accountCols, for a join of the two.
var challengeAccountCols = qualify("c", challengeCols) + ", " + qualify("a", accountCols)

// ChallengeWithAccount returns the challenge with tokenHash and the account it
// belongs to in one statement; ErrNotFound if there is no such challenge or it
// belongs to no account.
func (db *DB) ChallengeWithAccount(ctx context.Context, tokenHash []byte) (*twostep.Challenge, *twostep.Account, error) {
	row := db.row(ctx, `SELECT `+challengeAccountCols+` FROM challenges c
		JOIN accounts a ON a.id = c.account_id WHERE c.token_hash = ?`, tokenHash)
	c, a, err := scanBoth(row, scanChallenge, scanAccount)
	if err != nil {
		return nil, nil, wrap(err, "challenge with account")
	}
	return c, a, nil
}

// LatestChallenge returns the newest (last created) unconsumed challenge of the
// account with purpose p, expired or not; ErrNotFound if none.
func (db *DB) LatestChallenge(ctx context.Context, accountID string, p twostep.Purpose) (*twostep.Challenge, error) {
	return one(db.row(ctx, `SELECT `+challengeCols+` FROM challenges
		WHERE account_id = ? AND purpose = ? AND consumed_at IS NULL
		ORDER BY created_at DESC, seq DESC LIMIT 1`, accountID, p),
		scanChallenge, "latest challenge")
}

// UpdateChallenge writes SessionID, FactorID, Method, Address, CodeHash,
// CodeExpiresAt, Sends, LastSentAt, LastChannel, AMR, WebAuthn and ExpiresAt;
// ErrNotFound if c does not exist.
func (db *DB) UpdateChallenge(ctx context.Context, c *twostep.Challenge) error {
	return db.execOne(ctx, "update challenge", `UPDATE challenges SET session_id = ?, factor_id = ?,
		method = ?, address = ?, code_hash = ?, code_expires_at = ?, sends = ?, last_sent_at = ?,
		last_channel = ?, amr = ?, expires_at = ?, webauthn = ? WHERE id = ?`,
		c.SessionID, c.FactorID, c.Method, c.Address, null(c.CodeHash), us(c.CodeExpiresAt), c.Sends,
		us(c.LastSentAt), c.LastChannel, join(c.AMR), us(c.ExpiresAt), null(c.WebAuthn), c.ID)
}

// TakeWebAuthn returns the challenge's WebAuthn ceremony and clears it; nil
// when it has none; ErrNotFound if there is no such challenge. The clearing
// names the value read: of concurrent takers (PostgreSQL re-reads the row
// once the first commits), or one racing a new ceremony, only one gets a
// given ceremony (WA-01).
func (db *DB) TakeWebAuthn(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	if err := db.row(ctx, `SELECT webauthn FROM challenges WHERE id = ?`, id).Scan(&b); err != nil {
		return nil, wrap(err, "take webauthn")
	}
	if len(b) == 0 {
		return nil, nil
	}
	took, err := db.execDid(ctx, "take webauthn", `UPDATE challenges SET webauthn = NULL WHERE id = ? AND webauthn = ?`, id, b)
	if err != nil || !took {
		return nil, err
	}
	return b, nil
}

// CountChallengeAttempt adds one to the attempts of an unconsumed challenge and
// returns it as it now is; ErrNotFound if it does not exist or is consumed.
func (db *DB) CountChallengeAttempt(ctx context.Context, id string) (*twostep.Challenge, error) {
	return one(db.writeRow(ctx, `UPDATE challenges SET attempts = attempts + 1
		WHERE id = ? AND consumed_at IS NULL RETURNING `+challengeCols, id), scanChallenge, "count challenge attempt")
}

// ConsumeChallenge marks the challenge consumed if it is not yet, and reports
// whether this call did it.
func (db *DB) ConsumeChallenge(ctx context.Context, id string, at time.Time) (bool, error) {
	if at.IsZero() {
		return false, errors.New("store: consume challenge: zero time") // would leave it unconsumed
	}
	return db.execDid(ctx, "consume challenge",
		`UPDATE challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL`, us(at), id)
}

// ConsumeChallenges marks every unconsumed challenge of the account with one of
// the purposes consumed at at, in one statement; no purposes consume nothing.
func (db *DB) ConsumeChallenges(ctx context.Context, accountID string, at time.Time, purposes ...twostep.Purpose) error {
	if at.IsZero() {
		return errors.New("store: consume challenges: zero time") // would leave them unconsumed
	}
	if len(purposes) == 0 {
		return nil
	}
	args := []any{us(at), accountID}
	for _, p := range purposes {
		args = append(args, p)
	}
	_, err := db.exec(ctx, `UPDATE challenges SET consumed_at = ?
		WHERE account_id = ? AND consumed_at IS NULL AND purpose IN (?`+strings.Repeat(", ?", len(purposes)-1)+`)`, args...)
	return wrap(err, "consume challenges")
}
