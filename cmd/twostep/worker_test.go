package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestWorkerDropsStaleCodes: the worker serve runs is handed the domain's
// staleness rule along with its two-method outbox port: a code whose sign-in
// is over is dropped, not delivered (OOB-06). The worker takes the rule as an
// option that may be nil, so only main's wiring keeps it (issue 13, item 2).
func TestWorkerDropsStaleCodes(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	line, err := twostep.NewKeyLine("k1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := twostep.ParseKeys([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := twostep.NewSealer(keys, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := notify.LoadTexts()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ch := &twostep.Challenge{ID: "ch_used", TokenHash: []byte("token"), Purpose: twostep.PurposeSignIn,
		Method: twostep.MethodEmail, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute), ConsumedAt: now}
	if err := db.CreateChallenge(ctx, ch); err != nil {
		t.Fatal(err)
	}
	payload, err := sealer.Seal([]byte(`{"code":"123456","minutes":"10","issuer":"Twostep","email":"joe@example.com"}`), []byte("msg_used"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.EnqueueMessage(ctx, &twostep.OutboxMessage{ID: "msg_used", ChallengeID: ch.ID, Channel: "email",
		To: "joe@example.com", Locale: "en", Template: "code_sign_in", Payload: payload,
		Status: twostep.MessagePending, NextAttemptAt: now, ExpiresAt: now.Add(10 * time.Minute), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	dev := notify.NewDevOutbox(db, time.Now, rand.Reader)
	w := newWorker(db, sealer, texts, map[string]notify.Transport{"email": dev}, slog.New(slog.DiscardHandler), nil)
	if n, err := w.DeliverDue(ctx); err != nil || n != 1 {
		t.Fatalf("DeliverDue = %d, %v; want 1", n, err)
	}
	m, err := db.LastMessage(ctx, ch.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := "dropped: its sign-in or confirmation is over"; m.Status != twostep.MessageFailed || m.Error != want {
		t.Errorf("message: %s, %q; want failed, %q", m.Status, m.Error, want)
	}
	if kept, err := db.DevMessages(ctx, 0); err != nil || len(kept) != 0 {
		t.Errorf("delivered: %v, %v; want nothing", kept, err)
	}
}
