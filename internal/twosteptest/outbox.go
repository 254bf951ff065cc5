package twosteptest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Outbox is the part of the store a drain uses.
type Outbox interface {
	ClaimMessages(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*twostep.OutboxMessage, error)
	FinishMessage(ctx context.Context, m *twostep.OutboxMessage) error
}

// Drain does what the delivery worker does with every message due at now:
// claims it, opens its sealed data and records an outcome, sent at now unless
// deliver (if not nil) changes m's Status, SentAt, Permanent, Error or
// ProviderID. It returns the messages with their data (codes and links
// included), in the order claimed; a message that cannot be opened fails t.
// Drain does not wait for the service's background work: call Service.Wait
// first where a request queues a message after answering.
func Drain(t testing.TB, db Outbox, sealer *twostep.Sealer, now time.Time, deliver func(m *twostep.OutboxMessage, data map[string]string)) []twostep.Message {
	t.Helper()
	ctx := context.Background()
	// One claim: a message deliver leaves due again is not taken twice.
	claimed, err := db.ClaimMessages(ctx, now, now.Add(time.Minute), 1000)
	if err != nil {
		t.Fatalf("claim messages: %v", err)
	}
	var out []twostep.Message
	for _, m := range claimed {
		raw, err := sealer.Open(m.Payload, []byte(m.ID))
		if err != nil {
			t.Fatalf("message %s: %v", m.ID, err)
		}
		var data map[string]string
		if err := json.Unmarshal(raw, &data); err != nil {
			t.Fatalf("message %s: %v", m.ID, err)
		}
		out = append(out, twostep.Message{Channel: m.Channel, To: m.To, Locale: m.Locale, Template: m.Template, Data: data})
		m.Status, m.SentAt = twostep.MessageSent, now
		if deliver != nil {
			deliver(m, data)
		}
		if err := db.FinishMessage(ctx, m); err != nil {
			t.Fatalf("finish message %s: %v", m.ID, err)
		}
	}
	return out
}
