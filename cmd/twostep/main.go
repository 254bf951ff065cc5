// Command twostep runs Twostep: the server, its migrations and the operator's
// commands (API.md §1).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	// The pages say times in each reader's time zone (the tz cookie): the zone
	// database travels in the binary (about 450 KB), so a container without
	// /usr/share/zoneinfo still knows every zone.
	_ "time/tzdata"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "twostep: "+firstLine(err.Error()))
		}
		os.Exit(exitCode(err))
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// usageError is a command line that cannot be run as written.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `Usage: twostep COMMAND [flags]

Commands:
  serve                          run the server
  migrate                        bring the database schema up to date
  org create --name NAME --owner EMAIL [--slug SLUG] [--password-stdin]
  org sso-domain add|remove --org ORG DOMAIN   addresses at DOMAIN sign in through ORG's SSO
  user create --org ORG --email EMAIL [--role member|admin|owner] [--sso] [--password-stdin]
  user import --org ORG FILE|- [--dry-run] [--invite]   accounts from JSON Lines, hashes kept
  user reset-two-step --email EMAIL
  user set-sso --email EMAIL --on|--off   move an account to its organisation's SSO or back
  oidc client create --name NAME --redirect-uri URI [--redirect-uri URI…] [--post-logout-redirect-uri URI]
                     [--backchannel-logout-uri URI] [--public] [--org ORG] [--require-two-step]
  oidc client list | oidc client delete CLIENT_ID
  apikey create --org ORG --name NAME   a Verify API key: prints its id, then its secret (shown once)
  apikey list | apikey revoke ID
  keys rotate [--wait 70s]       add a key, make it active, re-seal stored secrets, new OIDC signing key
  bench prepare --accounts N --out FILE.csv
  bench run --url URL --csv FILE.csv [--mode journey|verify] [-c N] [-d DURATION]
  version                        print the version

Every command reads the configuration from TWOSTEP_* variables, flags and --config FILE.
Run 'twostep COMMAND -h' for a command's flags.
`

// run is the whole program: every dependency it uses comes in as an argument.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, getenv, stdout, stderr)
	case "bench":
		return cmdBench(ctx, rest, getenv, stdout, stderr)
	case "keys":
		if len(rest) == 0 || rest[0] != "rotate" {
			return usageError{"keys needs the subcommand rotate; see 'twostep help'"}
		}
		return cmdKeysRotate(ctx, rest[1:], getenv, stdout, stderr)
	case "oidc":
		return cmdOIDCClient(ctx, rest, getenv, stdout, stderr)
	case "apikey":
		return cmdAPIKey(ctx, rest, getenv, stdout, stderr)
	case "org", "user":
		if len(rest) == 0 {
			return usageError{fmt.Sprintf("%s needs a subcommand; see 'twostep help'", cmd)}
		}
		switch cmd + " " + rest[0] {
		case "org create":
			return cmdOrgCreate(ctx, rest[1:], getenv, stdin, stdout, stderr)
		case "org sso-domain":
			return cmdSSODomain(ctx, rest[1:], getenv, stdout, stderr)
		case "user create":
			return cmdUserCreate(ctx, rest[1:], getenv, stdin, stdout, stderr)
		case "user import":
			return cmdUserImport(ctx, rest[1:], getenv, stdin, stdout, stderr)
		case "user reset-two-step":
			return cmdResetTwoStep(ctx, rest[1:], getenv, stdout, stderr)
		case "user set-sso":
			return cmdSetSSO(ctx, rest[1:], getenv, stdout, stderr)
		}
		return usageError{fmt.Sprintf("unknown command %q; see 'twostep help'", cmd+" "+rest[0])}
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "twostep "+version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q; see 'twostep help'", cmd)}
}

// newFlags returns a flag set for a command that prints its errors nowhere: run
// returns them as the one line main prints.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("twostep "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // a wrong flag gets one line; -h gets the list (parseFlags)
	return fs
}

// parseFlags parses args and turns what goes wrong into a usage error; -h
// prints the flags on stderr.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "Usage of %s:\n", fs.Name())
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
