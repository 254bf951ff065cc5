package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/oidc"
	"github.com/twostep/twostep/internal/passkey"
	"github.com/twostep/twostep/internal/sso"
	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/web"
)

// app is what every command builds from the configuration.
type app struct {
	cfg     *Config
	log     *slog.Logger
	db      *store.DB
	sealer  *twostep.Sealer
	svc     *twostep.Service
	worker  *notify.Worker
	metrics *metrics
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// loadApp reads the configuration with load and opens the app on it: what
// every command that works on the database does first.
func loadApp(ctx context.Context, load func() (*Config, error), stderr io.Writer) (*app, error) {
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	return openApp(ctx, cfg, stderr)
}

// openApp opens the database (migrating it), the key file (creating it when
// missing) and builds the service.
func openApp(ctx context.Context, cfg *Config, stderr io.Writer) (*app, error) {
	a := &app{cfg: cfg, log: newLogger(cfg, stderr)}
	if err := ensureDataDir(cfg); err != nil {
		return nil, err
	}
	keys, err := loadKeys(cfg.SecretKeyFile)
	if err != nil {
		return nil, err
	}
	if a.sealer, err = twostep.NewSealer(keys, rand.Reader); err != nil {
		return nil, err
	}
	if a.db, err = store.Open(ctx, cfg.DatabaseURL, store.Options{SQLiteSync: cfg.SQLiteSync, Logger: a.log,
		ConnectTimeout: cfg.DatabaseTimeout}); err != nil {
		return nil, err
	}
	if err := a.db.Migrate(ctx); err != nil {
		a.db.Close()
		return nil, err
	}
	texts, err := notify.LoadTexts()
	if err != nil {
		a.db.Close()
		return nil, err
	}
	texts = texts.WithProduct(cfg.ProductName)
	transports, methods, err := transports(cfg, a.db)
	if err != nil {
		a.db.Close()
		return nil, err
	}
	// Back-channel logouts are signed with the provider's active key when
	// they go out (a.svc exists by then).
	transports[twostep.ChannelBackchannel] = notify.NewBackchannel(func(ctx context.Context, claims string) (string, error) {
		return oidc.SignLogoutToken(ctx, a.svc, cfg.BaseURL.String(), claims)
	})
	if cfg.SMTPURL != "" && !cfg.mailFromSet && cfg.MailFrom == "no-reply@localhost" {
		a.log.Warn("TWOSTEP_MAIL_FROM should be set: the base URL's host is an IP address, not a name to send e-mail from",
			"mail_from", cfg.MailFrom)
	}
	// WebAuthn needs a domain name (API.md §11): with an IP address in the
	// base URL the method is not offered, and serve says why.
	var passkeys twostep.Authenticators
	if twostep.WebAuthnAvailability(cfg.BaseURL.String()) == nil {
		rp, err := passkey.New(passkey.Options{BaseURL: cfg.BaseURL.String(), DisplayName: cfg.Issuer})
		if err != nil {
			a.db.Close()
			return nil, err
		}
		passkeys, methods = rp, append(methods, twostep.MethodWebAuthn)
	}
	a.metrics = newMetrics()
	a.worker = newWorker(a.db, a.sealer, texts, transports, a.log, a.metrics)
	inFlight := runtime.GOMAXPROCS(0)
	hasher := twostep.NewHasher(twostep.DefaultArgon2, inFlight, 64*inFlight, 10*time.Second, rand.Reader)
	a.metrics.watch(hasher, a.db.PendingMessages)
	a.metrics.database(a.db)
	a.svc, err = twostep.New(twostep.Options{
		Store: a.db, Sealer: a.sealer, Rand: rand.Reader, Logger: a.log, Wake: a.worker.Wake, Metrics: a.metrics,
		BaseURL: cfg.BaseURL.String(), Methods: methods, SMSCountries: cfg.SMSCountries,
		PhoneLimits:      phoneLimits(cfg),
		Hasher:           hasher,
		Issuer:           cfg.Issuer,
		DescribeAgent:    web.DescribeUserAgent,
		MinClientVersion: cfg.MinClientVersion,
		SessionIdle:      cfg.SessionIdle, SessionMax: cfg.SessionMax, ConfirmWindow: cfg.ConfirmWindow,
		OIDC: oidcOptions(cfg), CookieDomain: cfg.CookieDomain, Verify: twostep.VerifyOptions{OrgDaily: cfg.VerifyOrgDailyLimit},
		// Organisations' own identity providers are owner-given URLs (API.md §7, §12).
		SSO:            sso.New(sso.Options{AllowPrivate: cfg.AllowPrivateURLs}),
		Authenticators: passkeys,
	})
	if err != nil {
		a.db.Close()
		return nil, err
	}
	return a, nil
}

// newWorker returns the delivery worker of db's outbox: it claims and finishes
// messages through db, and drops the codes twostep.StaleCode finds no longer
// usable instead of delivering them.
func newWorker(db *store.DB, sealer *twostep.Sealer, texts *notify.Texts, ts map[string]notify.Transport,
	log *slog.Logger, metrics notify.Metrics) *notify.Worker {
	return notify.NewWorker(notify.WorkerOptions{Store: db, Sealer: sealer, Texts: texts, Transports: ts,
		Stale: func(ctx context.Context, m *twostep.OutboxMessage, now time.Time) (string, error) {
			return twostep.StaleCode(ctx, db, m, now)
		},
		Logger: log, Metrics: metrics})
}

// Close closes the database once the service's background work (password-reset
// requests answered already) has written what it had to.
func (a *app) Close() error {
	if a.svc != nil {
		a.svc.Wait()
	}
	return a.db.Close()
}

// deliverNow tries once to deliver what a command queued, so that an operator
// without a running server is not left waiting; whatever fails stays queued for
// the workers of serve.
func (a *app) deliverNow(ctx context.Context) {
	if _, err := a.worker.DeliverDue(ctx); err != nil {
		a.log.Warn("messages stay queued for the server", "err", err)
	}
}

// phoneLimits are the default toll-fraud guards with the configured daily cap.
func phoneLimits(cfg *Config) twostep.PhoneLimits {
	l := twostep.DefaultPhoneLimits
	l.Daily = cfg.SMSDailyLimit
	return l
}

// transports builds the delivery of each channel from the configuration, and
// returns the second-step methods that can be offered with them.
func transports(cfg *Config, db *store.DB) (map[string]notify.Transport, []twostep.Method, error) {
	ts := map[string]notify.Transport{}
	methods := []twostep.Method{twostep.MethodTOTP}
	if cfg.Dev {
		dev := notify.NewDevOutbox(db, time.Now, rand.Reader)
		ts["email"], ts["sms"], ts["voice"] = dev, dev, dev
	}
	if cfg.SMTPURL != "" {
		smtp, err := notify.NewSMTP(notify.SMTPOptions{URL: cfg.SMTPURL, From: cfg.MailFrom, FromName: cfg.ProductName,
			HELO: heloName(cfg.BaseURL.Hostname())})
		if err != nil {
			return nil, nil, fmt.Errorf("TWOSTEP_SMTP_URL: %w", err)
		}
		ts["email"] = smtp
	}
	if ts["email"] != nil {
		methods = append(methods, twostep.MethodEmail)
	}
	switch cfg.SMSProvider {
	case "twilio":
		tw, err := notify.NewTwilio(notify.TwilioOptions{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken,
			From: cfg.TwilioFrom, BaseURL: cfg.TwilioBaseURL, StatusCallback: twilioStatusCallback(cfg)})
		if err != nil {
			return nil, nil, fmt.Errorf("TWOSTEP_TWILIO_*: %w", err)
		}
		ts["sms"], ts["voice"] = tw, tw
	case "webhook":
		wh, err := notify.NewWebhook(notify.WebhookOptions{URL: cfg.SMSWebhookURL, Secret: cfg.SMSWebhookSecret})
		if err != nil {
			return nil, nil, fmt.Errorf("TWOSTEP_SMS_WEBHOOK_URL: %w", err)
		}
		ts["sms"], ts["voice"] = wh, wh
	case "outbox":
		if ts["sms"] == nil {
			dev := notify.NewDevOutbox(db, time.Now, rand.Reader)
			ts["sms"], ts["voice"] = dev, dev
		}
	}
	if ts["sms"] != nil {
		methods = append(methods, twostep.MethodSMS, twostep.MethodVoice)
	}
	return ts, methods, nil
}

// mailDomain is host when it is a name, else "localhost": a default sender
// (and Message-ID) at an IP address is what spam filters score against.
func mailDomain(host string) string {
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return "localhost"
	}
	return host
}

// heloName is what the SMTP client greets with: the base URL's host, or its
// address literal (RFC 5321 §4.1.3) when it is an IP address, never the
// machine's own name.
func heloName(host string) string {
	ip, err := netip.ParseAddr(host)
	switch {
	case host == "":
		return "localhost"
	case err != nil:
		return host
	case ip.Is4() || ip.Is4In6():
		return "[" + ip.Unmap().String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

// twilioToken is the auth token that signs Twilio's status callbacks, or ""
// when Twilio does not carry the SMS.
func twilioToken(cfg *Config) string {
	if cfg.SMSProvider != "twilio" {
		return ""
	}
	return cfg.TwilioAuthToken
}

// twilioStatusCallback is where Twilio reports the SMS it took and could not
// deliver, or "" when the base URL is on the loopback, which Twilio cannot reach.
func twilioStatusCallback(cfg *Config) string {
	host := cfg.BaseURL.Hostname()
	if ip, err := netip.ParseAddr(host); strings.EqualFold(host, "localhost") || err == nil && ip.IsLoopback() {
		return ""
	}
	return web.TwilioStatusURL(cfg.BaseURL)
}

// ensureDataDir creates the data directory when a default lives in it.
func ensureDataDir(cfg *Config) error {
	inDir := func(p string) bool {
		rel, err := filepath.Rel(cfg.DataDir, p)
		return err == nil && !strings.HasPrefix(rel, "..")
	}
	if inDir(cfg.SecretKeyFile) || strings.HasPrefix(cfg.DatabaseURL, "sqlite:") && inDir(strings.TrimPrefix(cfg.DatabaseURL, "sqlite:")) {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("TWOSTEP_DATA_DIR: %w", err)
		}
	}
	return nil
}

// loadKeys reads the key file, creating it with one fresh key (mode 0600) when
// it does not exist.
func loadKeys(path string) ([]twostep.Key, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		line, err := twostep.NewKeyLine(time.Now().UTC().Format("k20060102"), rand.Reader)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("TWOSTEP_SECRET_KEY_FILE: %w", err)
		}
		if _, err := f.WriteString(line + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("TWOSTEP_SECRET_KEY_FILE: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("TWOSTEP_SECRET_KEY_FILE: %w", err)
		}
		b = []byte(line + "\n")
	} else if err != nil {
		return nil, fmt.Errorf("TWOSTEP_SECRET_KEY_FILE: %w", err)
	}
	keys, err := twostep.ParseKeys(b)
	if err != nil {
		return nil, fmt.Errorf("TWOSTEP_SECRET_KEY_FILE %s: %w", path, err)
	}
	return keys, nil
}
