package main

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

// TestDefaultSenderNeverAnIP: the default sender is at the base URL's host
// when it is a name, never at an IP address; the SMTP greeting names the
// base URL's host, or its address literal. Issue 12, item 6.
func TestDefaultSenderNeverAnIP(t *testing.T) {
	for _, tc := range []struct{ base, listen, smtp, from, helo string }{
		{"https://auth.example.com", "", "", "no-reply@auth.example.com", "auth.example.com"},
		{"https://auth.example.com", "", "smtp://mailer%40example.org:pw@mail.example.org:587", "no-reply@auth.example.com", "auth.example.com"},
		{"http://192.0.2.1:8080", "", "", "no-reply@localhost", "[192.0.2.1]"},
		// At an IP address: the relay's account, when it is an address (issue 20).
		{"http://192.0.2.1:8080", "", "smtp://mailer%40example.org:pw@mail.example.org:587", "mailer@example.org", "[192.0.2.1]"},
		{"http://192.0.2.1:8080", "", "smtp://apikey:pw@mail.example.org:587", "no-reply@localhost", "[192.0.2.1]"},
		{"http://[2001:db8::1]:8080", "", "", "no-reply@localhost", "[IPv6:2001:db8::1]"},
		{"", "127.0.0.1:8080", "", "no-reply@localhost", "[127.0.0.1]"},
		{"", "localhost:8080", "", "no-reply@localhost", "localhost"},
	} {
		c := &Config{SMTPURL: tc.smtp}
		if tc.base != "" {
			c.BaseURL, _ = url.Parse(tc.base)
			c.baseURLSet = true
		}
		c.setBaseURL(tc.listen)
		if c.MailFrom != tc.from || heloName(c.BaseURL.Hostname()) != tc.helo {
			t.Errorf("base %q, listen %q: from %q, HELO %q; want %q, %q", tc.base, tc.listen, c.MailFrom,
				heloName(c.BaseURL.Hostname()), tc.from, tc.helo)
		}
	}
}

// TestBacklogWhileDatabaseDown: while the outbox cannot be counted, the
// backlog is not reported (it was -1, which reads as a number) and the failure
// is counted. Issue 12, item 6.
func TestBacklogWhileDatabaseDown(t *testing.T) {
	down := true
	m := newMetrics()
	m.watch(twostep.NewHasher(twosteptest.CheapArgon2, 1, 1, time.Second, rand.Reader),
		func(context.Context) (int, error) {
			if down {
				return 0, errors.New("store: database is down")
			}
			return 3, nil
		})
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "twostep_outbox_backlog") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n")
	}
	if got, want := scrape(), "twostep_outbox_backlog_read_failures_total 1"; got != want {
		t.Errorf("database down:\n%s\nwant\n%s", got, want)
	}
	down = false
	if got, want := scrape(), "twostep_outbox_backlog 3\ntwostep_outbox_backlog_read_failures_total 1"; got != want {
		t.Errorf("database back:\n%s\nwant\n%s", got, want)
	}
}
