package main

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

// fakeTwilio speaks the shape of Twilio's REST API: it keeps what it is sent.
type fakeTwilio struct {
	mu   sync.Mutex
	sent []url.Values // form of each request, with "path" added
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != "AC0123456789abcdef0123456789abcdef" || pass != "token-for-tests" {
		w.WriteHeader(401)
		io.WriteString(w, `{"code":20003,"message":"Authenticate","status":401}`)
		return
	}
	r.ParseForm()
	form := r.PostForm
	form.Set("path", r.URL.Path)
	f.mu.Lock()
	f.sent = append(f.sent, form)
	n := len(f.sent)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	io.WriteString(w, `{"sid":"SM`+strings.Repeat("0", 31)+string(rune('0'+n%10))+`"}`)
}

// wait returns the n-th request once it has come.
func (f *fakeTwilio) wait(t *testing.T, n int) url.Values {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		f.mu.Lock()
		if len(f.sent) >= n {
			v := f.sent[n-1]
			f.mu.Unlock()
			return v
		}
		f.mu.Unlock()
	}
	t.Fatalf("Twilio got fewer than %d requests", n)
	return nil
}

// call sends a JSON request to the server and decodes the answer.
func call(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	status, b := send(t, method, url, token, "", body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return status, out
}

var sixDigits = regexp.MustCompile(`\d{6}`)

// TestPhoneThroughTwilio runs the binary with the Twilio provider pointed at a
// fake Twilio and signs in with codes by SMS and by call, through the API.
func TestPhoneThroughTwilio(t *testing.T) {
	tw := &fakeTwilio{}
	fake := httptest.NewServer(tw)
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	env := []string{"TWOSTEP_SMS_PROVIDER=twilio", "TWOSTEP_TWILIO_BASE_URL=" + fake.URL,
		"TWOSTEP_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "TWOSTEP_TWILIO_AUTH_TOKEN=token-for-tests",
		"TWOSTEP_TWILIO_FROM=+15005550006", "TWOSTEP_SMS_COUNTRIES=FR,JP"}
	if r := runCmd(t, dir, env, "a long and good password\n", "org", "create", "--name", "Cloud Legal", "--owner", "joe@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	srv := serve(t, dir, env)
	api := srv.url + "/api/v1"
	st, b := call(t, "POST", api+"/sign-in", "", map[string]string{"email": "joe@example.com", "password": "a long and good password"})
	if st != 200 {
		t.Fatalf("sign-in: %d %v", st, b)
	}
	session := b["session_token"].(string)
	if st, b := call(t, "PATCH", api+"/account/settings", session, map[string]string{"locale": "fr"}); st != 200 {
		t.Fatalf("settings: %d %v", st, b)
	}
	if st, b := call(t, "POST", api+"/account/factors", session, map[string]string{"method": "sms", "phone": "(201) 555-0123", "country": "US"}); st != 400 || !strings.Contains(b["detail"].(string), "numbers in US cannot receive codes") {
		t.Errorf("US number with FR,JP allowed: %d %v", st, b)
	}
	st, b = call(t, "POST", api+"/account/factors", session, map[string]string{"method": "sms", "phone": "06 12 34 56 78", "country": "FR"})
	if st != 201 {
		t.Fatalf("add phone: %d %v", st, b)
	}
	id := b["id"].(string)
	sms := tw.wait(t, 1)
	if sms.Get("path") != "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json" ||
		sms.Get("To") != "+33612345678" || sms.Get("From") != "+15005550006" {
		t.Errorf("enrolment SMS request: %v", sms)
	}
	code := sixDigits.FindString(sms.Get("Body"))
	if !strings.HasSuffix(sms.Get("Body"), "\n@127.0.0.1 #"+code) {
		t.Errorf("SMS body does not end with the WebOTP line:\n%s", sms.Get("Body"))
	}
	if st, b := call(t, "POST", api+"/account/factors/"+id+"/verify", session, map[string]string{"code": code}); st != 200 {
		t.Fatalf("verify phone: %d %v", st, b)
	}

	st, b = call(t, "POST", api+"/sign-in", "", map[string]string{"email": "joe@example.com", "password": "a long and good password"})
	if st != 200 || b["default_method"] != "sms" || b["code_sent"] == nil {
		t.Fatalf("sign-in: %d %v", st, b)
	}
	token := b["sign_in_token"].(string)
	tw.wait(t, 2)
	if st, b := call(t, "POST", api+"/sign-in/send", "", map[string]string{"sign_in_token": token, "method": "voice"}); st != 202 {
		t.Fatalf("call me instead: %d %v", st, b)
	}
	voice := tw.wait(t, 3)
	if !strings.HasSuffix(voice.Get("path"), "/Calls.json") || voice.Get("To") != "+33612345678" {
		t.Errorf("call request: %v", voice)
	}
	var twiml struct {
		Says []struct {
			Language string `xml:"language,attr"`
			Text     string `xml:",chardata"`
		} `xml:"Say"`
	}
	if err := xml.Unmarshal([]byte(voice.Get("Twiml")), &twiml); err != nil || len(twiml.Says) == 0 {
		t.Fatalf("TwiML %q: %v", voice.Get("Twiml"), err)
	}
	var digits string
	for _, s := range twiml.Says {
		if s.Language != "fr-FR" {
			t.Errorf("Say in %q, want fr-FR for a French account", s.Language)
		}
		digits += s.Text
	}
	spoken := regexp.MustCompile(`(\d), (\d), (\d), (\d), (\d), (\d)`).FindStringSubmatch(digits)
	if spoken == nil {
		t.Fatalf("the call does not read six digits one by one:\n%s", digits)
	}
	code = strings.Join(spoken[1:], "")
	st, b = call(t, "POST", api+"/sign-in/verify", "", map[string]string{"sign_in_token": token, "method": "voice", "code": code})
	if st != 200 || !strings.Contains(strings.Join(toStrings(b["amr"]), ","), "tel") {
		t.Errorf("verify by call: %d %v", st, b)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestKeysRotate rotates the key while a server runs: the server keeps
// verifying authenticator codes, and every seed ends up under the new key.
func TestKeysRotate(t *testing.T) {
	dir := t.TempDir()
	if r := runCmd(t, dir, nil, "a long and good password\n", "org", "create", "--name", "Cloud Legal", "--owner", "joe@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	srv := serve(t, dir, nil)
	api := srv.url + "/api/v1"
	_, b := call(t, "POST", api+"/sign-in", "", map[string]string{"email": "joe@example.com", "password": "a long and good password"})
	session := b["session_token"].(string)
	st, b := call(t, "POST", api+"/account/factors", session, map[string]string{"method": "totp"})
	if st != 201 {
		t.Fatalf("add totp: %d %v", st, b)
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b["secret"].(string))
	now := time.Now()
	if st, b := call(t, "POST", api+"/account/factors/"+b["id"].(string)+"/verify", session, map[string]string{"code": twostep.TOTPCode(secret, twostep.TOTPStep(now))}); st != 200 {
		t.Fatalf("verify: %d %v", st, b)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "twostep-data", "secret.key"))

	r := runCmd(t, dir, nil, "", "keys", "rotate", "--wait", "0s")
	if r.code != 0 || !strings.Contains(r.stdout, "re-sealed 1 authenticator seeds") {
		t.Fatalf("keys rotate: %+v", r)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "twostep-data", "secret.key"))
	lines := strings.Split(strings.TrimSpace(string(after)), "\n")
	if len(lines) != 2 || lines[1] != strings.TrimSpace(string(before)) {
		t.Fatalf("key file after rotation:\n%s\nwant a new first line and the old key kept", after)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "twostep-data", "secret.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	// The running server learns the new key on SIGHUP and signs in with the app.
	// Until it has read the file it cannot open the re-sealed seed: a 500, with
	// nothing counted (the attempt's transaction is undone).
	srv.cmd.Process.Signal(syscall.SIGHUP)
	twosteptest.WaitFor(t, 10*time.Second, "the server to read the new key after SIGHUP", func() bool {
		_, b = call(t, "POST", api+"/sign-in", "", map[string]string{"email": "joe@example.com", "password": "a long and good password"})
		st, b = call(t, "POST", api+"/sign-in/verify", "", map[string]string{"sign_in_token": b["sign_in_token"].(string), "method": "totp",
			"code": twostep.TOTPCode(secret, twostep.TOTPStep(now)+1)})
		return st != 500
	})
	if st != 200 {
		t.Errorf("sign-in with the app after rotation: %d %v", st, b)
	}
	db := storetest.Open(t, "sqlite:"+filepath.Join(dir, "twostep-data", "twostep.db"))
	factors, err := db.SealedFactors(context.Background(), "", 10)
	newID, _, _ := strings.Cut(lines[0], ":")
	if err != nil || len(factors) != 1 || !strings.HasPrefix(string(factors[0].Secret), newID+":") {
		t.Errorf("seed after rotation: %v %v, want it sealed under %s", factors, err, newID)
	}
}
