package notify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/notify/smtptest"
	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// codeData is what the domain puts in a sign-in code message.
func codeData(code string) map[string]string {
	return map[string]string{"code": code, "minutes": "10", "issuer": "Twostep", "email": "joe@example.com"}
}

// enqueue stores a pending e-mail as the domain does, due at now and expiring
// 10 minutes later. Its ChallengeID is "ch_"+id, to read it back with LastMessage.
func enqueue(t testing.TB, db twostep.Store, sealer *twostep.Sealer, id, template string, data map[string]string, now time.Time) *twostep.OutboxMessage {
	t.Helper()
	return enqueueMessage(t, db, sealer, &twostep.OutboxMessage{ID: id, Channel: "email", To: "joe@example.com", Locale: "en",
		Template: template}, data, now)
}

// enqueueMessage stores m (ID, Channel, To, Locale and Template set) as
// enqueue does, with data sealed in its payload; its ChallengeID, if set, stays.
func enqueueMessage(t testing.TB, db twostep.Store, sealer *twostep.Sealer, m *twostep.OutboxMessage, data map[string]string, now time.Time) *twostep.OutboxMessage {
	t.Helper()
	plain, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.ChallengeID == "" {
		m.ChallengeID = "ch_" + m.ID
	}
	m.Status, m.NextAttemptAt, m.ExpiresAt, m.CreatedAt = twostep.MessagePending, now, now.Add(10*time.Minute), now
	if m.Payload, err = sealer.Seal(plain, []byte(m.ID)); err != nil {
		t.Fatal(err)
	}
	if err := db.EnqueueMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m
}

func message(t testing.TB, db twostep.Store, id string) *twostep.OutboxMessage {
	t.Helper()
	m, err := db.LastMessage(context.Background(), "ch_"+id, "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// outcome is what a test checks of a message after a pass.
type outcome struct {
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	Permanent     bool
	Sent          bool
	Sealed        bool // the payload is still there
}

func outcomeOf(m *twostep.OutboxMessage) outcome {
	return outcome{Status: m.Status, Attempts: m.Attempts, NextAttemptAt: m.NextAttemptAt, Permanent: m.Permanent,
		Sent: !m.SentAt.IsZero() && m.ProviderID != "", Sealed: m.Payload != nil}
}

// fixture is a worker over a real SQLite store, an SMTP server on loopback and
// a clock the test moves.
type fixture struct {
	db     *store.DB
	sealer *twostep.Sealer
	mail   *smtptest.Server
	now    time.Time
	log    bytes.Buffer
	w      *notify.Worker
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, storetest.SQLite(t))
}

func newFixtureOn(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	f := &fixture{db: db, sealer: twosteptest.NewSealer(t), mail: smtptest.NewServer(t, smtptest.Options{Mode: "plain"}), now: t0}
	f.w = f.worker(t, f.db)
	return f
}

// worker returns a worker over db sharing the fixture's server, clock and log.
func (f *fixture) worker(t *testing.T, db *store.DB) *notify.Worker {
	t.Helper()
	smtp, err := notify.NewSMTP(notify.SMTPOptions{URL: "smtp+insecure://" + f.mail.Addr, From: "no-reply@id.example.com",
		FromName: "Twostep", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return notify.NewWorker(notify.WorkerOptions{Store: db, Sealer: f.sealer, Texts: loadTexts(t),
		Stale: func(ctx context.Context, m *twostep.OutboxMessage, now time.Time) (string, error) {
			return twostep.StaleCode(ctx, db, m, now)
		},
		Transports: map[string]notify.Transport{"email": smtp},
		Logger:     slog.New(slog.NewTextHandler(&f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:      func() time.Time { return f.now }})
}

func (f *fixture) pass(t *testing.T, w *notify.Worker, want int) {
	t.Helper()
	n, err := w.DeliverDue(context.Background())
	if err != nil || n != want {
		t.Fatalf("DeliverDue at +%v = %d, %v; want %d", f.now.Sub(t0), n, err, want)
	}
}

// TestRetryWithBackoff: a server that answers 451 twice gets the message on
// the third attempt, 2 s then 4 s later (API.md §4).
func TestRetryWithBackoff(t *testing.T) { storetest.Backends(t, testRetryWithBackoff) }

func testRetryWithBackoff(t *testing.T, db *store.DB) {
	f := newFixtureOn(t, db)
	enqueue(t, f.db, f.sealer, "msg_a", "code_sign_in", codeData("493817"), t0)
	f.mail.FailRcpt(451, 451)

	steps := []struct {
		at      time.Duration
		handled int
		want    outcome
	}{
		{0, 1, outcome{Status: twostep.MessagePending, Attempts: 1, NextAttemptAt: t0.Add(2 * time.Second), Sealed: true}},
		{time.Second, 0, outcome{Status: twostep.MessagePending, Attempts: 1, NextAttemptAt: t0.Add(2 * time.Second), Sealed: true}},
		{2 * time.Second, 1, outcome{Status: twostep.MessagePending, Attempts: 2, NextAttemptAt: t0.Add(6 * time.Second), Sealed: true}},
		{6 * time.Second, 1, outcome{Status: twostep.MessageSent, Attempts: 3, Sent: true}},
		{time.Hour, 0, outcome{Status: twostep.MessageSent, Attempts: 3, Sent: true}},
	}
	for _, s := range steps {
		f.now = t0.Add(s.at)
		f.pass(t, f.w, s.handled)
		if diff := cmp.Diff(s.want, outcomeOf(message(t, f.db, "msg_a"))); diff != "" {
			t.Errorf("at +%v (-want +got):\n%s", s.at, diff)
		}
	}
	if got := f.mail.Received(); len(got) != 1 || strings.Count(smtptest.Parse(t, got[0].Data).Text, "493817") != 1 {
		t.Errorf("received %d messages", len(got))
	}
	if sent := message(t, f.db, "msg_a"); !sent.SentAt.Equal(t0.Add(6 * time.Second)) {
		t.Errorf("SentAt %v", sent.SentAt)
	}
}

// TestRetryUntilExpiry: temporary failures are retried while the message can
// still arrive in time, then it fails, not permanently.
func TestRetryUntilExpiry(t *testing.T) {
	f := newFixture(t)
	m := enqueue(t, f.db, f.sealer, "msg_a", "code_sign_in", codeData("493817"), t0)
	f.mail.FailRcpt(451, 451, 451, 451, 451, 451, 451, 451, 451, 451)
	// 2+4+8+16+32+64+128+256 = 510 s of backoff fit in 10 minutes; the next 512 s do not.
	for attempt := 1; ; attempt++ {
		f.pass(t, f.w, 1)
		got := message(t, f.db, "msg_a")
		if got.Status == twostep.MessageFailed {
			if attempt != 9 || got.Permanent || !strings.Contains(got.Error, "451") || got.Payload != nil {
				t.Errorf("failed at attempt %d: %+v", attempt, got)
			}
			break
		}
		if attempt > 9 || !got.NextAttemptAt.Before(m.ExpiresAt) {
			t.Fatalf("attempt %d: %+v", attempt, got)
		}
		f.now = got.NextAttemptAt
	}
	if _, rcpts := f.mail.Counts(); rcpts != 9 {
		t.Errorf("%d RCPT commands, want 9", rcpts)
	}
}

// TestPermanentFailure: a 550 fails the message for good, at once.
func TestPermanentFailure(t *testing.T) {
	f := newFixture(t)
	enqueue(t, f.db, f.sealer, "msg_a", "code_sign_in", codeData("493817"), t0)
	f.mail.FailRcpt(550)
	f.pass(t, f.w, 1)
	got := message(t, f.db, "msg_a")
	if diff := cmp.Diff(outcome{Status: twostep.MessageFailed, Attempts: 1, Permanent: true}, outcomeOf(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !strings.Contains(got.Error, "550") {
		t.Errorf("Error %q", got.Error)
	}
	f.now = t0.Add(time.Minute)
	f.pass(t, f.w, 0)
	if _, rcpts := f.mail.Counts(); rcpts != 1 {
		t.Errorf("%d RCPT commands, want 1", rcpts)
	}
}

// TestExpiredNotSent: a message claimed after it expired fails without a
// connection to the server.
func TestExpiredNotSent(t *testing.T) {
	f := newFixture(t)
	enqueue(t, f.db, f.sealer, "msg_a", "code_sign_in", codeData("493817"), t0)
	f.now = t0.Add(10 * time.Minute)
	f.pass(t, f.w, 1)
	got := message(t, f.db, "msg_a")
	if diff := cmp.Diff(outcome{Status: twostep.MessageFailed, Attempts: 1}, outcomeOf(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !strings.Contains(got.Error, "expired") {
		t.Errorf("Error %q", got.Error)
	}
	if sessions, _ := f.mail.Counts(); sessions != 0 {
		t.Errorf("%d SMTP sessions, want 0", sessions)
	}
}

// TestUndeliverable: an unknown channel, a payload that does not open and a
// template that does not exist fail permanently, without a connection.
func TestUndeliverable(t *testing.T) {
	f := newFixture(t)
	m := enqueue(t, f.db, f.sealer, "msg_channel", "code_sign_in", codeData("493817"), t0)
	m.ID, m.ChallengeID, m.Channel = "msg_pigeon", "ch_msg_pigeon", "pigeon"
	if err := f.db.EnqueueMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	moved := enqueue(t, f.db, f.sealer, "msg_src", "code_sign_in", codeData("493817"), t0)
	moved.ID, moved.ChallengeID = "msg_moved", "ch_msg_moved" // sealed for msg_src: does not open here
	if err := f.db.EnqueueMessage(context.Background(), moved); err != nil {
		t.Fatal(err)
	}
	enqueue(t, f.db, f.sealer, "msg_tmpl", "no_such_template", codeData("493817"), t0)
	f.now = t0.Add(time.Minute) // msg_channel and msg_src are ordinary and get sent
	f.pass(t, f.w, 5)
	for id, want := range map[string]string{"msg_pigeon": `no transport for channel "pigeon"`, "msg_moved": "payload",
		"msg_tmpl": "no message template"} {
		got := message(t, f.db, id)
		if got.Status != twostep.MessageFailed || !got.Permanent || !strings.Contains(got.Error, want) {
			t.Errorf("%s: %s permanent=%v error %q, want failed permanently with %q", id, got.Status, got.Permanent, got.Error, want)
		}
	}
	if got := f.mail.Received(); len(got) != 2 {
		t.Errorf("received %d messages, want 2", len(got))
	}
}

// TestRestartStillDelivers: a message that failed once is delivered, once, by
// a new worker over a new store on the same database file.
func TestRestartStillDelivers(t *testing.T) {
	f := newFixture(t)
	url := "sqlite:" + filepath.Join(t.TempDir(), "twostep.db")
	db1, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db1.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	enqueue(t, db1, f.sealer, "msg_a", "code_sign_in", codeData("493817"), t0)
	f.mail.FailRcpt(451)
	f.pass(t, f.worker(t, db1), 1)
	if err := db1.Close(); err != nil {
		t.Fatal(err)
	}

	db2 := storetest.Open(t, url)
	w2 := f.worker(t, db2)
	f.now = t0.Add(2 * time.Second)
	f.pass(t, w2, 1)
	f.now = t0.Add(time.Hour)
	f.pass(t, w2, 0)
	if got := outcomeOf(message(t, db2, "msg_a")); got.Status != twostep.MessageSent || got.Attempts != 2 {
		t.Errorf("after restart: %+v", got)
	}
	if got := f.mail.Received(); len(got) != 1 {
		t.Errorf("received %d messages, want 1", len(got))
	}
}

// TestLeaseOfDeadWorker: a message claimed by a worker that died is delivered
// once its lease runs out, not before.
func TestLeaseOfDeadWorker(t *testing.T) { storetest.Backends(t, testLeaseOfDeadWorker) }

func testLeaseOfDeadWorker(t *testing.T, db *store.DB) {
	f := newFixtureOn(t, db)
	enqueue(t, f.db, f.sealer, "msg_a", "code_sign_in", codeData("493817"), t0)
	claimed, err := f.db.ClaimMessages(context.Background(), t0, t0.Add(30*time.Second), 16)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %d, %v", len(claimed), err)
	}
	f.now = t0.Add(29 * time.Second)
	f.pass(t, f.w, 0)
	f.now = t0.Add(30 * time.Second)
	f.pass(t, f.w, 1)
	if got := outcomeOf(message(t, f.db, "msg_a")); got.Status != twostep.MessageSent || got.Attempts != 2 {
		t.Errorf("%+v", got)
	}
	if got := f.mail.Received(); len(got) != 1 {
		t.Errorf("received %d messages, want 1", len(got))
	}
}

// TestLogHoldsNoSecrets: after failures and successes the operator's log names
// the messages and the errors, never a code, a link or a message text (AU-02).
func TestLogHoldsNoSecrets(t *testing.T) { // AU-02
	f := newFixture(t)
	link := "https://id.example.com/reset-password/tok_Zq8XyW"
	enqueue(t, f.db, f.sealer, "msg_code", "code_sign_in", codeData("493817"), t0)
	enqueue(t, f.db, f.sealer, "msg_link", "password_reset",
		map[string]string{"link": link, "minutes": "60", "issuer": "Twostep", "email": "joe@example.com"}, t0)
	m := enqueue(t, f.db, f.sealer, "msg_bad", "code_sign_in", codeData("775533"), t0)
	m.ID, m.ChallengeID = "msg_bad2", "ch_msg_bad2"
	if err := f.db.EnqueueMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	f.mail.FailRcpt(451, 451)
	f.pass(t, f.w, 4)
	f.mail.FailRcpt(550)
	f.now = t0.Add(2 * time.Second)
	f.pass(t, f.w, 2)

	log := f.log.String()
	for _, want := range []string{"msg_code", "msg_link", "msg_bad2", "451", "attempt=2", "template=password_reset", "message sent"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, secret := range []string{"493817", "775533", "tok_Zq8XyW", "reset-password", "sign-in verification code"} {
		if strings.Contains(log, secret) {
			t.Errorf("log holds %q:\n%s", secret, log)
		}
		for _, id := range []string{"msg_code", "msg_link", "msg_bad", "msg_bad2"} {
			if m := message(t, f.db, id); strings.Contains(m.Error, secret) {
				t.Errorf("%s: stored error holds %q: %s", id, secret, m.Error)
			}
		}
	}
}

// TestRunWakes: Run delivers what is due, and Wake makes it look again at once
// instead of at its next poll.
func TestRunWakes(t *testing.T) {
	db := storetest.SQLite(t)
	sealer := twosteptest.NewSealer(t)
	w := notify.NewWorker(notify.WorkerOptions{Store: db, Sealer: sealer, Texts: loadTexts(t),
		Transports: map[string]notify.Transport{"email": notify.NewDevOutbox(db, time.Now, rand.Reader)},
		Poll:       time.Hour})
	waitKept := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if msgs, err := db.DevMessages(context.Background(), 0); err == nil && len(msgs) == n {
				return
			}
		}
		t.Fatalf("the outbox did not get to %d messages", n)
	}
	enqueue(t, db, sealer, "msg_a", "code_sign_in", codeData("493817"), time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitKept(1) // Run's first pass is over; it now waits for an hour or a Wake
	enqueue(t, db, sealer, "msg_b", "code_sign_in", codeData("112233"), time.Now())
	w.Wake()
	waitKept(2)
	if n, err := db.PendingMessages(context.Background()); err != nil || n != 0 {
		t.Errorf("PendingMessages = %d, %v", n, err)
	}
}

// overtaken is a transport whose delivery outlives the worker's lease: while it
// is under way, another worker claims the message and delivers it.
type overtaken struct {
	t  *testing.T
	f  *fixture
	id string
}

func (o overtaken) Deliver(ctx context.Context, _ notify.Rendered) (string, error) {
	o.f.now = o.f.now.Add(31 * time.Second) // past the first worker's 30 s lease
	ms, err := o.f.db.ClaimMessages(ctx, o.f.now, o.f.now.Add(30*time.Second), 16)
	if err != nil || len(ms) != 1 {
		o.t.Errorf("second worker claimed %d, %v; want the message", len(ms), err)
		return "", errors.New("no second claim")
	}
	m := ms[0]
	m.Status, m.SentAt, m.ProviderID = twostep.MessageSent, o.f.now, "second-worker"
	if err := o.f.db.FinishMessage(ctx, m); err != nil {
		o.t.Errorf("second worker finishing: %v", err)
	}
	return "", errors.New("451 too slow") // the first worker's attempt fails
}

// TestStaleWorkerKeepsOut: a worker whose lease ran out while it delivered
// does not overwrite the outcome of the worker that took the message over
// (here: sent); it says so in the log and carries on.
func TestStaleWorkerKeepsOut(t *testing.T) { storetest.Backends(t, testStaleWorkerKeepsOut) }

func testStaleWorkerKeepsOut(t *testing.T, db *store.DB) {
	f := newFixtureOn(t, db)
	enqueue(t, f.db, f.sealer, "msg_a", "code_sign_in", codeData("493817"), t0)
	w := notify.NewWorker(notify.WorkerOptions{Store: db, Sealer: f.sealer, Texts: loadTexts(t),
		Transports: map[string]notify.Transport{"email": overtaken{t: t, f: f, id: "msg_a"}},
		Logger:     slog.New(slog.NewTextHandler(&f.log, nil)),
		Clock:      func() time.Time { return f.now }})
	f.pass(t, w, 1)
	m := message(t, f.db, "msg_a")
	if m.Status != twostep.MessageSent || m.ProviderID != "second-worker" || m.Error != "" {
		t.Errorf("after the stale worker: status %s, provider %q, error %q; want the second worker's sent", m.Status, m.ProviderID, m.Error)
	}
	if !strings.Contains(f.log.String(), "another worker has the message") {
		t.Errorf("log does not say the lease was lost:\n%s", f.log.String())
	}
}
