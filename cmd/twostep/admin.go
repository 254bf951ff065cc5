package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/web"
)

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate")
	load := configFlags(fs, getenv)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	a, err := loadApp(ctx, load, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.svc.OfferWebAuthn(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "The database schema is up to date.")
	return nil
}

// openWithPassword reads the configuration, then the password from stdin when
// asked (before anything is opened, so a missing one costs nothing), then
// opens the app.
func openWithPassword(ctx context.Context, load func() (*Config, error), fromStdin bool, stdin io.Reader, stderr io.Writer) (*app, *Config, string, error) {
	cfg, err := load()
	if err != nil {
		return nil, nil, "", err
	}
	password := ""
	if fromStdin {
		if password, err = readPassword(stdin); err != nil {
			return nil, nil, "", err
		}
	}
	a, err := openApp(ctx, cfg, stderr)
	return a, cfg, password, err
}

// readPassword reads one password from stdin: the first line, without its line end.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usageError{"--password-stdin: standard input holds no password"}
	}
	return line, nil
}

func cmdOrgCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("org create")
	load := configFlags(fs, getenv)
	name := fs.String("name", "", "the organisation's name (required)")
	owner := fs.String("owner", "", "the owner's e-mail (required)")
	slug := fs.String("slug", "", "short name for URLs (default: from the name)")
	pwStdin := fs.Bool("password-stdin", false, "read the owner's password from standard input")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *name == "" || *owner == "" {
		return usageError{"org create needs --name and --owner"}
	}
	a, cfg, password, err := openWithPassword(ctx, load, *pwStdin, stdin, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	org, acct, token, err := a.svc.CreateOrg(ctx, twostep.NewOrg{Name: *name, Slug: *slug, OwnerEmail: *owner, Password: password})
	if err != nil {
		return flagError(err)
	}
	fmt.Fprintln(stdout, org.ID)
	fmt.Fprintf(stdout, "Created organisation %q (slug %s) with owner %s.\n", org.Name, org.Slug, acct.Email)
	if token != "" {
		fmt.Fprintf(stdout, "The owner sets a password at %s/set-password/%s (valid 7 days, once).\n", cfg.BaseURL, token)
	}
	return nil
}

func cmdUserCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("user create")
	load := configFlags(fs, getenv)
	org := fs.String("org", "", "organisation id or slug (required)")
	email := fs.String("email", "", "the account's e-mail (required)")
	role := fs.String("role", "member", "member, admin or owner")
	sso := fs.Bool("sso", false, "the account signs in through its organisation's SSO")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *org == "" || *email == "" {
		return usageError{"user create needs --org and --email"}
	}
	if !twostep.Role(*role).Valid() {
		return usageError{fmt.Sprintf("--role=%q: must be member, admin or owner", *role)}
	}
	if *sso && *pwStdin {
		return usageError{"--sso and --password-stdin cannot go together: an SSO account has no password"}
	}
	a, cfg, password, err := openWithPassword(ctx, load, *pwStdin, stdin, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	acct, token, err := a.svc.CreateAccount(ctx, twostep.NewAccount{Org: *org, Email: *email, Role: twostep.Role(*role), SSO: *sso, Password: password})
	if err != nil {
		return flagError(err)
	}
	fmt.Fprintln(stdout, acct.ID)
	fmt.Fprintf(stdout, "Created %s account %s.\n", acct.Role, acct.Email)
	if token != "" {
		fmt.Fprintf(stdout, "They set a password at %s/set-password/%s (valid 7 days, once).\n", cfg.BaseURL, token)
	}
	return nil
}

func cmdResetTwoStep(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("user reset-two-step")
	load := configFlags(fs, getenv)
	email := fs.String("email", "", "the account's e-mail (required)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *email == "" {
		return usageError{"user reset-two-step needs --email"}
	}
	a, err := loadApp(ctx, load, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	acct, err := a.svc.ResetTwoStep(ctx, *email, twostep.OperatorActor, nil)
	if err != nil {
		return flagError(err)
	}
	a.deliverNow(ctx)
	fmt.Fprintf(stdout, "Two-step verification of %s is reset: methods and recovery codes removed, sessions ended, holder e-mailed.\n", acct.Email)
	return nil
}

// cmdSetSSO moves an account to its organisation's SSO or back: the
// operator's way back for an account, owners included, that can no longer
// sign in after a move to SSO.
func cmdSetSSO(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("user set-sso")
	load := configFlags(fs, getenv)
	email := fs.String("email", "", "the account's e-mail (required)")
	on := fs.Bool("on", false, "the account signs in through its organisation's SSO")
	off := fs.Bool("off", false, "the account signs in with a Twostep password again")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *email == "" || *on == *off {
		return usageError{"user set-sso needs --email and one of --on or --off"}
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	acct, token, err := a.svc.SetSSO(ctx, *email, *on)
	if errors.Is(err, twostep.ErrLastOwner) {
		return fmt.Errorf("%s is the organisation's only owner who can sign in with a password: make another owner first (user create --role owner)", *email)
	}
	if err != nil {
		return flagError(err)
	}
	if acct.SSO {
		fmt.Fprintf(stdout, "%s signs in through the organisation's SSO; its sessions are ended.\n", acct.Email)
	} else {
		fmt.Fprintf(stdout, "%s signs in with a Twostep password.\n", acct.Email)
	}
	if token != "" {
		fmt.Fprintf(stdout, "It has no password yet: they set one at %s/set-password/%s (valid 7 days, once).\n", cfg.BaseURL, token)
	}
	return nil
}

// flagError words a domain validation error as a flag error: "--email: …".
func flagError(err error) error {
	var inv *twostep.InvalidError
	if errors.As(err, &inv) {
		name := map[string]string{"name": "--name", "slug": "--slug", "email": "--email", "org": "--org", "role": "--role", "password": "password", "domain": "DOMAIN"}[inv.Field]
		if name == "" {
			name = inv.Field
		}
		return fmt.Errorf("%s %s", name, web.InvalidText(inv))
	}
	return err
}
