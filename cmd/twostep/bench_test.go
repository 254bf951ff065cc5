package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

func TestBenchPrepareAndRun(t *testing.T) {
	dir := t.TempDir()
	journeyCSV, verifyCSV := filepath.Join(dir, "journey.csv"), filepath.Join(dir, "verify.csv")

	// Bad usage: one line each, and nothing made.
	oneLineError(t, runCmd(t, dir, nil, "", "bench"), "bench needs the subcommand prepare, run or reference")
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "frob"), `unknown command "bench frob"`)
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "prepare", "--out", journeyCSV), "bench prepare needs --accounts and --out")
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "prepare", "--accounts", "-3", "--out", journeyCSV), "--accounts=-3: must be 1 to 1000000")
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "prepare", "--accounts", "many", "--out", journeyCSV), `invalid value "many" for flag -accounts`)
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "prepare", "--accounts", "5", "--out", journeyCSV, "--argon2", "free"), `--argon2="free": must be cheap or default`)
	if _, err := os.Stat(filepath.Join(dir, "twostep-data")); err == nil {
		t.Error("a refused bench prepare created the data directory")
	}

	for _, out := range []string{journeyCSV, verifyCSV} {
		r := runCmd(t, dir, nil, "", "bench", "prepare", "--accounts", "50", "--out", out)
		if r.code != 0 {
			t.Fatalf("bench prepare: %+v", r)
		}
		if !strings.Contains(r.stderr, "bench prepare: these accounts use cheap argon2 parameters (m=64 KiB, t=1): load tests only\n") ||
			!strings.Contains(r.stderr, "50 of 50 accounts (100%)") {
			t.Errorf("bench prepare stderr lacks the warning or the progress:\n%s", r.stderr)
		}
		fi, err := os.Stat(out)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", out, err, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(out)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		line := regexp.MustCompile(`^load\d{7}@load-test-[a-z2-7]{6}\.invalid,load-password-\d{7},[A-Z2-7]{32}$`)
		if len(lines) != 51 || lines[0] != "email,password,totp_secret" || !line.MatchString(lines[1]) || !line.MatchString(lines[50]) {
			t.Errorf("%s: %d lines, want a header and 50 accounts:\n%s", out, len(lines), strings.Join(lines[:min(3, len(lines))], "\n"))
		}
	}
	before, _ := os.ReadFile(journeyCSV)
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "prepare", "--accounts", "2", "--out", journeyCSV), "the file exists; add --force to overwrite it")
	if after, _ := os.ReadFile(journeyCSV); string(after) != string(before) {
		t.Error("bench prepare overwrote a file without --force")
	}

	oneLineError(t, runCmd(t, dir, nil, "", "bench", "run", "--csv", journeyCSV), "bench run needs --url and --csv")
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "run", "--url", "ftp://x", "--csv", journeyCSV), `--url="ftp://x": must be an http:// or https:// URL`)
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "run", "--url", "http://127.0.0.1:1", "--csv", journeyCSV, "--mode", "both"), `--mode="both": must be one of journey, verify, forward-auth, oidc, refresh, verify-api`)
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "run", "--url", "http://127.0.0.1:1", "--csv", journeyCSV, "-c", "0"), "-c=0: must be 1 to 10000")
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "run", "--url", "http://127.0.0.1:1", "--csv", journeyCSV, "--mode", "verify", "-d", "1m"), "-d=1m0s: verify mode runs at most 20s")
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "run", "--url", "http://127.0.0.1:1", "--csv", filepath.Join(dir, "none.csv")), "--csv: open")
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "run", "--url", "http://127.0.0.1:1", "--csv", journeyCSV), "cannot reach the server")

	srv := serve(t, dir, nil)
	for _, tc := range []struct{ mode, csv string }{{"journey", journeyCSV}, {"verify", verifyCSV}} {
		r := runCmd(t, dir, nil, "", "bench", "run", "--url", srv.url, "--csv", tc.csv, "--mode", tc.mode, "-c", "4", "-d", "2s")
		if r.code != 0 {
			t.Fatalf("bench run --mode %s: %+v", tc.mode, r)
		}
		t.Logf("bench run --mode %s:\n%s", tc.mode, r.stdout)
		for _, want := range []string{"requests/s", "p99", "\nerrors:      none\n", "server:      pid "} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("bench run --mode %s output lacks %q:\n%s", tc.mode, want, r.stdout)
			}
		}
		if m := regexp.MustCompile(`requests:    (\d+),`).FindStringSubmatch(r.stdout); m == nil || m[1] == "0" {
			t.Errorf("bench run --mode %s made no requests:\n%s", tc.mode, r.stdout)
		}
		if tc.mode == "journey" && !regexp.MustCompile(`journeys:    [1-9]\d*, [\d.]+ journeys/s`).MatchString(r.stdout) {
			t.Errorf("bench run --mode journey completed no journey:\n%s", r.stdout)
		}
		if tc.mode == "verify" && !strings.Contains(r.stdout, "prepared:    150 verifications (sign-ins of 50 accounts") {
			t.Errorf("bench run --mode verify did not prepare 3 verifications per account:\n%s", r.stdout)
		}
		for _, secret := range []string{"load-password-", "sign_in_token"} {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("bench run output shows %q", secret)
			}
		}
	}
	// A second run on the same accounts right away knows which time steps the
	// first used, and sends no replayed code.
	r := runCmd(t, dir, nil, "", "bench", "run", "--url", srv.url, "--csv", journeyCSV, "-c", "2", "-d", "1s")
	if r.code != 0 || !strings.Contains(r.stdout, "\nerrors:      none\n") {
		t.Errorf("second journey run: %+v", r)
	}
	if strings.Contains(srv.output(), "totp code replayed") {
		t.Error("the server saw a replayed code")
	}
}

// BenchmarkArgon2Bare is the ceiling for sign-ins: argon2id at the server's
// default parameters with nothing else around it. Compare its hashes/s with the
// journeys/s of `bench run --mode journey` against accounts prepared with
// --argon2 default:
//
//	go test -run '^$' -bench Argon2Bare -cpu 2 -benchtime 5s ./cmd/twostep
//
// runs it on 2 goroutines (one per -cpu).
func BenchmarkArgon2Bare(b *testing.B) {
	p := twostep.DefaultArgon2
	salt := make([]byte, 16)
	rand.Read(salt)
	var n atomic.Int64
	b.SetParallelism(1)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			argon2.IDKey([]byte("load-password-0000001"), salt, p.Time, p.Memory, p.Threads, 32)
			n.Add(1)
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "hashes/s")
}

// TestBenchModes runs the load generator's modes for what sits beside the
// sign-in against a real server: forward auth, the OpenID Connect code flow
// on a reused session, refresh tokens and the Verify API. Each completes its
// requests without an error and reports the server's own time per request.
func TestBenchModes(t *testing.T) {
	dir := t.TempDir()
	// The base URL's name need not resolve: the load generator connects to
	// --url whatever host a redirect names, as a browser behind a proxy would.
	env := []string{"TWOSTEP_BASE_URL=http://auth.bench.test", "TWOSTEP_COOKIE_DOMAIN=bench.test", "TWOSTEP_DEV=true"}
	csv := filepath.Join(dir, "load.csv")
	r := runCmd(t, dir, env, "", "bench", "prepare", "--accounts", "40", "--out", csv)
	m := regexp.MustCompile(`slug (\S+),`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("bench prepare: %+v", r)
	}
	client := runCmd(t, dir, env, "", "oidc", "client", "create", "--name", "bench", "--redirect-uri", "http://127.0.0.1:9/callback", "--public")
	key := runCmd(t, dir, env, "", "apikey", "create", "--org", m[1], "--name", "bench")
	if client.code != 0 || key.code != 0 {
		t.Fatalf("oidc client create: %+v\napikey create: %+v", client, key)
	}
	keyFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(keyFile, []byte(key.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	clientID := strings.Fields(client.stdout)[0]

	// Without what a mode needs: one line each.
	oneLineError(t, runCmd(t, dir, env, "", "bench", "run", "--url", "http://127.0.0.1:1", "--csv", csv, "--mode", "oidc"), "--mode=oidc needs --client-id and --redirect-uri")
	oneLineError(t, runCmd(t, dir, env, "", "bench", "run", "--url", "http://127.0.0.1:1", "--csv", csv, "--mode", "verify-api"), "--mode=verify-api needs --api-key")

	srv := serve(t, dir, env)
	for _, tc := range []struct {
		mode  string
		flags []string
		want  []string
	}{
		{"forward-auth", nil, []string{"forward 200: ", "server time: /api/v1/authz/forward-auth: "}},
		{"oidc", []string{"--client-id", clientID, "--redirect-uri", "http://127.0.0.1:9/callback"},
			[]string{"authorize 200: ", "token 200: ", "server time: /oauth2/token: ", "server time: /oauth2/authorize: "}},
		{"refresh", []string{"--client-id", clientID, "--redirect-uri", "http://127.0.0.1:9/callback"},
			[]string{"refresh 200: ", "server time: /oauth2/token: "}},
		{"verify-api", []string{"--api-key", keyFile}, []string{"send 201: ", "check 200: ", "server time: /verify/v2/VerificationCheck: "}},
	} {
		args := append([]string{"bench", "run", "--url", srv.url, "--csv", csv, "--mode", tc.mode, "-c", "3", "-d", "1s"}, tc.flags...)
		r := runCmd(t, dir, env, "", args...)
		t.Logf("bench run --mode %s:\n%s", tc.mode, r.stdout)
		if r.code != 0 {
			t.Errorf("bench run --mode %s: %+v", tc.mode, r)
			continue
		}
		for _, want := range append(tc.want, "\nerrors:      none\n", "server CPU:  ") {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("bench run --mode %s output lacks %q", tc.mode, want)
			}
		}
		for _, secret := range []string{"load-password-", key.stdout[strings.Index(key.stdout, "\n")+1:]} {
			if strings.TrimSpace(secret) != "" && strings.Contains(r.stdout+r.stderr, strings.TrimSpace(secret)) {
				t.Errorf("bench run --mode %s output shows a secret", tc.mode)
			}
		}
	}
}

// TestBenchReference drives the reference server (one HMAC check and one
// SQLite UPDATE per second step) with the load generator's verify mode, as
// the README's performance figures do beside Twostep's own: it answers every
// verification, refuses a token it did not make, and keeps its rows.
func TestBenchReference(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "load.csv")
	if r := runCmd(t, dir, nil, "", "bench", "prepare", "--accounts", "30", "--out", csv); r.code != 0 {
		t.Fatalf("bench prepare: %+v", r)
	}
	oneLineError(t, runCmd(t, dir, nil, "", "bench", "reference"), "bench reference needs --db")
	port := freePort(t)
	ref := &server{cmd: exec.Command(binary, "bench", "reference", "--db", filepath.Join(dir, "ref.db"), "--listen", fmt.Sprintf("127.0.0.1:%d", port))}
	ref.cmd.Stdout, ref.cmd.Stderr = ref, ref
	if err := ref.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.stop(t, syscall.SIGKILL) })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	twosteptest.WaitFor(t, 10*time.Second, "the reference server to listen", func() bool {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	r := runCmd(t, dir, nil, "", "bench", "run", "--url", url, "--csv", csv, "--mode", "verify", "-c", "4", "-d", "1s")
	t.Logf("bench run against the reference:\n%s", r.stdout)
	if r.code != 0 || !strings.Contains(r.stdout, "\nerrors:      none\n") || !regexp.MustCompile(`verify 200: [1-9]`).MatchString(r.stdout) {
		t.Fatalf("bench run against the reference: %+v", r)
	}
	st, _ := call(t, "POST", url+"/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": "1.forged", "code": "123456"})
	if st != http.StatusGone {
		t.Errorf("a forged token: %d, want 410", st)
	}
}
