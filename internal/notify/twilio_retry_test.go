package notify_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

// TestTwilioSMSValidityAndCallback: an SMS asks Twilio to drop it once its
// code has expired (Twilio's default keeps it 10 hours) and to report its
// fate at the status callback. Issue 12, item 5.
func TestTwilioSMSValidityAndCallback(t *testing.T) { // OOB-02
	fake := newFakeTwilio(t)
	tw, err := notify.NewTwilio(notify.TwilioOptions{AccountSID: twilioSID, AuthToken: twilioToken, From: twilioFrom,
		BaseURL: fake.URL, StatusCallback: "https://auth.example.com/hooks/twilio/status"})
	if err != nil {
		t.Fatal(err)
	}
	r := renderPhone(t, "sms", "en", "123456")
	r.ValidFor = 9*time.Minute + 30*time.Second + time.Millisecond
	if _, err := tw.Deliver(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	want := []twilioRequest{{"Messages.json", url.Values{"To": {"+33612345678"}, "From": {twilioFrom}, "Body": {r.Text},
		"ValidityPeriod": {"571"}, "StatusCallback": {"https://auth.example.com/hooks/twilio/status"}}}}
	if diff := cmp.Diff(want, fake.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if _, err := notify.NewTwilio(notify.TwilioOptions{AccountSID: twilioSID, AuthToken: twilioToken, From: twilioFrom,
		StatusCallback: "ftp://x"}); err == nil || !strings.Contains(err.Error(), "status callback") {
		t.Errorf("NewTwilio with a bad status callback: %v", err)
	}
}

// TestTwilioRetryAfterTimeoutSendsOnce: Twilio takes an SMS but its answer
// comes after the client gave up. The retry first asks Twilio's Messages list,
// finds the message it took, and records its sid instead of sending the code
// a second time (Twilio has no idempotency key). Issue 12, item 5.
func TestTwilioRetryAfterTimeoutSendsOnce(t *testing.T) {
	storetest.Backends(t, testTwilioRetryAfterTimeout)
}

func testTwilioRetryAfterTimeout(t *testing.T, db *store.DB) {
	sealer := twosteptest.NewSealer(t)
	fake := newFakeTwilio(t)
	tw, err := notify.NewTwilio(notify.TwilioOptions{AccountSID: twilioSID, AuthToken: twilioToken, From: twilioFrom,
		BaseURL: fake.URL, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	w := notify.NewWorker(notify.WorkerOptions{Store: db, Sealer: sealer, Texts: loadTexts(t),
		Transports: map[string]notify.Transport{"sms": tw}, Clock: func() time.Time { return now }})
	enqueueMessage(t, db, sealer, &twostep.OutboxMessage{ID: "msg_slow", Channel: "sms", To: "+33611111111", Locale: "fr",
		Template: "code_sign_in"}, phoneData("111111"), now)
	// Another message to the same number, taken earlier: not this one.
	fake.mu.Lock()
	fake.took = append(fake.took, twilioMessage{SID: "SMolder", To: "+33611111111", From: twilioFrom, Body: "Code 999999",
		DateCreated: time.Now().UTC().Format(time.RFC1123Z)})
	fake.mu.Unlock()
	fake.answer("+33611111111", twilioAnswer{lost: time.Second})

	if n, err := w.DeliverDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	if got := message(t, db, "msg_slow"); got.Status != twostep.MessagePending || !strings.Contains(got.Error, "deadline") {
		t.Fatalf("after the lost answer: %s, %q; want pending after a timeout", got.Status, got.Error)
	}
	now = now.Add(2 * time.Second)
	if n, err := w.DeliverDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	got := message(t, db, "msg_slow")
	if got.Status != twostep.MessageSent || got.ProviderID != fmt.Sprintf("SM%032d", 1) {
		t.Errorf("after the retry: %s, provider id %q; want sent as Twilio's first message", got.Status, got.ProviderID)
	}
	// The status callback finds it by Twilio's sid.
	if byProvider, err := db.MessageByProvider(context.Background(), got.ProviderID); err != nil || byProvider.ID != "msg_slow" {
		t.Errorf("MessageByProvider(%q) = %+v, %v", got.ProviderID, byProvider, err)
	}
	if posts := len(fake.requests()); posts != 1 {
		t.Errorf("Twilio was asked to send %d times, want once", posts)
	}
	lists := fake.listed()
	if len(lists) != 1 || lists[0].Get("To") != "+33611111111" || lists[0].Get("From") != twilioFrom {
		t.Errorf("Messages list queries: %v", lists)
	}
}

// TestStaleCodesDropped: after an outage, codes nobody can use any more — the
// sign-in is over, the code expired, or a newer code replaced it — are
// dropped, not delivered late; the newest code of a live sign-in goes out.
// Issue 12, item 5; OOB-06.
func TestStaleCodesDropped(t *testing.T) { storetest.Backends(t, testStaleCodesDropped) }

func testStaleCodesDropped(t *testing.T, db *store.DB) {
	f := newFixtureOn(t, db)
	ctx := context.Background()
	challenge := func(id string, change func(*twostep.Challenge)) {
		c := &twostep.Challenge{ID: id, TokenHash: []byte("token-" + id), Purpose: twostep.PurposeSignIn, Method: twostep.MethodEmail,
			CodeHash: []byte("k1:x"), CodeExpiresAt: t0.Add(10 * time.Minute), CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}
		change(c)
		if err := db.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	challenge("ch_msg_used", func(c *twostep.Challenge) { c.ConsumedAt = t0.Add(time.Minute) })
	challenge("ch_msg_short", func(c *twostep.Challenge) { c.CodeExpiresAt = t0.Add(2 * time.Minute) })
	challenge("ch_live", func(*twostep.Challenge) {})
	enqueue(t, db, f.sealer, "msg_used", "code_sign_in", codeData("100001"), t0)
	enqueue(t, db, f.sealer, "msg_short", "code_sign_in", codeData("100002"), t0)
	// The person asked for a new code of the same sign-in during the outage.
	for i, code := range []string{"100003", "100004"} {
		enqueueMessage(t, db, f.sealer, &twostep.OutboxMessage{ID: fmt.Sprintf("msg_live%d", i+1), ChallengeID: "ch_live", Channel: "email",
			To: "joe@example.com", Locale: "en", Template: "code_sign_in"}, codeData(code), t0.Add(time.Duration(i)*time.Minute))
	}
	// A code whose challenge housekeeping removed: its own expiry governs.
	enqueue(t, db, f.sealer, "msg_orphan", "code_sign_in", codeData("100005"), t0)

	f.now = t0.Add(3 * time.Minute) // the mail server is back
	f.pass(t, f.w, 5)
	for id, want := range map[string]string{"msg_used": "dropped: its sign-in or confirmation is over",
		"msg_short": "dropped: its code has expired"} {
		got := message(t, db, id)
		if got.Status != twostep.MessageFailed || got.Permanent || got.Error != want || got.Payload != nil {
			t.Errorf("%s: %s permanent=%v %q; want failed, not permanent, %q", id, got.Status, got.Permanent, got.Error, want)
		}
	}
	if got, err := db.LastMessage(ctx, "ch_live", ""); err != nil || got.ID != "msg_live2" || got.Status != twostep.MessageSent {
		t.Errorf("the newest code of the live sign-in: %+v, %v; want it sent", got, err)
	}
	var codes []string
	for _, r := range f.mail.Received() {
		for _, c := range []string{"100001", "100002", "100003", "100004", "100005"} {
			if strings.Contains(string(r.Data), c) {
				codes = append(codes, c)
			}
		}
	}
	slices.Sort(codes)
	if diff := cmp.Diff([]string{"100004", "100005"}, codes); diff != "" {
		t.Errorf("codes delivered (-want +got):\n%s", diff)
	}
	log := f.log.String()
	if strings.Count(log, "code dropped") != 3 || !strings.Contains(log, "a newer code replaced it") || strings.Contains(log, "10000") {
		t.Errorf("log:\n%s", log)
	}
}
