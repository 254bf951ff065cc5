package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// privateSQLiteFiles makes sure a new database file is created 0600 whatever
// the umask, and warns about existing files that others may read.
//
// SQLite creates the -wal and -shm files with the mode of the database file
// itself (and sets it exactly, whatever the umask), so creating the database
// file 0600 before SQLite first opens it is what keeps all three private.
// Files that exist already are left alone: their mode is the operator's
// choice (a backup user in the group, say), but it is said at start-up.
func privateSQLiteFiles(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		// The umask may have taken bits away (0600 &^ 0277 is 0400); set it whole.
		err = f.Chmod(0o600)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("store: create %s: %w", path, err)
		}
		return nil
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue // -wal and -shm come and go with connections
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			log.Warn("a database file can be read by other users of this machine; run chmod 600 on it",
				"file", p, "mode", fmt.Sprintf("%04o", perm))
		}
	}
	return nil
}
