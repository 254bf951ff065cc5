package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/twostep/twostep/internal/web"
)

// cmdServe runs the server until ctx ends (SIGINT, SIGTERM), then shuts down
// gracefully: it stops accepting, gives requests and deliveries in flight up
// to 10 seconds to finish, waits for every goroutine it started, and only then
// closes the database.
func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("serve")
	load := configFlags(fs, getenv)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	brand, err := loadBrand(cfg)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// Each argon2id hash allocates its 19 MiB afresh. At the default of 100
		// the heap is collected, given back to the system and faulted in again
		// every hash or two; at 200 sign-ins run at 84 % of a bare argon2id loop
		// instead of 78 %, with RSS under 300 MiB for 500 sign-ins in flight.
		debug.SetGCPercent(200)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("TWOSTEP_LISTEN=%q: %w", cfg.Listen, err)
	}
	defer ln.Close()
	cfg.setBaseURL(ln.Addr().String())
	var metricsLn net.Listener
	if cfg.MetricsListen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return fmt.Errorf("TWOSTEP_METRICS_LISTEN=%q: %w", cfg.MetricsListen, err)
		}
		defer metricsLn.Close()
	}

	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()

	// With a listener of its own, /metrics is not on the main address at all.
	mainMetrics := a.metrics.handler()
	if metricsLn != nil {
		mainMetrics = nil
	}
	h, err := web.New(web.Options{Service: a.svc, Logger: a.log, BaseURL: cfg.BaseURL, Dev: cfg.Dev,
		TrustedProxies: cfg.TrustedProxies, MailFrom: cfg.MailFrom, MailOutbox: cfg.SMTPURL == "", Metrics: mainMetrics, DatabaseTimeout: cfg.DatabaseTimeout,
		TwilioAuthToken: twilioToken(cfg), OIDCCallback: oidcCallback, CookieDomain: cfg.CookieDomain,
		Brand: brand})
	if err != nil {
		return err
	}
	top, err := a.handler(ctx, h)
	if err != nil {
		return err
	}
	servers := []*http.Server{a.httpServer(top)}
	listeners := []net.Listener{ln}
	if metricsLn != nil {
		servers = append(servers, a.httpServer(web.MetricsOnly(a.metrics.handler())))
		listeners = append(listeners, metricsLn)
	}

	if err := a.svc.OfferWebAuthn(ctx); err != nil {
		return err
	}
	setup, err := a.svc.SetupToken(ctx)
	if err != nil {
		return err
	}
	// One write, so that whoever reads the output sees the setup link with the URL.
	banner := fmt.Sprintf("Twostep %s is running at %s", version, cfg.BaseURL)
	if listening := "http://" + ln.Addr().String(); listening != cfg.BaseURL.String() {
		banner += " (listening on " + listening + ")"
	}
	banner += "\n"
	if metricsLn != nil {
		banner += fmt.Sprintf("Metrics at http://%s/metrics\n", metricsLn.Addr())
	}
	if cfg.Dev {
		banner += fmt.Sprintf("Dev mode: messages are not sent; read them at %s/dev/outbox\n", cfg.BaseURL)
	}
	if ok, _ := a.svc.WebAuthnOffered(); !ok {
		banner += fmt.Sprintf("Passkeys and security keys are not offered: %s is an IP address, and WebAuthn needs a name (try TWOSTEP_BASE_URL=http://localhost:%s).\n",
			cfg.BaseURL.Hostname(), portOf(cfg.BaseURL.Port()))
	}
	if setup != "" {
		banner += fmt.Sprintf("First run: open %s/setup/%s to create your organisation and its owner.\n", cfg.BaseURL, setup)
	}
	io.WriteString(stdout, banner)
	a.warnUndeliverable()

	// Every goroutine below ends before the deferred Close of the database: a
	// delivery in flight must record its outcome, or it is sent again after a
	// restart (issue 11, item 8).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { a.housekeeping(ctx) })
	wg.Go(func() { a.worker.Run(ctx) })
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		wg.Go(func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		})
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	cancel() // the worker claims nothing more and housekeeping ends
	shutdownCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	for _, srv := range servers {
		// Stops accepting, then waits for the requests in flight.
		if err := srv.Shutdown(shutdownCtx); err != nil && serveErr == nil {
			serveErr = err
		}
	}
	wg.Wait()
	return serveErr
}

// httpServer is the http.Server of one listener.
func (a *app) httpServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		// What net/http logs (TLS handshake errors, panics it recovered) goes
		// through the same handler, so that every line is one record (AU-04).
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
}

// warnUndeliverable says at start-up what this server cannot deliver, so that
// an operator learns it before the first person waits for a reset link.
func (a *app) warnUndeliverable() {
	if a.cfg.Dev {
		if !loopbackListen(a.cfg.Listen) || a.cfg.BaseURL.Scheme != "http" {
			a.log.Warn("dev mode is on for a server other machines can reach: anyone can read every message, reset and invitation links included, at /dev/outbox; set TWOSTEP_DEV=false")
		}
		return
	}
	if a.cfg.SMTPURL == "" {
		a.log.Warn("no SMTP server (TWOSTEP_SMTP_URL) and dev mode off: e-mail is not offered as a second step, and password reset links, invitations and notices cannot be delivered")
	}
	if a.cfg.SMSProvider == "" {
		a.log.Info("no SMS provider (TWOSTEP_SMS_PROVIDER): SMS and voice calls are not offered as a second step")
	}
}

// housekeeping re-reads the key file on SIGHUP and every minute (so a rotation
// done elsewhere reaches this server) and removes ended challenges and sessions.
func (a *app) housekeeping(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-tick.C:
			if err := a.db.DeleteExpired(ctx, time.Now().Add(-time.Hour)); err != nil {
				a.log.Warn("removing ended sessions", "err", err)
			}
		}
		keys, err := loadKeys(a.cfg.SecretKeyFile)
		if err == nil {
			err = a.sealer.SetKeys(keys)
		}
		if err != nil {
			a.log.Error("key file not reloaded; keeping the keys in use", "err", err)
		}
	}
}

// portOf is port, or the default 8080 when the base URL has none.
func portOf(port string) string {
	if port == "" {
		return "8080"
	}
	return port
}
