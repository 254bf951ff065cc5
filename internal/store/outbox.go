package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

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
