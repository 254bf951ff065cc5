package main

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/notify/smtptest"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twosteptest"
)

// TestTwoInstancesOnePostgres runs two servers on one PostgreSQL database: a
// code used on one is refused on the other, wrong codes spread over both hit
// one account-wide limit, and each queued message is delivered once.
func TestTwoInstancesOnePostgres(t *testing.T) { // OTP-08, RL-03
	dbURL := storetest.PostgresSchemaURL(t)
	ms := smtptest.NewServer(t, smtptest.Options{Mode: "plain"})
	dir := t.TempDir()
	env := []string{"TWOSTEP_DATABASE_URL=" + dbURL, "TWOSTEP_SMTP_URL=smtp+insecure://" + ms.Addr,
		"TWOSTEP_SECRET_KEY_FILE=" + filepath.Join(dir, "secret.key")}
	if r := runCmd(t, dir, env, "a long and good password\n", "org", "create", "--name", "Cloud Legal", "--owner", "joe@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	a, b := serve(t, dir, env), serve(t, dir, env)
	apiA, apiB := a.url+"/api/v1", b.url+"/api/v1"
	pw := map[string]string{"email": "joe@example.com", "password": "a long and good password"}

	// E-mail as the method: codes are queued by one server and sent by whichever worker claims them.
	_, res := call(t, "POST", apiA+"/sign-in", "", pw)
	session := res["session_token"].(string)
	st, res := call(t, "POST", apiB+"/account/factors", session, map[string]string{"method": "email"})
	if st != 201 {
		t.Fatalf("add e-mail on B: %d %v", st, res)
	}
	code, _ := lastCode(t, ms, 1)
	if st, res := call(t, "POST", apiA+"/account/factors/"+res["id"].(string)+"/verify", session, map[string]string{"code": code}); st != 200 {
		t.Fatalf("verify on A: %d %v", st, res)
	}

	// A code sent for a sign-in on A works once, on B; then not on A.
	_, res = call(t, "POST", apiA+"/sign-in", "", pw)
	token := res["sign_in_token"].(string)
	code, _ = lastCode(t, ms, 3) // enrolment code, two-step-on notice, this code
	if st, res := call(t, "POST", apiB+"/sign-in/verify", "", map[string]string{"sign_in_token": token, "method": "email", "code": code}); st != 200 {
		t.Fatalf("verify on B: %d %v", st, res)
	}
	if st, res := call(t, "POST", apiA+"/sign-in/verify", "", map[string]string{"sign_in_token": token, "method": "email", "code": code}); st != 410 {
		t.Errorf("the same code on A: %d %v, want 410", st, res)
	}

	// Ten wrong codes, alternating servers over several sign-ins, lock the account on both.
	for i := 0; i < 10; i++ {
		api := []string{apiA, apiB}[i%2]
		_, res := call(t, "POST", api+"/sign-in", "", pw)
		st, e := call(t, "POST", api+"/sign-in/verify", "", map[string]string{"sign_in_token": res["sign_in_token"].(string), "method": "email", "code": "000000"})
		if st != 400 {
			t.Fatalf("wrong code %d: %d %v", i+1, st, e)
		}
	}
	for _, api := range []string{apiA, apiB} {
		_, res := call(t, "POST", api+"/sign-in", "", pw)
		if st, e := call(t, "POST", api+"/sign-in/verify", "", map[string]string{"sign_in_token": res["sign_in_token"].(string), "method": "email", "code": "000000"}); st != 429 {
			t.Errorf("after 10 wrong codes over both servers: %d %v, want 429", st, e)
		}
	}

	// Every message was delivered exactly once, though both workers were claiming.
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	for _, m := range ms.Received() {
		id := regexp.MustCompile(`(?mi)^Message-Id:\s*(\S+)`).FindSubmatch(m.Data)
		if id == nil {
			t.Fatal("a message without Message-Id")
		}
		seen[string(id[1])]++
	}
	sign := 0
	for id, n := range seen {
		if n != 1 {
			t.Errorf("message %s delivered %d times", id, n)
		}
		sign++
	}
	// Ten codes (the hourly cap of code e-mails per account stopped the later
	// sign-ins' codes, on both servers) and two notices: two-step is on, and
	// the right password met wrong codes.
	if sign != 12 {
		t.Errorf("%d messages delivered, want 12", sign)
	}
}

// TestCrashWithQueuedMessage kills the server with SIGKILL while a code waits
// for an SMTP server that is down; after a restart (and the SMTP server's
// return) the code is delivered, once.
func TestCrashWithQueuedMessage(t *testing.T) {
	dir := t.TempDir()
	// An address where nothing listens yet.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := []string{"TWOSTEP_SMTP_URL=smtp+insecure://" + addr}
	if r := runCmd(t, dir, env, "a long and good password\n", "org", "create", "--name", "Cloud Legal", "--owner", "joe@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	srv := serve(t, dir, env)
	_, res := call(t, "POST", srv.url+"/api/v1/sign-in", "", map[string]string{"email": "joe@example.com", "password": "a long and good password"})
	if st, res := call(t, "POST", srv.url+"/api/v1/account/factors", res["session_token"].(string), map[string]string{"method": "email"}); st != 201 {
		t.Fatalf("add e-mail: %d %v", st, res)
	}
	twosteptest.WaitFor(t, 10*time.Second, "a failed delivery attempt", func() bool {
		return strings.Contains(srv.output(), "delivery failed")
	})
	srv.stop(t, syscall.SIGKILL)

	ms := smtptest.NewServerAt(t, smtptest.Options{Mode: "plain"}, addr)
	srv = serve(t, dir, env)
	code, _ := lastCode(t, ms, 1)
	// Once the code is recorded sent no worker takes it again, and a stop
	// finishes what is in flight: whatever deliveries there were are in.
	twosteptest.WaitFor(t, 10*time.Second, "the code to be recorded sent", func() bool { return srv.delivered(t) })
	srv.stop(t, syscall.SIGTERM)
	if n := len(ms.Received()); n != 1 || code == "" {
		t.Errorf("%d deliveries after the restart, want exactly 1", n)
	}
}

// proxy forwards TCP connections to target. cut closes them and refuses new
// ones (a database that is down); hang accepts and holds every connection,
// old and new, and forwards nothing (a network that drops packets); restore
// lets everything through again, what hang held included.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
	// flowing is closed while the proxy forwards; while it hangs, a fresh
	// channel that restore closes.
	flowing chan struct{}
	hung    bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target, flowing: make(chan struct{})}
	close(p.flowing)
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.down {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			go p.forward(c)
		}
	}()
	return p
}

// forward connects c to the target once the proxy flows, and copies both ways.
func (p *proxy) forward(c net.Conn) {
	if !p.pass() {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	go func() { p.copy(up, c); up.Close() }()
	go func() { p.copy(c, up); c.Close() }()
}

// copy is io.Copy that holds what it read while the proxy hangs.
func (p *proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass() {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pass waits while the proxy hangs and reports whether it was not cut meanwhile.
func (p *proxy) pass() bool {
	p.mu.Lock()
	ch := p.flowing
	p.mu.Unlock()
	<-ch
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.down
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.flow()
}

func (p *proxy) hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.hung {
		p.hung, p.flowing = true, make(chan struct{})
	}
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
	p.flow()
}

func (p *proxy) flow() {
	if p.hung {
		p.hung = false
		close(p.flowing)
	}
}

// serveBehindProxy starts a server whose way to PostgreSQL (a fresh schema,
// with an organisation) goes through a proxy the test can cut; env is added to
// the server's environment.
func serveBehindProxy(t *testing.T, env ...string) (*server, *proxy) {
	t.Helper()
	u, err := url.Parse(storetest.PostgresSchemaURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.l.Addr().String()
	dir := t.TempDir()
	env = append(env, "TWOSTEP_DATABASE_URL="+u.String())
	if r := runCmd(t, dir, env, "a long and good password\n", "org", "create", "--name", "Cloud Legal", "--owner", "joe@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	return serve(t, dir, env), p
}

// TestDatabaseUnreachable cuts the way to PostgreSQL under a running server:
// /readyz answers 503, the API 503 unavailable with Retry-After, and both
// recover without a restart when the database is back.
func TestDatabaseUnreachable(t *testing.T) {
	srv, p := serveBehindProxy(t)
	get := func(path string) int {
		resp, err := httpClient.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get("/readyz"); st != 200 {
		t.Fatalf("/readyz with the database up: %d", st)
	}
	p.cut()
	if st := get("/readyz"); st != 503 {
		t.Errorf("/readyz with the database cut: %d, want 503", st)
	}
	st, res := call(t, "POST", srv.url+"/api/v1/sign-in", "", map[string]string{"email": "joe@example.com", "password": "a long and good password"})
	if st != 503 || res["code"] != "unavailable" || res["retry_after"] == nil {
		t.Errorf("sign-in with the database cut: %d %v, want 503 unavailable with retry_after\n%s", st, res, srv.output())
	}
	if st := get("/healthz"); st != 200 {
		t.Errorf("/healthz with the database cut: %d, want 200 (the process is up)", st)
	}
	p.restore()
	deadline := time.Now().Add(10 * time.Second)
	for get("/readyz") != 200 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if st, res := call(t, "POST", srv.url+"/api/v1/sign-in", "", map[string]string{"email": "joe@example.com", "password": "a long and good password"}); st != 200 {
		t.Errorf("sign-in after the database came back: %d %v", st, res)
	}
	if strings.Contains(srv.output(), "panic") {
		t.Errorf("the server panicked:\n%s", srv.output())
	}
}

// TestReadOnlyDatabase: a SQLite file the server cannot write gives a clear
// error, not a panic.
func TestReadOnlyDatabase(t *testing.T) {
	dir := t.TempDir()
	if r := runCmd(t, dir, nil, "", "migrate"); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	db := filepath.Join(dir, "twostep-data", "twostep.db")
	// chmod does not stop root; a directory in place of the file does.
	for _, f := range []string{db + "-wal", db + "-shm"} {
		os.Remove(f)
	}
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, dir, nil, "", "migrate")
	oneLineError(t, r, "twostep.db")
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
		t.Errorf("stderr shows a panic: %s", r.stderr)
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}
