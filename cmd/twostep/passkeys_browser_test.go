package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// passkeyServer starts the binary with a base URL whose host is a name
// (WebAuthn refuses IP addresses): http://localhost:PORT, listening on
// 127.0.0.1:PORT.
func passkeyServer(t *testing.T) *server {
	t.Helper()
	port := freePort(t)
	return serveOn(t, t.TempDir(), fmt.Sprintf("127.0.0.1:%d", port), []string{fmt.Sprintf("TWOSTEP_BASE_URL=http://localhost:%d", port)})
}

// virtualAuthenticator gives the browser a platform authenticator (CTAP 2.1,
// internal transport, resident keys, user verification that succeeds when uv)
// that answers at once, as Chrome's WebAuthn test domain does.
func virtualAuthenticator(t *testing.T, ctx context.Context, uv bool) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true, IsUserVerified: uv,
			AutomaticPresenceSimulation: true}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// lastSignIn is the amr of the account's newest sign-in, as its activity in
// the JSON API says (the browser's session cookie authenticates it).
func lastSignIn(t *testing.T, ctx context.Context, srv *server) []string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.url+"/api/v1/account/activity?limit=20")); err != nil {
		t.Fatal(err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	var evs []struct {
		Type   string `json:"type"`
		Detail struct {
			AMR []string `json:"amr"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &evs); err != nil {
		t.Fatalf("activity: %v\n%s", err, body)
	}
	for _, e := range evs {
		if e.Type == "sign_in.succeeded" {
			return e.Detail.AMR
		}
	}
	t.Fatalf("no sign-in in the activity:\n%s", body)
	return nil
}

// TestBrowserPasskeys: in chromium against the real binary, with Chrome's
// virtual authenticator, a person adds a passkey from the security settings
// (naming it), signs in with it as the second step after the password, and
// then with it alone from the sign-in page's button (API.md §11). With user
// verification the key alone is enough (amr hwk, user, mfa); without it the
// key still serves as the second step (no mfa) but cannot replace the
// password (WA-03). A second authenticator holding a key this server does not
// know is refused in words.
func TestBrowserPasskeys(t *testing.T) {
	for _, uv := range []bool{true, false} {
		t.Run(fmt.Sprintf("uv=%v", uv), func(t *testing.T) { browserPasskeys(t, uv) })
	}
}

func browserPasskeys(t *testing.T, uv bool) {
	ctx := browser(t)
	srv := passkeyServer(t)
	setup := setupLink(t, srv)
	if !strings.HasPrefix(setup[1], "http://localhost:") {
		t.Fatalf("setup link %q is not on localhost", setup[1])
	}
	const pw = "a long and good password"
	run := steps(t, ctx)
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return v
	}
	auth := virtualAuthenticator(t, ctx, uv)

	run("first-run setup, then add a passkey named Work laptop",
		chromedp.Navigate(setup[1]),
		chromedp.SendKeys(chromedp.CSS("#name"), "Cloud Legal"),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/security/webauthn"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/account/security/webauthn"]`)),
		chromedp.WaitVisible(chromedp.CSS("#label")),
		chromedp.SendKeys(chromedp.CSS("#label"), "Work laptop"),
		chromedp.Submit(chromedp.CSS("#label")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-start")),
		chromedp.Click(chromedp.CSS("#passkey-start")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
		chromedp.Click(chromedp.CSS(`a[href="/account/security?done=codes"]`)),
		chromedp.WaitVisible(chromedp.CSS("ul.methods")),
	)
	if m := text("ul.methods"); !strings.Contains(m, "Passkey or security key — Work laptop") || !strings.Contains(m, "Last used") {
		t.Errorf("the security page lists:\n%s", m)
	}

	run("sign out, sign in with the password, then the passkey as the second step",
		chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#passkey-start")),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`[data-webauthn="get"] #passkey-start`)),
		chromedp.Click(chromedp.CSS("#passkey-start")),
		chromedp.WaitVisible(chromedp.CSS("p.state.on")),
	)
	wantAMR := []string{"pwd", "hwk", "user"}
	if uv {
		wantAMR = append(wantAMR, "mfa")
	}
	if got := lastSignIn(t, ctx, srv); !slices.Equal(got, wantAMR) {
		t.Errorf("password and key: amr %v, want %v", got, wantAMR)
	}

	run("sign out, and sign in with the passkey's button alone",
		chromedp.Navigate(srv.url+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#passkey-start")),
		chromedp.Click(chromedp.CSS("#passkey-start")),
	)
	if uv {
		run("signed in", chromedp.WaitVisible(chromedp.CSS("p.state.on")))
		if got := lastSignIn(t, ctx, srv); !slices.Equal(got, []string{"hwk", "user", "mfa"}) {
			t.Errorf("passwordless: amr %v, want [hwk user mfa]", got)
		}
		run("sign out", chromedp.Navigate(srv.url+"/account/security"),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-out"] button`)),
			chromedp.Click(chromedp.CSS(`form[action="/sign-out"] button`)),
			chromedp.WaitVisible(chromedp.CSS("#passkey-start")))
	} else {
		// WA-03: the key did not verify its holder.
		run("refused", chromedp.WaitVisible(chromedp.CSS("#form-error")))
		if e := text("#form-error"); !strings.Contains(e, "did not verify you") || !strings.Contains(e, "password") {
			t.Errorf("a passwordless sign-in without user verification says %q", e)
		}
	}

	// A second authenticator, whose key this server never saw (made for
	// localhost elsewhere), and the first one gone.
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: auth}); err != nil {
		t.Fatal(err)
	}
	other := virtualAuthenticator(t, ctx, true)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	if _, err := chromedp.Call(ctx, webauthn.AddCredential, webauthn.AddCredentialParams{AuthenticatorID: other,
		Credential: &webauthn.Credential{CredentialID: id, IsResidentCredential: true, RpID: "localhost", PrivateKey: pkcs8,
			UserHandle: []byte("someone-elsewhere"), SignCount: 1}}); err != nil {
		t.Fatalf("WebAuthn.addCredential: %v", err)
	}
	run("a key this server does not know",
		chromedp.Navigate(srv.url+"/sign-in"),
		chromedp.WaitVisible(chromedp.CSS("#passkey-start")),
		chromedp.Click(chromedp.CSS("#passkey-start")),
		chromedp.WaitVisible(chromedp.CSS("#form-error")),
	)
	if e := text("#form-error"); !strings.Contains(e, "does not belong to any account here") {
		t.Errorf("an unknown key: the page says %q", e)
	}
}
