package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

const webhookSecret = "whsec-hunter2-9d1f"

// hookRequest is what the gateway got.
type hookRequest struct {
	Method, ContentType, Signature string
	Body                           []byte
}

// fakeGateway answers with the queued statuses, then 200 {"id":"gw-N"}.
type fakeGateway struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []hookRequest
}

func newFakeGateway(t testing.TB) *fakeGateway {
	g := &fakeGateway{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		defer g.mu.Unlock()
		if r.URL.Path == "/moved" {
			t.Errorf("the webhook followed a redirect")
		}
		g.got = append(g.got, hookRequest{r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Twostep-Signature"), body})
		status := 200
		if len(g.statuses) > 0 {
			status, g.statuses = g.statuses[0], g.statuses[1:]
		}
		if status/100 == 3 {
			w.Header().Set("Location", "/moved")
		}
		w.WriteHeader(status)
		if status == 200 {
			fmt.Fprintf(w, `{"id":"gw-%d"}`, len(g.got))
		}
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGateway) fail(statuses ...int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.statuses = append(g.statuses, statuses...)
}

func (g *fakeGateway) requests() []hookRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]hookRequest(nil), g.got...)
}

func newWebhook(t testing.TB, url string) *notify.Webhook {
	t.Helper()
	w, err := notify.NewWebhook(notify.WebhookOptions{URL: url, Secret: webhookSecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWebhookDelivers: the body is exactly the four fields, signed so that a
// receiver holding the secret, and only it, can trust it.
func TestWebhookDelivers(t *testing.T) {
	g := newFakeGateway(t)
	hook := newWebhook(t, g.URL+"/sms?key=urlsecret")
	for i, channel := range []string{"sms", "voice"} {
		r := renderPhone(t, channel, "fr", "123456")
		id, err := hook.Deliver(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("gw-%d", i+1); id != want {
			t.Errorf("%s: id %q, want %q", channel, id, want)
		}
		got := g.requests()[i]
		if got.Method != http.MethodPost || got.ContentType != "application/json" {
			t.Errorf("%s: %s, Content-Type %q", channel, got.Method, got.ContentType)
		}
		var fields map[string]any
		if err := json.Unmarshal(got.Body, &fields); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"channel": channel, "to": "+33612345678", "text": r.Text, "locale": "fr"}
		if diff := cmp.Diff(want, fields); diff != "" {
			t.Errorf("%s: body (-want +got):\n%s", channel, diff)
		}
		if !notify.VerifyWebhookSignature(got.Body, got.Signature, webhookSecret) {
			t.Errorf("%s: signature %q does not verify", channel, got.Signature)
		}
		// The signature is the plain HMAC-SHA256 of the body bytes, in hex.
		mac := hmac.New(sha256.New, []byte(webhookSecret))
		mac.Write(got.Body)
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); got.Signature != want {
			t.Errorf("%s: signature %q, want %q", channel, got.Signature, want)
		}
		tampered := []byte(strings.Replace(string(got.Body), "+33612345678", "+33699999999", 1))
		for _, tc := range []struct {
			body      []byte
			sig, with string
		}{
			{got.Body, got.Signature, "wrong-secret"},
			{got.Body, got.Signature, ""},
			{tampered, got.Signature, webhookSecret},
			{got.Body, strings.TrimPrefix(got.Signature, "sha256="), webhookSecret},
			{got.Body, "sha256=zz", webhookSecret},
			{got.Body, "", webhookSecret},
		} {
			if notify.VerifyWebhookSignature(tc.body, tc.sig, tc.with) {
				t.Errorf("%s: verified %q with %q over %s", channel, tc.sig, tc.with, tc.body)
			}
		}
	}
}

// TestWebhookErrors: 408, 429, 5xx and network failures are temporary; other
// 4xx and redirects permanent; no error shows the secret, the URL or the text.
func TestWebhookErrors(t *testing.T) {
	g := newFakeGateway(t)
	hook := newWebhook(t, g.URL+"/sms?key=urlsecret")
	r := renderPhone(t, "sms", "en", "123456")
	var errs []error
	for _, tc := range []struct {
		status              int
		permanent, operator bool
	}{
		{500, false, false}, {503, false, false}, {408, false, false}, {429, false, false},
		{400, true, false}, {404, true, false}, {401, true, true}, {403, true, true}, {302, true, true},
	} {
		g.fail(tc.status)
		_, err := hook.Deliver(context.Background(), r)
		errs = append(errs, err)
		if err == nil || notify.IsPermanent(err) != tc.permanent || notify.IsOperator(err) != tc.operator ||
			!strings.HasPrefix(err.Error(), "notify: webhook: HTTP ") {
			t.Errorf("HTTP %d: %v, want permanent %v, operator %v", tc.status, err, tc.permanent, tc.operator)
		}
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	_, err := newWebhook(t, down.URL+"/sms?key=urlsecret").Deliver(context.Background(), r)
	errs = append(errs, err)
	if err == nil || notify.IsPermanent(err) {
		t.Errorf("unreachable: %v", err)
	}
	for _, m := range []notify.Rendered{{Channel: "sms", To: "joe@example.com", Text: "x"}, {Channel: "email", To: "+33612345678"}} {
		if _, err := hook.Deliver(context.Background(), m); !notify.IsPermanent(err) {
			t.Errorf("%+v: %v", m, err)
		}
	}
	// A 2xx without a JSON id is sent, with no provider id.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer plain.Close()
	if id, err := newWebhook(t, plain.URL).Deliver(context.Background(), r); id != "" || err != nil {
		t.Errorf("204: %q, %v", id, err)
	}
	for _, err := range errs {
		for _, secret := range []string{"urlsecret", webhookSecret, "123456", "/sms"} {
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q holds %q", err, secret)
			}
		}
	}
}

func TestNewWebhookRefuses(t *testing.T) {
	for _, tc := range []struct{ url, secret, want string }{
		{"", webhookSecret, "scheme"},
		{"ftp://gw.example.com/sms", webhookSecret, `scheme "ftp"`},
		{"https:///sms", webhookSecret, "no host"},
		{"https://gw.example.com/%zz?key=urlsecret", webhookSecret, "webhook URL"},
		{"https://gw.example.com/sms", "", "no secret"},
	} {
		_, err := notify.NewWebhook(notify.WebhookOptions{URL: tc.url, Secret: tc.secret})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "notify: ") ||
			strings.Contains(err.Error(), "urlsecret") || strings.Contains(err.Error(), webhookSecret) {
			t.Errorf("NewWebhook(%q, %q): %v, want an error about %q", tc.url, tc.secret, err, tc.want)
		}
	}
}

// TestPhoneToDevOutbox: in dev mode an SMS and a call land in the outbox as
// their text, through the worker like any message.
func TestPhoneToDevOutbox(t *testing.T) {
	db := storetest.SQLite(t)
	sealer := twosteptest.NewSealer(t)
	dev := notify.NewDevOutbox(db, func() time.Time { return t0 }, rand.Reader)
	w := notify.NewWorker(notify.WorkerOptions{Store: db, Sealer: sealer, Texts: loadTexts(t),
		Transports: map[string]notify.Transport{"sms": dev, "voice": dev}, Clock: func() time.Time { return t0 }})
	for _, ch := range []string{"sms", "voice"} {
		enqueueMessage(t, db, sealer, &twostep.OutboxMessage{ID: "msg_" + ch, Channel: ch, To: "+33612345678", Locale: "en",
			Template: "code_enrol"}, phoneData("123456"), t0)
	}
	if n, err := w.DeliverDue(context.Background()); n != 2 || err != nil {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	msgs, err := db.DevMessages(context.Background(), 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("DevMessages: %d, %v", len(msgs), err)
	}
	for _, m := range msgs {
		want := map[string]string{"sms": "\n@auth.example.com #123456", "voice": "1, 2, 3, 4, 5, 6."}[m.Channel]
		if m.Subject != "" || m.To != "+33612345678" || !strings.Contains(m.Text, want) || strings.Contains(m.Text, "{{") {
			t.Errorf("kept %+v", m)
		}
	}
}
