package verify_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/verify"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is the real Verify handler over the real service and store, with
// one organisation and an API key of it.
type fixture struct {
	t       *testing.T
	srv     *httptest.Server
	svc     *twostep.Service
	db      *store.DB
	sealer  *twostep.Sealer
	clock   *clock
	keyID   string
	secret  string
	orgID   string
	service string // a VA… made by the fixture
}

type options struct {
	db        *store.DB
	countries []string
	orgDaily  int
	phone     twostep.PhoneLimits
}

func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	if o.db == nil {
		o.db = storetest.SQLite(t)
	}
	line, _ := twostep.NewKeyLine("k1", rand.Reader)
	keys, _ := twostep.ParseKeys([]byte(line))
	sealer, err := twostep.NewSealer(keys, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 11, 23, 9, 0, 15, 0, time.UTC)}
	svc, err := twostep.New(twostep.Options{Store: o.db, Sealer: sealer, Rand: rand.Reader, Clock: c.Now,
		Methods: []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodSMS, twostep.MethodVoice},
		BaseURL: "https://id.example.com", SMSCountries: o.countries, PhoneLimits: o.phone,
		Verify: twostep.VerifyOptions{OrgDaily: o.orgDaily},
		Hasher: twostep.NewHasher(twostep.Argon2Params{Memory: 64, Time: 1, Threads: 1}, 4, 100, time.Second, rand.Reader)})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://id.example.com")
	srv := httptest.NewServer(verify.New(verify.Options{Service: svc, BaseURL: base}))
	t.Cleanup(srv.Close)
	f := &fixture{t: t, srv: srv, svc: svc, db: o.db, sealer: sealer, clock: c}
	f.orgID, f.keyID, f.secret = f.newOrg("Cloud Legal")
	st, body, _ := f.post("/v2/Services", url.Values{"FriendlyName": {"TuneCore"}})
	f.want(st, http.StatusCreated, body, "create service")
	f.service = body["sid"].(string)
	return f
}

// newOrg makes an organisation and an API key of it.
func (f *fixture) newOrg(name string) (orgID, keyID, secret string) {
	f.t.Helper()
	ctx := context.Background()
	org, _, _, err := f.svc.CreateOrg(ctx, twostep.NewOrg{Name: name, OwnerEmail: "owner@" + strings.ToLower(strings.ReplaceAll(name, " ", "")) + ".example", Password: "correct horse battery"})
	if err != nil {
		f.t.Fatal(err)
	}
	k, secret, err := f.svc.CreateAPIKey(ctx, nil, org.ID, "backend")
	if err != nil {
		f.t.Fatal(err)
	}
	return org.ID, k.ID, secret
}

// do sends what Twilio's SDKs send: a form body, HTTP Basic with the key
// id and secret, Accept: application/json and the SDK's User-Agent.
func (f *fixture) do(method, path string, form url.Values, auth ...string) (int, map[string]any, *http.Response) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "twilio-go/1.26.0 (linux amd64) go/1.26")
	id, secret := f.keyID, f.secret
	if len(auth) == 2 {
		id, secret = auth[0], auth[1]
	}
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		f.t.Fatalf("%s %s: not JSON (%v): %s", method, path, err, raw)
	}
	return resp.StatusCode, out, resp
}

func (f *fixture) post(path string, form url.Values, auth ...string) (int, map[string]any, *http.Response) {
	f.t.Helper()
	return f.do("POST", path, form, auth...)
}

func (f *fixture) want(got, want int, body map[string]any, what string) {
	f.t.Helper()
	if got != want {
		f.t.Fatalf("%s: status %d, want %d; body %v", what, got, want, body)
	}
}

// wantError checks Twilio's error shape: {"code","message","more_info","status"}.
func (f *fixture) wantError(got int, body map[string]any, status, code int, what string) {
	f.t.Helper()
	if got != status || body["code"] != float64(code) || body["status"] != float64(status) ||
		body["more_info"] != "https://www.twilio.com/docs/errors/"+itoa(code) || body["message"] == "" {
		f.t.Fatalf("%s: status %d body %v, want %d with code %d", what, got, body, status, code)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// sent takes the queued messages as the delivery worker would and returns
// the newest code_verify message to to: its channel and code.
func (f *fixture) sent(to string) (string, string) {
	f.t.Helper()
	ctx := context.Background()
	now := f.clock.Now()
	msgs, err := f.db.ClaimMessages(ctx, now, now.Add(time.Minute), 100)
	if err != nil {
		f.t.Fatal(err)
	}
	var channel, code string
	for _, m := range msgs {
		raw, err := f.sealer.Open(m.Payload, []byte(m.ID))
		if err != nil {
			f.t.Fatal(err)
		}
		var data map[string]string
		json.Unmarshal(raw, &data)
		if m.Template == "code_verify" && m.To == to {
			channel, code = m.Channel, data["code"]
			if data["issuer"] != "TuneCore" {
				f.t.Errorf("message names %q, want the service's name", data["issuer"])
			}
		}
		m.Status, m.SentAt = twostep.MessageSent, now
		if err := f.db.FinishMessage(ctx, m); err != nil {
			f.t.Fatal(err)
		}
	}
	if code == "" {
		f.t.Fatalf("no code_verify message to %s", to)
	}
	return channel, code
}

func (f *fixture) path(rest string) string { return "/v2/Services/" + f.service + rest }

func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

var _ = cmp.Diff
