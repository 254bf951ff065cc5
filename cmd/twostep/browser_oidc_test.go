package main

import (
	"context"
	"encoding/base32"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/twostep/twostep/internal/twostep"
)

// product is a relying party as a product builds it on go-oidc and
// x/oauth2: /login sends the browser to Twostep's authorize endpoint,
// /callback exchanges the code, verifies the ID token against the JWKS and
// its nonce, and says on a page who signed in and how.
type product struct {
	t        *testing.T
	url      string
	conf     oauth2.Config
	verifier *gooidc.IDTokenVerifier

	mu     sync.Mutex
	flows  map[string]flow // by state
	claims chan claims     // the ID tokens the callback verified
}

// newProduct registers a confidential client named name for a product
// served by an httptest server, its redirect URI that server's /callback.
func newProduct(t *testing.T, dir string, env []string, srv *server, name string, extra ...string) *product {
	t.Helper()
	p := &product{t: t, flows: map[string]flow{}, claims: make(chan claims, 1)}
	hs := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(hs.Close)
	p.url = hs.URL
	id, secret := newClient(t, dir, env, append([]string{"--name", name, "--redirect-uri", hs.URL + "/callback"}, extra...)...)
	op, err := gooidc.NewProvider(context.Background(), srv.url)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	p.verifier = op.Verifier(&gooidc.Config{ClientID: id})
	p.conf = oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: op.Endpoint(), RedirectURL: hs.URL + "/callback",
		Scopes: []string{gooidc.ScopeOpenID, "email"}}
	return p
}

func (p *product) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/login":
		f := flow{verifier: oauth2.GenerateVerifier(), nonce: random(), state: random()}
		p.mu.Lock()
		p.flows[f.state] = f
		p.mu.Unlock()
		http.Redirect(w, r, p.conf.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier), gooidc.Nonce(f.nonce)), http.StatusFound)
	case "/callback":
		q := r.URL.Query()
		p.mu.Lock()
		f, ok := p.flows[q.Get("state")]
		delete(p.flows, q.Get("state"))
		p.mu.Unlock()
		if !ok || q.Get("code") == "" {
			http.Error(w, "no code for a state of ours: "+q.Encode(), http.StatusBadRequest)
			return
		}
		tok, err := p.conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(f.verifier))
		if err != nil {
			http.Error(w, "exchange: "+err.Error(), http.StatusBadGateway)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		id, err := p.verifier.Verify(r.Context(), raw)
		var c claims
		if err == nil {
			err = id.Claims(&c)
		}
		if err != nil || c.Nonce != f.nonce {
			http.Error(w, fmt.Sprintf("ID token: %v (nonce %q, want %q)", err, c.Nonce, f.nonce), http.StatusBadGateway)
			return
		}
		p.claims <- c
		fmt.Fprintf(w, `<!doctype html><title>Signed in</title><p id="signed-in">Signed in as %s</p>`, c.Email)
	default:
		http.NotFound(w, r)
	}
}

// TestBrowserOIDCRequiredEnrolment: a product sends chromium to Twostep;
// the person, whose organisation requires two-step and who has no method
// yet, signs in on Twostep's pages (which name the product), is led through
// setting up an authenticator app (the key read from the page), sees the
// recovery codes, continues, and lands at the product's callback, which
// exchanges the code and verifies an ID token whose amr and acr say a
// second step was proven (OP-04, ORG-01).
func TestBrowserOIDCRequiredEnrolment(t *testing.T) {
	ctx := browser(t)
	dir, env, srv := startOIDC(t)
	const pw = "a long and good password"
	if r := runCmd(t, dir, env, pw+"\n", "org", "create", "--name", "Cloud Legal", "--owner", "owner@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	if r := runCmd(t, dir, env, pw+"\n", "user", "create", "--org", "cloud-legal", "--email", "joe@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("user create: %+v", r)
	}
	st, b := call(t, "POST", srv.url+"/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": pw})
	owner, _ := b["session_token"].(string)
	if st != 200 || owner == "" {
		t.Fatalf("owner sign-in: %d %v", st, b)
	}
	if st, b := call(t, "PUT", srv.url+"/api/v1/org/policy", owner, map[string]any{"two_step": "required", "grace_period_days": 0,
		"allowed_methods": []string{"totp"}, "min_client_version": nil, "allow_legacy_clients": false}); st != 200 {
		t.Fatalf("require two-step: %d %v", st, b)
	}
	notes := newProduct(t, dir, env, srv, "Cloud Notes")

	start := time.Now()
	run := steps(t, ctx)
	run("the product sends the browser to Twostep",
		chromedp.Navigate(notes.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#password")),
	)
	if said, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("[data-client]"))); err != nil || !strings.Contains(said, "Cloud Notes") {
		t.Errorf("the sign-in page says %q (%v), want the product's name", said, err)
	}
	run("password, then the enrolment the organisation requires",
		chromedp.SendKeys(chromedp.CSS("#email"), "joe@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/sign-in/enrol/totp"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/sign-in/enrol/totp"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#totp-secret")),
	)
	key, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#totp-secret")))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(strings.TrimSpace(key), " ", ""))
	if err != nil {
		t.Fatalf("the key on the page %q is not Base32: %v", key, err)
	}
	run("the first code, then the recovery codes",
		chromedp.SendKeys(chromedp.CSS("#code"), twostep.TOTPCode(secret, twostep.TOTPStep(time.Now()))),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
	)
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#recovery-codes li")].map(li => li.textContent.trim())`))
	if err != nil || len(codes) != 10 {
		t.Fatalf("recovery codes page shows %d codes (%v), want 10", len(codes), err)
	}
	run("saved them: continue", chromedp.Click(chromedp.CSS(`#recovery-codes ~ form button.primary`)))
	at := ""
	for deadline := time.Now().Add(10 * time.Second); !strings.HasPrefix(at, notes.url) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		at, _ = chromedp.Run(ctx, chromedp.Location())
	}
	if !strings.HasPrefix(at, notes.url+"/callback?") {
		page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("after the recovery codes the browser is at %s, want the product's callback; page:\n%s\nserver:\n%s", at, page, srv.output())
	}
	run("the product's page", chromedp.WaitVisible(chromedp.CSS("#signed-in")))
	took := time.Since(start)
	var c claims
	select {
	case c = <-notes.claims:
	default:
		t.Fatal("the product's callback verified no ID token")
	}
	t.Logf("authorize, password, enrolment and back to the product in chromium: %s", took)
	if diff := cmp.Diff([]string{"pwd", "otp"}, c.AMR); diff != "" {
		t.Errorf("amr (-want +got):\n%s", diff)
	}
	if c.ACR != twostep.ACRTwoStep || c.Email != "joe@example.com" || c.SID == "" || c.AuthTime == 0 {
		t.Errorf("ID token claims %+v, want acr two-step for joe@example.com with sid and auth_time", c)
	}
}
