package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/loadgen"
	"github.com/twostep/twostep/internal/twostep"
)

// The load generator's command line (API.md §1): `bench prepare` writes
// load-test accounts straight into the configured database and their
// credentials to a CSV file; `bench run` drives a running server with them.
// The work is internal/loadgen's; this file reads flags and configuration.

// cmdBench runs the load generator's subcommands.
func cmdBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"bench needs the subcommand prepare, run or reference; see 'twostep help'"}
	}
	switch args[0] {
	case "prepare":
		return cmdBenchPrepare(ctx, args[1:], getenv, stdout, stderr)
	case "run":
		return cmdBenchRun(ctx, args[1:], stdout, stderr)
	case "reference":
		return cmdBenchReference(ctx, args[1:], stdout, stderr)
	}
	return usageError{fmt.Sprintf("unknown command %q; see 'twostep help'", "bench "+args[0])}
}

func cmdBenchPrepare(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fl := newFlags("bench prepare")
	load := configFlags(fl, getenv)
	n := fl.Int("accounts", 0, "how many accounts to create (required)")
	out := fl.String("out", "", "CSV file for the email,password,totp_secret lines (required; made with mode 0600)")
	force := fl.Bool("force", false, "overwrite --out when it exists")
	orgName := fl.String("org-name", "Load test", "name of the new organisation the accounts belong to")
	argon := fl.String("argon2", "cheap", "password hash parameters: cheap (m=64 KiB, t=1: measures Twostep, not argon2) or default (the server's own)")
	if err := parseFlags(fl, args, stderr); err != nil {
		return err
	}
	if *n == 0 || *out == "" {
		return usageError{"bench prepare needs --accounts and --out"}
	}
	if *n < 1 || *n > 1_000_000 {
		return usageError{fmt.Sprintf("--accounts=%d: must be 1 to 1000000", *n)}
	}
	var params twostep.Argon2Params
	switch *argon {
	case "cheap":
		params = loadgen.CheapArgon2
	case "default":
		params = twostep.DefaultArgon2
	default:
		return usageError{fmt.Sprintf("--argon2=%q: must be cheap or default", *argon)}
	}
	if strings.TrimSpace(*orgName) == "" {
		return usageError{"--org-name must not be empty"}
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	// The file first: a refusal to overwrite comes before anything is written
	// to the database.
	mode := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		mode = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*out, mode, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("--out %s: the file exists; add --force to overwrite it", *out)
	}
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(*out)
		}
	}()
	if err := f.Chmod(0o600); err != nil { // an overwritten file keeps its mode otherwise
		return fmt.Errorf("--out: %w", err)
	}
	if *argon == "cheap" {
		fmt.Fprintf(stderr, "bench prepare: these accounts use cheap argon2 parameters (m=%d KiB, t=%d): load tests only\n",
			params.Memory, params.Time)
	}
	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	shown := 0 // tenths of the work reported so far
	progress := func(k int) {
		if tenth := k * 10 / *n; tenth > shown {
			shown = tenth
			fmt.Fprintf(stderr, "bench prepare: %d of %d accounts (%d%%)\n", k, *n, k*100 / *n)
		}
	}
	accts, err := loadgen.Prepare(ctx, a.svc, *orgName, *n, params, progress)
	if err != nil {
		return flagError(err)
	}
	if err := loadgen.WriteAccounts(f, accts); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	done = true
	// New accounts: whatever an earlier run recorded of the old ones is void.
	os.Remove(loadgen.StepsFile(*out))
	// The organisation's slug is what `twostep apikey create --org` and
	// `twostep oidc client create --org` take; the e-mails end in it.
	slug := ""
	if len(accts) > 0 {
		_, domain, _ := strings.Cut(accts[0].Email, "@")
		slug = strings.TrimSuffix(domain, ".invalid")
	}
	fmt.Fprintf(stdout, "Wrote %d accounts (organisation %q, slug %s, each with an active authenticator app, argon2 %s) to %s.\n",
		len(accts), *orgName, slug, *argon, *out)
	return nil
}

func cmdBenchRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("bench run")
	rawURL := fl.String("url", "", "the server's URL, such as http://127.0.0.1:8080 (required)")
	csvPath := fl.String("csv", "", "the accounts file bench prepare wrote (required)")
	mode := fl.String("mode", loadgen.ModeJourney, "journey (sign-in then second step), verify (second step alone, sign-ins made in an unmeasured setup), "+
		"forward-auth (a proxy's question; needs TWOSTEP_COOKIE_DOMAIN on the server), oidc (code flow on a signed-in session), refresh (refresh tokens) or verify-api (Verify API send and check)")
	clientID := fl.String("client-id", "", "oidc and refresh modes: a public client's id (twostep oidc client create --public)")
	redirectURI := fl.String("redirect-uri", "", "oidc and refresh modes: the client's registered redirect URI (never contacted)")
	apiKey := fl.String("api-key", "", "verify-api mode: file holding what twostep apikey create printed (key id, then secret)")
	metricsURL := fl.String("metrics-url", "", "the server's /metrics, for its own time per request (default: --url + /metrics)")
	conc := fl.Int("c", 32, "concurrency: requests in flight, 1 to 10000")
	dur := fl.Duration("d", 10*time.Second, "how long to measure (verify mode: at most 20s)")
	pid := fl.Int("server-pid", 0, "pid of a local server to sample CPU time and RSS from (found by port for a loopback URL)")
	if err := parseFlags(fl, args, stderr); err != nil {
		return err
	}
	if *rawURL == "" || *csvPath == "" {
		return usageError{"bench run needs --url and --csv"}
	}
	u, err := url.Parse(*rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return usageError{fmt.Sprintf("--url=%q: must be an http:// or https:// URL such as http://127.0.0.1:8080", *rawURL)}
	}
	if !slices.Contains(loadgen.Modes, *mode) {
		return usageError{fmt.Sprintf("--mode=%q: must be one of %s", *mode, strings.Join(loadgen.Modes, ", "))}
	}
	if (*mode == loadgen.ModeOIDC || *mode == loadgen.ModeRefresh) && (*clientID == "" || *redirectURI == "") {
		return usageError{fmt.Sprintf("--mode=%s needs --client-id and --redirect-uri", *mode)}
	}
	var key loadgen.APIKey
	if *mode == loadgen.ModeVerifyAPI {
		if *apiKey == "" {
			return usageError{"--mode=verify-api needs --api-key"}
		}
		if key, err = loadgen.ReadAPIKey(*apiKey); err != nil {
			return err
		}
	}
	if *conc < 1 || *conc > 10000 {
		return usageError{fmt.Sprintf("-c=%d: must be 1 to 10000", *conc)}
	}
	if *dur <= 0 {
		return usageError{fmt.Sprintf("-d=%s: must be a positive duration such as 10s", *dur)}
	}
	if *mode == loadgen.ModeVerify && *dur > loadgen.MaxVerifyDuration {
		return usageError{fmt.Sprintf("-d=%s: verify mode runs at most %s (each account's codes are good for three 30-s time steps); prepare more accounts instead", *dur, loadgen.MaxVerifyDuration)}
	}
	if *pid < 0 {
		return usageError{fmt.Sprintf("--server-pid=%d: must be a process id", *pid)}
	}
	return loadgen.Run(ctx, loadgen.Options{URL: u, CSV: *csvPath, Mode: *mode, Concurrency: *conc, Duration: *dur,
		ServerPID: *pid, UserAgent: "twostep-bench/" + version, OIDC: loadgen.OIDC{ClientID: *clientID, RedirectURI: *redirectURI},
		APIKey: key, MetricsURL: *metricsURL}, stdout, stderr)
}
