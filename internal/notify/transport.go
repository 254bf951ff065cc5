package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Transport hands a rendered message to whatever carries it. Deliver returns
// the provider's id for the message when it took it. Its error is temporary
// unless marked with Permanent; either way it must not contain the message's
// text, code or link, since the worker logs and stores it.
type Transport interface {
	Deliver(ctx context.Context, m Rendered) (providerID string, err error)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that retrying cannot fix, such as a
// recipient the server says does not exist. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked by Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type operatorError struct{ err error }

func (e *operatorError) Error() string { return e.err.Error() }
func (e *operatorError) Unwrap() error { return e.err }

// Operator marks err as a failure the operator must fix, such as credentials
// the provider refuses; the worker logs it as an error whether or not it is
// also Permanent. Operator(nil) is nil.
func Operator(err error) error {
	if err == nil {
		return nil
	}
	return &operatorError{err}
}

// IsOperator reports whether err, or an error it wraps, was marked by Operator.
func IsOperator(err error) bool {
	var o *operatorError
	return errors.As(err, &o)
}

// DevOutbox is the dev-mode Transport for every channel: it keeps each message
// in the store, to be read at /dev/outbox, and sends nothing. An SMS or a call
// is kept with an empty Subject and its text (the SMS, or the call's script)
// in Text.
type DevOutbox struct {
	store twostep.DevOutbox
	clock func() time.Time
	rand  io.Reader
}

// NewDevOutbox returns a DevOutbox keeping messages in store, dated by clock,
// with ids drawn from rand.
func NewDevOutbox(store twostep.DevOutbox, clock func() time.Time, rand io.Reader) *DevOutbox {
	return &DevOutbox{store: store, clock: clock, rand: rand}
}

// Deliver keeps m and returns the id it is kept under.
func (o *DevOutbox) Deliver(ctx context.Context, m Rendered) (string, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(o.rand, b); err != nil {
		return "", fmt.Errorf("notify: %w", err)
	}
	id := fmt.Sprintf("dev_%x", b)
	err := o.store.AddDevMessage(ctx, &twostep.DevMessage{ID: id, Channel: m.Channel, To: m.To,
		Subject: m.Subject, Text: m.Text, At: o.clock().UTC()})
	if err != nil {
		return "", fmt.Errorf("notify: keep dev message: %w", err)
	}
	return id, nil
}
