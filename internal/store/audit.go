package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/twostep/twostep/internal/twostep"
)

// Event listing limits.
const (
	defaultEvents = 50
	maxEvents     = 200
)

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
	const q = `INSERT INTO audit_events (at, type, org_id, actor_id, account_id, ip, user_agent, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	args := []any{us(e.At), e.Type, e.OrgID, e.ActorID, e.AccountID, e.IP, e.UserAgent, detail}
	if db.pg != nil {
		// e.ID is set once the insert has gone, with the next statement or the commit.
		db.pg.laterRow("append event", []any{&e.ID}, q, args...)
		return nil
	}
	err := db.writeRow(ctx, q, args...).Scan(&e.ID)
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
