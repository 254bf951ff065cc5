package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
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

const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "tok-hunter2-5f4dcc3b5aa765d61d83"
	twilioFrom  = "+15005550006"
)

// twilioRequest is what the fake Twilio was asked: the resource and the form.
type twilioRequest struct {
	Resource string // "Messages.json" or "Calls.json"
	Form     url.Values
}

type twilioAnswer struct {
	status int
	body   string
	// lost: Twilio takes the message, but its answer comes only after this
	// long (a timeout on the client's side: was it sent?).
	lost time.Duration
}

// twilioMessage is a message the fake Twilio took, as its Messages list shows it.
type twilioMessage struct {
	SID         string `json:"sid"`
	To          string `json:"to"`
	From        string `json:"from"`
	Body        string `json:"body"`
	DateCreated string `json:"date_created"`
}

// twilioFailure answers as Twilio does when it refuses a request.
func twilioFailure(status, code int, message string) twilioAnswer {
	b, _ := json.Marshal(map[string]any{"code": code, "message": message, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code)})
	return twilioAnswer{status: status, body: string(b)}
}

// fakeTwilio speaks the shape of Twilio's REST API: form posts with basic
// auth, JSON answers. It answers 201 unless answers are queued for the number.
type fakeTwilio struct {
	*httptest.Server
	t       testing.TB
	mu      sync.Mutex
	answers map[string][]twilioAnswer // by To
	got     []twilioRequest
	n       int
	took    []twilioMessage // newest last
	lists   []url.Values    // the queries of GET Messages.json
}

func newFakeTwilio(t testing.TB) *fakeTwilio {
	f := &fakeTwilio{t: t, answers: map[string][]twilioAnswer{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// answer queues the answers to the next requests for the number to.
func (f *fakeTwilio) answer(to string, a ...twilioAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[to] = append(f.answers[to], a...)
}

func (f *fakeTwilio) requests() []twilioRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]twilioRequest(nil), f.got...)
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	reply := func(a twilioAnswer) {
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != twilioSID || pass != twilioToken {
		reply(twilioFailure(401, 20003, "Authenticate"))
		return
	}
	prefix := "/2010-04-01/Accounts/" + twilioSID + "/"
	resource := strings.TrimPrefix(r.URL.Path, prefix)
	if r.Method == http.MethodGet && r.URL.Path == prefix+"Messages.json" {
		// The Messages list, newest first, filtered by To and From.
		q := r.URL.Query()
		f.mu.Lock()
		f.lists = append(f.lists, q)
		list := []twilioMessage{}
		for i := len(f.took) - 1; i >= 0; i-- {
			if m := f.took[i]; (q.Get("To") == "" || m.To == q.Get("To")) && (q.Get("From") == "" || m.From == q.Get("From")) {
				list = append(list, m)
			}
		}
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"messages": list, "page": 0, "page_size": 50})
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, prefix) || (resource != "Messages.json" && resource != "Calls.json") {
		f.t.Errorf("fake twilio: %s %s", r.Method, r.URL.Path)
		reply(twilioFailure(404, 20404, "The requested resource was not found"))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("fake twilio: Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("fake twilio: %v", err)
	}
	f.mu.Lock()
	f.got = append(f.got, twilioRequest{resource, r.PostForm})
	f.n++
	n := f.n
	to := r.PostForm.Get("To")
	var a twilioAnswer
	if q := f.answers[to]; len(q) > 0 {
		a, f.answers[to] = q[0], q[1:]
	} else if resource == "Calls.json" {
		a = twilioAnswer{status: 201, body: fmt.Sprintf(`{"sid":"CA%032d","status":"queued","to":%q}`, n, to)}
	} else {
		a = twilioAnswer{status: 201, body: fmt.Sprintf(`{"sid":"SM%032d","status":"queued","to":%q}`, n, to)}
	}
	if a.status == 0 && a.lost > 0 {
		a.status, a.body = 201, fmt.Sprintf(`{"sid":"SM%032d","status":"queued","to":%q}`, n, to)
	}
	if a.status/100 == 2 && resource == "Messages.json" {
		f.took = append(f.took, twilioMessage{SID: fmt.Sprintf("SM%032d", n), To: to, From: r.PostForm.Get("From"),
			Body: r.PostForm.Get("Body"), DateCreated: time.Now().UTC().Format(time.RFC1123Z)})
	}
	f.mu.Unlock()
	if a.lost > 0 {
		select {
		case <-time.After(a.lost):
		case <-r.Context().Done():
		}
	}
	reply(a)
}

func (f *fakeTwilio) listed() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.lists...)
}

func newTwilio(t testing.TB, base, token string) *notify.Twilio {
	t.Helper()
	tw, err := notify.NewTwilio(notify.TwilioOptions{AccountSID: twilioSID, AuthToken: token, From: twilioFrom,
		BaseURL: base, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

func renderPhone(t testing.TB, channel, locale, code string) notify.Rendered {
	t.Helper()
	r, err := loadTexts(t).Render(twostep.Message{Channel: channel, To: "+33612345678", Locale: locale,
		Template: "code_sign_in", Data: phoneData(code)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTwilioSMS(t *testing.T) {
	fake := newFakeTwilio(t)
	r := renderPhone(t, "sms", "fr", "123456")
	id, err := newTwilio(t, fake.URL, twilioToken).Deliver(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	want := []twilioRequest{{"Messages.json", url.Values{"To": {"+33612345678"}, "From": {twilioFrom}, "Body": {r.Text}}}}
	if diff := cmp.Diff(want, fake.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if id != fmt.Sprintf("SM%032d", 1) {
		t.Errorf("provider id %q", id)
	}
}

// xmlNode is any XML element, to read TwiML back.
type xmlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []xmlNode  `xml:",any"`
}

// TestTwilioVoice: a call's TwiML is well-formed, says everything in the
// account's language, reads the digits singly twice, with pauses between.
func TestTwilioVoice(t *testing.T) {
	for _, tc := range []struct{ locale, lang string }{{"en", "en-US"}, {"fr", "fr-FR"}, {"ja", "ja-JP"}, {"xx", "en-US"}} {
		t.Run(tc.locale, func(t *testing.T) {
			fake := newFakeTwilio(t)
			r := renderPhone(t, "voice", tc.locale, "123456")
			r.Text = strings.Replace(r.Text, "Cloud Legal", "Smith & <Sons>", 1) // escaped, not markup
			id, err := newTwilio(t, fake.URL, twilioToken).Deliver(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			got := fake.requests()
			if len(got) != 1 || id != fmt.Sprintf("CA%032d", 1) {
				t.Fatalf("id %q, requests %+v", id, got)
			}
			twiml := got[0].Form.Get("Twiml")
			want := twilioRequest{"Calls.json", url.Values{"To": {"+33612345678"}, "From": {twilioFrom}, "Twiml": {twiml}}}
			if diff := cmp.Diff(want, got[0]); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			var root xmlNode
			if err := xml.Unmarshal([]byte(twiml), &root); err != nil {
				t.Fatalf("TwiML: %v\n%s", err, twiml)
			}
			if root.XMLName.Local != "Response" || len(root.Attrs) != 0 || strings.TrimSpace(root.Text) != "" {
				t.Errorf("root %v", root.XMLName)
			}
			var said []string
			for i, n := range root.Children {
				wantName, wantAttr := "Say", xml.Attr{Name: xml.Name{Local: "language"}, Value: tc.lang}
				if i%2 == 1 {
					wantName, wantAttr = "Pause", xml.Attr{Name: xml.Name{Local: "length"}, Value: "1"}
				}
				if n.XMLName.Local != wantName || len(n.Attrs) != 1 || n.Attrs[0] != wantAttr || len(n.Children) != 0 {
					t.Errorf("element %d: %+v, want %s %v", i, n, wantName, wantAttr)
				}
				if wantName == "Say" {
					said = append(said, n.Text)
				}
			}
			if len(root.Children)%2 != 1 || len(said) < 3 {
				t.Fatalf("TwiML:\n%s", twiml)
			}
			var digits []int
			for i, s := range said {
				if s == "1, 2, 3, 4, 5, 6." || tc.locale == "ja" && s == "1, 2, 3, 4, 5, 6。" {
					digits = append(digits, i)
				}
			}
			if len(digits) != 2 || digits[1]-digits[0] < 1 || strings.Contains(twiml, "123456") {
				t.Errorf("the digits are not read singly, twice, apart:\n%s", twiml)
			}
			if !strings.Contains(said[0], "Smith & <Sons>") || !strings.Contains(twiml, "Smith &amp; &lt;Sons&gt;") {
				t.Errorf("said %q, TwiML:\n%s", said[0], twiml)
			}
		})
	}
}

// TestTwilioErrors: Twilio's refusals are judged from its error codes and
// statuses; no error shows the token, the number or the code.
func TestTwilioErrors(t *testing.T) {
	fake := newFakeTwilio(t)
	r := renderPhone(t, "sms", "en", "123456")
	for _, tc := range []struct {
		name      string
		answer    twilioAnswer
		token     string
		permanent bool
		operator  bool
		want      string
	}{
		{"invalid number", twilioFailure(400, 21211, "The 'To' number +33612345678 is not a valid phone number."), twilioToken,
			true, false, "the 'To' number is not a valid phone number (21211)"},
		{"unverified on trial", twilioFailure(400, 21608, "The number +33612345678 is unverified. Trial accounts cannot send messages to unverified numbers"),
			twilioToken, true, false, "(21608)"},
		{"not a mobile", twilioFailure(400, 21614, "'To' number is not a valid mobile number"), twilioToken, true, false, "(21614)"},
		{"authentication", twilioAnswer{}, "wrong-token-hunter3", false, true,
			"notify: twilio: authentication failed (20003): check TWOSTEP_TWILIO_ACCOUNT_SID and TWOSTEP_TWILIO_AUTH_TOKEN"},
		{"too many requests", twilioFailure(429, 20429, "Too Many Requests"), twilioToken, false, false, "HTTP 429, error 20429"},
		{"unavailable", twilioAnswer{status: 503, body: "<html>Service Unavailable</html>"}, twilioToken, false, false, "HTTP 503"},
		{"server error", twilioFailure(500, 20500, "Internal Server Error"), twilioToken, false, false, "HTTP 500, error 20500"},
		{"other 4xx", twilioFailure(400, 21617, "The concatenated message body exceeds the 1600 character limit"), twilioToken,
			true, false, "HTTP 400, error 21617: The concatenated message body exceeds the … character limit"},
	} {
		if tc.answer.status != 0 {
			fake.answer(r.To, tc.answer)
		}
		_, err := newTwilio(t, fake.URL, tc.token).Deliver(context.Background(), r)
		if err == nil || notify.IsPermanent(err) != tc.permanent || notify.IsOperator(err) != tc.operator ||
			!strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "notify: twilio: ") {
			t.Errorf("%s: %v (permanent %v, operator %v); want %q, permanent %v, operator %v", tc.name, err,
				notify.IsPermanent(err), notify.IsOperator(err), tc.want, tc.permanent, tc.operator)
			continue
		}
		for _, secret := range []string{twilioToken, tc.token, "123456", "612345678"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q holds %q", tc.name, err, secret)
			}
		}
	}

	// Unreachable: temporary, without the URL.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	_, err := newTwilio(t, down.URL, twilioToken).Deliver(context.Background(), r)
	if err == nil || notify.IsPermanent(err) || strings.Contains(err.Error(), twilioSID) {
		t.Errorf("unreachable: %v", err)
	}
	// What Twilio cannot carry is refused without asking it.
	n := len(fake.requests())
	for _, m := range []notify.Rendered{{Channel: "sms", To: "0612345678", Text: "x"}, {Channel: "email", To: "+33612345678", Text: "x"}} {
		if _, err := newTwilio(t, fake.URL, twilioToken).Deliver(context.Background(), m); !notify.IsPermanent(err) {
			t.Errorf("%+v: %v", m, err)
		}
	}
	if len(fake.requests()) != n {
		t.Error("Twilio was asked to carry what it cannot")
	}
}

func TestNewTwilioRefuses(t *testing.T) {
	ok := notify.TwilioOptions{AccountSID: twilioSID, AuthToken: twilioToken, From: twilioFrom}
	for _, tc := range []struct {
		change func(*notify.TwilioOptions)
		want   string
	}{
		{func(o *notify.TwilioOptions) { o.AccountSID = "" }, "account SID"},
		{func(o *notify.TwilioOptions) { o.AuthToken = "" }, "auth token"},
		{func(o *notify.TwilioOptions) { o.From = "" }, "From"},
		{func(o *notify.TwilioOptions) { o.BaseURL = "ftp://api.twilio.com" }, `scheme "ftp"`},
		{func(o *notify.TwilioOptions) { o.BaseURL = "api.twilio.com" }, "scheme"},
		{func(o *notify.TwilioOptions) { o.BaseURL = "https://" }, "no host"},
		{func(o *notify.TwilioOptions) { o.BaseURL = "https://u:" + twilioToken + "@api.twilio.com" }, "unexpected user"},
		{func(o *notify.TwilioOptions) { o.BaseURL = "https://api.twilio.com/?x" }, "query"},
	} {
		o := ok
		tc.change(&o)
		_, err := notify.NewTwilio(o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "notify: twilio: ") ||
			strings.Contains(err.Error(), twilioToken) {
			t.Errorf("NewTwilio(%+v): %v, want an error about %q", o, err, tc.want)
		}
	}
	for _, base := range []string{"", "https://api.twilio.com", "http://127.0.0.1:8080/", "https://api.dublin.ie1.twilio.com"} {
		o := ok
		o.BaseURL = base
		if _, err := notify.NewTwilio(o); err != nil {
			t.Errorf("NewTwilio(BaseURL %q): %v", base, err)
		}
	}
}

// TestTwilioThroughWorker: a 503 is retried and the SMS sent once, a 21211
// fails for good at once, refused credentials are logged as the operator's
// problem and retried, a call goes as a call; the log holds no code and no
// token.
func TestTwilioThroughWorker(t *testing.T) {
	db := storetest.SQLite(t)
	sealer := twosteptest.NewSealer(t)
	fake := newFakeTwilio(t)
	now := t0
	var logs bytes.Buffer
	worker := func(token string) *notify.Worker {
		tw := newTwilio(t, fake.URL, token)
		return notify.NewWorker(notify.WorkerOptions{Store: db, Sealer: sealer, Texts: loadTexts(t),
			Transports: map[string]notify.Transport{"sms": tw, "voice": tw},
			Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Clock:      func() time.Time { return now }})
	}
	w := worker(twilioToken)
	pass := func(w *notify.Worker, want int) {
		t.Helper()
		if n, err := w.DeliverDue(context.Background()); err != nil || n != want {
			t.Fatalf("DeliverDue at +%v = %d, %v; want %d", now.Sub(t0), n, err, want)
		}
	}
	phone := func(id, channel, to, code string) {
		enqueueMessage(t, db, sealer, &twostep.OutboxMessage{ID: id, Channel: channel, To: to, Locale: "fr",
			Template: "code_sign_in"}, phoneData(code), now)
	}
	phone("msg_retry", "sms", "+33611111111", "111111")
	phone("msg_invalid", "sms", "+33622222222", "222222")
	phone("msg_call", "voice", "+33633333333", "333333")
	fake.answer("+33611111111", twilioAnswer{status: 503, body: `{"code":20503,"message":"Service Unavailable","status":503}`})
	fake.answer("+33622222222", twilioFailure(400, 21211, "The 'To' number +33622222222 is not a valid phone number."))

	pass(w, 3)
	if diff := cmp.Diff(outcome{Status: twostep.MessagePending, Attempts: 1, NextAttemptAt: t0.Add(2 * time.Second), Sealed: true},
		outcomeOf(message(t, db, "msg_retry"))); diff != "" {
		t.Errorf("msg_retry after a 503 (-want +got):\n%s", diff)
	}
	invalid := message(t, db, "msg_invalid")
	if diff := cmp.Diff(outcome{Status: twostep.MessageFailed, Attempts: 1, Permanent: true}, outcomeOf(invalid)); diff != "" ||
		!strings.Contains(invalid.Error, "21211") {
		t.Errorf("msg_invalid (-want +got):\n%s\nerror %q", diff, invalid.Error)
	}
	if got := outcomeOf(message(t, db, "msg_call")); got.Status != twostep.MessageSent || !got.Sent {
		t.Errorf("msg_call: %+v", got)
	}
	now = t0.Add(2 * time.Second)
	pass(w, 1)
	if got := outcomeOf(message(t, db, "msg_retry")); got.Status != twostep.MessageSent || got.Attempts != 2 || !got.Sent {
		t.Errorf("msg_retry: %+v", got)
	}
	now = t0.Add(time.Hour)
	pass(w, 0)

	byTo := map[string][]string{}
	for _, r := range fake.requests() {
		byTo[r.Form.Get("To")] = append(byTo[r.Form.Get("To")], r.Resource)
	}
	want := map[string][]string{"+33611111111": {"Messages.json", "Messages.json"}, "+33622222222": {"Messages.json"},
		"+33633333333": {"Calls.json"}}
	if diff := cmp.Diff(want, byTo); diff != "" {
		t.Errorf("requests to Twilio (-want +got):\n%s", diff)
	}

	// Refused credentials: the operator is told, the message waits.
	now = t0.Add(2 * time.Hour)
	phone("msg_auth", "sms", "+33644444444", "444444")
	pass(worker("wrong-token-hunter3"), 1)
	if got := message(t, db, "msg_auth"); got.Status != twostep.MessagePending || got.Permanent ||
		!strings.Contains(got.Error, "authentication failed (20003)") {
		t.Errorf("msg_auth: %+v", got)
	}
	log := logs.String()
	if !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "the operator must act") ||
		!strings.Contains(log, "TWOSTEP_TWILIO_AUTH_TOKEN") {
		t.Errorf("log does not tell the operator:\n%s", log)
	}
	for _, secret := range []string{"111111", "222222", "333333", "444444", "1, 1, 1", twilioToken, "hunter3"} {
		if strings.Contains(log, secret) {
			t.Errorf("log holds %q:\n%s", secret, log)
		}
	}
}
