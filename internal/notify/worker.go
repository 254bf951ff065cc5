package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// WorkerOptions configure a Worker. Store, Sealer, Texts and Transports are
// required.
type WorkerOptions struct {
	// Store is the outbox the worker claims messages from and records their
	// outcomes in: only that, not the whole twostep.Store.
	Store twostep.DeliveryQueue
	// Stale is asked before each delivery whether the code a message carries
	// can still be used (main gives twostep.StaleCode over the store): a
	// message it gives a reason for is dropped, not delivered. It is a
	// function rather than more of Store because it is the domain's rule
	// about challenges, not the outbox's. Nil delivers every message until
	// its own expiry.
	Stale  func(ctx context.Context, m *twostep.OutboxMessage, now time.Time) (reason string, err error)
	Sealer *twostep.Sealer
	Texts  *Texts
	// Transports by channel: "email", "sms", "voice".
	Transports map[string]Transport
	Logger     *slog.Logger     // default: discard
	Clock      func() time.Time // default: time.Now
	// Lease is how long a claimed message is held before another worker may
	// take it; it should exceed a transport's timeout. Default 30s.
	Lease time.Duration
	// Poll is how often Run looks for due messages when not woken. Default 1s.
	Poll time.Duration
	// Batch is how many messages one pass claims, and delivers at once. Default 16.
	Batch int
	// Drain is how long deliveries in flight may go on once Run's context has
	// ended, before they are cancelled. Default 10s.
	Drain time.Duration
	// Metrics, if set, counts deliveries.
	Metrics Metrics
}

// Metrics counts deliveries by channel; labels are channel names and fixed
// words only.
type Metrics interface {
	// Delivered records a message sent, latency after it was queued.
	Delivered(channel string, latency time.Duration)
	// DeliveryFailed records a failed attempt; final says the message was given up.
	DeliveryFailed(channel string, final bool)
}

// Worker delivers the outbox: it claims due messages, words them and hands them
// to the transport of their channel, retrying temporary failures with backoff
// until the message expires. Any number of workers, in any number of
// processes, may share a store.
type Worker struct {
	store      twostep.DeliveryQueue
	stale      func(context.Context, *twostep.OutboxMessage, time.Time) (string, error)
	sealer     *twostep.Sealer
	texts      *Texts
	transports map[string]Transport
	log        *slog.Logger
	clock      func() time.Time
	lease      time.Duration
	poll       time.Duration
	batch      int
	drain      time.Duration
	wake       chan struct{}
	metrics    Metrics
}

// NewWorker returns a Worker; it does nothing until Run or DeliverDue.
func NewWorker(o WorkerOptions) *Worker {
	w := &Worker{store: o.Store, stale: o.Stale, sealer: o.Sealer, texts: o.Texts, transports: o.Transports, log: o.Logger,
		clock: o.Clock, lease: o.Lease, poll: o.Poll, batch: o.Batch, drain: o.Drain, wake: make(chan struct{}, 1), metrics: o.Metrics}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.clock == nil {
		w.clock = time.Now
	}
	if w.lease <= 0 {
		w.lease = 30 * time.Second
	}
	if w.poll <= 0 {
		w.poll = time.Second
	}
	if w.batch <= 0 {
		w.batch = 16
	}
	if w.drain <= 0 {
		w.drain = 10 * time.Second
	}
	return w
}

// Wake makes Run look for messages now rather than at its next poll. It never
// blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers due messages until ctx ends. Store errors are logged and the
// next poll tries again.
//
// Once ctx ends Run claims nothing more, and returns only when the deliveries
// in flight have ended and their outcomes are recorded. Those deliveries are
// not cut off with ctx: they get Drain more before they are cancelled. A
// delivery cut off after the provider took the message, or whose outcome is
// never recorded, is sent again later: a code arrives twice.
func (w *Worker) Run(ctx context.Context) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		select {
		case <-done:
		case <-time.After(w.drain):
			w.log.Warn("notify: deliveries still in flight after the drain period; cancelling them", "drain", w.drain)
			cancel()
		}
	}()
	for ctx.Err() == nil {
		n, err := w.DeliverDue(dctx)
		if err != nil && ctx.Err() == nil {
			w.log.Error("notify: delivery pass failed", "err", err)
		}
		if err == nil && n == w.batch {
			continue // a full batch: more may be due
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-time.After(w.poll):
		}
	}
}

// DeliverDue claims the messages due now (at most Batch), delivers them at the
// same time, records each outcome, and returns how many it handled. Its error
// is about the store; delivery failures are recorded on the messages.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	now := w.clock()
	leaseUntil := now.Add(w.lease)
	msgs, err := w.store.ClaimMessages(ctx, now, leaseUntil, w.batch)
	if err != nil {
		return 0, fmt.Errorf("notify: claim messages: %w", err)
	}
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Go(func() { errs[i] = w.handle(ctx, m, leaseUntil) })
	}
	wg.Wait()
	return len(msgs), errors.Join(errs...)
}

var errExpired = errors.New("notify: expired before it could be delivered")

// handle delivers one message claimed until leaseUntil and records the outcome.
func (w *Worker) handle(ctx context.Context, m *twostep.OutboxMessage, leaseUntil time.Time) error {
	var providerID string
	err := errExpired
	if now := w.clock(); now.Before(m.ExpiresAt) {
		if w.stale != nil {
			stale, serr := w.stale(ctx, m, now)
			if serr != nil {
				return fmt.Errorf("notify: message %s: %w", m.ID, serr) // the lease runs out and it is tried again
			}
			if stale != "" {
				return w.drop(ctx, m, stale)
			}
		}
		// A delivery must not outlive the lease, or another worker could send
		// the same message again.
		dctx, cancel := context.WithTimeout(ctx, leaseUntil.Sub(now))
		providerID, err = w.deliver(dctx, m)
		cancel()
	}
	now := w.clock()
	// Each outcome sets its own fields; those of an earlier attempt go.
	m.NextAttemptAt, m.Error, m.Permanent, m.ProviderID, m.SentAt = time.Time{}, "", false, "", time.Time{}
	log := w.log.With("id", m.ID, "channel", m.Channel, "template", m.Template, "attempt", m.Attempts)
	wait := backoff(m.Attempts)
	if IsOperator(err) {
		// Retrying every few seconds only hammers a server that will refuse
		// until the operator acts (and, with TLS or AUTH, holds one of its
		// sessions each time).
		wait = operatorBackoff(m.Attempts)
	}
	switch retryAt := now.Add(wait); {
	case err == nil:
		m.Status, m.SentAt, m.ProviderID = twostep.MessageSent, now, providerID
		log.Debug("notify: message sent", "provider_id", providerID)
		if w.metrics != nil {
			w.metrics.Delivered(m.Channel, now.Sub(m.CreatedAt))
		}
	case IsPermanent(err):
		m.Status, m.Permanent, m.Error = twostep.MessageFailed, true, err.Error()
		log.Error("notify: message refused, not retrying", "err", err)
	case retryAt.Before(m.ExpiresAt):
		m.Status, m.NextAttemptAt, m.Error = twostep.MessagePending, retryAt, err.Error()
		if IsOperator(err) {
			log.Error("notify: delivery failed, the operator must act; will retry", "err", err, "retry_at", retryAt)
		} else {
			log.Warn("notify: delivery failed, will retry", "err", err, "retry_at", retryAt)
		}
	default:
		m.Status, m.Error = twostep.MessageFailed, err.Error()
		log.Error("notify: delivery failed, message expired", "err", err)
	}
	if err != nil && w.metrics != nil {
		w.metrics.DeliveryFailed(m.Channel, m.Status == twostep.MessageFailed)
	}
	return w.finish(ctx, m, log)
}

// drop gives up m without delivering it: its code can no longer be used. It is
// no delivery failure (no metric, no delivery_failed for the sign-in).
func (w *Worker) drop(ctx context.Context, m *twostep.OutboxMessage, why string) error {
	m.Status, m.NextAttemptAt, m.Error, m.Permanent = twostep.MessageFailed, time.Time{}, "dropped: "+why, false
	log := w.log.With("id", m.ID, "channel", m.Channel, "template", m.Template, "attempt", m.Attempts)
	log.Info("notify: code dropped, not delivered", "reason", why)
	return w.finish(ctx, m, log)
}

// finish records the outcome set in m.
func (w *Worker) finish(ctx context.Context, m *twostep.OutboxMessage, log *slog.Logger) error {
	// The outcome must be recorded even when ctx ends (shutdown): otherwise a
	// sent message would be sent again once its lease runs out.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.store.FinishMessage(fctx, m); errors.Is(err, twostep.ErrConflict) {
		// This delivery outlived its lease and another worker took the message
		// over: its outcome is the one that counts.
		log.Warn("notify: lease ran out before the outcome was recorded; another worker has the message")
		return nil
	} else if err != nil {
		return fmt.Errorf("notify: finish message %s: %w", m.ID, err)
	}
	return nil
}

// deliver opens, words and hands over m. What cannot get better by retrying —
// no transport for the channel, a payload that does not open, a template that
// does not render — is Permanent.
func (w *Worker) deliver(ctx context.Context, m *twostep.OutboxMessage) (string, error) {
	t, ok := w.transports[m.Channel]
	if !ok {
		return "", Permanent(fmt.Errorf("notify: no transport for channel %q", m.Channel))
	}
	plain, err := w.sealer.Open(m.Payload, []byte(m.ID))
	if err != nil {
		return "", Permanent(fmt.Errorf("notify: payload: %w", err))
	}
	var data map[string]string
	if err := json.Unmarshal(plain, &data); err != nil {
		// json's error may quote the payload, which may hold a code: not wrapped.
		return "", Permanent(errors.New("notify: payload is not a JSON object of strings"))
	}
	var r Rendered
	if m.Channel == twostep.ChannelBackchannel {
		r = backchannelMessage(m, data)
	} else if r, err = w.texts.Render(twostep.Message{Channel: m.Channel, To: m.To, Locale: m.Locale, Template: m.Template, Data: data}); err != nil {
		return "", Permanent(err)
	}
	// What a phone transport needs to hold a code no longer than it lives, and
	// to check, on a retry, whether the provider took an earlier attempt.
	r.ValidFor, r.QueuedAt, r.Attempt = m.ExpiresAt.Sub(w.clock()), m.CreatedAt, m.Attempts
	return t.Deliver(ctx, r)
}

// operatorBackoff is the wait after a failed attempt that only the operator
// can fix (a certificate, credentials): 30 s, 1 min, 2 min, … at most an hour.
func operatorBackoff(attempt int) time.Duration {
	return min(backoff(attempt)*15, time.Hour)
}

// backoff is the wait after the given failed attempt: 2s, 4s, 8s, … (API.md §4),
// at most an hour so that long-lived notices are still tried regularly.
func backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 12 {
		return time.Hour
	}
	return min(2*time.Second<<(attempt-1), time.Hour)
}
