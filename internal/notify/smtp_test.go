package notify_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/notify/smtptest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestSMTPDelivers holds a real SMTP conversation in each of the three modes,
// with authentication, and reads the message as a mail client would.
func TestSMTPDelivers(t *testing.T) {
	texts := loadTexts(t).WithProduct("Cloud Légal")
	r, err := texts.Render(twostep.Message{Channel: "email", To: "joe@example.com", Locale: "fr", Template: "code_sign_in",
		Data: map[string]string{"code": "493817", "minutes": "10", "issuer": "Cloud Légal", "email": "joe@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mode, scheme string }{
		{"plain", "smtp+insecure"},
		{"starttls", "smtp"},
		{"implicit", "smtps"},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			ms := smtptest.NewServer(t, smtptest.Options{Mode: tc.mode, User: "mailer", Pass: "s3cret/+"})
			s, err := notify.NewSMTP(notify.SMTPOptions{URL: tc.scheme + "://mailer:s3cret%2F+@" + ms.Addr,
				From: "no-reply@id.example.com", FromName: "Cloud Légal", TLSConfig: ms.TLS, Timeout: 5 * time.Second,
				HELO: "id.example.com"})
			if err != nil {
				t.Fatal(err)
			}
			id, err := s.Deliver(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			got := ms.Received()
			if len(got) != 1 {
				t.Fatalf("smtptest.Received %d messages", len(got))
			}
			if diff := cmp.Diff(smtptest.Received{From: "no-reply@id.example.com", To: []string{"joe@example.com"}}, got[0],
				cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Data" }, cmp.Ignore())); diff != "" {
				t.Errorf("envelope (-want +got):\n%s", diff)
			}
			p := smtptest.Parse(t, got[0].Data)
			want := smtptest.Parsed{FromName: "Cloud Légal", FromAddr: "no-reply@id.example.com", To: "joe@example.com",
				Subject: "Cloud Légal : Votre code de vérification pour la connexion", MessageID: "<" + id + ">",
				AutoSubmitted: "auto-generated"} // RFC 3834; issue 12, item 5
			if diff := cmp.Diff(want, p, cmp.FilterPath(func(p cmp.Path) bool {
				s := p.Last().String()
				return s == ".Text" || s == ".HTML"
			}, cmp.Ignore())); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			// The HELO names the service, not this machine (issue 12, item 6);
			// STARTTLS greets again.
			for _, helo := range ms.HELOs() {
				if helo != "id.example.com" {
					t.Errorf("HELO %q, want id.example.com", helo)
				}
			}
			if strings.ReplaceAll(p.Text, "\r\n", "\n") != r.Text || strings.Count(p.Text, "493817") != 1 {
				t.Errorf("text part:\n%s", p.Text)
			}
			if !strings.Contains(p.HTML, "<strong>493817</strong>") || !strings.Contains(p.HTML, "Cloud Légal") {
				t.Errorf("html part:\n%s", p.HTML)
			}
		})
	}
}

// TestSMTPWrongPassword: a refused login (535) is an error for the operator,
// temporary, and it does not show the password. Issue 12, item 1.
func TestSMTPWrongPassword(t *testing.T) {
	ms := smtptest.NewServer(t, smtptest.Options{Mode: "plain", User: "mailer", Pass: "right"})
	s, err := notify.NewSMTP(notify.SMTPOptions{URL: "smtp+insecure://mailer:hunter2-wrong@" + ms.Addr, From: "no-reply@id.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Deliver(context.Background(), notify.Rendered{Channel: "email", To: "joe@example.com", Subject: "s", Text: "t"})
	if err == nil || strings.Contains(err.Error(), "hunter2") || notify.IsPermanent(err) || !notify.IsOperator(err) {
		t.Errorf("Deliver: %v", err)
	}
	if got := ms.Received(); len(got) != 0 {
		t.Errorf("smtptest.Received %d messages", len(got))
	}
}

// TestSMTPErrors: 4xx replies and unreachable servers are temporary; 5xx
// replies and bad addresses are permanent.
func TestSMTPErrors(t *testing.T) {
	ms := smtptest.NewServer(t, smtptest.Options{Mode: "plain"})
	s, err := notify.NewSMTP(notify.SMTPOptions{URL: "smtp+insecure://" + ms.Addr, From: "no-reply@id.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	m := notify.Rendered{Channel: "email", To: "joe@example.com", Subject: "s", Text: "t"}
	ms.FailRcpt(451)
	if _, err := s.Deliver(context.Background(), m); err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "451") {
		t.Errorf("451: %v", err)
	}
	ms.FailRcpt(550)
	if _, err := s.Deliver(context.Background(), m); !notify.IsPermanent(err) || !strings.Contains(err.Error(), "550") {
		t.Errorf("550: %v", err)
	}
	bad := m
	bad.To = "not an address"
	if _, err := s.Deliver(context.Background(), bad); !notify.IsPermanent(err) {
		t.Errorf("bad address: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	down, err := notify.NewSMTP(notify.SMTPOptions{URL: "smtp+insecure://" + closed, From: "no-reply@id.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Deliver(context.Background(), m); err == nil || notify.IsPermanent(err) {
		t.Errorf("connection refused: %v", err)
	}
}

// TestSMTPMessageIDNeverAnIP: the Message-ID's domain is the sender's, or,
// when the sender is at an IP address, the HELO name, else localhost; the
// HELO defaults to localhost, not the machine's name. Issue 12, item 6.
func TestSMTPMessageIDNeverAnIP(t *testing.T) {
	for _, tc := range []struct{ from, helo, wantID, wantHELO string }{
		{"no-reply@id.example.com", "", "@id.example.com>", "localhost"},
		{"no-reply@[192.0.2.1]", "auth.example.com", "@auth.example.com>", "auth.example.com"},
		{"no-reply@[192.0.2.1]", "[192.0.2.1]", "@localhost>", "[192.0.2.1]"},
	} {
		ms := smtptest.NewServer(t, smtptest.Options{Mode: "plain"})
		s, err := notify.NewSMTP(notify.SMTPOptions{URL: "smtp+insecure://" + ms.Addr, From: tc.from, HELO: tc.helo})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Deliver(context.Background(), notify.Rendered{Channel: "email", To: "joe@example.com", Subject: "s", Text: "t", HTML: "<p>t</p>"}); err != nil {
			t.Fatal(err)
		}
		got := ms.Received()
		if len(got) != 1 {
			t.Fatalf("%s: received %d", tc.from, len(got))
		}
		p := smtptest.Parse(t, got[0].Data)
		if !strings.HasSuffix(p.MessageID, tc.wantID) || !cmp.Equal(ms.HELOs(), []string{tc.wantHELO}) {
			t.Errorf("from %s, HELO %q: Message-ID %s, HELOs %q; want …%s and %q", tc.from, tc.helo, p.MessageID, ms.HELOs(), tc.wantID, tc.wantHELO)
		}
	}
}

func TestNewSMTPRefuses(t *testing.T) {
	for _, tc := range []struct{ url, from, want string }{
		{"smtp+insecure://mail.example.com:25", "a@example.com", "smtp+insecure is for loopback only"},
		{"smtp+insecure://user:hunter2@10.0.0.1", "a@example.com", "smtp+insecure is for loopback only"},
		{"http://user:hunter2@mail.example.com", "a@example.com", `scheme "http"`},
		{"smtps://user:hunter2@mail.example.com:99999", "a@example.com", "bad port"},
		{"smtp://user:hunter2@mail.example.com:x y", "a@example.com", "SMTP URL"},
		{"smtp://user:hunter2@", "a@example.com", "no host"},
		{"smtp://user:hunter2@mail.example.com/inbox", "a@example.com", "path"},
		{"smtp://user:hunter2@mail.example.com", "not an address", "mail from"},
		{"smtp://user:hunter2@mail.example.com", "", "mail from"},
	} {
		_, err := notify.NewSMTP(notify.SMTPOptions{URL: tc.url, From: tc.from})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "notify: ") ||
			strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewSMTP(%q, %q): %v, want an error about %q without the password", tc.url, tc.from, err, tc.want)
		}
	}
	for _, url := range []string{"smtp+insecure://localhost", "smtp+insecure://127.0.0.1:2525", "smtp+insecure://u:p@[::1]:25",
		"smtp://mail.example.com", "smtps://u:p@mail.example.com"} {
		if _, err := notify.NewSMTP(notify.SMTPOptions{URL: url, From: "a@example.com"}); err != nil {
			t.Errorf("NewSMTP(%q): %v", url, err)
		}
	}
}
