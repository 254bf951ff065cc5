package main

import (
	"io"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/notify/smtptest"
)

// status answers the status of GET url.
func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeHTTPSNoDevOutbox: a TOTP-only server (no SMTP, no SMS provider)
// with an https base URL is not in dev mode: nobody reads reset and invitation
// links at the outbox, and the log says what cannot be delivered (issue 11,
// item 11; API.md §2 TWOSTEP_DEV, §5).
func TestServeHTTPSNoDevOutbox(t *testing.T) {
	srv := serve(t, t.TempDir(), []string{"TWOSTEP_BASE_URL=https://auth.example.com"})
	for _, path := range []string{"/api/v1/dev/outbox", "/dev/outbox"} {
		if got := status(t, srv.url+path); got != 404 {
			t.Errorf("GET %s: %d, want 404", path, got)
		}
	}
	out := srv.output()
	if strings.Contains(out, "Dev mode") {
		t.Errorf("the banner announces dev mode:\n%s", out)
	}
	if !strings.Contains(out, "password reset links, invitations and notices cannot be delivered") {
		t.Errorf("the log does not say what cannot be delivered:\n%s", out)
	}
}

var metricsAt = regexp.MustCompile(`Metrics at (http://\S+)\n`)

// TestServeMetricsListen: with TWOSTEP_METRICS_LISTEN, /metrics is served on
// that listener and not on the main address (API.md §3.4; issue 11, item 16).
func TestServeMetricsListen(t *testing.T) {
	srv := serve(t, t.TempDir(), []string{"TWOSTEP_METRICS_LISTEN=127.0.0.1:0"})
	m := metricsAt.FindStringSubmatch(srv.output())
	if m == nil {
		t.Fatalf("no metrics address in the banner:\n%s", srv.output())
	}
	if got := status(t, m[1]); got != 200 {
		t.Errorf("GET %s: %d, want 200", m[1], got)
	}
	if got := status(t, srv.url+"/metrics"); got != 404 {
		t.Errorf("GET /metrics on the main address: %d, want 404", got)
	}
	if code := srv.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, srv.output())
	}
}

// TestShutdownDuringDelivery: SIGTERM while an e-mail is in the SMTP server's
// hands. serve waits for the delivery and records it before closing the
// database, so after a restart nothing is sent again: exactly one delivery
// (issue 11, item 8).
func TestShutdownDuringDelivery(t *testing.T) {
	dir := t.TempDir()
	ms := smtptest.NewServer(t, smtptest.Options{Mode: "plain"})
	env := []string{"TWOSTEP_SMTP_URL=smtp+insecure://" + ms.Addr}
	if r := runCmd(t, dir, env, "a long and good password\n", "org", "create", "--name", "Cloud Legal", "--owner", "joe@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	srv := serve(t, dir, env)
	before := len(ms.Received())
	held, release := ms.Hold()
	defer release()
	if st, b := call(t, "POST", srv.url+"/api/v1/password-reset", "", map[string]string{"email": "joe@example.com"}); st != 202 {
		t.Fatalf("password-reset: %d %v", st, b)
	}
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the reset e-mail never reached the SMTP server")
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond) // serve is shutting down, the delivery still in flight
	release()
	if code := srv.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, srv.output())
	}
	if n := len(ms.Received()) - before; n != 1 {
		t.Fatalf("%d deliveries before the restart, want 1", n)
	}

	// After a restart the outbox must hold nothing left to send: a delivery
	// whose outcome was lost would be sent again once its lease ran out.
	srv = serve(t, dir, env)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if backlog := metric(t, srv.url, "twostep_outbox_backlog"); backlog == "0" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("outbox backlog %s a minute after the restart", backlog)
		}
	}
	if n := len(ms.Received()) - before; n != 1 {
		t.Errorf("%d deliveries of the reset e-mail in all, want exactly 1", n)
	}
}

// metric returns the value of an unlabelled metric at url/metrics.
func metric(t *testing.T, url, name string) string {
	t.Helper()
	resp, err := httpClient.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /metrics (%d):\n%s", name, resp.StatusCode, b)
	}
	return string(m[1])
}
