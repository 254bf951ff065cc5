package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store/storetest"
)

// binary is the twostep command built once for every test that runs it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "twostep-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "twostep")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building twostep: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// twostep runs the binary in dir with only the given environment (plus PATH).
func runCmd(t *testing.T, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// oneLineError checks a failure: non-zero exit and one line on stderr holding want.
func oneLineError(t *testing.T, r result, want string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("exit 0, want non-zero (stdout %q)", r.stdout)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q: want one line containing %q", r.stderr, want)
	}
}

func TestVersionAndUsage(t *testing.T) {
	dir := t.TempDir()
	if r := runCmd(t, dir, nil, "", "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "twostep ") {
		t.Errorf("version: %+v", r)
	}
	oneLineError(t, runCmd(t, dir, nil, "", "frobnicate"), `unknown command "frobnicate"`)
	oneLineError(t, runCmd(t, dir, nil, "", "org", "delete"), `unknown command "org delete"`)
	oneLineError(t, runCmd(t, dir, nil, "", "org", "create", "--name", "X"), "org create needs --name and --owner")
	oneLineError(t, runCmd(t, dir, nil, "", "migrate", "--bogus"), "flag provided but not defined: -bogus")
	oneLineError(t, runCmd(t, dir, nil, "", "user", "create", "--org", "x", "--email", "a@b.co", "--role", "boss"), `--role="boss": must be member, admin or owner`)
	if _, err := os.Stat(filepath.Join(dir, "twostep-data")); err == nil {
		t.Error("a refused command created the data directory")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"duration", []string{"TWOSTEP_SESSION_IDLE=soon"}, nil, `TWOSTEP_SESSION_IDLE="soon": must be a positive Go duration`},
		{"flag beats env", []string{"TWOSTEP_LOG_FORMAT=json"}, []string{"--log-format", "xml"}, `--log-format="xml": must be text or json`},
		{"listen", []string{"TWOSTEP_LISTEN=8080"}, nil, `TWOSTEP_LISTEN="8080": must be host:port`},
		{"base url", []string{"TWOSTEP_BASE_URL=auth.example.com"}, nil, `TWOSTEP_BASE_URL="auth.example.com": must be an http:// or https:// URL`},
		{"database", []string{"TWOSTEP_DATABASE_URL=mysql://x"}, nil, "TWOSTEP_DATABASE_URL: must start with sqlite: or postgres://"},
		{"sync", []string{"TWOSTEP_SQLITE_SYNC=off"}, nil, `TWOSTEP_SQLITE_SYNC="off": must be normal or full`},
		{"version", []string{"TWOSTEP_MIN_CLIENT_VERSION=3.x"}, nil, `TWOSTEP_MIN_CLIENT_VERSION="3.x": must be a dotted version number`},
		{"proxies", []string{"TWOSTEP_TRUSTED_PROXIES=10.0.0.0/8,nonsense"}, nil, "TWOSTEP_TRUSTED_PROXIES="},
		{"countries", []string{"TWOSTEP_SMS_COUNTRIES=FR,France"}, nil, "must be comma-separated two-letter country codes"},
		{"idle over max", []string{"TWOSTEP_SESSION_IDLE=2h", "TWOSTEP_SESSION_MAX=1h"}, nil, "must not be longer than TWOSTEP_SESSION_MAX"},
		{"twilio", []string{"TWOSTEP_SMS_PROVIDER=twilio"}, nil, "TWOSTEP_SMS_PROVIDER=twilio needs TWOSTEP_TWILIO_ACCOUNT_SID"},
		{"dev", []string{"TWOSTEP_DEV=maybe"}, nil, `TWOSTEP_DEV="maybe": must be true or false`},
		{"daily limit", []string{"TWOSTEP_SMS_DAILY_LIMIT=0"}, nil, `TWOSTEP_SMS_DAILY_LIMIT="0": must be a whole number, 1 or more`},
		{"webhook", []string{"TWOSTEP_SMS_PROVIDER=webhook", "TWOSTEP_SMS_WEBHOOK_URL=https://sms.example.com"}, nil, "TWOSTEP_SMS_PROVIDER=webhook needs TWOSTEP_SMS_WEBHOOK_URL and TWOSTEP_SMS_WEBHOOK_SECRET"},
		{"provider", []string{"TWOSTEP_SMS_PROVIDER=carrier-pigeon"}, nil, `TWOSTEP_SMS_PROVIDER="carrier-pigeon": must be twilio, webhook or outbox`},
		{"smtp", []string{"TWOSTEP_SMTP_URL=mailto:x@example.com"}, nil, "TWOSTEP_SMTP_URL: must be smtp://host:port"},
		{"metrics listen", []string{"TWOSTEP_METRICS_LISTEN=9090"}, nil, `TWOSTEP_METRICS_LISTEN="9090": must be host:port`},
		{"metrics listen flag", nil, []string{"--metrics-listen", "localhost"}, `--metrics-listen="localhost": must be host:port`},
		{"database timeout", []string{"TWOSTEP_DATABASE_TIMEOUT=0s"}, nil, `TWOSTEP_DATABASE_TIMEOUT="0s": must be a positive Go duration`},
		{"database timeout flag", nil, []string{"--database-timeout", "5"}, `--database-timeout="5": must be a positive Go duration`},
		{"oidc code ttl", []string{"TWOSTEP_OIDC_CODE_TTL=5m"}, nil, `TWOSTEP_OIDC_CODE_TTL="5m": must be at most 60s`},
		{"oidc access ttl", []string{"TWOSTEP_OIDC_ACCESS_TTL=soon"}, nil, `TWOSTEP_OIDC_ACCESS_TTL="soon": must be a positive Go duration`},
		{"oidc refresh ttl flag", nil, []string{"--oidc-refresh-ttl", "0s"}, `--oidc-refresh-ttl="0s": must be a positive Go duration`},
		{"allow private urls", []string{"TWOSTEP_ALLOW_PRIVATE_URLS=perhaps"}, nil, `TWOSTEP_ALLOW_PRIVATE_URLS="perhaps": must be true or false`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oneLineError(t, runCmd(t, t.TempDir(), tc.env, "", append([]string{"migrate"}, tc.args...)...), tc.want)
		})
	}
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("listen: 127.0.0.1:9999\nsession_max: forever\n"), 0o600)
		oneLineError(t, runCmd(t, dir, nil, "", "migrate", "--config", "c.yaml"), `c.yaml: session_max="forever"`)
		os.WriteFile(filepath.Join(dir, "m.yaml"), []byte("metrics_listen: 127.0.0.1:8080\n"), 0o600)
		oneLineError(t, runCmd(t, dir, nil, "", "migrate", "--config", "m.yaml"), `m.yaml: metrics_listen="127.0.0.1:8080": must differ from TWOSTEP_LISTEN`)
		os.WriteFile(filepath.Join(dir, "d.yaml"), []byte("lisen: 127.0.0.1:9999\n"), 0o600)
		oneLineError(t, runCmd(t, dir, nil, "", "migrate", "--config", "d.yaml"), `unknown key "lisen"`)
		os.WriteFile(filepath.Join(dir, "t.yaml"), []byte("database_timeout: -1s\n"), 0o600)
		oneLineError(t, runCmd(t, dir, nil, "", "migrate", "--config", "t.yaml"), `t.yaml: database_timeout="-1s": must be a positive Go duration`)
	})
}

func TestOrgAndUserCreate(t *testing.T) {
	dir := t.TempDir()
	r := runCmd(t, dir, nil, "", "org", "create", "--name", "Cloud Legal", "--owner", "Owner@Example.com")
	if r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	lines := strings.Split(r.stdout, "\n")
	if !regexp.MustCompile(`^org_[2-7a-z]{26}$`).MatchString(lines[0]) {
		t.Errorf("first line %q is not the org id alone", lines[0])
	}
	if !strings.Contains(r.stdout, "slug cloud-legal") || !regexp.MustCompile(`http://127\.0\.0\.1:8080/set-password/[A-Za-z0-9_-]{43} `).MatchString(r.stdout) {
		t.Errorf("org create output lacks the slug or the set-password link:\n%s", r.stdout)
	}
	// The key file was made private.
	if fi, err := os.Stat(filepath.Join(dir, "twostep-data", "secret.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret.key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	r = runCmd(t, dir, nil, "a long enough password\n", "user", "create", "--org", "cloud-legal", "--email", "joe@example.com", "--role", "admin", "--password-stdin")
	if r.code != 0 || strings.Contains(r.stdout, "set-password") {
		t.Errorf("user create with a password: %+v", r)
	}
	oneLineError(t, runCmd(t, dir, nil, "", "user", "create", "--org", "cloud-legal", "--email", "JOE@example.com"),
		"--email an account with this e-mail exists already")
	oneLineError(t, runCmd(t, dir, nil, "", "user", "create", "--org", "nowhere", "--email", "x@example.com"),
		"--org no organisation has the id or slug nowhere")
	oneLineError(t, runCmd(t, dir, nil, "short\n", "user", "create", "--org", "cloud-legal", "--email", "x@example.com", "--password-stdin"),
		"password must be at least 8 characters")
	oneLineError(t, runCmd(t, dir, nil, "", "org", "create", "--name", "Cloud Legal", "--owner", "other@example.com"),
		"--slug an organisation with the slug cloud-legal exists already")
	oneLineError(t, runCmd(t, dir, nil, "", "user", "reset-two-step", "--email", "ghost@example.com"),
		"--email no account has the e-mail ghost@example.com")
	if r := runCmd(t, dir, nil, "", "user", "reset-two-step", "--email", "joe@example.com"); r.code != 0 {
		t.Errorf("reset-two-step: %+v", r)
	}
	if r := runCmd(t, dir, nil, "", "user", "create", "--org", "cloud-legal", "--email", "sso@example.com", "--sso"); r.code != 0 || strings.Contains(r.stdout, "set-password") {
		t.Errorf("an SSO account gets no set-password link: %+v", r)
	}
}

// server is a running `twostep serve`.
type server struct {
	url string
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer // stdout and stderr
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func (s *server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// backlogLine is the outbox backlog in /metrics.
var backlogLine = regexp.MustCompile(`(?m)^twostep_outbox_backlog (\d+)$`)

// delivered reports whether the server's outbox is empty, by /metrics: every
// message queued so far has been handed to its provider (or given up).
func (s *server) delivered(t *testing.T) bool {
	t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := backlogLine.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no twostep_outbox_backlog in /metrics:\n%s", body)
	}
	return string(m[1]) == "0"
}

// stop signals the server and returns its exit code once it has stopped.
func (s *server) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if s.cmd.ProcessState != nil {
		return s.cmd.ProcessState.ExitCode()
	}
	s.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
		t.Errorf("serve did not stop within 15 s of %v", sig)
	}
	return s.cmd.ProcessState.ExitCode()
}

// runningAt finds the URL the banner gives, or the address it listens on when
// the base URL is another (an https one behind a proxy, say).
var runningAt = regexp.MustCompile(`is running at (http://\S+?|\S+ \(listening on (http://\S+)\))\n`)

// serve starts `twostep serve` in dir on a free port and returns once it answers.
func serve(t *testing.T, dir string, env []string) *server {
	t.Helper()
	return serveOn(t, dir, "127.0.0.1:0", env)
}

// serveOn is serve listening on listen (host:port).
func serveOn(t *testing.T, dir, listen string, env []string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(binary, "serve", "--listen", listen)}
	s.cmd.Dir = dir
	s.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t, syscall.SIGKILL) })
	// A minute: on PostgreSQL a start migrates a new schema, which took more
	// than 20 s on these 2 cores under a load of ten.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := runningAt.FindStringSubmatch(s.output()); m != nil {
			s.url = m[1]
			if m[2] != "" {
				s.url = m[2]
			}
			if resp, err := http.Get(s.url + "/healthz"); err == nil {
				resp.Body.Close()
				return s
			}
		}
	}
	t.Fatalf("serve did not start:\n%s", s.output())
	return nil
}

func TestServeZeroConfig(t *testing.T) {
	dir := t.TempDir()
	srv := serve(t, dir, nil)
	url, m := srv.url, setupLink(t, srv)
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/setup/[A-Za-z0-9_-]{43}$`).MatchString(m[1]) {
		t.Fatalf("setup link %q is not the server's URL with a 256-bit token", m[1])
	}
	for _, f := range []string{"twostep.db", "secret.key"} {
		if _, err := os.Stat(filepath.Join(dir, "twostep-data", f)); err != nil {
			t.Errorf("twostep-data/%s: %v", f, err)
		}
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/api/v1/dev/outbox": 200, "/api/v1/account": 401, m[1][len(url):]: 200} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	// Metrics count by outcome, and name no account.
	http.Post(url+"/api/v1/sign-in", "application/json", strings.NewReader(`{"email":"ghost@example.com","password":"not it at all"}`))
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`twostep_sign_ins_total{outcome="invalid_credentials"} 1`, "twostep_argon2_queue_depth 0", "twostep_outbox_backlog 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(body), "ghost") {
		t.Error("/metrics names an e-mail")
	}
	// SIGTERM stops it gracefully, with exit status 0.
	if code := srv.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, srv.output())
	}
}

func TestServePostgres(t *testing.T) {
	dbURL := storetest.PostgresSchemaURL(t)
	dir := t.TempDir()
	srv := serve(t, dir, []string{"TWOSTEP_DATABASE_URL=" + dbURL, "TWOSTEP_DEV=false"})
	url := srv.url
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz on PostgreSQL: %d", resp.StatusCode)
	}
	resp, err = http.Get(url + "/api/v1/dev/outbox")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("dev outbox with dev mode off: %d, want 404", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "twostep-data", "twostep.db")); err == nil {
		t.Error("a SQLite database was made although PostgreSQL was configured")
	}
	if code := srv.stop(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit %d after SIGINT:\n%s", code, srv.output())
	}
}
