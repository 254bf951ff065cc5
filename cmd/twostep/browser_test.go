package main

import (
	"context"
	"encoding/base32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twostep/twostep/internal/notify/smtptest"
	"github.com/twostep/twostep/internal/twostep"
)

// browser starts Debian's headless chromium, skipping the test without it (and
// failing in CI, which installs it); extra adds to its flags.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
		// This machine has no network: keep chromium from reaching out.
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// setupLink returns the first-run link the server printed, waiting for its
// output to arrive.
func setupLink(t *testing.T, srv *server) []string {
	t.Helper()
	re := regexp.MustCompile(`open (http://\S+/setup/\S+) `)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(srv.output()); m != nil {
			return m
		}
	}
	t.Fatalf("no setup link in:\n%s", srv.output())
	return nil
}

// steps returns a function that runs browser actions, failing t with what the
// page said when one fails.
func steps(t *testing.T, ctx context.Context) func(what string, actions ...chromedp.Action[chromedp.Void]) {
	return func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
		}
	}
}

// TestBrowserAuthenticatorJourney: a person sets up Twostep, adds an
// authenticator app reading the key from the page, signs out, and signs in with
// a code computed from that key — in a real browser against the real binary.
func TestBrowserAuthenticatorJourney(t *testing.T) {
	ctx := browser(t)
	srv := serve(t, t.TempDir(), nil)
	setup := setupLink(t, srv)
	const pw = "a long and good password"
	run := steps(t, ctx)
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	run("first-run setup",
		chromedp.Navigate(setup[1]),
		chromedp.SendKeys(chromedp.CSS("#name"), "Cloud Legal"),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/security/totp"] button`)),
	)
	run("add an authenticator app",
		chromedp.Click(chromedp.CSS(`form[action="/account/security/totp"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#totp-secret")),
	)
	secretText := get("read the key", chromedp.Text(chromedp.CSS("#totp-secret")))
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(strings.TrimSpace(secretText), " ", ""))
	if err != nil {
		t.Fatalf("the key on the page %q is not Base32: %v", secretText, err)
	}
	now := time.Now()
	run("type the first code",
		chromedp.SendKeys(chromedp.CSS("#code"), twostep.TOTPCode(secret, twostep.TOTPStep(now))),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
	)
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#recovery-codes li")].map(li => li.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("recovery codes page shows %d codes, want 10: %v", len(codes), codes)
	}
	run("saved them, sign out, sign in",
		chromedp.Click(chromedp.CSS(`a[href="/account/security?done=codes"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#code")),
	)
	// Each time step works once: use the next one (±1 step is accepted).
	run("second step with the app",
		chromedp.SendKeys(chromedp.CSS("#code"), twostep.TOTPCode(secret, twostep.TOTPStep(now)+1)),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("p.state.on")),
	)
	state := get("read the state", chromedp.Text(chromedp.CSS("p.state.on")))
	if !strings.Contains(state, "On") && !strings.Contains(state, "on") {
		t.Errorf("security page says %q, want two-step on", state)
	}
}

// codeAfter waits for a message after the first n that holds a 6-digit code and
// returns the code of the first such one.
func codeAfter(t *testing.T, ms *smtptest.Server, n int) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got := ms.Received()
		for i := n; i < len(got); i++ {
			if m := regexp.MustCompile(`\b\d{6}\b`).FindString(smtptest.Parse(t, got[i].Data).Text); m != "" {
				return m
			}
		}
	}
	t.Fatalf("no message after the first %d holds a code", n)
	return ""
}

// lastCode waits until the SMTP server has n messages and returns the code of
// the newest one that holds a 6-digit code (notices hold none).
func lastCode(t *testing.T, ms *smtptest.Server, n int) (string, smtptest.Parsed) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got := ms.Received()
		if len(got) < n {
			continue
		}
		for i := len(got) - 1; i >= 0; i-- {
			p := smtptest.Parse(t, got[i].Data)
			if m := regexp.MustCompile(`\b\d{6}\b`).FindString(p.Text); m != "" {
				return m, p
			}
		}
		t.Fatal("no message holds a code")
	}
	t.Fatalf("the SMTP server got %d messages, want %d", len(ms.Received()), n)
	return "", smtptest.Parsed{}
}

// TestBrowserEmailJourney: with a real SMTP server, a person turns on e-mail
// codes and signs in with a code read from the mail that arrived.
func TestBrowserEmailJourney(t *testing.T) {
	ctx := browser(t)
	ms := smtptest.NewServer(t, smtptest.Options{Mode: "plain"})
	srv := serve(t, t.TempDir(), []string{"TWOSTEP_SMTP_URL=smtp+insecure://" + ms.Addr, "TWOSTEP_MAIL_FROM=no-reply@cloud-legal.example"})
	setup := setupLink(t, srv)
	const pw = "a long and good password"
	run := steps(t, ctx)
	run("setup, then add an e-mail method",
		chromedp.Navigate(setup[1]),
		chromedp.SendKeys(chromedp.CSS("#name"), "Cloud Legal"),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/security/email"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/account/security/email"]`)),
		chromedp.WaitVisible(chromedp.CSS("#address")),
		chromedp.Submit(chromedp.CSS("#address")),
		chromedp.WaitVisible(chromedp.CSS("#code")),
	)
	code, mail := lastCode(t, ms, 1)
	if mail.To != "owner@example.com" || mail.FromAddr != "no-reply@cloud-legal.example" {
		t.Errorf("enrolment mail from %s to %s", mail.FromAddr, mail.To)
	}
	run("type the code from the e-mail, save the recovery codes, sign out and in",
		chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
		chromedp.Click(chromedp.CSS(`a[href="/account/security?done=codes"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#code")),
	)
	page, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"o•••@example.com", "no-reply@cloud-legal.example", "spam"} {
		if !strings.Contains(page, want) {
			t.Errorf("the second-step page does not show %q:\n%s", want, page)
		}
	}
	// Two enrolment messages: the code, then the notice that two-step is on.
	code, _ = lastCode(t, ms, 3)
	run("second step with the e-mailed code",
		chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("p.state.on")),
	)
}
