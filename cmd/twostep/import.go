package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/web"
)

// maxImportLine bounds one line of an import file.
const maxImportLine = 1 << 20

// cmdUserImport imports accounts from a JSON Lines file (API.md §9). The
// domain checks and writes each line; this reads the file and prints: the
// summary on stdout, one line per failure (and the set-password links) on
// stderr, never a hash, secret or number.
func cmdUserImport(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("user import")
	load := configFlags(fs, getenv)
	org := fs.String("org", "", "organisation id or slug (required)")
	dryRun := fs.Bool("dry-run", false, "check every line and write nothing")
	invite := fs.Bool("invite", false, "e-mail a set-password link to accounts without a password hash (default: print the links)")
	// FILE may come before, between or after the flags.
	var files []string
	for {
		if err := parseFlagsThen(fs, args, stderr); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files, args = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	if *org == "" || len(files) != 1 {
		return usageError{"user import needs --org and one FILE (- for standard input)"}
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	in := stdin
	if files[0] != "-" {
		f, err := os.Open(files[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	im, err := a.svc.NewImport(ctx, twostep.ImportOptions{Org: *org, DryRun: *dryRun, Invite: *invite})
	if err != nil {
		return flagError(err)
	}
	counts := map[twostep.ImportOutcome]int{}
	invited := false
	summary := func() {
		prefix := ""
		if *dryRun {
			prefix = "dry run, nothing written: "
		}
		fmt.Fprintf(stdout, "%simported %d, skipped %d (already exist), failed %d\n", prefix,
			counts[twostep.ImportImported], counts[twostep.ImportSkipped], counts[twostep.ImportFailed])
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxImportLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a byte-order mark some editors write
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		res, err := im.Line(ctx, line)
		if err != nil {
			summary()
			return fmt.Errorf("line %d: %w (the lines before it are imported)", n, err)
		}
		counts[res.Outcome]++
		switch {
		case res.Outcome == twostep.ImportFailed:
			fmt.Fprintf(stderr, "line %d: %s\n", n, importFailure(res.Err))
		case res.SetPasswordToken != "":
			fmt.Fprintf(stderr, "line %d: %s sets a password at %s/set-password/%s (valid 7 days, once)\n",
				n, res.Account.Email, cfg.BaseURL, res.SetPasswordToken)
		case res.Invited:
			invited = true
		}
	}
	if err := sc.Err(); err != nil {
		summary()
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes; nothing after it was read", n+1, maxImportLine)
		}
		return err
	}
	if invited {
		a.deliverNow(ctx)
	}
	summary()
	if f := counts[twostep.ImportFailed]; f > 0 {
		rest := "the others are imported"
		if *dryRun {
			rest = "nothing was written"
		}
		return fmt.Errorf("%d of %d lines failed (see above); %s", f, f+counts[twostep.ImportImported]+counts[twostep.ImportSkipped], rest)
	}
	return nil
}

// importFailure words why a line failed: the field as the file names it, then
// what is wrong with it, in the API's English.
func importFailure(err error) string {
	var inv *twostep.InvalidError
	if !errors.As(err, &inv) {
		return err.Error()
	}
	field := inv.Field
	if field == "" {
		field = "the line"
	}
	return field + " " + web.InvalidText(inv)
}

// parseFlagsThen is parseFlags for a command that takes arguments besides
// flags: the arguments are left in fs.Args().
func parseFlagsThen(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "Usage of %s [flags] FILE:\n", fs.Name())
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}
