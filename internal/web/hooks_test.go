package web_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
	"github.com/twostep/twostep/internal/web"
)

// deliveryMetrics records what the service counts of deliveries.
type deliveryMetrics struct {
	mu     sync.Mutex
	failed []string
}

func (*deliveryMetrics) SignIn(string)             {}
func (*deliveryMetrics) SecondStep(string, string) {}
func (*deliveryMetrics) ThrottleTrip(string)       {}
func (m *deliveryMetrics) DeliveryFailed(channel string, final bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if final {
		m.failed = append(m.failed, channel)
	}
}

// sentAs takes the queued messages as a.sent does, recording the newest with
// template tmpl as taken by the provider under providerID.
func (a *api) sentAs(tmpl, providerID string) {
	a.t.Helper()
	found := false
	twosteptest.Drain(a.t, a.db, a.sealer, a.clock.Now(), func(m *twostep.OutboxMessage, _ map[string]string) {
		if m.Template == tmpl && !found {
			m.ProviderID, found = providerID, true
		}
	})
	if !found {
		a.t.Fatalf("no %s message queued", tmpl)
	}
}

// signTwilio signs form as Twilio does for url: HMAC-SHA1 of the URL and the
// sorted names and values, keyed with the auth token, in base64.
func signTwilio(token, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	data := u
	for _, k := range keys {
		for _, v := range form[k] {
			data += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// TestTwilioStatusCallback: Twilio took the sign-in's SMS, then reports it
// undelivered (30003, the handset unreachable). The signed report fails the
// message for good: the next send for that sign-in answers delivery_failed,
// the audit trail and the metrics count it. A report with a bad signature, or
// to a server without Twilio, changes nothing. Issue 12, item 5.
func TestTwilioStatusCallback(t *testing.T) {
	const token = "twilio-auth-token-5f4dcc3b"
	a := newAPI(t, false)
	// The same store and clock, and a service that counts deliveries.
	m := &deliveryMetrics{}
	svc, err := twostep.New(twostep.Options{Store: a.db, Sealer: a.sealer, Rand: rand.Reader, Clock: a.clock.Now, Metrics: m,
		Methods: []twostep.Method{twostep.MethodTOTP, twostep.MethodSMS, twostep.MethodVoice}, BaseURL: "https://auth.example.com",
		Hasher: twostep.NewHasher(twosteptest.CheapArgon2, 4, 100, time.Second, rand.Reader)})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://auth.example.com")
	h, err := web.New(web.Options{Service: svc, BaseURL: base, Clock: a.clock.Now, TwilioAuthToken: token})
	if err != nil {
		t.Fatal(err)
	}
	hooks := httptest.NewServer(h)
	t.Cleanup(hooks.Close)

	// The owner proves a mobile number, then signs in: an SMS code is queued
	// and "Twilio" takes it under SM…01.
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	session := b["session_token"].(string)
	st, b, _ = a.call("POST", "/api/v1/account/factors", session, map[string]string{"method": "sms", "phone": "+33612345678"})
	a.want(st, 201, b, "add phone")
	id := b["id"].(string)
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+id+"/verify", session, map[string]string{"code": a.sent("code_enrol")["code"]})
	a.want(st, 200, b, "verify phone")
	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in with a phone")
	signIn := b["sign_in_token"].(string)
	const sid = "SM0123456789abcdef0123456789abcd01"
	a.sentAs("code_sign_in", sid)

	report := url.Values{"MessageSid": {sid}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"},
		"AccountSid": {"AC0123"}, "From": {"+15005550006"}, "To": {"+33612345678"}, "ApiVersion": {"2010-04-01"}}
	post := func(srv *httptest.Server, sig string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+web.TwilioStatusPath, strings.NewReader(report.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := signTwilio(token, "https://auth.example.com/hooks/twilio/status", report)
	for _, tc := range []struct {
		name string
		srv  *httptest.Server
		sig  string
		want int
	}{
		{"no Twilio on this server", a.srv, good, 404},
		{"signed with another token", hooks, signTwilio("another", "https://auth.example.com/hooks/twilio/status", report), 403},
		{"signed for the Host header's URL", hooks, signTwilio(token, hooks.URL+web.TwilioStatusPath, report), 403},
		{"no signature", hooks, "", 403},
	} {
		if got := post(tc.srv, tc.sig); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if msg, err := a.db.MessageByProvider(context.Background(), sid); err != nil || msg.Status != twostep.MessageSent {
		t.Fatalf("after refused reports: %+v, %v; want the message still sent", msg, err)
	}

	if got := post(hooks, good); got != 204 {
		t.Fatalf("signed report: %d, want 204", got)
	}
	if got := post(hooks, good); got != 204 { // Twilio may repeat itself
		t.Fatalf("the same report again: %d, want 204", got)
	}
	msg, err := a.db.MessageByProvider(context.Background(), sid)
	if err != nil || msg.Status != twostep.MessageFailed || !msg.Permanent || !strings.Contains(msg.Error, "30003") {
		t.Errorf("after the report: %+v, %v; want failed for good, error 30003", msg, err)
	}
	a.clock.Advance(31 * time.Second)
	if st, e, _ := a.call("POST", "/api/v1/sign-in/send", "", map[string]string{"sign_in_token": signIn, "method": "sms"}); st != 502 || e["code"] != "delivery_failed" {
		t.Errorf("send after the report: %d %v, want 502 delivery_failed", st, e)
	}
	events, err := a.db.Events(context.Background(), twostep.EventFilter{Type: "delivery.failed"})
	if err != nil || len(events) != 1 || events[0].AccountID == "" || events[0].Detail["channel"] != "sms" {
		t.Fatalf("audit: %+v, %v; want one delivery.failed event for the account", events, err)
	}
	for _, secret := range []string{"612345678", token} {
		if strings.Contains(events[0].Detail["reason"].(string), secret) {
			t.Errorf("audit detail holds %q: %v", secret, events[0].Detail)
		}
	}
	if m.failed == nil || len(m.failed) != 1 || m.failed[0] != "sms" {
		t.Errorf("metrics counted %v, want one final sms failure", m.failed)
	}
}
