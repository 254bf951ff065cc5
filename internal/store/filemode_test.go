package store_test

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store"
)

// TestSQLiteFilesPrivate: the database, its WAL and its shared-memory file are
// 0600 whatever the umask, in a directory that already exists (issue 11, item 5).
// Not parallel: the umask belongs to the whole process.
func TestSQLiteFilesPrivate(t *testing.T) {
	for _, umask := range []int{0o022, 0o000} {
		old := syscall.Umask(umask)
		dir := t.TempDir() // exists before Open, as a data directory an operator made
		path := filepath.Join(dir, "twostep.db")
		db := openDB(t, "sqlite:"+path, store.Options{})
		if err := db.ExecForTest(t.Context(), "CREATE TABLE filemode_probe (x INTEGER)"); err != nil {
			t.Fatal(err)
		}
		syscall.Umask(old)
		got := map[string]fs.FileMode{}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			fi, err := os.Stat(path + suffix)
			if err != nil {
				t.Fatalf("umask %03o: %v", umask, err)
			}
			got["twostep.db"+suffix] = fi.Mode().Perm()
		}
		want := map[string]fs.FileMode{"twostep.db": 0o600, "twostep.db-wal": 0o600, "twostep.db-shm": 0o600}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("umask %03o: file modes (-want +got):\n%s", umask, d)
		}
	}
}

// TestSQLiteWideFileLogged: an existing database file that others may read is
// left as it is (the operator chose it) but named in the log at start-up.
func TestSQLiteWideFileLogged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twostep.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	var logs bytes.Buffer
	openDB(t, "sqlite:"+path, store.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, path) || !strings.Contains(out, "0644") {
		t.Errorf("no warning naming %s and its mode 0644 in the log:\n%s", path, out)
	}
}
