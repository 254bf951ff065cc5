package twostep_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// oidcFixture is a fixture with a confidential client of the organisation.
func oidcFixture(t *testing.T) (*fixture, *twostep.OIDCClient) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("owner@example.com")
	cl, secret, err := f.svc.CreateOIDCClient(context.Background(), nil, twostep.NewOIDCClient{Name: "Notes",
		RedirectURIs: []string{"https://notes.example/cb"}, Org: f.org})
	if err != nil || len(secret) < 43 {
		t.Fatalf("client: %v (secret %d characters)", err, len(secret))
	}
	if err := f.svc.CheckOIDCClientSecret(context.Background(), cl.ID, secret); err != nil {
		t.Errorf("the right secret: %v", err)
	}
	if err := f.svc.CheckOIDCClientSecret(context.Background(), cl.ID, secret+"x"); !errors.Is(err, twostep.ErrInvalidCredentials) {
		t.Errorf("a wrong secret: %v (API-01)", err)
	}
	return f, cl
}

func challenge(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// TestOIDCAuthRequestRules: what CreateAuthRequest refuses, field by field
// (OP-02): an unregistered or slightly different redirect URI, another
// response type, no openid, PKCE plain, a challenge without its method, a
// public client without PKCE.
func TestOIDCAuthRequestRules(t *testing.T) {
	f, cl := oidcFixture(t)
	ctx := context.Background()
	spa, _, err := f.svc.CreateOIDCClient(ctx, nil, twostep.NewOIDCClient{Name: "SPA", RedirectURIs: []string{"https://spa.example/cb"}, Public: true})
	if err != nil {
		t.Fatal(err)
	}
	good := twostep.NewAuthRequest{ClientID: cl.ID, RedirectURI: "https://notes.example/cb", ResponseType: "code",
		Scopes: []string{"openid"}, CodeChallenge: challenge("v"), CodeChallengeMethod: "S256"}
	tests := []struct {
		name  string
		edit  func(*twostep.NewAuthRequest)
		field string
	}{
		{"ok", func(*twostep.NewAuthRequest) {}, ""},
		{"ok without PKCE for a confidential client", func(r *twostep.NewAuthRequest) { r.CodeChallenge, r.CodeChallengeMethod = "", "" }, ""},
		{"redirect with a trailing slash", func(r *twostep.NewAuthRequest) { r.RedirectURI += "/" }, "redirect_uri"},
		{"redirect with a query", func(r *twostep.NewAuthRequest) { r.RedirectURI += "?x=1" }, "redirect_uri"},
		{"implicit", func(r *twostep.NewAuthRequest) { r.ResponseType = "id_token token" }, "response_type"},
		{"no openid", func(r *twostep.NewAuthRequest) { r.Scopes = []string{"email"} }, "scope"},
		{"plain", func(r *twostep.NewAuthRequest) { r.CodeChallengeMethod = "plain" }, "code_challenge_method"},
		{"challenge without method", func(r *twostep.NewAuthRequest) { r.CodeChallengeMethod = "" }, "code_challenge_method"},
		{"method without challenge", func(r *twostep.NewAuthRequest) { r.CodeChallenge = "" }, "code_challenge"},
		{"public without PKCE", func(r *twostep.NewAuthRequest) {
			r.ClientID, r.RedirectURI, r.CodeChallenge, r.CodeChallengeMethod = spa.ID, "https://spa.example/cb", "", ""
		}, "code_challenge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.edit(&r)
			_, err := f.svc.CreateAuthRequest(ctx, r)
			var ie *twostep.InvalidError
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &ie) || ie.Field != tc.field):
				t.Errorf("got %v, want an error naming %s (OP-02)", err, tc.field)
			}
		})
	}
	if _, err := f.svc.CreateAuthRequest(ctx, twostep.NewAuthRequest{ClientID: "cli_nope"}); !errors.Is(err, twostep.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
}

// TestOIDCCodeAndRefreshRules: a code is handed out once, lives the code TTL
// and works once; its second use revokes what the first issued (OP-01); a
// refresh token rotates and its reuse revokes the chain (OP-03); a password
// change revokes every token of the account.
func TestOIDCCodeAndRefreshRules(t *testing.T) {
	f, cl := oidcFixture(t)
	ctx := context.Background()
	res := f.signIn("owner@example.com")
	start := func() *twostep.AuthRequest {
		r, err := f.svc.CreateAuthRequest(ctx, twostep.NewAuthRequest{ClientID: cl.ID, RedirectURI: "https://notes.example/cb",
			ResponseType: "code", Scopes: []string{"openid", "offline_access"}, CodeChallenge: challenge("v"), CodeChallengeMethod: "S256"})
		if err != nil {
			t.Fatal(err)
		}
		step, err := f.svc.ResumeAuthRequest(ctx, r.ID, res.SessionToken, "192.0.2.1", "test")
		if err != nil || !step.Callback {
			t.Fatalf("a live session did not complete the request: %+v %v", step, err)
		}
		return r
	}
	r := start()
	if err := f.svc.SaveAuthCode(ctx, r.ID, "code-1"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SaveAuthCode(ctx, r.ID, "code-2"); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("a second code for one request: %v", err)
	}
	got, err := f.svc.ExchangeCode(ctx, "code-1")
	if err != nil || got.ACR != twostep.ACRPassword || got.SessionID != res.Session.ID {
		t.Fatalf("exchange: %+v %v", got, err)
	}
	accessID, refresh, _, err := f.svc.IssueCodeTokens(ctx, got, true)
	if err != nil || refresh == "" {
		t.Fatal(err)
	}
	if _, err := f.svc.ExchangeCode(ctx, "code-1"); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("second use: %v", err)
	}
	if _, _, err := f.svc.AccessToken(ctx, accessID); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("the first exchange's access token after the code's reuse: %v (OP-01)", err)
	}
	if _, err := f.svc.RefreshGrant(ctx, refresh); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("the first exchange's refresh token after the code's reuse: %v (OP-01)", err)
	}

	r = start()
	f.svc.SaveAuthCode(ctx, r.ID, "code-3")
	code, _, _ := f.svc.OIDCLifetimes()
	f.clock.Advance(code + time.Second)
	if _, err := f.svc.ExchangeCode(ctx, "code-3"); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("an expired code: %v (OP-01)", err)
	}

	r = start()
	f.svc.SaveAuthCode(ctx, r.ID, "code-4")
	got, _ = f.svc.ExchangeCode(ctx, "code-4")
	_, r1, _, _ := f.svc.IssueCodeTokens(ctx, got, true)
	_, r2, _, err := f.svc.RotateRefresh(ctx, r1, nil)
	if err != nil || r2 == r1 {
		t.Fatalf("rotate: %v", err)
	}
	if _, _, _, err := f.svc.RotateRefresh(ctx, r1, nil); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("a rotated token again: %v (OP-03)", err)
	}
	if _, err := f.svc.RefreshGrant(ctx, r2); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("the chain survived a reuse: %v (OP-03)", err)
	}
}

// TestOIDCSessionRules: what a session satisfies (OP-04): a legacy client's
// never yields a token; one without a proven second step does not satisfy
// two-step (prompt=none: interaction_required); max_age and prompt=login ask
// a new sign-in (login_required); the acr is what was achieved.
func TestOIDCSessionRules(t *testing.T) {
	f, cl := oidcFixture(t)
	ctx := context.Background()
	res := f.signIn("owner@example.com")
	ask := func(n twostep.NewAuthRequest) (*twostep.AuthRequest, *twostep.AuthRequestStep) {
		n.ClientID, n.RedirectURI, n.ResponseType, n.Scopes = cl.ID, "https://notes.example/cb", "code", []string{"openid"}
		r, err := f.svc.CreateAuthRequest(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		step, err := f.svc.ResumeAuthRequest(ctx, r.ID, res.SessionToken, "192.0.2.1", "test")
		if err != nil {
			t.Fatal(err)
		}
		r, _ = f.svc.AuthRequest(ctx, r.ID)
		return r, step
	}
	f.clock.Advance(2 * time.Minute)
	zero, one := uint(0), uint(60)
	tests := []struct {
		name     string
		n        twostep.NewAuthRequest
		callback bool
		err      string
	}{
		{"reused", twostep.NewAuthRequest{}, true, ""},
		{"two-step asked of a password session", twostep.NewAuthRequest{ACRValues: []string{twostep.ACRTwoStep}}, false, ""},
		{"two-step, prompt=none", twostep.NewAuthRequest{ACRValues: []string{twostep.ACRTwoStep}, Prompt: []string{"none"}}, true, twostep.AuthErrInteractionRequired},
		{"max_age=0", twostep.NewAuthRequest{MaxAge: &zero}, false, ""},
		{"max_age passed, prompt=none", twostep.NewAuthRequest{MaxAge: &one, Prompt: []string{"none"}}, true, twostep.AuthErrLoginRequired},
		{"prompt=login", twostep.NewAuthRequest{Prompt: []string{"login"}}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, step := ask(tc.n)
			if step.Callback != tc.callback || r.Error != tc.err {
				t.Errorf("callback %t error %q, want %t %q", step.Callback, r.Error, tc.callback, tc.err)
			}
			if tc.callback && tc.err == "" && (r.ACR != twostep.ACRPassword || strings.Join(r.AMR, " ") != "pwd") {
				t.Errorf("acr %q amr %v: more than the password was claimed", r.ACR, r.AMR)
			}
		})
	}
	// A legacy client's session (the password alone, two-step on) never yields a token.
	legacy := &twostep.Session{ID: "ses_legacy", TokenHash: twostep.HashToken("legacy"), AccountID: res.Account.ID, AMR: []string{"pwd"},
		SecondStep: twostep.SecondStepExempt, Legacy: true, CreatedAt: f.clock.Now(), LastSeenAt: f.clock.Now(),
		IdleExpiresAt: f.clock.Now().Add(time.Hour), ExpiresAt: f.clock.Now().Add(time.Hour)}
	if err := f.db.CreateSession(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.CreateAuthRequest(ctx, twostep.NewAuthRequest{ClientID: cl.ID, RedirectURI: "https://notes.example/cb", ResponseType: "code", Scopes: []string{"openid"}})
	if err != nil {
		t.Fatal(err)
	}
	if step, _ := f.svc.ResumeAuthRequest(ctx, r.ID, "legacy", "192.0.2.1", "test"); step.Callback {
		t.Error("a legacy client's session was reused for a token")
	}
	if err := f.svc.CompleteAuthRequest(ctx, r.ID, "legacy", "192.0.2.1", "test"); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.svc.AuthRequest(ctx, r.ID); r.Done() || r.Error != twostep.AuthErrAccessDenied {
		t.Errorf("a legacy session completed a request: %+v", r)
	}
}

// TestOIDCSigningKeyRotation: a key is made on first start, sealed; a
// rotation makes a new active key and keeps the old one published until its
// tokens expire (OP-05).
func TestOIDCSigningKeyRotation(t *testing.T) {
	f, _ := oidcFixture(t)
	ctx := context.Background()
	if err := f.svc.EnsureSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.EnsureSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := f.svc.ActiveSigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := f.svc.PublishedSigningKeys(ctx); len(keys) != 1 {
		t.Fatalf("first start made %d keys", len(keys))
	}
	id, err := f.svc.RotateSigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now, _ := f.svc.ActiveSigningKey(ctx)
	if now.ID != id || now.ID == first.ID {
		t.Errorf("active key %s after rotating to %s", now.ID, id)
	}
	if keys, _ := f.svc.PublishedSigningKeys(ctx); len(keys) != 2 {
		t.Errorf("%d keys published right after a rotation, want the old one too", len(keys))
	}
	_, access, _ := f.svc.OIDCLifetimes()
	f.clock.Advance(access + 6*time.Minute)
	if keys, _ := f.svc.PublishedSigningKeys(ctx); len(keys) != 1 || keys[0].ID != id {
		t.Errorf("the old key is still published after its tokens expired: %d keys", len(keys))
	}
}
