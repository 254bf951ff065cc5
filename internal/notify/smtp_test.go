package notify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtp "github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/twostep"
)

// mailServer is a real SMTP server on 127.0.0.1 that keeps what it receives.
type mailServer struct {
	Addr string
	TLS  *tls.Config // for clients: trusts the server's certificate

	mu       sync.Mutex
	user     string // "" accepts mail without AUTH
	pass     string
	rcptErrs []error // answers to the next RCPT commands, then 250
	sessions int
	rcpts    int
	got      []received
}

type received struct {
	From string
	To   []string
	Data []byte
}

type serverOptions struct {
	mode       string // "plain", "starttls" or "implicit"
	user, pass string
}

func newMailServer(t testing.TB, o serverOptions) *mailServer {
	t.Helper()
	ms := &mailServer{user: o.user, pass: o.pass}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		ms.mu.Lock()
		defer ms.mu.Unlock()
		ms.sessions++
		return &mailSession{ms: ms}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	var l net.Listener
	var err error
	switch o.mode {
	case "plain":
		s.AllowInsecureAuth = true
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case "starttls":
		s.TLSConfig, ms.TLS = selfSigned(t)
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case "implicit":
		s.TLSConfig, ms.TLS = selfSigned(t)
		l, err = tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig)
	default:
		t.Fatalf("mode %q", o.mode)
	}
	if err != nil {
		t.Fatal(err)
	}
	ms.Addr = l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return ms
}

// failRcpt makes the next RCPT commands answer with these codes, in turn.
func (ms *mailServer) failRcpt(codes ...int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, c := range codes {
		ms.rcptErrs = append(ms.rcptErrs, &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCode{c / 100, 1, 1},
			Message: map[bool]string{true: "Try again later", false: "No such mailbox"}[c < 500]})
	}
}

func (ms *mailServer) received() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.got...)
}

func (ms *mailServer) counts() (sessions, rcpts int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.sessions, ms.rcpts
}

type mailSession struct {
	ms     *mailServer
	authed bool
	cur    received
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.ms.user || pass != s.ms.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.ms.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = received{From: from}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.rcpts++
	if len(s.ms.rcptErrs) > 0 {
		err := s.ms.rcptErrs[0]
		s.ms.rcptErrs = s.ms.rcptErrs[1:]
		return err
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.got = append(s.ms.got, s.cur)
	return nil
}

func (s *mailSession) Reset()        { s.cur = received{} }
func (s *mailSession) Logout() error { return nil }

// selfSigned returns a server configuration with a fresh certificate for
// 127.0.0.1 and localhost, and a client configuration that trusts it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: roots}
}

// parsed is what a mail reader sees of a received message.
type parsed struct {
	FromName, FromAddr, To, Subject string
	Text, HTML                      string
	MessageID                       string
}

func parseMail(t testing.TB, data []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var p parsed
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		t.Fatalf("From %q: %v", m.Header.Get("From"), err)
	}
	p.FromName, p.FromAddr = from.Name, from.Address
	to, err := mail.ParseAddress(m.Header.Get("To"))
	if err != nil {
		t.Fatalf("To %q: %v", m.Header.Get("To"), err)
	}
	p.To = to.Address
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	p.MessageID = m.Header.Get("Message-Id")
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // undoes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		pt, pp, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil || !strings.EqualFold(pp["charset"], "utf-8") {
			t.Errorf("part Content-Type %q: %v", part.Header.Get("Content-Type"), err)
		}
		switch pt {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		default:
			t.Errorf("unexpected part %s", pt)
		}
	}
	return p
}

// TestSMTPDelivers holds a real SMTP conversation in each of the three modes,
// with authentication, and reads the message as a mail client would.
func TestSMTPDelivers(t *testing.T) {
	texts := loadTexts(t)
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
			ms := newMailServer(t, serverOptions{mode: tc.mode, user: "mailer", pass: "s3cret/+"})
			s, err := notify.NewSMTP(notify.SMTPOptions{URL: tc.scheme + "://mailer:s3cret%2F+@" + ms.Addr,
				From: "no-reply@id.example.com", FromName: "Cloud Légal", TLSConfig: ms.TLS, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			id, err := s.Deliver(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			got := ms.received()
			if len(got) != 1 {
				t.Fatalf("received %d messages", len(got))
			}
			if diff := cmp.Diff(received{From: "no-reply@id.example.com", To: []string{"joe@example.com"}}, got[0],
				cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Data" }, cmp.Ignore())); diff != "" {
				t.Errorf("envelope (-want +got):\n%s", diff)
			}
			p := parseMail(t, got[0].Data)
			want := parsed{FromName: "Cloud Légal", FromAddr: "no-reply@id.example.com", To: "joe@example.com",
				Subject: "Votre code de vérification pour la connexion", MessageID: "<" + id + ">"}
			if diff := cmp.Diff(want, p, cmp.FilterPath(func(p cmp.Path) bool {
				s := p.Last().String()
				return s == ".Text" || s == ".HTML"
			}, cmp.Ignore())); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
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

// TestSMTPWrongPassword: a refused login is an error, and it does not show the password.
func TestSMTPWrongPassword(t *testing.T) {
	ms := newMailServer(t, serverOptions{mode: "plain", user: "mailer", pass: "right"})
	s, err := notify.NewSMTP(notify.SMTPOptions{URL: "smtp+insecure://mailer:hunter2-wrong@" + ms.Addr, From: "no-reply@id.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Deliver(context.Background(), notify.Rendered{Channel: "email", To: "joe@example.com", Subject: "s", Text: "t"})
	if err == nil || strings.Contains(err.Error(), "hunter2") || notify.IsPermanent(err) {
		t.Errorf("Deliver: %v", err)
	}
	if got := ms.received(); len(got) != 0 {
		t.Errorf("received %d messages", len(got))
	}
}

// TestSMTPErrors: 4xx replies and unreachable servers are temporary; 5xx
// replies and bad addresses are permanent.
func TestSMTPErrors(t *testing.T) {
	ms := newMailServer(t, serverOptions{mode: "plain"})
	s, err := notify.NewSMTP(notify.SMTPOptions{URL: "smtp+insecure://" + ms.Addr, From: "no-reply@id.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	m := notify.Rendered{Channel: "email", To: "joe@example.com", Subject: "s", Text: "t"}
	ms.failRcpt(451)
	if _, err := s.Deliver(context.Background(), m); err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "451") {
		t.Errorf("451: %v", err)
	}
	ms.failRcpt(550)
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
