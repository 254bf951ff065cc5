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
	"syscall"
	"time"

	"github.com/twostep/twostep/internal/web"
)

// cmdServe runs the server until ctx ends (SIGINT, SIGTERM), then shuts down
// gracefully: requests in flight get up to 10 seconds to finish.
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

	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()

	h, err := web.New(web.Options{Service: a.svc, Logger: a.log, BaseURL: cfg.BaseURL, Dev: cfg.Dev,
		TrustedProxies: cfg.TrustedProxies, MailFrom: cfg.MailFrom, Metrics: a.metrics.handler(),
		TwilioAuthToken: twilioToken(cfg)})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		// What net/http logs (TLS handshake errors, panics it recovered) goes
		// through the same handler, so that every line is one record (AU-04).
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}

	setup, err := a.svc.SetupToken(ctx)
	if err != nil {
		return err
	}
	// One write, so that whoever reads the output sees the setup link with the URL.
	banner := fmt.Sprintf("Twostep %s is running at %s\n", version, cfg.BaseURL)
	if cfg.Dev {
		banner += fmt.Sprintf("Dev mode: messages are not sent; read them at %s/dev/outbox\n", cfg.BaseURL)
	}
	if setup != "" {
		banner += fmt.Sprintf("First run: open %s/setup/%s to create your organisation and its owner.\n", cfg.BaseURL, setup)
	}
	io.WriteString(stdout, banner)

	go a.housekeeping(ctx)
	go a.worker.Run(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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
