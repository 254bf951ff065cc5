package twosteptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// ProviderConfig describes an organisation's identity provider for a test:
// the clients it knows (Twostep's connections) and the people who can sign in
// there.
type ProviderConfig struct {
	Clients  []ProviderClient  `json:"clients"`
	Accounts []ProviderAccount `json:"accounts"`
	// TTL overrides oidc-provider's lifetimes in seconds, by its names
	// (IdToken, AccessToken, AuthorizationCode, Session, Interaction, Grant).
	TTL map[string]int `json:"ttl,omitempty"`
	// ACRValues are acr values the provider may claim besides the accounts'.
	ACRValues []string `json:"acr_values,omitempty"`
	// IssuerHost is the host name in the issuer; "localhost" when empty.
	IssuerHost string `json:"issuer_host,omitempty"`
}

// ProviderClient is an OIDC client registered at the provider.
type ProviderClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	RedirectURIs []string `json:"redirect_uris"`
}

// ProviderAccount is a person at the provider. AMR and ACR are what the
// provider says about their sign-in unless ProviderLogin overrides them.
type ProviderAccount struct {
	Sub           string         `json:"sub"`
	Email         string         `json:"email"`
	EmailVerified bool           `json:"email_verified"`
	AMR           []string       `json:"amr,omitempty"`
	ACR           string         `json:"acr,omitempty"`
	Claims        map[string]any `json:"claims,omitempty"`
}

// Provider is a running panva/oidc-provider (testdata/oidc-provider) on a free
// loopback port, stopped when the test ends.
type Provider struct {
	// Issuer is http://localhost:PORT: Twostep must allow private URLs
	// (TWOSTEP_ALLOW_PRIVATE_URLS) to accept it.
	Issuer string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer
	once   sync.Once
	done   chan struct{}
}

// ProviderDir returns testdata/oidc-provider of the repository, whose
// node_modules `npm ci` fills.
func ProviderDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "oidc-provider")
}

// StartOIDCProvider starts the provider with cfg. Without node or the npm
// modules it skips the test, and fails it when CI=true (.ci/run installs them).
func StartOIDCProvider(t testing.TB, cfg ProviderConfig) *Provider {
	t.Helper()
	dir := ProviderDir()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the test OIDC provider cannot run (%v); .ci/run installs node and runs npm ci in %s", err, dir)
		}
		t.Skipf("the test OIDC provider cannot run (%v): install node and run `npm ci` in %s", err, dir)
	}
	conf, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(t.TempDir(), "provider.json")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Provider{stderr: new(bytes.Buffer), done: make(chan struct{})}
	p.cmd = exec.Command(node, filepath.Join(dir, "server.js"), confPath)
	p.cmd.Dir = dir
	p.cmd.Stderr = &lockedWriter{w: p.stderr}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Stop)

	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		var hello struct{ Issuer string }
		if !ok || json.Unmarshal([]byte(l), &hello) != nil || hello.Issuer == "" {
			<-p.done
			t.Fatalf("the test OIDC provider did not start: %q\n%s", l, p.Stderr())
		}
		p.Issuer = hello.Issuer
	case <-time.After(60 * time.Second): // a start-up bound on a busy machine, not a timed assertion
		p.Stop()
		t.Fatalf("the test OIDC provider did not start within a minute\n%s", p.Stderr())
	}
	return p
}

// Stop ends the provider (a provider that is down); later calls do nothing.
func (p *Provider) Stop() {
	p.once.Do(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// Stderr returns what the provider wrote on stderr so far.
func (p *Provider) Stderr() string {
	mu.Lock()
	defer mu.Unlock()
	return p.stderr.String()
}

// SetAccount adds the account, or replaces the one with the same sub (an
// e-mail change at the provider).
func (p *Provider) SetAccount(t testing.TB, a ProviderAccount) {
	t.Helper()
	body, _ := json.Marshal(a)
	res, err := http.Post(p.Issuer+"/_admin/accounts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("test provider: set account: %s", res.Status)
	}
}

// ProviderLogin says who signs in at the provider and, optionally, what the
// provider then claims about that sign-in.
type ProviderLogin struct {
	// Login is the account's sub or e-mail.
	Login string
	// AMR overrides the account's amr for this sign-in; []string{} for none.
	AMR []string
	// ACR overrides the account's acr for this sign-in.
	ACR string
}

var interactionForm = regexp.MustCompile(`action="(/interaction/[^"]+/login)"`)

// NewBrowser returns an HTTP client with a cookie jar that does not follow
// redirects, as tests drive both Twostep and the provider with it one hop at a
// time.
func NewBrowser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// SignIn drives browser (from NewBrowser, or any client that does not follow
// redirects) from authorizeURL, the provider's authorization endpoint with
// Twostep's parameters, through the provider's sign-in form as login, and
// returns the URL the provider sends the browser back to (Twostep's callback,
// with code, state and iss, or an error). The browser's cookies at the
// provider persist, so a second SignIn without a new login form is possible
// when the provider still has a session: then login is not used.
func (p *Provider) SignIn(browser *http.Client, authorizeURL string, login ProviderLogin) (*url.URL, error) {
	next := authorizeURL
	for hops := 0; hops < 20; hops++ {
		u, err := url.Parse(next)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(u.String(), p.Issuer+"/") {
			return u, nil // back at the client
		}
		res, err := browser.Get(u.String())
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode >= 300 && res.StatusCode < 400:
			loc, err := res.Location()
			if err != nil {
				return nil, err
			}
			next = loc.String()
		case res.StatusCode == http.StatusOK && interactionForm.Match(body):
			action := interactionForm.FindSubmatch(body)[1]
			form := url.Values{"login": {login.Login}}
			if login.AMR != nil {
				form.Set("amr", strings.Join(login.AMR, ","))
				if len(login.AMR) == 0 {
					form.Set("amr", "-")
				}
			}
			if login.ACR != "" {
				form.Set("acr", login.ACR)
			}
			res, err := browser.PostForm(p.Issuer+string(action), form)
			if err != nil {
				return nil, err
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			loc, err := res.Location()
			if err != nil {
				return nil, fmt.Errorf("test provider: sign-in form answered %s: %s", res.Status, body)
			}
			next = loc.String()
		default:
			return nil, fmt.Errorf("test provider: %s answered %s: %s", u.Path, res.Status, body)
		}
	}
	return nil, errors.New("test provider: too many redirects")
}

var mu sync.Mutex

type lockedWriter struct{ w io.Writer }

func (l *lockedWriter) Write(b []byte) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	return l.w.Write(b)
}
