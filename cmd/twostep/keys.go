package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// cmdKeysRotate adds a new key to the key file, waits for running servers to
// learn it, makes it the active key and re-seals every stored secret under it.
// Old keys stay in the file: values sealed under them keep opening.
func cmdKeysRotate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("keys rotate")
	load := configFlags(fs, getenv)
	wait := fs.Duration("wait", 70*time.Second, "how long running servers get to read the new key before it becomes active (they re-read the file every minute)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *wait < 0 {
		return usageError{"--wait must not be negative"}
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if err := ensureDataDir(cfg); err != nil {
		return err
	}
	keys, err := loadKeys(cfg.SecretKeyFile)
	if err != nil {
		return err
	}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	id := time.Now().UTC().Format("k20060102") + "-" + hex.EncodeToString(suffix)
	line, err := twostep.NewKeyLine(id, rand.Reader)
	if err != nil {
		return err
	}
	lines := keyLines(keys)
	// First known to every server, then active: a server never meets a value
	// sealed under a key it does not hold.
	if err := writeKeyFile(cfg.SecretKeyFile, append(lines, line)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Added key %s to %s; waiting %s for running servers to read it.\n", id, cfg.SecretKeyFile, *wait)
	select {
	case <-time.After(*wait):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := writeKeyFile(cfg.SecretKeyFile, append([]string{line}, lines...)); err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.svc.Reseal(ctx)
	if err != nil {
		return fmt.Errorf("re-sealing: %w (key %s is active; run keys rotate again to finish)", err, id)
	}
	sig, err := a.svc.RotateSigningKey(ctx)
	if err != nil {
		return fmt.Errorf("new OIDC signing key: %w (key %s is active and every secret re-sealed)", err, id)
	}
	fmt.Fprintf(stdout, "Key %s is active; re-sealed %d authenticator seeds, %d Verify API seeds, %d queued messages and %d OIDC signing keys. Older keys stay in the file for recovery codes made under them.\n",
		id, n.Factors, n.VerifyFactors, n.Messages, n.SigningKeys)
	fmt.Fprintf(stdout, "OIDC signing key %s is active; the previous ones stay published until the tokens they signed expire.\n", sig)
	return nil
}

func keyLines(keys []twostep.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Line()
	}
	return out
}

// writeKeyFile replaces the key file atomically, mode 0600.
func writeKeyFile(path string, lines []string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret.key-*")
	if err != nil {
		return fmt.Errorf("TWOSTEP_SECRET_KEY_FILE: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("TWOSTEP_SECRET_KEY_FILE: %w", err)
	}
	return nil
}
