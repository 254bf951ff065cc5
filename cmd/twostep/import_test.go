package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// lookTool returns the path of a tool a test needs, skipping without it
// (failing in CI, which installs it).
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run installs it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// noSecrets fails when out holds a part of a hash, a TOTP secret or a phone number.
func noSecrets(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s shows %q:\n%s", what, s, out)
		}
	}
}

// TestReadmeImport runs the README's import example as written, with the
// real binary: the dry run writes nothing (the real run then imports every
// line), the output is what the README shows, Eve's set-password link is on
// stderr and no hash, secret or number anywhere; then Ann signs in through
// the API with the original password and a code oathtool computes from her
// imported secret, Bob with his Django hash, and both hashes are argon2id.
func TestReadmeImport(t *testing.T) {
	oathtool := lookTool(t, "oathtool")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Bringing accounts\n")
	if start < 0 {
		t.Fatal("the README has no section Bringing accounts")
	}
	section = section[start:]
	block := section[strings.Index(section, "```sh\n")+len("```sh\n"):]
	block = block[:strings.Index(block, "```")]
	var script, want []string
	for _, l := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
		if c, ok := strings.CutPrefix(l, "# "); ok {
			want = append(want, c)
		} else {
			script = append(script, l)
		}
	}

	dir := t.TempDir()
	if r := runCmd(t, dir, nil, "a long and good password\n", "org", "create", "--name", "Cloud Legal", "--owner", "owner@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	bin := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(bin, "twostep")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-e", "-c", strings.Join(script, "\n"))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README's import example: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(stdout.String()), "\n")); diff != "" {
		t.Errorf("output (-README +got):\n%s", diff)
	}
	if !strings.Contains(stderr.String(), "line 3: eve@example.com sets a password at http://127.0.0.1:8080/set-password/") {
		t.Errorf("stderr lacks Eve's set-password link:\n%s", stderr.String())
	}
	noSecrets(t, "the import", stdout.String()+stderr.String(), "$2y$", "62g62mFp", "pbkdf2", "pRwnaDaO", "JBSWY3DP", "612345678", "12 34")

	srv := serve(t, dir, nil)
	api := srv.url + "/api/v1"
	const pw = "correct horse battery staple"
	st, res := call(t, "POST", api+"/sign-in", "", map[string]string{"email": "ann@example.com", "password": pw})
	if st != 200 || res["status"] != "second_step" {
		t.Fatalf("Ann's sign-in: %d %v", st, res)
	}
	code, err := exec.Command(oathtool, "--totp", "-b", "JBSWY3DPEHPK3PXP").Output()
	if err != nil {
		t.Fatal(err)
	}
	st, res = call(t, "POST", api+"/sign-in/verify", "", map[string]string{"sign_in_token": res["sign_in_token"].(string),
		"method": "totp", "code": strings.TrimSpace(string(code))})
	if st != 200 || res["status"] != "signed_in" {
		t.Errorf("Ann's code from oathtool: %d %v", st, res)
	}
	st, res = call(t, "POST", api+"/sign-in", "", map[string]string{"email": "bob@example.com", "password": pw})
	if st != 200 || res["status"] != "second_step" || res["default_method"] != "sms" {
		t.Errorf("Bob's sign-in: %d %v, want a second step by SMS", st, res)
	}
	db := storetest.Open(t, "sqlite:"+filepath.Join(dir, "twostep-data", "twostep.db"))
	for _, email := range []string{"ann@example.com", "bob@example.com"} {
		a, err := db.AccountByEmail(context.Background(), email)
		if err != nil || !strings.HasPrefix(a.PasswordHash, "$argon2id$") || !twostep.IsNativeHash(a.PasswordHash) {
			t.Errorf("%s after signing in: %v, hash %.12q…, want argon2id", email, err, a.PasswordHash)
		}
	}
}

// TestUserImportFailures: lines that fail are named on stderr with their
// number and reason, the others are imported, the summary counts them, and
// the command exits non-zero; standard input works as a file; a wrong
// command line is one usage line.
func TestUserImportFailures(t *testing.T) {
	dir := t.TempDir()
	if r := runCmd(t, dir, nil, "a long and good password\n", "org", "create", "--name", "Cloud Legal", "--owner", "owner@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	env := []string{"TWOSTEP_SMS_COUNTRIES=FR"}
	lines := strings.Join([]string{
		`{"email":"ok@example.com","totp_secret":"JBSWY3DPEHPK3PXP"}`,
		`{"email":"costly@example.com","password_hash":"$2b$16$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234"}`,
		``,
		`{"email":"far@example.com","phone":"+1 415 555 2671"}`,
		`{"email":"typo@example.com","totp_seed":"JBSWY3DPEHPK3PXP"}`,
		`{"email":"owner@example.com","sso":true}`,
	}, "\n") + "\n"
	r := runCmd(t, dir, env, lines, "user", "import", "-", "--org", "cloud-legal")
	if r.code != 1 || r.stdout != "imported 1, skipped 1 (already exist), failed 3\n" {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
	wantErr := []string{
		"line 1: ok@example.com sets a password at http://127.0.0.1:8080/set-password/",
		"line 2: password_hash is a bcrypt hash costlier than Twostep verifies (cost 14 at most)",
		"line 4: phone numbers in US cannot receive codes from this server (allowed: FR)",
		"line 5: totp_seed is not a field of an import line",
		"twostep: 3 of 5 lines failed (see above); the others are imported",
	}
	got := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(got) != len(wantErr) {
		t.Fatalf("stderr:\n%s\nwant %d lines", r.stderr, len(wantErr))
	}
	for i, w := range wantErr {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("stderr line %d: %q, want it to start with %q", i+1, got[i], w)
		}
	}
	noSecrets(t, "the import", r.stdout+r.stderr, "$2b$", "abcdefghij", "JBSWY3DP", "555", "415")

	oneLineError(t, runCmd(t, dir, nil, "", "user", "import", "--org", "cloud-legal"), "user import needs --org and one FILE (- for standard input)")
	oneLineError(t, runCmd(t, dir, nil, "", "user", "import", "--org", "nope", "-"), "--org no organisation has the id or slug nope")
	if r := runCmd(t, dir, nil, "", "user", "import", "--org", "cloud-legal", "missing.jsonl"); r.code == 0 || !strings.Contains(r.stderr, "missing.jsonl") {
		t.Errorf("a missing file: %+v", r)
	}
}
