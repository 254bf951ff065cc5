package loadgen

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/twostep"
)

// TestAccountsFile: what WriteAccounts writes, readAccounts reads back; a file
// that is not one gets one line naming it and what is wrong.
func TestAccountsFile(t *testing.T) {
	dir := t.TempDir()
	in := []twostep.LoadAccount{
		{Email: "load0000000@x.invalid", Password: "load-password-0000000", Secret: bytes.Repeat([]byte{1}, secretSize)},
		{Email: "load0000001@x.invalid", Password: "a, \"quoted\" one", Secret: bytes.Repeat([]byte{0xfe}, secretSize)},
	}
	var buf bytes.Buffer
	if err := WriteAccounts(&buf, in); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ok.csv")
	os.WriteFile(path, buf.Bytes(), 0o600)
	got, err := readAccounts(path)
	if err != nil {
		t.Fatal(err)
	}
	var back []twostep.LoadAccount
	for _, a := range got {
		back = append(back, twostep.LoadAccount{Email: a.email, Password: a.password, Secret: a.secret})
	}
	if diff := cmp.Diff(in, back); diff != "" {
		t.Errorf("read back (-wrote +read):\n%s", diff)
	}

	for _, tc := range []struct{ name, file, want string }{
		{"no header", "a@x.invalid,p,AAAA\n", "the first line must be email,password,totp_secret"},
		{"empty", csvHeader + "\n", "no accounts in the file"},
		{"bad secret", csvHeader + "\na@x.invalid,p,not base32!\n", "line 2: the TOTP secret is not Base32"},
		{"no password", csvHeader + "\na@x.invalid,,AAAAAAAA\n", "line 2: e-mail or password missing"},
		{"twice", csvHeader + "\na@x.invalid,p,AAAAAAAA\na@x.invalid,q,AAAAAAAA\n", "line 3: a@x.invalid appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".csv")
			os.WriteFile(path, []byte(tc.file), 0o600)
			_, err := readAccounts(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "--csv "+path) {
				t.Errorf("readAccounts: %v, want an error naming --csv %s and %q", err, path, tc.want)
			}
		})
	}
}
