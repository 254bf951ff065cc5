package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/notify/smtptest"
	"github.com/twostep/twostep/internal/twostep"
)

// openFDs counts this process's open file descriptors; the test skips where
// /proc does not tell.
func openFDs(t testing.TB) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open descriptors: %v", err)
	}
	return len(fds)
}

// TestSMTPBadCertificateLeavesNoConnection: a server whose certificate names
// another host is refused, as an error the operator must fix, and every
// attempt closes its connection. go-mail returned from a failed STARTTLS
// without closing it: each retry left a socket here in CLOSE-WAIT and a
// session stuck on the MTA (exim allows 20). Issue 12, item 1.
func TestSMTPBadCertificateLeavesNoConnection(t *testing.T) {
	m := notify.Rendered{Channel: "email", To: "joe@example.com", Subject: "s", Text: "t"}
	for _, tc := range []struct{ mode, scheme string }{{"starttls", "smtp"}, {"implicit", "smtps"}} {
		t.Run(tc.scheme, func(t *testing.T) {
			ms := smtptest.NewServer(t, smtptest.Options{Mode: tc.mode, User: "mailer", Pass: "pw",
				CertHost: "mail.elsewhere.example"})
			// The client trusts the certificate's issuer but asks for 127.0.0.1.
			s, err := notify.NewSMTP(notify.SMTPOptions{URL: tc.scheme + "://mailer:pw@" + ms.Addr,
				From: "no-reply@id.example.com", TLSConfig: ms.TLS, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			// A leaked socket is closed by its finalizer when the heap is
			// collected, which would hide the leak here; a server with a big
			// heap collects rarely.
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			before := openFDs(t)
			const attempts = 25
			for range attempts {
				_, err := s.Deliver(context.Background(), m)
				if err == nil || notify.IsPermanent(err) || !notify.IsOperator(err) ||
					!strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "pw@") {
					t.Fatalf("Deliver: %v, want a temporary error for the operator about the certificate", err)
				}
			}
			// The server closes its side once it reads the client's close.
			var now int
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if now = openFDs(t); now <= before+1 {
					break
				}
			}
			if now > before+1 {
				t.Errorf("open descriptors went from %d to %d over %d refused attempts", before, now, attempts)
			}
			if got := ms.Received(); len(got) != 0 {
				t.Errorf("smtptest.Received %d messages", len(got))
			}
		})
	}
}

// TestOperatorErrorBacksOffHarder: a server whose certificate does not verify
// is retried after 30 s, then a minute, not every few seconds, and each
// failure is logged as an error for the operator. Issue 12, item 1.
func TestOperatorErrorBacksOffHarder(t *testing.T) {
	f := newFixture(t)
	bad := smtptest.NewServer(t, smtptest.Options{Mode: "starttls", CertHost: "mail.elsewhere.example"})
	smtp, err := notify.NewSMTP(notify.SMTPOptions{URL: "smtp://" + bad.Addr, From: "no-reply@id.example.com",
		TLSConfig: bad.TLS, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := notify.NewWorker(notify.WorkerOptions{Store: f.db, Sealer: f.sealer, Texts: loadTexts(t),
		Transports: map[string]notify.Transport{"email": smtp},
		Logger:     slog.New(slog.NewJSONHandler(&f.log, nil)), Clock: func() time.Time { return f.now }})
	enqueue(t, f.db, f.sealer, "msg_a", "code_sign_in", codeData("493817"), t0)
	for _, want := range []time.Duration{30 * time.Second, 30*time.Second + time.Minute} {
		f.pass(t, w, 1)
		got := message(t, f.db, "msg_a")
		if got.Status != twostep.MessagePending || !got.NextAttemptAt.Equal(t0.Add(want)) {
			t.Fatalf("after attempt %d: %s, next at +%v; want pending, next at +%v", got.Attempts, got.Status,
				got.NextAttemptAt.Sub(t0), want)
		}
		f.now = got.NextAttemptAt
	}
	for _, line := range strings.Split(strings.TrimSpace(f.log.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["level"] != "ERROR" || !strings.Contains(fmt.Sprint(rec["err"]), "certificate") {
			t.Errorf("log record %s: want an ERROR with the certificate's failure under \"err\"", line)
		}
	}
}
