package main

import (
	"encoding/base32"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/notify/smtptest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

// TestSecretsNeverLeak runs the journeys of every method with the server's
// logs captured, in text and in JSON, and fails if a password, code, recovery
// code, seed or token shows up in the logs, the audit events, the error
// bodies or the metrics (AU-02).
func TestSecretsNeverLeak(t *testing.T) { // AU-02, NT-03
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) { leakJourneys(t, format) })
	}
}

func leakJourneys(t *testing.T, format string) {
	ms := smtptest.NewServer(t, smtptest.Options{Mode: "plain"})
	tw := &fakeTwilio{}
	fake := newHTTPServer(t, tw)
	dir := t.TempDir()
	const pw = "a long and good password"
	env := []string{"TWOSTEP_LOG_FORMAT=" + format, "TWOSTEP_SMTP_URL=smtp+insecure://" + ms.Addr,
		"TWOSTEP_SMS_PROVIDER=twilio", "TWOSTEP_TWILIO_BASE_URL=" + fake, "TWOSTEP_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef",
		"TWOSTEP_TWILIO_AUTH_TOKEN=token-for-tests", "TWOSTEP_TWILIO_FROM=+15005550006"}
	if r := runCmd(t, dir, env, pw+"\n", "org", "create", "--name", "Cloud Legal", "--owner", "joe@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	srv := serve(t, dir, env)
	api := srv.url + "/api/v1"
	var secrets []string
	keep := func(s ...string) { secrets = append(secrets, s...) }
	var bodies strings.Builder
	do := func(method, path, token string, body any) map[string]any {
		t.Helper()
		st, res := call(t, method, api+path, token, body)
		if st >= 400 {
			bodies.WriteString(strings.Join([]string{method, path, res["code"].(string), res["detail"].(string)}, " ") + "\n")
		}
		return res
	}
	keep(pw, "token-for-tests", "wrong password guess")
	do("POST", "/sign-in", "", map[string]string{"email": "joe@example.com", "password": "wrong password guess"})
	session := do("POST", "/sign-in", "", map[string]string{"email": "joe@example.com", "password": pw})["session_token"].(string)
	keep(session)

	// Authenticator app, with a wrong code and a replay.
	f := do("POST", "/account/factors", session, map[string]string{"method": "totp"})
	keep(f["secret"].(string))
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(f["secret"].(string))
	step := twostep.TOTPStep(time.Now())
	first := twostep.TOTPCode(secret, step)
	keep(first)
	do("POST", "/account/factors/"+f["id"].(string)+"/verify", session, map[string]string{"code": "000000"})
	res := do("POST", "/account/factors/"+f["id"].(string)+"/verify", session, map[string]string{"code": first})
	var recovery []string
	for _, c := range res["recovery_codes"].([]any) {
		recovery = append(recovery, c.(string))
	}
	keep(recovery...)
	signIn := do("POST", "/sign-in", "", map[string]string{"email": "joe@example.com", "password": pw})["sign_in_token"].(string)
	keep(signIn)
	do("POST", "/sign-in/verify", "", map[string]string{"sign_in_token": signIn, "method": "totp", "code": first}) // replay
	next := twostep.TOTPCode(secret, step+1)
	keep(next)
	session = do("POST", "/sign-in/verify", "", map[string]string{"sign_in_token": signIn, "method": "totp", "code": next})["session_token"].(string)
	keep(session)

	// E-mail and SMS methods, with codes from the SMTP server and the fake Twilio.
	before := len(ms.Received())
	f = do("POST", "/account/factors", session, map[string]string{"method": "email"})
	code := codeAfter(t, ms, before)
	keep(code)
	do("POST", "/account/factors/"+f["id"].(string)+"/verify", session, map[string]string{"code": code})
	f = do("POST", "/account/factors", session, map[string]string{"method": "sms", "phone": "+33612345678"})
	sms := sixDigits.FindString(tw.wait(t, 1).Get("Body"))
	keep(sms)
	do("POST", "/account/factors/"+f["id"].(string)+"/verify", session, map[string]string{"code": sms})

	// A recovery code sign-in, identity confirmation, new codes, a password reset.
	signIn = do("POST", "/sign-in", "", map[string]string{"email": "joe@example.com", "password": pw})["sign_in_token"].(string)
	keep(signIn)
	session = do("POST", "/sign-in/verify", "", map[string]string{"sign_in_token": signIn, "method": "recovery_code", "code": recovery[0]})["session_token"].(string)
	keep(session)
	// The notice of the used recovery code arrives first.
	twosteptest.WaitFor(t, 10*time.Second, "the outbox to empty", func() bool { return srv.delivered(t) })
	before = len(ms.Received())
	do("POST", "/account/confirm-identity/send", session, map[string]string{"method": "email"})
	code = codeAfter(t, ms, before)
	keep(code)
	confirmed := do("POST", "/account/confirm-identity", session, map[string]string{"password": pw, "method": "email", "code": code})
	if confirmed["session_token"] == nil {
		t.Fatalf("confirm identity: %v", confirmed)
	}
	keep(confirmed["session_token"].(string))
	for _, c := range do("POST", "/account/recovery-codes", confirmed["session_token"].(string), nil)["recovery_codes"].([]any) {
		keep(c.(string))
	}
	do("POST", "/password-reset", "", map[string]string{"email": "joe@example.com"})
	resetLink := regexp.MustCompile(`/reset-password/([A-Za-z0-9_-]{43})`)
	// In the parsed text: the raw message is quoted-printable, where the link
	// may be cut by a soft line break (the sleep this wait replaced found none).
	twosteptest.WaitFor(t, 10*time.Second, "the password-reset link", func() bool {
		for _, m := range ms.Received() {
			if l := resetLink.FindStringSubmatch(smtptest.Parse(t, m.Data).Text); l != nil {
				keep(l[1])
				return true
			}
		}
		return false
	})
	_, audit := send(t, "GET", api+"/org/audit?limit=200", confirmed["session_token"].(string), "", nil)
	resp, err := http.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	srv.stop(t, 15)

	if len(audit) < 500 || !strings.Contains(srv.output(), "level") {
		t.Fatalf("too little was captured to judge: audit %d bytes, logs:\n%s", len(audit), srv.output())
	}
	where := map[string]string{"logs": srv.output(), "audit events": string(audit), "error bodies": bodies.String(), "metrics": string(metricsText)}
	for name, text := range where {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s hold a secret %.6q…", name, s)
			}
		}
	}
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
