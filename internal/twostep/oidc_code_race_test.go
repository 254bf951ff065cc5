package twostep_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// codeFixture is a service over db with a signed-in account and a client,
// and a function that starts an authorization request the session completes
// and gives it the code code.
func codeFixture(t *testing.T, db *store.DB) (*fixture, func(code string)) {
	t.Helper()
	f := newFixture(t, db, twostep.Limits{})
	f.account("owner@example.com")
	ctx := context.Background()
	cl, _, err := f.svc.CreateOIDCClient(ctx, nil, twostep.NewOIDCClient{Name: "Notes", RedirectURIs: []string{"https://notes.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	res := f.signIn("owner@example.com")
	return f, func(code string) {
		t.Helper()
		r, err := f.svc.CreateAuthRequest(ctx, twostep.NewAuthRequest{ClientID: cl.ID, RedirectURI: "https://notes.example/cb",
			ResponseType: "code", Scopes: []string{"openid", "offline_access"}})
		if err != nil {
			t.Fatal(err)
		}
		if step, err := f.svc.ResumeAuthRequest(ctx, r.ID, res.SessionToken, "192.0.2.1", "test"); err != nil || !step.Callback {
			t.Fatalf("the live session did not complete the request: %+v %v", step, err)
		}
		if err := f.svc.SaveAuthCode(ctx, r.ID, code); err != nil {
			t.Fatal(err)
		}
	}
}

// exchange is a token request for code as the provider runs it: spend the
// code, then issue its tokens. It returns the access token's id and the
// refresh token, or the error.
func exchange(f *fixture, code string) (string, string, error) {
	ctx := context.Background()
	r, err := f.svc.ExchangeCode(ctx, code)
	if err != nil {
		return "", "", err
	}
	access, refresh, _, err := f.svc.IssueCodeTokens(ctx, r, true)
	return access, refresh, err
}

// alive reports whether the access token or the refresh token still works.
func alive(f *fixture, access, refresh string) bool {
	ctx := context.Background()
	_, _, errA := f.svc.AccessToken(ctx, access)
	_, errR := f.svc.RefreshGrant(ctx, refresh)
	return !errors.Is(errA, twostep.ErrExpired) || !errors.Is(errR, twostep.ErrExpired)
}

// TestOIDCCodeReuseBeforeIssue: a second use of a code that comes between
// the first exchange's spending it and its issuing the tokens still revokes
// what the first issues — or the first issues nothing (OP-01). Before, the
// second use revoked an empty chain and the first then wrote live tokens.
func TestOIDCCodeReuseBeforeIssue(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		f, start := codeFixture(t, db)
		ctx := context.Background()
		start("code-1")
		first, err := f.svc.ExchangeCode(ctx, "code-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ExchangeCode(ctx, "code-1"); !errors.Is(err, twostep.ErrExpired) {
			t.Fatalf("the second use: %v, want ErrExpired", err)
		}
		access, refresh, _, err := f.svc.IssueCodeTokens(ctx, first, true)
		if err == nil && alive(f, access, refresh) {
			t.Error("the first exchange's tokens are alive after a second use of its code (OP-01)")
		}
	})
}

// TestOIDCCodeExchangesInParallel: many token requests for one code at once
// (OP-01): at most one gets tokens, and whatever it got is revoked, since the
// others are second uses. Rounds of fresh codes give the race its chances.
func TestOIDCCodeExchangesInParallel(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		f, start := codeFixture(t, db)
		const rounds, parallel = 10, 6
		for round := range rounds {
			code := fmt.Sprintf("code-%d", round)
			start(code)
			type got struct {
				access, refresh string
				err             error
			}
			results := make([]got, parallel)
			var wg sync.WaitGroup
			for i := range parallel {
				wg.Go(func() {
					a, r, err := exchange(f, code)
					results[i] = got{a, r, err}
				})
			}
			wg.Wait()
			winners := 0
			for _, g := range results {
				switch {
				case g.err == nil:
					winners++
					if alive(f, g.access, g.refresh) {
						t.Errorf("round %d: the winner's tokens survived %d second uses (OP-01)", round, parallel-1)
					}
				case !errors.Is(g.err, twostep.ErrExpired):
					t.Fatalf("round %d: %v", round, g.err)
				}
			}
			if winners > 1 {
				t.Errorf("round %d: %d exchanges of one code got tokens (OP-01)", round, winners)
			}
		}
	})
}
