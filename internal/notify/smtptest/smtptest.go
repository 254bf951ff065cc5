// Package smtptest runs a real SMTP server in tests and reads what it receives
// as a mail client would.
package smtptest

import (
	"bytes"
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
)

// Server is a real SMTP server on 127.0.0.1 that keeps what it receives.
type Server struct {
	Addr string
	TLS  *tls.Config // for clients: trusts the server's certificate

	mu       sync.Mutex
	user     string // "" accepts mail without AUTH
	pass     string
	rcptErrs []error       // answers to the next RCPT commands, then 250
	hold     chan struct{} // while open, DATA waits before it answers
	held     chan struct{} // told of each message that waits
	sessions int
	rcpts    int
	helos    []string
	got      []Received
}

// Received is one message as the server got it.
type Received struct {
	From string
	To   []string
	Data []byte
}

// Options say how the server listens and whom it lets in.
type Options struct {
	Mode       string // "plain", "starttls" or "implicit"
	User, Pass string
	// CertHost, if set, is the only name the server's certificate holds, in
	// place of 127.0.0.1 and localhost: a client that checks names refuses it
	// (a certificate for another host, as an MTA misconfigured or spoofed).
	CertHost string
}

// NewServer starts a server, closed when t ends.
func NewServer(t testing.TB, o Options) *Server {
	t.Helper()
	return NewServerAt(t, o, "127.0.0.1:0")
}

// NewServerAt is NewServer listening at addr (an address a test kept free, to
// bring a mail server "back").
func NewServerAt(t testing.TB, o Options, addr string) *Server {
	t.Helper()
	ms := &Server{user: o.User, pass: o.Pass}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		ms.mu.Lock()
		defer ms.mu.Unlock()
		ms.sessions++
		ms.helos = append(ms.helos, c.Hostname())
		return &session{ms: ms}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	var l net.Listener
	var err error
	switch o.Mode {
	case "plain":
		s.AllowInsecureAuth = true
		l, err = net.Listen("tcp", addr)
	case "starttls":
		s.TLSConfig, ms.TLS = selfSigned(t, o.CertHost)
		l, err = net.Listen("tcp", addr)
	case "implicit":
		s.TLSConfig, ms.TLS = selfSigned(t, o.CertHost)
		l, err = tls.Listen("tcp", addr, s.TLSConfig)
	default:
		t.Fatalf("mode %q", o.Mode)
	}
	if err != nil {
		t.Fatal(err)
	}
	ms.Addr = l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return ms
}

// FailRcpt makes the next RCPT commands answer with these codes, in turn.
func (ms *Server) FailRcpt(codes ...int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, c := range codes {
		ms.rcptErrs = append(ms.rcptErrs, &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCode{c / 100, 1, 1},
			Message: map[bool]string{true: "Try again later", false: "No such mailbox"}[c < 500]})
	}
}

// Hold makes every DATA command from now on wait, once the message is read and
// before the server answers, until release is called: a delivery held in
// flight. held receives once for each message that starts waiting.
func (ms *Server) Hold() (held <-chan struct{}, release func()) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	hold, h := make(chan struct{}), make(chan struct{}, 16)
	ms.hold, ms.held = hold, h
	var once sync.Once
	return h, func() {
		once.Do(func() {
			ms.mu.Lock()
			ms.hold, ms.held = nil, nil
			ms.mu.Unlock()
			close(hold)
		})
	}
}

// Received returns what the server got so far.
func (ms *Server) Received() []Received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]Received(nil), ms.got...)
}

// HELOs returns the names clients gave in HELO or EHLO, one per session.
func (ms *Server) HELOs() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]string(nil), ms.helos...)
}

// Counts returns how many sessions and RCPT commands the server saw.
func (ms *Server) Counts() (sessions, rcpts int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.sessions, ms.rcpts
}

type session struct {
	ms     *Server
	authed bool
	cur    Received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.ms.user || pass != s.ms.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.ms.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = Received{From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
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

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	s.ms.mu.Lock()
	hold, held := s.ms.hold, s.ms.held
	s.ms.mu.Unlock()
	if hold != nil {
		held <- struct{}{}
		<-hold
	}
	// The message counts as received once the server answers 250 to it.
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.got = append(s.ms.got, s.cur)
	return nil
}

func (s *session) Reset()        { s.cur = Received{} }
func (s *session) Logout() error { return nil }

// selfSigned returns a server configuration with a fresh certificate for
// 127.0.0.1 and localhost (or for host alone, if given), and a client
// configuration that trusts it.
func selfSigned(t testing.TB, host string) (server, client *tls.Config) {
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
	if host != "" {
		tmpl.Subject.CommonName, tmpl.DNSNames, tmpl.IPAddresses = host, []string{host}, nil
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

// Parsed is what a mail reader sees of a received message.
type Parsed struct {
	FromName, FromAddr, To, Subject string
	Text, HTML                      string
	MessageID                       string
	AutoSubmitted                   string
}

// Parse reads a received message as a mail client would, failing t when it
// is not a multipart/alternative message with UTF-8 text and HTML parts.
func Parse(t testing.TB, data []byte) Parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var p Parsed
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
	p.AutoSubmitted = m.Header.Get("Auto-Submitted")
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
