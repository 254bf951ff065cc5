package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twostep/twostep/internal/twostep"
)

// A second step on PostgreSQL in two round trips. Inside Atomic,
// ChallengeWithAccount reads in one pipeline, together with BEGIN, everything
// the second step goes on to read, and locks what it goes on to write: the
// account's second-step throttle (FOR UPDATE, created if need be, as
// LockThrottle does), then the challenge and the account's factors (FOR NO KEY
// UPDATE, what an UPDATE takes), in the order the second step took them before
// (throttle, challenge, factor), so that it waits for the same transactions as
// before and deadlocks with none. Then the organisation and the unused
// recovery codes.
//
// The rows a transaction has locked cannot change but through it, so the
// store answers the second step's later calls on them from what it read:
// LockThrottle of that key, CountChallengeAttempt and ConsumeChallenge of that
// challenge, UseTOTPStep of those factors answer at once, and queue their
// writes (pgTx.later) to go with COMMIT, each required to change its one row.
// The unlocked reads (organisation, factor list, recovery codes) are handed out
// once, until the transaction writes what they show. Any other statement in
// the transaction drops all of it, and every call goes to the database as
// before. The decisions stay the domain's: it calls the same Store methods in
// the same order and gets the answers they would have given.

// signInRows are the rows of one sign-in that a transaction read and locked.
type signInRows struct {
	challenge twostep.Challenge // locked
	throttle  twostep.Throttle  // locked
	lastStep  map[string]int64  // last_totp_step of each factor of the account, locked
	// Handed out once each, nil after.
	org       *twostep.Org
	factors   []*twostep.Factor
	codes     []*twostep.RecoveryCode
	hasFactor bool // factors holds the account's list (which may be empty)
	hasCodes  bool
}

// readSignIn is ChallengeWithAccount in a PostgreSQL transaction: see above.
func (t *pgTx) readSignIn(ctx context.Context, tokenHash []byte) (*twostep.Challenge, *twostep.Account, error) {
	t.signIn = nil
	prefix := twostep.AccountThrottlePrefix
	var (
		r        = &signInRows{lastStep: map[string]int64{}, hasFactor: true, hasCodes: true}
		ch       *twostep.Challenge
		acct     *twostep.Account
		throttle *twostep.Throttle
	)
	stmt := func(op, q string, read func(pgx.Rows) error, args ...any) pgStmt {
		return pgStmt{op: op, sql: t.d.bind(q), args: args, read: func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return wrap(err, op)
			}
			defer rows.Close()
			for rows.Next() {
				if err := read(rows); err != nil {
					return wrap(err, op)
				}
			}
			return wrap(rows.Err(), op)
		}}
	}
	err := t.run(ctx,
		pgStmt{op: "lock throttle", sql: t.d.bind(`INSERT INTO throttles (key)
			SELECT CAST(? AS text) || account_id FROM challenges WHERE token_hash = ? AND account_id IS NOT NULL
			ON CONFLICT (key) DO NOTHING`), args: []any{prefix, tokenHash}},
		stmt("lock throttle", `SELECT `+throttleCols+` FROM throttles
			WHERE key = (SELECT CAST(? AS text) || account_id FROM challenges WHERE token_hash = ?) FOR UPDATE`,
			func(s pgx.Rows) (err error) { throttle, err = scanThrottle(s); return err }, prefix, tokenHash),
		stmt("challenge with account", `SELECT `+challengeAccountCols+` FROM challenges c
			JOIN accounts a ON a.id = c.account_id WHERE c.token_hash = ? FOR NO KEY UPDATE OF c`,
			func(s pgx.Rows) (err error) { ch, acct, err = scanBoth(s, scanChallenge, scanAccount); return err }, tokenHash),
		stmt("factors", `SELECT `+factorCols+` FROM factors
			WHERE account_id = (SELECT account_id FROM challenges WHERE token_hash = ?)
			ORDER BY created_at, seq FOR NO KEY UPDATE`,
			func(s pgx.Rows) error {
				f, err := scanFactor(s)
				if err == nil {
					r.factors = append(r.factors, f)
					r.lastStep[f.ID] = f.LastTOTPStep
				}
				return err
			}, tokenHash),
		stmt("org", orgSelect+` WHERE id = (SELECT a.org_id FROM challenges c
			JOIN accounts a ON a.id = c.account_id WHERE c.token_hash = ?)`,
			func(s pgx.Rows) (err error) { r.org, err = scanOrgWithSSO(s); return err }, tokenHash),
		stmt("recovery codes", `SELECT `+recoveryCols+` FROM recovery_codes
			WHERE account_id = (SELECT account_id FROM challenges WHERE token_hash = ?) AND used_at IS NULL
			ORDER BY created_at, id`,
			func(s pgx.Rows) error {
				c, err := scanRecoveryCode(s)
				r.codes = append(r.codes, c)
				return err
			}, tokenHash),
	)
	if err != nil {
		return nil, nil, err
	}
	if ch == nil {
		return nil, nil, fmt.Errorf("store: challenge with account: %w", twostep.ErrNotFound)
	}
	if throttle == nil || r.org == nil || r.org.ID != acct.OrgID {
		// Cannot be while the challenge is locked; without them, nothing is answered here.
		return ch, acct, nil
	}
	r.challenge, r.throttle = *ch, *throttle
	r.challenge.AMR = slices.Clone(ch.AMR)
	t.signIn = r
	return ch, acct, nil
}

// rows returns the sign-in's rows, or nil outside such a transaction.
func (t *pgTx) rows() *signInRows {
	if t == nil {
		return nil
	}
	return t.signIn
}

// takeOrg hands out the organisation read with the sign-in, once.
func (t *pgTx) takeOrg(id string) *twostep.Org {
	r := t.rows()
	if r == nil || r.org == nil || r.org.ID != id {
		return nil
	}
	o := r.org
	r.org = nil
	return o
}

// takeFactors hands out the account's factors read with the sign-in, once.
func (t *pgTx) takeFactors(accountID string) ([]*twostep.Factor, bool) {
	r := t.rows()
	if r == nil || !r.hasFactor || r.challenge.AccountID != accountID {
		return nil, false
	}
	fs := r.factors
	r.factors, r.hasFactor = nil, false
	return fs, true
}

// takeCodes hands out the account's unused recovery codes read with the sign-in, once.
func (t *pgTx) takeCodes(accountID string) ([]*twostep.RecoveryCode, bool) {
	r := t.rows()
	if r == nil || !r.hasCodes || r.challenge.AccountID != accountID {
		return nil, false
	}
	cs := r.codes
	r.codes, r.hasCodes = nil, false
	return cs, true
}

// lockedThrottle returns the throttle under key when the sign-in locked it.
func (t *pgTx) lockedThrottle(key string) (twostep.Throttle, bool) {
	r := t.rows()
	if r == nil || r.throttle.Key != key {
		return twostep.Throttle{}, false
	}
	return r.throttle, true
}

// putThrottle queues PutThrottle's write, keeping the locked copy current.
func (t *pgTx) putThrottle(th twostep.Throttle) {
	if r := t.rows(); r != nil && r.throttle.Key == th.Key {
		r.throttle = th
	}
	t.later("put throttle", 1, putThrottleSQL,
		th.Key, th.Failures, us(th.HourStart), th.HourFailures, us(th.LockedUntil))
}

// countAttempt is CountChallengeAttempt on the locked challenge; ok is false
// for another challenge.
func (t *pgTx) countAttempt(id string) (c *twostep.Challenge, ok bool, err error) {
	r := t.rows()
	if r == nil || r.challenge.ID != id {
		return nil, false, nil
	}
	if !r.challenge.ConsumedAt.IsZero() {
		return nil, true, fmt.Errorf("store: count challenge attempt: %w", twostep.ErrNotFound)
	}
	t.later("count challenge attempt", 1, countAttemptSQL, id)
	r.challenge.Attempts++
	c = new(twostep.Challenge)
	*c = r.challenge
	c.AMR = slices.Clone(r.challenge.AMR)
	return c, true, nil
}

// consume is ConsumeChallenge on the locked challenge; ok is false for another.
func (t *pgTx) consume(id string, at time.Time) (did, ok bool) {
	r := t.rows()
	if r == nil || r.challenge.ID != id {
		return false, false
	}
	if !r.challenge.ConsumedAt.IsZero() {
		return false, true
	}
	t.later("consume challenge", 1, consumeSQL, us(at), id)
	r.challenge.ConsumedAt = at
	return true, true
}

// useStep is UseTOTPStep on a locked factor; ok is false for another.
func (t *pgTx) useStep(factorID string, step int64, at time.Time) (did, ok bool) {
	r := t.rows()
	if r == nil {
		return false, false
	}
	last, ok := r.lastStep[factorID]
	if !ok {
		return false, false
	}
	if last >= step {
		return false, true
	}
	t.later("use totp step", 1, useStepSQL, step, us(at), factorID, step)
	r.lastStep[factorID] = step
	r.factors, r.hasFactor = nil, false // the list no longer shows the factor as it is
	return true, true
}

// updateFactor queues UpdateFactor of a locked factor; ok is false for another.
func (t *pgTx) updateFactor(f *twostep.Factor, args []any) bool {
	r := t.rows()
	if r == nil {
		return false
	}
	if _, ok := r.lastStep[f.ID]; !ok {
		return false
	}
	t.later("update factor", 1, updateFactorSQL, args...)
	r.factors, r.hasFactor = nil, false
	return true
}
