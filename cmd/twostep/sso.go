package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/twostep/twostep/internal/twostep"
)

// cmdSSODomain runs `twostep org sso-domain add|remove --org ORG DOMAIN`
// (API.md §12): e-mail domains are the operator's to give, never an owner's,
// since a domain sends every address in it to that organisation's provider.
func cmdSSODomain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "remove") {
		return usageError{"org sso-domain needs add or remove; see 'twostep help'"}
	}
	verb := args[0]
	fs := newFlags("org sso-domain " + verb)
	load := configFlags(fs, getenv)
	org := fs.String("org", "", "organisation id or slug (required)")
	// DOMAIN may come before or after the flags.
	var domains []string
	for args = args[1:]; ; {
		if err := parseFlagsThen(fs, args, stderr); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		domains, args = append(domains, fs.Arg(0)), fs.Args()[1:]
	}
	if *org == "" || len(domains) != 1 {
		return usageError{"org sso-domain " + verb + " needs --org ORG and one DOMAIN"}
	}
	domain := domains[0]
	a, err := loadApp(ctx, load, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if verb == "add" {
		d, err := a.svc.AddSSODomain(ctx, *org, domain)
		if errors.Is(err, twostep.ErrConflict) {
			return fmt.Errorf("the domain %s already belongs to an organisation (remove it there first)", domain)
		}
		if err != nil {
			return flagError(err)
		}
		fmt.Fprintf(stdout, "Addresses at %s now sign in through the SSO of organisation %s (once it has a connection).\n", d.Domain, *org)
		return nil
	}
	err = a.svc.RemoveSSODomain(ctx, *org, domain)
	if errors.Is(err, twostep.ErrNotFound) {
		return fmt.Errorf("organisation %s has no SSO domain %s", *org, domain)
	}
	if err != nil {
		return flagError(err)
	}
	fmt.Fprintf(stdout, "Addresses at %s no longer go to the SSO of organisation %s.\n", domain, *org)
	return nil
}
