package notify_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

// held is a transport whose delivery waits until released, whatever its
// context says, as an SMTP server that has the message but has not answered.
type held struct {
	started chan struct{}
	release chan struct{}
}

func (h held) Deliver(ctx context.Context, _ notify.Rendered) (string, error) {
	h.started <- struct{}{}
	select {
	case <-h.release:
		return "provider-1", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// TestRunDrains: when Run's context ends during a delivery, the delivery is
// not cut off; Run returns once it has ended and its outcome is recorded, so
// the caller may close the store (issue 11, item 8).
func TestRunDrains(t *testing.T) {
	db := storetest.SQLite(t)
	sealer := twosteptest.NewSealer(t)
	tr := held{started: make(chan struct{}, 1), release: make(chan struct{})}
	w := notify.NewWorker(notify.WorkerOptions{Store: db, Sealer: sealer, Texts: loadTexts(t),
		Transports: map[string]notify.Transport{"email": tr}, Drain: 5 * time.Second})
	enqueue(t, db, sealer, "msg_a", "code_sign_in", codeData("493817"), time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	<-tr.started
	cancel()
	time.Sleep(100 * time.Millisecond) // shutting down, the delivery in flight
	close(tr.release)
	wg.Wait()
	if m := message(t, db, "msg_a"); m.Status != twostep.MessageSent || m.ProviderID != "provider-1" {
		t.Errorf("after Run returned: status %q, provider id %q; want sent by provider-1", m.Status, m.ProviderID)
	}
}

// TestRunDrainEnds: a delivery that outlasts the drain period is cancelled,
// and its outcome (a failure, to retry) is still recorded before Run returns.
func TestRunDrainEnds(t *testing.T) {
	db := storetest.SQLite(t)
	sealer := twosteptest.NewSealer(t)
	tr := held{started: make(chan struct{}, 1), release: make(chan struct{})}
	w := notify.NewWorker(notify.WorkerOptions{Store: db, Sealer: sealer, Texts: loadTexts(t),
		Transports: map[string]notify.Transport{"email": tr}, Drain: 200 * time.Millisecond})
	enqueue(t, db, sealer, "msg_a", "code_sign_in", codeData("493817"), time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	<-tr.started
	cancel()
	wg.Wait()
	if m := message(t, db, "msg_a"); m.Status != twostep.MessagePending || m.Attempts != 1 || m.NextAttemptAt.IsZero() {
		t.Errorf("after the drain: status %q, attempts %d, next attempt %v; want pending with a retry", m.Status, m.Attempts, m.NextAttemptAt)
	}
}
