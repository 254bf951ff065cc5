package store

import (
	"context"

	"github.com/twostep/twostep/internal/twostep"
)

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
