package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/twostep/twostep/internal/twostep"
)

// cmdAPIKey runs `twostep apikey create|list|revoke` (API.md §10).
func cmdAPIKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"apikey needs the subcommand create, list or revoke; see 'twostep help'"}
	}
	fs := newFlags("apikey " + args[0])
	load := configFlags(fs, getenv)
	var org, name *string
	rest := args[1:]
	switch args[0] {
	case "create":
		org = fs.String("org", "", "the organisation (id or slug) the key acts for (required)")
		name = fs.String("name", "", "what the key is for, such as the product's name (required)")
	case "list":
	case "revoke":
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return usageError{"apikey revoke needs the key id (SK…)"}
		}
		rest = rest[1:]
	default:
		return usageError{fmt.Sprintf("unknown command %q; see 'twostep help'", "apikey "+args[0])}
	}
	if err := parseFlags(fs, rest, stderr); err != nil {
		return err
	}
	if args[0] == "create" && (*org == "" || *name == "") {
		return usageError{"apikey create needs --org and --name"}
	}
	a, err := loadApp(ctx, load, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	switch args[0] {
	case "create":
		k, secret, err := a.svc.CreateAPIKey(ctx, nil, *org, *name)
		if err != nil {
			return cliError(err, map[string]string{"name": "--name", "org": "--org"})
		}
		// The id alone on the first line, the secret alone on the second: a
		// script reads them with two `read`s. The secret is never shown again.
		fmt.Fprintln(stdout, k.ID)
		fmt.Fprintln(stdout, secret)
	case "list":
		ks, err := a.svc.APIKeys(ctx, nil)
		if err != nil {
			return err
		}
		for _, k := range ks {
			used := "never used"
			if !k.LastUsedAt.IsZero() {
				used = "last used " + k.LastUsedAt.Format("2006-01-02T15:04:05Z")
			}
			fmt.Fprintf(stdout, "%s\torg=%s\t%s\t%s\n", k.ID, k.OrgID, k.Name, used)
		}
	case "revoke":
		id := args[1]
		if err := a.svc.RevokeAPIKey(ctx, nil, id); errors.Is(err, twostep.ErrNotFound) {
			return usageError{fmt.Sprintf("no API key %q", id)}
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Revoked API key %s; requests made with it now fail.\n", id)
	}
	return nil
}
