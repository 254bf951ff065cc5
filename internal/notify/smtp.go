package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail"
)

// SMTPOptions configure an SMTP transport.
type SMTPOptions struct {
	// URL is smtp://[user:pass@]host[:port] (port 587, STARTTLS when the server
	// offers it), smtps://[user:pass@]host[:port] (implicit TLS, port 465) or
	// smtp+insecure://[user:pass@]host[:port] (no TLS, port 25, loopback only).
	// A user name or password holding reserved characters must be
	// percent-encoded.
	URL string
	// From is the sender address, in the header and the envelope.
	From string
	// FromName is the display name of the sender (the product name).
	FromName string
	// TLSConfig, if set, is used for TLS (tests give their own roots); its
	// ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// Timeout bounds the connection and each SMTP command; default 10s.
	Timeout time.Duration
	// HELO is the name given in EHLO/HELO: the service's public host name
	// (the base URL's), or an address literal such as "[192.0.2.1]". Default:
	// "localhost", never the machine's own name, which says nothing to the
	// receiving MTA and leaks an internal host name.
	HELO string
}

// SMTP is the e-mail Transport: one connection per message.
type SMTP struct {
	host       string
	clientOpts []mail.Option
	from       *netmail.Address
	tlsConfig  *tls.Config
	implicit   bool // smtps: TLS from the first byte
	timeout    time.Duration
	idDomain   string // the Message-ID's right-hand side
}

// NewSMTP checks o and returns an SMTP transport; it connects only when it
// delivers. Its errors name what is wrong with the URL without repeating the
// password, and refuse smtp+insecure to a host that is not loopback.
func NewSMTP(o SMTPOptions) (*SMTP, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		// url.Error repeats the whole URL, password included: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("notify: SMTP URL: %v", err)
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("notify: SMTP URL: no host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("notify: SMTP URL: unexpected path or query")
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLSConfig != nil {
		tlsConfig = o.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	helo := o.HELO
	if helo == "" {
		helo = "localhost"
	}
	opts := []mail.Option{mail.WithTimeout(timeout), mail.WithTLSConfig(tlsConfig), mail.WithHELO(helo)}
	var port int
	// Plain authentication: PLAIN or LOGIN, whichever the server offers. Over
	// smtp:// without STARTTLS go-mail refuses to send the password to a remote
	// host; over smtp+insecure the host is loopback, so it may.
	auth := []mail.SMTPAuthType{mail.SMTPAuthPlain, mail.SMTPAuthLogin}
	switch u.Scheme {
	case "smtp":
		port = 587
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case "smtps":
		port = 465
		opts = append(opts, mail.WithSSL())
	case "smtp+insecure":
		if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("notify: smtp+insecure is for loopback only, not %q", host)
		}
		port = 25
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		auth = []mail.SMTPAuthType{mail.SMTPAuthPlainNoEnc, mail.SMTPAuthLoginNoEnc}
	default:
		return nil, fmt.Errorf("notify: SMTP URL scheme %q: want smtp, smtps or smtp+insecure", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("notify: SMTP URL: bad port %q", p)
		}
	}
	opts = append(opts, mail.WithPort(port))
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithUsername(u.User.Username()), mail.WithPassword(pass),
			mail.WithOpportunisticSMTPAuth(auth...))
	}
	from, err := netmail.ParseAddress(o.From)
	if err != nil {
		return nil, fmt.Errorf("notify: mail from %q: %v", o.From, err)
	}
	from.Name = o.FromName
	// The Message-ID names the sender's domain, not this machine; never an
	// IP address, which spam filters hold against a message.
	_, idDomain, _ := strings.Cut(from.Address, "@")
	if ipDomain(idDomain) {
		idDomain = "localhost"
		if !strings.HasPrefix(helo, "[") {
			idDomain = helo
		}
	}
	s := &SMTP{host: host, clientOpts: opts, from: from, tlsConfig: tlsConfig, implicit: u.Scheme == "smtps", timeout: timeout,
		idDomain: idDomain}
	if _, err := s.client(nil); err != nil { // check the options once, not at every message
		return nil, err
	}
	return s, nil
}

func (s *SMTP) client(dial mail.DialContextFunc) (*mail.Client, error) {
	opts := s.clientOpts
	if dial != nil {
		opts = append(opts[:len(opts):len(opts)], mail.WithDialContextFunc(dial))
	}
	c, err := mail.NewClient(s.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp: %w", err)
	}
	return c, nil
}

// conns dials for one delivery and closes, at its end, every connection it
// made. go-mail (v0.8.1) returns from a failed EHLO, STARTTLS or AUTH without
// closing the connection: each such failure left a socket in CLOSE-WAIT here
// and a session waiting on the MTA, until the MTA's connection limit was
// reached. After a successful QUIT the extra Close is a no-op.
type conns struct {
	s    *SMTP
	mu   sync.Mutex
	open []net.Conn
}

func (cs *conns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: cs.s.timeout}
	var c net.Conn
	var err error
	if cs.s.implicit {
		// A dial function replaces go-mail's own TLS dialer, so it does TLS.
		c, err = (&tls.Dialer{NetDialer: d, Config: cs.s.tlsConfig}).DialContext(ctx, network, addr)
	} else {
		c, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.open = append(cs.open, c)
	return c, nil
}

func (cs *conns) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, c := range cs.open {
		c.Close()
	}
	cs.open = nil
}

// Deliver sends m as a multipart/alternative UTF-8 e-mail (text and, if any,
// HTML) and returns its Message-ID. The error is Permanent when the address is
// invalid or the server refuses the message with a 5xx reply; connection
// failures, timeouts and 4xx replies are temporary. A certificate that does
// not verify, a server that does not speak TLS where it should, and refused
// credentials (535) are temporary and marked Operator: only the operator can
// fix them. Every connection Deliver opens is closed when it returns.
func (s *SMTP) Deliver(ctx context.Context, m Rendered) (string, error) {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return "", Permanent(fmt.Errorf("notify: smtp: recipient: %w", err))
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	id := strings.ToLower(rand.Text()) + "@" + s.idDomain
	msg.SetMessageIDWithValue(id)
	// RFC 3834: a machine wrote this, so vacation and out-of-office replies
	// must not answer it (nobody reads no-reply@).
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	cs := &conns{s: s}
	defer cs.closeAll()
	c, err := s.client(cs.dial)
	if err != nil {
		return "", err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		err = fmt.Errorf("notify: smtp: %w", err)
		var se *mail.SendError
		switch {
		case operatorSMTPError(err):
			return "", Operator(err)
		case errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500:
			return "", Permanent(err)
		}
		return "", err
	}
	return id, nil
}

// ipDomain reports whether the domain of an address is an IP address, bare
// or as an address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]").
func ipDomain(d string) bool {
	d = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(d, "["), "]"), "IPv6:")
	return net.ParseIP(d) != nil
}

// operatorSMTPError reports whether err is one that no retry fixes until the
// operator acts: the server's certificate does not verify (expired, another
// name, unknown issuer), TLS cannot be negotiated, or the server refuses the
// configured credentials (535) or offers no way to send them.
func operatorSMTPError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		hostname x509.HostnameError
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		alert    tls.AlertError
		record   tls.RecordHeaderError
		reply    *textproto.Error
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &hostname), errors.As(err, &unknown), errors.As(err, &invalid),
		errors.As(err, &alert), errors.As(err, &record):
		return true
	case errors.As(err, &reply):
		return reply.Code == 535 || reply.Code == 534 || reply.Code == 538
	}
	return errors.Is(err, mail.ErrPlainAuthNotSupported) || errors.Is(err, mail.ErrLoginAuthNotSupported)
}
