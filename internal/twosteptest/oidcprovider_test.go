package twosteptest_test

import (
	"context"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/twostep/twostep/internal/twosteptest"
)

// TestOIDCProviderHarness signs in at the test provider as an independent
// relying party would (go-oidc, PKCE, nonce), so a failing SSO test can be
// told apart from a broken harness.
func TestOIDCProviderHarness(t *testing.T) {
	const redirect = "http://localhost:1/callback"
	p := twosteptest.StartOIDCProvider(t, twosteptest.ProviderConfig{
		Clients:   []twosteptest.ProviderClient{{ClientID: "app", ClientSecret: "app-secret", RedirectURIs: []string{redirect}}},
		ACRValues: []string{"urn:acme:pwd"},
		Accounts: []twosteptest.ProviderAccount{
			{Sub: "ann-1", Email: "ann@acme.test", EmailVerified: true, AMR: []string{"pwd", "mfa"}, ACR: "urn:acme:mfa"},
		},
	})
	ctx := context.Background()
	op, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "app", ClientSecret: "app-secret", Endpoint: op.Endpoint(), RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "email"}}
	verifier := oauth2.GenerateVerifier()

	type claims struct {
		Sub           string   `json:"sub"`
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		AMR           []string `json:"amr"`
		ACR           string   `json:"acr"`
		Nonce         string   `json:"nonce"`
	}
	for _, tc := range []struct {
		name  string
		login twosteptest.ProviderLogin
		want  claims
	}{
		{"account's own amr", twosteptest.ProviderLogin{Login: "ann@acme.test"},
			claims{"ann-1", "ann@acme.test", true, []string{"pwd", "mfa"}, "urn:acme:mfa", "n-1"}},
		{"amr overridden", twosteptest.ProviderLogin{Login: "ann-1", AMR: []string{"pwd"}, ACR: "urn:acme:pwd"},
			claims{"ann-1", "ann@acme.test", true, []string{"pwd"}, "urn:acme:pwd", "n-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			browser := twosteptest.NewBrowser(t)
			authURL := conf.AuthCodeURL("st-1", oidc.Nonce("n-1"), oauth2.S256ChallengeOption(verifier))
			back, err := p.SignIn(browser, authURL, tc.login)
			if err != nil {
				t.Fatal(err)
			}
			q := back.Query()
			if q.Get("state") != "st-1" || q.Get("iss") != p.Issuer || q.Get("code") == "" {
				t.Fatalf("callback %s: want state, iss %s and a code", back, p.Issuer)
			}
			tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := op.Verifier(&oidc.Config{ClientID: "app"}).Verify(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			var got claims
			if err := idt.Claims(&got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ID token claims (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("e-mail changed at the provider", func(t *testing.T) {
		p.SetAccount(t, twosteptest.ProviderAccount{Sub: "ann-1", Email: "ann.new@acme.test", EmailVerified: true})
		browser := twosteptest.NewBrowser(t)
		back, err := p.SignIn(browser, conf.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(verifier)), twosteptest.ProviderLogin{Login: "ann-1"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		idt, err := op.Verifier(&oidc.Config{ClientID: "app"}).Verify(ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Email string }
		idt.Claims(&got)
		if got.Email != "ann.new@acme.test" {
			t.Errorf("email = %q, want the new address", got.Email)
		}
	})
}
