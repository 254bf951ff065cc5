package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

func testDevMessages(t *testing.T, db *store.DB) {
	ctx := t.Context()
	var msgs []*twostep.DevMessage
	for _, id := range []string{"m2", "m1", "m3"} { // ids out of order, times equal: newest is last added
		m := &twostep.DevMessage{ID: id, Channel: "email", To: "ann@example.com", Subject: "Code " + id, Text: "123456", At: t0}
		ok(t, db.AddDevMessage(ctx, m))
		msgs = append([]*twostep.DevMessage{m}, msgs...)
	}
	same(t, "DevMessages", msgs, get[[]*twostep.DevMessage](t)(db.DevMessages(ctx, 0)))
	same(t, "DevMessages(2)", msgs[:2], get[[]*twostep.DevMessage](t)(db.DevMessages(ctx, 2)))
	wantErr(t, "duplicate id", db.AddDevMessage(ctx, &twostep.DevMessage{ID: "m1", Channel: "sms", To: "x"}), twostep.ErrConflict)
}

// message returns a pending message for the outbox tests.
func message(id string, due time.Time) *twostep.OutboxMessage {
	return &twostep.OutboxMessage{ID: id, Channel: "email", To: "ann@example.com", Locale: "en", Template: "code",
		Payload: []byte("sealed " + id), ChallengeID: "ch-" + id, NextAttemptAt: due, CreatedAt: t0,
		ExpiresAt: t0.Add(24 * time.Hour)}
}

// lastMessage returns the newest message of challenge ch-id, as message names it.
func lastMessage(t testing.TB, db twostep.Store, id string) *twostep.OutboxMessage {
	t.Helper()
	return get[*twostep.OutboxMessage](t)(db.LastMessage(t.Context(), "ch-"+id, ""))
}

func ids(ms []*twostep.OutboxMessage) []string {
	var s []string
	for _, m := range ms {
		s = append(s, m.ID)
	}
	return s
}

func testOutbox(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	ch := newChallenge(t, db, "c1", acc.ID)
	m := &twostep.OutboxMessage{ID: "m1", Channel: "sms", To: "+33600000000", Locale: "fr", Template: "sign_in_code",
		Payload: []byte{0, 1, 2, 255}, ChallengeID: ch.ID, Attempts: 2, NextAttemptAt: t0.Add(time.Second),
		LeaseUntil: t0.Add(2 * time.Hour), ExpiresAt: t0.Add(10 * time.Minute), Error: "smtp: 451", Permanent: true,
		ProviderID: "prov-1", CreatedAt: t0, SentAt: t0.Add(2 * time.Second)}
	ok(t, db.EnqueueMessage(ctx, m))
	same(t, "Status set by EnqueueMessage", twostep.MessagePending, m.Status)
	same(t, "LastMessage", m, get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, ch.ID, "")))

	// The zero due time means at once, and stays zero; no challenge, no payload.
	bare := &twostep.OutboxMessage{ID: "m2", Channel: "email", To: "ann@example.com", Template: "welcome",
		Status: twostep.MessagePending}
	ok(t, db.EnqueueMessage(ctx, bare))
	same(t, "claimed bare message", []string{"m2"}, ids(get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, t0, t0.Add(time.Minute), 10))))
	bare.Attempts, bare.LeaseUntil = 1, t0.Add(time.Minute)
	claimed := get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, t0.Add(time.Minute), t0.Add(2*time.Minute), 10))
	bare.Attempts, bare.LeaseUntil = 2, t0.Add(2*time.Minute)
	same(t, "bare message claimed again", []*twostep.OutboxMessage{bare}, claimed)
	// The first worker's lease ran out and a second one claimed the message:
	// the first one's outcome must not overwrite the second one's.
	stale := *bare
	stale.Attempts, stale.Status, stale.Error, stale.NextAttemptAt = 1, twostep.MessagePending, "timeout", t0.Add(time.Hour)
	wantErr(t, "FinishMessage after the lease ran out", db.FinishMessage(ctx, &stale), twostep.ErrConflict)
	// Still pending, without the stale error, and claimable once the second lease ends.
	bare.Attempts, bare.LeaseUntil = 3, t0.Add(3*time.Minute)
	same(t, "message after a stale FinishMessage", []*twostep.OutboxMessage{bare},
		get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, t0.Add(2*time.Minute), t0.Add(3*time.Minute), 10)))

	wantErr(t, "duplicate id", db.EnqueueMessage(ctx, message("m1", t0)), twostep.ErrConflict)
	sent := message("m3", t0)
	sent.Status = twostep.MessageSent
	if err := db.EnqueueMessage(ctx, sent); err == nil {
		t.Error("EnqueueMessage of a sent message succeeded")
	}
	same(t, "PendingMessages", 2, get[int](t)(db.PendingMessages(ctx)))

	// The challenge goes, its message stays.
	ok(t, db.DeleteExpired(ctx, t0.Add(time.Hour)))
	_, err := db.Challenge(ctx, ch.ID)
	wantErr(t, "Challenge after DeleteExpired", err, twostep.ErrNotFound)
	same(t, "LastMessage after DeleteExpired", m, get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, ch.ID, "")))
	same(t, "PendingMessages after DeleteExpired", 2, get[int](t)(db.PendingMessages(ctx)))

	wantErr(t, "FinishMessage of a missing message", db.FinishMessage(ctx, &twostep.OutboxMessage{ID: "nope",
		Status: twostep.MessageSent}), twostep.ErrNotFound)
	if err := db.FinishMessage(ctx, &twostep.OutboxMessage{ID: "m1", Status: "lost"}); err == nil {
		t.Error("FinishMessage with an unknown status succeeded")
	}
	_, err = db.LastMessage(ctx, "nope", "")
	wantErr(t, "LastMessage of a challenge without messages", err, twostep.ErrNotFound)
	_, err = db.LastMessage(ctx, "", "")
	wantErr(t, "LastMessage of no challenge", err, twostep.ErrNotFound)
}

func testClaimMessages(t *testing.T, db *store.DB) {
	ctx := t.Context()
	now := t0.Add(time.Hour)
	claim := func(now, leaseUntil time.Time, limit int) []*twostep.OutboxMessage {
		t.Helper()
		return get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, now, leaseUntil, limit))
	}
	// Enqueued out of due order; b and c are due together and keep their insertion order.
	msgs := map[string]*twostep.OutboxMessage{}
	for _, m := range []*twostep.OutboxMessage{
		message("d", now), // due exactly now
		message("b", now.Add(-time.Minute)),
		message("e", now.Add(time.Second)), // not due yet
		message("c", now.Add(-time.Minute)),
		message("a", time.Time{}), // due at once
		message("sent", t0),
		message("failed", t0),
	} {
		ok(t, db.EnqueueMessage(ctx, m))
		msgs[m.ID] = m
	}
	for _, id := range []string{"sent", "failed"} {
		m := msgs[id]
		m.Status, m.SentAt, m.ProviderID = id, now, "p-"+id
		ok(t, db.FinishMessage(ctx, m))
	}
	same(t, "PendingMessages", 5, get[int](t)(db.PendingMessages(ctx)))

	lease := now.Add(time.Minute)
	got := claim(now, lease, 2)
	same(t, "first claim", []string{"a", "b"}, ids(got))
	for _, m := range got {
		want := *msgs[m.ID]
		want.Attempts, want.LeaseUntil = 1, lease
		same(t, "claimed "+m.ID, &want, m)
		same(t, "stored "+m.ID, &want, lastMessage(t, db, m.ID))
	}
	same(t, "second claim, passing over the leased", []string{"c", "d"}, ids(claim(now, lease, 10)))
	same(t, "third claim", []string(nil), ids(claim(now, lease, 10)))
	same(t, "claim of none", []string(nil), ids(claim(now.Add(time.Hour), lease, 0)))
	same(t, "PendingMessages counts leased messages", 5, get[int](t)(db.PendingMessages(ctx)))

	// A lease that ran out (its worker died) makes the message due again.
	lease2 := lease.Add(time.Minute)
	got = claim(lease, lease2, 10)
	same(t, "claim after the leases ran out", []string{"a", "b", "c", "d", "e"}, ids(got))
	for _, m := range got {
		want := 2
		if m.ID == "e" {
			want = 1
		}
		same(t, "attempts of "+m.ID, want, m.Attempts)
	}

	// a is sent, b retried later, c failed for good.
	a := lastMessage(t, db, "a")
	a.Status, a.SentAt, a.ProviderID, a.Error = twostep.MessageSent, lease, "prov-a", ""
	ok(t, db.FinishMessage(ctx, a))
	same(t, "payload left in a", []byte(nil), a.Payload)
	same(t, "lease left in a", time.Time{}, a.LeaseUntil)
	same(t, "sent a", a, lastMessage(t, db, "a"))

	b := lastMessage(t, db, "b")
	b.NextAttemptAt, b.Error = lease2.Add(5*time.Minute), "connection refused"
	ok(t, db.FinishMessage(ctx, b))
	same(t, "retried b keeps its payload", []byte("sealed b"), b.Payload)
	same(t, "retried b", b, lastMessage(t, db, "b"))

	c := lastMessage(t, db, "c")
	c.Status, c.Error, c.Permanent = twostep.MessageFailed, "550 no such user", true
	ok(t, db.FinishMessage(ctx, c))
	same(t, "failed c", c, lastMessage(t, db, "c"))
	same(t, "payload of failed c", []byte(nil), c.Payload)
	for _, id := range []string{"sent", "failed"} {
		same(t, "payload of "+id, []byte(nil), lastMessage(t, db, id).Payload)
	}
	same(t, "PendingMessages after finishing", 3, get[int](t)(db.PendingMessages(ctx)))

	// Sent and failed messages are never claimed again; b is due at its new time.
	same(t, "claim before b is due", []string{"d", "e"}, ids(claim(lease2, lease2.Add(time.Hour), 10)))
	same(t, "claim once b is due", []string{"b"}, ids(claim(b.NextAttemptAt, b.NextAttemptAt.Add(time.Minute), 10)))
	same(t, "attempts of b", 3, lastMessage(t, db, "b").Attempts)
	same(t, "claim much later", []string{"d", "e", "b"}, ids(claim(now.Add(24*time.Hour), now.Add(25*time.Hour), 10)))
}

func testClaimMessagesAtomic(t *testing.T, db *store.DB) {
	ctx := t.Context()
	for _, id := range []string{"a", "b", "c", "d"} {
		ok(t, db.EnqueueMessage(ctx, message(id, t0)))
	}
	lease := t0.Add(time.Minute)
	boom := errors.New("boom")
	err := db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error {
		same(t, "claim inside Atomic", []string{"a", "b"}, ids(get[[]*twostep.OutboxMessage](t)(s.(twostep.DeliveryQueue).ClaimMessages(ctx, t0, lease, 2))))
		return boom
	})
	wantErr(t, "Atomic", err, boom)
	same(t, "attempts after rollback", 0, lastMessage(t, db, "a").Attempts)

	var outside []*twostep.OutboxMessage
	ok(t, db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error {
		same(t, "claim inside Atomic", []string{"a", "b"}, ids(get[[]*twostep.OutboxMessage](t)(s.(twostep.DeliveryQueue).ClaimMessages(ctx, t0, lease, 2))))
		if db.DialectForTest() == "postgres" {
			// A claim beside the transaction passes over the rows it holds
			// instead of waiting for them (SKIP LOCKED): as another worker's
			// would, so with a context of its own, not the one Atomic marked.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			outside = get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, t0, lease, 10))
		}
		return nil
	}))
	if outside == nil { // SQLite: the writer is free once the transaction ends
		outside = get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, t0, lease, 10))
	}
	same(t, "claim beside Atomic", []string{"c", "d"}, ids(outside))
	same(t, "attempts after commit", 1, lastMessage(t, db, "a").Attempts)
}

func testLastMessage(t *testing.T, db *store.DB) {
	ctx := t.Context()
	enqueue := func(id, challengeID string, created time.Time) {
		t.Helper()
		m := message(id, t0)
		m.ChallengeID, m.CreatedAt = challengeID, created
		ok(t, db.EnqueueMessage(ctx, m))
	}
	enqueue("x1", "c1", t0.Add(time.Minute))
	enqueue("x2", "c1", t0) // added later, created earlier
	enqueue("x3", "c1", t0.Add(time.Minute))
	enqueue("a0", "c1", t0.Add(time.Minute)) // the same microsecond, added last: newest whatever its id
	enqueue("y1", "c2", t0.Add(time.Hour))
	enqueue("z1", "", t0.Add(time.Hour))
	same(t, "LastMessage", "a0", get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, "c1", "")).ID)
	same(t, "LastMessage of c2", "y1", get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, "c2", "")).ID)

	// By channel: an SMS refused on a sign-in says nothing about its call.
	voice := message("v1", t0)
	voice.ChallengeID, voice.CreatedAt, voice.Channel = "c1", t0.Add(2*time.Minute), "voice"
	ok(t, db.EnqueueMessage(ctx, voice))
	same(t, "LastMessage of c1, any channel", "v1", get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, "c1", "")).ID)
	same(t, "LastMessage of c1 by voice", "v1", get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, "c1", "voice")).ID)
	same(t, "LastMessage of c1 by "+message("", t0).Channel, "a0",
		get[*twostep.OutboxMessage](t)(db.LastMessage(ctx, "c1", message("", t0).Channel)).ID)
	_, err := db.LastMessage(ctx, "c2", "voice")
	wantErr(t, "LastMessage of c2 by voice", err, twostep.ErrNotFound)

	// To an address, whatever the challenge: the newest on that channel.
	same(t, "LastMessageTo by e-mail", "z1", get[*twostep.OutboxMessage](t)(db.LastMessageTo(ctx, "email", voice.To)).ID)
	same(t, "LastMessageTo by voice", "v1", get[*twostep.OutboxMessage](t)(db.LastMessageTo(ctx, "voice", voice.To)).ID)
	_, err = db.LastMessageTo(ctx, "voice", "nobody@example.com")
	wantErr(t, "LastMessageTo an unknown address", err, twostep.ErrNotFound)
}

// testClaimRace: each queued message is delivered once, however many workers
// claim at the same time.
func testClaimRace(t *testing.T, db *store.DB) {
	ctx := t.Context()
	const n, workers, batch = 40, 4, 3
	for i := range n {
		ok(t, db.EnqueueMessage(ctx, message(fmt.Sprintf("m%02d", i), t0.Add(time.Duration(i%5)*time.Millisecond))))
	}
	now, lease := t0.Add(time.Minute), t0.Add(time.Hour)
	claims := race(t, workers, func() ([]string, error) {
		var got []string
		for {
			ms, err := db.ClaimMessages(ctx, now, lease, batch)
			if err != nil {
				return got, err
			}
			if len(ms) == 0 {
				return got, nil
			}
			if len(ms) > batch {
				return got, fmt.Errorf("claimed %d messages, limit %d", len(ms), batch)
			}
			for _, m := range ms {
				if m.Attempts != 1 || !m.LeaseUntil.Equal(lease) {
					return got, fmt.Errorf("claimed %s with %d attempts, lease %v", m.ID, m.Attempts, m.LeaseUntil)
				}
				got = append(got, m.ID)
			}
		}
	})
	times := map[string]int{}
	for _, got := range claims {
		for _, id := range got {
			times[id]++
		}
	}
	for i := range n {
		id := fmt.Sprintf("m%02d", i)
		if times[id] != 1 {
			t.Errorf("message %s claimed %d times, want once", id, times[id])
		}
	}
	same(t, "messages claimed", n, len(times))
	same(t, "claim after the race", []string(nil), ids(get[[]*twostep.OutboxMessage](t)(db.ClaimMessages(ctx, now, lease, batch))))
	same(t, "PendingMessages after the race", n, get[int](t)(db.PendingMessages(ctx)))
}
