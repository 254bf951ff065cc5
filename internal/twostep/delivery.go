package twostep

import (
	"context"
	"errors"
	"time"
)

// What becomes of a message after it is queued: a code nobody can use any more
// is dropped rather than delivered late, and a provider's word that a message
// it had taken never arrived fails it as a refusal would have.

// StaleCode reports why the code m carries can no longer be used, or "" when
// it still can (or m carries no code): its challenge was used (the sign-in or
// confirmation is over), has expired, or a newer code replaced this one
// (OOB-06: only the newest code of a challenge counts). After a provider
// outage, such codes would otherwise arrive by the dozen, each one useless. A
// challenge already removed leaves m to its own expiry. Its error is the
// store's.
func StaleCode(ctx context.Context, st Store, m *OutboxMessage, now time.Time) (string, error) {
	if m.ChallengeID == "" {
		return "", nil
	}
	c, err := st.Challenge(ctx, m.ChallengeID)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	switch {
	case !c.ConsumedAt.IsZero():
		return "its sign-in or confirmation is over", nil
	case !now.Before(c.ExpiresAt) || !c.CodeExpiresAt.IsZero() && !now.Before(c.CodeExpiresAt):
		return "its code has expired", nil
	}
	last, err := st.LastMessage(ctx, c.ID, "")
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	if err == nil && last.ID != m.ID {
		return "a newer code replaced it", nil
	}
	return "", nil
}

// DeliveryFailed records a provider's report, after it had taken the message
// with id providerID, that the message never reached its recipient (for
// Twilio, a status callback "failed" or "undelivered" with errors such as
// 30003–30008). The message becomes failed for good, as if the provider had
// refused it at once: a new send for the same sign-in then answers
// ErrDeliveryFailed. The audit trail and the metrics count it. reason is for
// the operator; it must hold no number or code. An unknown providerID, or a
// message already failed, changes nothing and is no error.
func (s *Service) DeliveryFailed(ctx context.Context, providerID, reason string) error {
	if providerID == "" {
		return invalid("provider_id", "is required")
	}
	var failed *OutboxMessage
	var acct *Account
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		failed, acct = nil, nil
		m, err := tx.MessageByProvider(ctx, providerID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if m.Status == MessageFailed {
			return nil
		}
		m.Status, m.Permanent, m.Error = MessageFailed, true, reason
		if err := tx.FinishMessage(ctx, m); err != nil {
			return err
		}
		if m.ChallengeID != "" {
			if c, err := tx.Challenge(ctx, m.ChallengeID); err == nil && c.AccountID != "" {
				if acct, err = tx.Account(ctx, c.AccountID); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			} else if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		failed = m
		return s.audit(ctx, tx, event{detail: &DeliveryFailed{Channel: m.Channel, Template: m.Template, Reason: reason}, account: acct})
	})
	if err != nil || failed == nil {
		return err
	}
	s.log.Warn("message failed after the provider took it", "id", failed.ID, "channel", failed.Channel,
		"template", failed.Template, "reason", reason)
	s.metrics.DeliveryFailed(failed.Channel, true)
	return nil
}
