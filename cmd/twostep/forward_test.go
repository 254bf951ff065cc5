package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/twostep/twostep/internal/twostep"
)

// readmeNginx returns the README's nginx lines for forward auth (the first
// nginx block of "Behind a reverse proxy"), with only what differs on this
// machine replaced: host names under twostep.test, nginx's loopback port for
// 443, a self-signed certificate, Twostep's and the app's addresses.
func readmeNginx(t *testing.T, port int, twostepAddr, appAddr string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Behind a reverse proxy\n")
	if start < 0 {
		t.Fatal("the README has no section \"Behind a reverse proxy\"")
	}
	section = section[start:]
	begin := strings.Index(section, "```nginx\n")
	if begin < 0 {
		t.Fatal("the README's forward-auth section has no nginx block")
	}
	block := section[begin+len("```nginx\n"):]
	block = block[:strings.Index(block, "```")]
	conf := block
	cert, key := selfSigned(t)
	for _, r := range [][2]string{
		{"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d ssl;", port)},
		{"/etc/ssl/example.com.pem", cert},
		{"/etc/ssl/example.com.key", key},
		{"auth.example.com", "auth.twostep.test"},
		{"app.example.com", "app.twostep.test"},
		{"127.0.0.1:8080", twostepAddr},
		{"127.0.0.1:3000", appAddr},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("the README's nginx block has no %q to replace", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	return conf
}

// nginx returns the path of Debian's nginx, skipping the test without it
// (and failing in CI, which installs it).
func nginx(t *testing.T) string {
	t.Helper()
	if bin, err := exec.LookPath("nginx"); err == nil {
		return bin
	}
	const bin = "/usr/sbin/nginx" // outside a user's PATH
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx is not installed; .ci/run installs it")
		}
		t.Skip("nginx is not installed (apt-get install nginx)")
	}
	return bin
}

// startNginx runs nginx (bin) on conf (the http block's contents) in the
// foreground, its files under a temporary prefix, until the test ends.
func startNginx(t *testing.T, bin string, port int, conf string) {
	t.Helper()
	prefix := t.TempDir()
	main := fmt.Sprintf(`master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events {}
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, prefix, conf)
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", prefix, "-c", path, "-g", "daemon off;")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			access, _ := os.ReadFile(filepath.Join(prefix, "access.log"))
			t.Logf("nginx said:\n%s%s\nand served:\n%s", out, log, access)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			deadline = time.Time{}
		default:
		}
	}
	log, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
	t.Fatalf("nginx did not start:\n%s%s\nconfiguration:\n%s", out, log, main)
}

// selfSigned writes a certificate for *.twostep.test, signed by its own key,
// and the key, and returns their paths.
func selfSigned(t *testing.T) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "twostep.test"},
		DNSNames: []string{"auth.twostep.test", "app.twostep.test"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestReadmeNginx: nginx, configured with the README's lines, protects an app
// with Twostep (API.md §8). A visitor of the app in chromium is sent to sign
// in, signs in with a password and an authenticator app, comes back to the
// very page asked for, and the app sees who (Remote-Email) and how
// (Remote-AMR). The host names live under twostep.test, which chromium
// resolves to 127.0.0.1, so the forward-auth cookie crosses from
// auth.twostep.test to app.twostep.test by its Domain alone.
func TestReadmeNginx(t *testing.T) {
	bin := nginx(t)
	port := freePort(t)
	ctx := browser(t,
		chromedp.Flag("host-resolver-rules", "MAP *.twostep.test 127.0.0.1"),
		// The test's certificate is its own: https as in production, with
		// Secure cookies and the Sec-Fetch-Site header that plain http to a
		// host name other than localhost would not have.
		chromedp.Flag("ignore-certificate-errors", true))

	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>app</title><p id=\"who\">Remote-Email: %s; Remote-AMR: %s; Remote-Groups: %s</p>",
			r.Header.Get("Remote-Email"), r.Header.Get("Remote-AMR"), r.Header.Get("Remote-Groups"))
	}))
	t.Cleanup(app.Close)

	const password = "a long and good password"
	dir := t.TempDir()
	if r := runCmd(t, dir, nil, password+"\n", "org", "create", "--name", "Cloud Legal", "--owner", "ann@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	base := fmt.Sprintf("https://auth.twostep.test:%d", port)
	srv := serve(t, dir, []string{"TWOSTEP_BASE_URL=" + base, "TWOSTEP_COOKIE_DOMAIN=twostep.test"})

	// Ann has an authenticator app.
	api := srv.url + "/api/v1"
	st, res := call(t, "POST", api+"/sign-in", "", map[string]string{"email": "ann@example.com", "password": password})
	if st != 200 {
		t.Fatalf("sign-in: %d %v", st, res)
	}
	session, _ := res["session_token"].(string)
	st, res = call(t, "POST", api+"/account/factors", session, map[string]string{"method": "totp"})
	if st != 201 {
		t.Fatalf("add an authenticator app: %d %v", st, res)
	}
	key, _ := res["secret"].(string)
	code, err := totp.GenerateCode(key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, res := call(t, "POST", api+"/account/factors/"+res["id"].(string)+"/verify", session, map[string]string{"code": code}); st != 200 {
		t.Fatalf("verify the authenticator app: %d %v", st, res)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}

	u, _ := url.Parse(srv.url)
	startNginx(t, bin, port, readmeNginx(t, port, u.Host, strings.TrimPrefix(app.URL, "http://")))

	asked := fmt.Sprintf("https://app.twostep.test:%d/reports/2026?quarter=4&sort=desc", port)
	run := steps(t, ctx)
	run("visit the app: sent to sign in",
		chromedp.Navigate(asked),
		chromedp.WaitVisible(chromedp.CSS("#email")),
	)
	at, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if want := base + "/sign-in?rd=" + url.QueryEscape(asked); at != want {
		t.Errorf("sent to %s, want %s", at, want)
	}
	run("password",
		chromedp.SendKeys(chromedp.CSS("#email"), "ann@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#code")),
	)
	// The enrolment used this time step's code: the app's next one.
	run("code from the authenticator app",
		chromedp.SendKeys(chromedp.CSS("#code"), twostep.TOTPCode(secret, twostep.TOTPStep(time.Now())+1)),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#who")),
	)
	if at, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
		t.Fatal(err)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#who")))
	if err != nil {
		t.Fatal(err)
	}
	if at != asked {
		t.Errorf("back at %s, want the page asked for, %s", at, asked)
	}
	if want := "Remote-Email: ann@example.com; Remote-AMR: pwd,otp; Remote-Groups: org:cloud-legal,role:owner"; who != want {
		t.Errorf("the app sees %q, want %q", who, want)
	}
}

// TestCookieDomainSetting: TWOSTEP_COOKIE_DOMAIN is a domain name that holds
// the base URL's host (API.md §8), or start-up stops with one line naming it.
func TestCookieDomainSetting(t *testing.T) {
	tests := []struct {
		name, domain, baseURL string
		want                  string // the domain kept, or the error's start
	}{
		{"a domain", "example.com", "https://auth.example.com", "example.com"},
		{"with a leading dot, in capitals", ".Example.COM", "https://auth.example.com", "example.com"},
		{"the base URL's host itself", "auth.example.com", "https://auth.example.com", "auth.example.com"},
		{"none", "", "https://auth.example.com", ""},
		{"not a domain", "example.com/path", "https://auth.example.com", `TWOSTEP_COOKIE_DOMAIN="example.com/path": must be a domain name`},
		{"an empty label", "example..com", "https://auth.example.com", `TWOSTEP_COOKIE_DOMAIN="example..com": must be a domain name`},
		{"a look-alike of the base URL's", "ample.com", "https://auth.example.com", "TWOSTEP_COOKIE_DOMAIN (ample.com) must hold the base URL's host (auth.example.com)"},
		{"another domain", "example.org", "https://auth.example.com", "TWOSTEP_COOKIE_DOMAIN (example.org) must hold the base URL's host (auth.example.com)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]source{"base_url": {tt.baseURL, "TWOSTEP_BASE_URL"}}
			if tt.domain != "" {
				raw["cookie_domain"] = source{tt.domain, "TWOSTEP_COOKIE_DOMAIN"}
			}
			c, err := parseConfig(raw)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = c.CookieDomain
			}
			if wantErr := strings.HasPrefix(tt.want, "TWOSTEP_"); !strings.HasPrefix(got, tt.want) || (err != nil) != wantErr {
				t.Errorf("got %q (error %v), want %q", got, err, tt.want)
			}
		})
	}
}
