package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
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
	// FromName is the display name of the sender (the issuer).
	FromName string
	// TLSConfig, if set, is used for TLS (tests give their own roots); its
	// ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// Timeout bounds the connection and each SMTP command; default 10s.
	Timeout time.Duration
}

// SMTP is the e-mail Transport: one connection per message.
type SMTP struct {
	host       string
	clientOpts []mail.Option
	from       *netmail.Address
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
	opts := []mail.Option{mail.WithTimeout(timeout), mail.WithTLSConfig(tlsConfig)}
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
	s := &SMTP{host: host, clientOpts: opts, from: from}
	if _, err := s.client(); err != nil { // check the options once, not at every message
		return nil, err
	}
	return s, nil
}

func (s *SMTP) client() (*mail.Client, error) {
	c, err := mail.NewClient(s.host, s.clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp: %w", err)
	}
	return c, nil
}

// Deliver sends m as a multipart/alternative UTF-8 e-mail (text and, if any,
// HTML) and returns its Message-ID. The error is Permanent when the address is
// invalid or the server refuses the message with a 5xx reply; connection
// failures, timeouts and 4xx replies are temporary.
func (s *SMTP) Deliver(ctx context.Context, m Rendered) (string, error) {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return "", Permanent(fmt.Errorf("notify: smtp: recipient: %w", err))
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	// The id names the sender's domain, not this machine's host name.
	_, domain, _ := strings.Cut(s.from.Address, "@")
	id := strings.ToLower(rand.Text()) + "@" + domain
	msg.SetMessageIDWithValue(id)
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	c, err := s.client()
	if err != nil {
		return "", err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		err = fmt.Errorf("notify: smtp: %w", err)
		var se *mail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			return "", Permanent(err)
		}
		return "", err
	}
	return id, nil
}
