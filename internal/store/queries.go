package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Event listing limits.
const (
	defaultEvents = 50
	maxEvents     = 200
)

// Orgs.

const orgCols = `id, name, slug, two_step, grace_period_days, allowed_methods,
	min_client_version, allow_legacy_clients, policy_changed_at, created_at`

func scanOrg(s scanner) (*twostep.Org, error) {
	var o twostep.Org
	var methods string
	p := &o.Policy
	err := s.Scan(&o.ID, &o.Name, &o.Slug, &p.TwoStep, &p.GracePeriodDays, &methods,
		&p.MinClientVersion, &p.AllowLegacyClients, tm{&p.ChangedAt}, tm{&o.CreatedAt})
	p.AllowedMethods = split[twostep.Method](methods)
	return &o, err
}

// CreateOrg stores o; ErrConflict if its id or slug is taken.
func (db *DB) CreateOrg(ctx context.Context, o *twostep.Org) error {
	p := &o.Policy
	_, err := db.exec(ctx, `INSERT INTO orgs (`+orgCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Name, o.Slug, p.TwoStep, p.GracePeriodDays, join(p.AllowedMethods),
		p.MinClientVersion, p.AllowLegacyClients, us(p.ChangedAt), us(o.CreatedAt))
	return wrap(err, "create org")
}

// Org returns the org with id, or ErrNotFound.
func (db *DB) Org(ctx context.Context, id string) (*twostep.Org, error) {
	return one(db.row(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = ?`, id), scanOrg, "org")
}

// OrgBySlug returns the org with slug, or ErrNotFound.
func (db *DB) OrgBySlug(ctx context.Context, slug string) (*twostep.Org, error) {
	return one(db.row(ctx, `SELECT `+orgCols+` FROM orgs WHERE slug = ?`, slug), scanOrg, "org by slug")
}

// UpdateOrg writes everything of o but its creation time; ErrNotFound if it does
// not exist, ErrConflict if its new slug is taken.
func (db *DB) UpdateOrg(ctx context.Context, o *twostep.Org) error {
	p := &o.Policy
	return db.execOne(ctx, "update org", `UPDATE orgs SET name = ?, slug = ?, two_step = ?,
		grace_period_days = ?, allowed_methods = ?, min_client_version = ?,
		allow_legacy_clients = ?, policy_changed_at = ? WHERE id = ?`,
		o.Name, o.Slug, p.TwoStep, p.GracePeriodDays, join(p.AllowedMethods),
		p.MinClientVersion, p.AllowLegacyClients, us(p.ChangedAt), o.ID)
}

// CountOrgs returns the number of orgs.
func (db *DB) CountOrgs(ctx context.Context) (int, error) {
	var n int
	err := db.row(ctx, `SELECT count(*) FROM orgs`).Scan(&n)
	return n, wrap(err, "count orgs")
}

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

// SetLastSignIn implements twostep.Store.
func (db *DB) SetLastSignIn(ctx context.Context, accountID string, at time.Time) error {
	return db.execOne(ctx, "set last sign-in", `UPDATE accounts SET last_sign_in_at = ? WHERE id = ?`, us(at), accountID)
}

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
	return list(ctx, db, scanFactor, "factors", `SELECT `+factorCols+` FROM factors
		WHERE account_id = ? ORDER BY created_at, seq`, accountID)
}

// UpdateFactor writes Method, Status, Label, Secret, Address, Channels,
// Default, ConfirmedAt and LastUsedAt; ErrNotFound if f does not exist. It leaves
// LastTOTPStep alone: only UseTOTPStep moves it, so that a stale copy of f cannot
// move it back and let a used code in again.
func (db *DB) UpdateFactor(ctx context.Context, f *twostep.Factor) error {
	return db.execOne(ctx, "update factor", `UPDATE factors SET method = ?, status = ?, label = ?,
		secret = ?, address = ?, channels = ?, is_default = ?, confirmed_at = ?, last_used_at = ? WHERE id = ?`,
		f.Method, f.Status, f.Label, null(f.Secret), f.Address, join(f.Channels), f.Default,
		us(f.ConfirmedAt), us(f.LastUsedAt), f.ID)
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

// Recovery codes.

const recoveryCols = `id, account_id, key_id, salt, hash, created_at, used_at`

func scanRecoveryCode(s scanner) (*twostep.RecoveryCode, error) {
	var c twostep.RecoveryCode
	err := s.Scan(&c.ID, &c.AccountID, &c.KeyID, &c.Salt, &c.Hash, tm{&c.CreatedAt}, tm{&c.UsedAt})
	return &c, err
}

// ReplaceRecoveryCodes deletes the account's codes and stores codes instead, in
// one transaction. Each code is stored under accountID, whatever its AccountID.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, accountID string, codes []*twostep.RecoveryCode) error {
	return db.atomic(ctx, func(tx *DB) error {
		if err := tx.DeleteRecoveryCodes(ctx, accountID); err != nil {
			return err
		}
		for _, c := range codes {
			_, err := tx.exec(ctx, `INSERT INTO recovery_codes (`+recoveryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				c.ID, accountID, c.KeyID, null(c.Salt), null(c.Hash), us(c.CreatedAt), us(c.UsedAt))
			if err != nil {
				return wrap(err, "create recovery code")
			}
		}
		return nil
	})
}

// RecoveryCodes lists the account's unused codes.
func (db *DB) RecoveryCodes(ctx context.Context, accountID string) ([]*twostep.RecoveryCode, error) {
	return list(ctx, db, scanRecoveryCode, "recovery codes", `SELECT `+recoveryCols+` FROM recovery_codes
		WHERE account_id = ? AND used_at IS NULL ORDER BY created_at, id`, accountID)
}

// UseRecoveryCode marks an unused code used and reports whether it did.
func (db *DB) UseRecoveryCode(ctx context.Context, id string, at time.Time) (bool, error) {
	if at.IsZero() {
		return false, errors.New("store: use recovery code: zero time") // would leave it unused
	}
	return db.execDid(ctx, "use recovery code",
		`UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL`, us(at), id)
}

// DeleteRecoveryCodes deletes all codes of an account.
func (db *DB) DeleteRecoveryCodes(ctx context.Context, accountID string) error {
	_, err := db.exec(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, accountID)
	return wrap(err, "delete recovery codes")
}

// Challenges.

const challengeCols = `id, token_hash, purpose, account_id, session_id, factor_id, method, address,
	code_hash, code_expires_at, attempts, sends, last_sent_at, last_channel, amr, created_at,
	expires_at, consumed_at`

func scanChallenge(s scanner) (*twostep.Challenge, error) {
	var c twostep.Challenge
	var account sql.NullString
	var amr string
	err := s.Scan(&c.ID, &c.TokenHash, &c.Purpose, &account, &c.SessionID, &c.FactorID, &c.Method, &c.Address,
		&c.CodeHash, tm{&c.CodeExpiresAt}, &c.Attempts, &c.Sends, tm{&c.LastSentAt}, &c.LastChannel, &amr,
		tm{&c.CreatedAt}, tm{&c.ExpiresAt}, tm{&c.ConsumedAt})
	c.AccountID = account.String
	c.AMR = split[string](amr)
	return &c, err
}

// CreateChallenge stores c; ErrConflict if its id or token hash is taken.
func (db *DB) CreateChallenge(ctx context.Context, c *twostep.Challenge) error {
	_, err := db.exec(ctx, `INSERT INTO challenges (`+challengeCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, null(c.TokenHash), c.Purpose, null(c.AccountID), c.SessionID, c.FactorID, c.Method, c.Address,
		null(c.CodeHash), us(c.CodeExpiresAt), c.Attempts, c.Sends, us(c.LastSentAt), c.LastChannel, join(c.AMR),
		us(c.CreatedAt), us(c.ExpiresAt), us(c.ConsumedAt))
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
// CodeExpiresAt, Sends, LastSentAt, LastChannel, AMR and ExpiresAt; ErrNotFound
// if c does not exist.
func (db *DB) UpdateChallenge(ctx context.Context, c *twostep.Challenge) error {
	return db.execOne(ctx, "update challenge", `UPDATE challenges SET session_id = ?, factor_id = ?,
		method = ?, address = ?, code_hash = ?, code_expires_at = ?, sends = ?, last_sent_at = ?,
		last_channel = ?, amr = ?, expires_at = ? WHERE id = ?`,
		c.SessionID, c.FactorID, c.Method, c.Address, null(c.CodeHash), us(c.CodeExpiresAt), c.Sends,
		us(c.LastSentAt), c.LastChannel, join(c.AMR), us(c.ExpiresAt), c.ID)
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

// DeleteExpired removes challenges, sessions and devices that ended before t. A
// zero expiry never ends. Outbox messages stay: they outlive their challenge.
func (db *DB) DeleteExpired(ctx context.Context, t time.Time) error {
	return db.atomic(ctx, func(tx *DB) error {
		if _, err := tx.exec(ctx, `DELETE FROM challenges WHERE expires_at < ?`, us(t)); err != nil {
			return wrap(err, "delete expired challenges")
		}
		if _, err := tx.exec(ctx, `DELETE FROM sessions WHERE expires_at < ? OR idle_expires_at < ?`, us(t), us(t)); err != nil {
			return wrap(err, "delete expired sessions")
		}
		if _, err := tx.exec(ctx, `DELETE FROM devices WHERE expires_at < ?`, us(t)); err != nil {
			return wrap(err, "delete expired devices")
		}
		if err := deleteExpiredOIDC(ctx, tx, t); err != nil {
			return err
		}
		old := us(t.Add(-twostep.KeepFinished))
		if _, err := tx.exec(ctx, `DELETE FROM outbox WHERE status <> 'pending' AND created_at < ?`, old); err != nil {
			return wrap(err, "delete finished messages")
		}
		_, err := tx.exec(ctx, `DELETE FROM throttles WHERE (locked_until IS NULL OR locked_until < ?) AND (hour_start IS NULL OR hour_start < ?)`, us(t), old)
		return wrap(err, "delete idle throttles")
	})
}

// Sessions.

const sessionCols = `id, token_hash, account_id, amr, second_step, legacy, confirmed_until, created_at,
	last_seen_at, idle_expires_at, expires_at, ip, user_agent`

func scanSession(s scanner) (*twostep.Session, error) {
	var ss twostep.Session
	var amr string
	err := s.Scan(&ss.ID, &ss.TokenHash, &ss.AccountID, &amr, &ss.SecondStep, &ss.Legacy, tm{&ss.ConfirmedUntil},
		tm{&ss.CreatedAt}, tm{&ss.LastSeenAt}, tm{&ss.IdleExpiresAt}, tm{&ss.ExpiresAt}, &ss.IP, &ss.UserAgent)
	ss.AMR = split[string](amr)
	return &ss, err
}

// CreateSession stores s; ErrConflict if its id or token hash is taken.
func (db *DB) CreateSession(ctx context.Context, s *twostep.Session) error {
	step := s.SecondStep
	if step == "" {
		step = twostep.SecondStepNone
	}
	_, err := db.exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TokenHash, s.AccountID, join(s.AMR), string(step), s.Legacy, us(s.ConfirmedUntil), us(s.CreatedAt),
		us(s.LastSeenAt), us(s.IdleExpiresAt), us(s.ExpiresAt), s.IP, s.UserAgent)
	return wrap(err, "create session")
}

// SessionByToken returns the session with tokenHash, or ErrNotFound.
func (db *DB) SessionByToken(ctx context.Context, tokenHash []byte) (*twostep.Session, error) {
	return one(db.row(ctx, `SELECT `+sessionCols+` FROM sessions WHERE token_hash = ?`, tokenHash),
		scanSession, "session by token")
}

// TouchSession moves the session's idle expiry forward. A session deleted
// meanwhile is no error: it stays deleted.
func (db *DB) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	_, err := db.exec(ctx, `UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?`,
		us(lastSeen), us(idleExpires), id)
	return wrap(err, "touch session")
}

// DeleteSession deletes the session with id, if there is one.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := db.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return wrap(err, "delete session")
}

// DeleteSessions ends every session of the account except the one with id except.
func (db *DB) DeleteSessions(ctx context.Context, accountID, except string) error {
	_, err := db.exec(ctx, `DELETE FROM sessions WHERE account_id = ? AND id <> ?`, accountID, except)
	return wrap(err, "delete sessions")
}

// Throttles.

const throttleCols = `key, failures, hour_start, hour_failures, locked_until`

func scanThrottle(s scanner) (*twostep.Throttle, error) {
	var t twostep.Throttle
	err := s.Scan(&t.Key, &t.Failures, tm{&t.HourStart}, &t.HourFailures, tm{&t.LockedUntil})
	return &t, err
}

// Throttle reads the throttle under key; a zero Throttle with that key if none.
func (db *DB) Throttle(ctx context.Context, key string) (twostep.Throttle, error) {
	t, err := one(db.row(ctx, `SELECT `+throttleCols+` FROM throttles WHERE key = ?`, key),
		scanThrottle, "throttle")
	if errors.Is(err, twostep.ErrNotFound) {
		return twostep.Throttle{Key: key}, nil
	}
	if err != nil {
		return twostep.Throttle{}, err
	}
	return *t, nil
}

// LockThrottle is Throttle for use inside Atomic: it creates the row if needed and
// holds it until the transaction ends (FOR UPDATE on PostgreSQL; on SQLite the
// write transaction already holds the whole database).
func (db *DB) LockThrottle(ctx context.Context, key string) (twostep.Throttle, error) {
	// Inserting first gives FOR UPDATE a row to lock even for a new key; two
	// transactions inserting the same key wait for each other on the primary key.
	if _, err := db.exec(ctx, `INSERT INTO throttles (key) VALUES (?) ON CONFLICT (key) DO NOTHING`, key); err != nil {
		return twostep.Throttle{}, wrap(err, "lock throttle")
	}
	t, err := one(db.writeRow(ctx, `SELECT `+throttleCols+` FROM throttles WHERE key = ?`+db.d.forUpdate, key),
		scanThrottle, "lock throttle")
	if err != nil {
		return twostep.Throttle{}, err
	}
	return *t, nil
}

// PutThrottle stores t under its key.
func (db *DB) PutThrottle(ctx context.Context, t twostep.Throttle) error {
	_, err := db.exec(ctx, `INSERT INTO throttles (`+throttleCols+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, hour_start = excluded.hour_start,
		hour_failures = excluded.hour_failures, locked_until = excluded.locked_until`,
		t.Key, t.Failures, us(t.HourStart), t.HourFailures, us(t.LockedUntil))
	return wrap(err, "put throttle")
}

// Audit events.

const eventCols = `id, at, type, org_id, actor_id, account_id, ip, user_agent, detail`

func scanEvent(s scanner) (*twostep.AuditEvent, error) {
	var e twostep.AuditEvent
	var detail sql.NullString
	err := s.Scan(&e.ID, tm{&e.At}, &e.Type, &e.OrgID, &e.ActorID, &e.AccountID, &e.IP, &e.UserAgent, &detail)
	if err == nil && detail.Valid {
		if err := json.Unmarshal([]byte(detail.String), &e.Detail); err != nil {
			return nil, fmt.Errorf("event %d detail: %w", e.ID, err)
		}
	}
	return &e, err
}

// AppendEvent stores e and sets its ID, which grows with every event. Detail is
// kept as JSON, so its numbers come back as float64.
func (db *DB) AppendEvent(ctx context.Context, e *twostep.AuditEvent) error {
	var detail any
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return fmt.Errorf("store: append event: detail: %w", err)
		}
		detail = string(b)
	}
	err := db.writeRow(ctx, `INSERT INTO audit_events (at, type, org_id, actor_id, account_id, ip, user_agent, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		us(e.At), e.Type, e.OrgID, e.ActorID, e.AccountID, e.IP, e.UserAgent, detail).Scan(&e.ID)
	return wrap(err, "append event")
}

// Events lists the events f selects, newest first: at most f.Limit of them
// (50 if 0, never more than 200).
func (db *DB) Events(ctx context.Context, f twostep.EventFilter) ([]*twostep.AuditEvent, error) {
	q := `SELECT ` + eventCols + ` FROM audit_events WHERE 1 = 1`
	var args []any
	for _, c := range []struct{ col, v string }{{"org_id", f.OrgID}, {"account_id", f.AccountID}, {"type", string(f.Type)}} {
		if c.v != "" {
			q += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	if f.Before > 0 {
		q += ` AND id < ?`
		args = append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultEvents
	}
	q += ` ORDER BY id DESC LIMIT ?`
	return list(ctx, db, scanEvent, "events", q, append(args, min(limit, maxEvents))...)
}

// Outbox.

const outboxCols = `id, channel, to_addr, locale, template, payload, challenge_id, status, attempts,
	next_attempt_at, lease_until, expires_at, error, permanent, provider_id, created_at, sent_at`

func scanMessage(s scanner) (*twostep.OutboxMessage, error) { return scanMessageAfter(s) }

// scanMessageAfter scans into before, then the message.
func scanMessageAfter(s scanner, before ...any) (*twostep.OutboxMessage, error) {
	var m twostep.OutboxMessage
	var challenge sql.NullString
	err := s.Scan(append(before, &m.ID, &m.Channel, &m.To, &m.Locale, &m.Template, &m.Payload, &challenge, &m.Status,
		&m.Attempts, tm{&m.NextAttemptAt}, tm{&m.LeaseUntil}, tm{&m.ExpiresAt}, &m.Error, &m.Permanent,
		&m.ProviderID, tm{&m.CreatedAt}, tm{&m.SentAt})...)
	m.ChallengeID = challenge.String
	return &m, err
}

// usDue stores a due time as unix microseconds, never NULL, so that due times
// compare and sort alike in both dialects: the zero time, due at once, is the
// least of them and tm scans it back to the zero time.
func usDue(t time.Time) int64 { return t.UnixMicro() }

// EnqueueMessage stores m as a pending message, due at its NextAttemptAt (the
// zero time: at once), and sets its Status; ErrConflict if its id is taken.
func (db *DB) EnqueueMessage(ctx context.Context, m *twostep.OutboxMessage) error {
	if m.Status != "" && m.Status != twostep.MessagePending {
		return fmt.Errorf("store: enqueue message: status %q, want %q", m.Status, twostep.MessagePending)
	}
	_, err := db.exec(ctx, `INSERT INTO outbox (`+outboxCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Channel, m.To, m.Locale, m.Template, null(m.Payload), null(m.ChallengeID),
		twostep.MessagePending, m.Attempts, usDue(m.NextAttemptAt), us(m.LeaseUntil), us(m.ExpiresAt),
		m.Error, m.Permanent, m.ProviderID, us(m.CreatedAt), us(m.SentAt))
	if err != nil {
		return wrap(err, "enqueue message")
	}
	m.Status = twostep.MessagePending
	return nil
}

// claimed is a claimed message with its insertion order, to sort by.
type claimed struct {
	m   *twostep.OutboxMessage
	seq int64
}

// ClaimMessages leases up to limit pending messages due at now and not leased
// (or whose lease ran out by now) until leaseUntil, adds one to their attempts
// and returns them, the longest due first. It is one statement: outside Atomic it
// commits at once; inside, the messages stay held until the transaction ends.
// On PostgreSQL concurrent claims pass over each other's rows (SKIP LOCKED); on
// SQLite the one writer runs them one after the other. Either way no message is
// handed to two claims whose leases overlap.
func (db *DB) ClaimMessages(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*twostep.OutboxMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	// status = 'pending' is spelled out, not bound, so that the partial index
	// outbox_due serves it.
	cs, err := writeList(ctx, db, func(s scanner) (*claimed, error) {
		var c claimed
		var err error
		c.m, err = scanMessageAfter(s, &c.seq)
		return &c, err
	}, "claim messages", `UPDATE outbox SET lease_until = ?, attempts = attempts + 1
		WHERE seq IN (SELECT seq FROM outbox
			WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY next_attempt_at, created_at, seq LIMIT ?`+db.d.skipLocked+`)
		RETURNING seq, `+outboxCols,
		us(leaseUntil), usDue(now), usDue(now), limit)
	if err != nil {
		return nil, err
	}
	// RETURNING comes in no promised order.
	slices.SortFunc(cs, func(a, b *claimed) int {
		return cmp.Or(a.m.NextAttemptAt.Compare(b.m.NextAttemptAt), a.m.CreatedAt.Compare(b.m.CreatedAt),
			cmp.Compare(a.seq, b.seq))
	})
	ms := make([]*twostep.OutboxMessage, len(cs))
	for i, c := range cs {
		ms[i] = c.m
	}
	return ms, nil
}

// FinishMessage records the outcome of an attempt: it writes Status,
// NextAttemptAt, Error, Permanent, ProviderID and SentAt, clears the lease and,
// once the message is sent or failed, the payload (the code it may hold must not
// stay at rest); it clears them in m too. ErrNotFound if m does not exist.
func (db *DB) FinishMessage(ctx context.Context, m *twostep.OutboxMessage) error {
	wipe := ""
	switch m.Status {
	case twostep.MessagePending:
	case twostep.MessageSent, twostep.MessageFailed:
		wipe = ", payload = NULL"
	default:
		return fmt.Errorf("store: finish message: unknown status %q", m.Status)
	}
	done, err := db.execDid(ctx, "finish message", `UPDATE outbox SET status = ?, next_attempt_at = ?, error = ?,
		permanent = ?, provider_id = ?, sent_at = ?, lease_until = NULL`+wipe+` WHERE id = ? AND attempts = ?`,
		m.Status, usDue(m.NextAttemptAt), m.Error, m.Permanent, m.ProviderID, us(m.SentAt), m.ID, m.Attempts)
	if err != nil {
		return err
	}
	if !done {
		var one int
		err := db.writeRow(ctx, `SELECT 1 FROM outbox WHERE id = ?`, m.ID).Scan(&one)
		if err == nil {
			return fmt.Errorf("store: finish message: claimed again since: %w", twostep.ErrConflict)
		}
		return wrap(err, "finish message")
	}
	m.LeaseUntil = time.Time{}
	if wipe != "" {
		m.Payload = nil
	}
	return nil
}

// LastMessage returns the newest (last created) message of a challenge on
// channel ("" for any); ErrNotFound if none.
func (db *DB) LastMessage(ctx context.Context, challengeID, channel string) (*twostep.OutboxMessage, error) {
	if channel == "" {
		return one(db.row(ctx, `SELECT `+outboxCols+` FROM outbox WHERE challenge_id = ?
			ORDER BY created_at DESC, seq DESC LIMIT 1`, challengeID), scanMessage, "last message")
	}
	return one(db.row(ctx, `SELECT `+outboxCols+` FROM outbox WHERE challenge_id = ? AND channel = ?
		ORDER BY created_at DESC, seq DESC LIMIT 1`, challengeID, channel), scanMessage, "last message")
}

// LastMessageTo returns the newest (last created) message on channel to the
// address to; ErrNotFound if none.
func (db *DB) LastMessageTo(ctx context.Context, channel, to string) (*twostep.OutboxMessage, error) {
	return one(db.row(ctx, `SELECT `+outboxCols+` FROM outbox WHERE to_addr = ? AND channel = ?
		ORDER BY created_at DESC, seq DESC LIMIT 1`, to, channel), scanMessage, "last message to")
}

// MessageByProvider returns the message the provider took under providerID
// (outbox_provider serves it); ErrNotFound if none.
func (db *DB) MessageByProvider(ctx context.Context, providerID string) (*twostep.OutboxMessage, error) {
	if providerID == "" {
		return nil, fmt.Errorf("store: message by provider: %w", twostep.ErrNotFound)
	}
	return one(db.row(ctx, `SELECT `+outboxCols+` FROM outbox WHERE provider_id = ? ORDER BY seq DESC LIMIT 1`,
		providerID), scanMessage, "message by provider")
}

// PendingMessages counts messages not yet sent nor given up, leased or not.
func (db *DB) PendingMessages(ctx context.Context) (int, error) {
	var n int
	err := db.row(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&n)
	return n, wrap(err, "pending messages")
}

// Dev messages.

const devMessageCols = `id, channel, recipient, subject, body, at`

func scanDevMessage(s scanner) (*twostep.DevMessage, error) {
	var m twostep.DevMessage
	err := s.Scan(&m.ID, &m.Channel, &m.To, &m.Subject, &m.Text, tm{&m.At})
	return &m, err
}

// AddDevMessage keeps m; ErrConflict if its id is taken.
func (db *DB) AddDevMessage(ctx context.Context, m *twostep.DevMessage) error {
	_, err := db.exec(ctx, `INSERT INTO dev_messages (`+devMessageCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		m.ID, m.Channel, m.To, m.Subject, m.Text, us(m.At))
	return wrap(err, "add dev message")
}

// DevMessages lists kept messages, newest (last added) first: at most limit of
// them, or all if limit is 0 or less.
func (db *DB) DevMessages(ctx context.Context, limit int) ([]*twostep.DevMessage, error) {
	q := `SELECT ` + devMessageCols + ` FROM dev_messages ORDER BY seq DESC`
	var args []any
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return list(ctx, db, scanDevMessage, "dev messages", q, args...)
}

// Key rotation.

// SealedFactors returns up to limit factors holding a sealed secret, by id,
// after the id after.
func (db *DB) SealedFactors(ctx context.Context, after string, limit int) ([]*twostep.Factor, error) {
	return list(ctx, db, scanFactor, "sealed factors", `SELECT `+factorCols+` FROM factors
		WHERE secret IS NOT NULL AND id > ? ORDER BY id LIMIT ?`, after, limit)
}

// ResealFactor replaces a factor's sealed secret if it is still old, and
// reports whether it did.
func (db *DB) ResealFactor(ctx context.Context, id string, old, sealed []byte) (bool, error) {
	return db.execDid(ctx, "reseal factor", `UPDATE factors SET secret = ? WHERE id = ? AND secret = ?`, sealed, id, old)
}

// SealedMessages returns up to limit pending messages, by id, after the id after.
func (db *DB) SealedMessages(ctx context.Context, after string, limit int) ([]*twostep.OutboxMessage, error) {
	return list(ctx, db, scanMessage, "sealed messages", `SELECT `+outboxCols+` FROM outbox
		WHERE status = 'pending' AND payload IS NOT NULL AND id > ? ORDER BY id LIMIT ?`, after, limit)
}

// ResealMessage replaces a message's sealed payload if it is still old, and
// reports whether it did.
func (db *DB) ResealMessage(ctx context.Context, id string, old, sealed []byte) (bool, error) {
	return db.execDid(ctx, "reseal message", `UPDATE outbox SET payload = ? WHERE id = ? AND payload = ?`, sealed, id, old)
}
