package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/passkey/softkey"
	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestPasskeyTokensAreNotInterchangeable goes through, as an attacker
// holding one account's key would, every way of mixing a key, a sign-in token
// and a ceremony that are not each other's: none yields a session (WA-02,
// SU-07). The owner holds key A; Bob, a member, holds key B.
func TestPasskeyTokensAreNotInterchangeable(t *testing.T) { // WA-02, SU-07
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		a := newPasskeyAPI(t, db)
		keyA, _, _ := a.addKey(a.passwordSession("owner@example.com"), "Owner's key")
		a.member("bob@example.com", twostep.RoleMember)
		a.addKey(a.passwordSession("bob@example.com"), "Bob's key")
		passwordless := func() (string, json.RawMessage) {
			st, b, _ := a.call("POST", "/api/v1/sign-in/passkey", "", nil)
			a.want(st, 200, b, "begin passkey sign-in")
			return b["sign_in_token"].(string), raw(t, b["options"])
		}
		refused := func(what string, st int, b map[string]any) {
			t.Helper()
			if st == 200 || b["session_token"] != nil {
				t.Errorf("%s: %d %v, want a refusal", what, st, b)
			}
		}

		// A's key answering B's own second-step ceremony, with B's token.
		tokenB, optsB := a.secondStep("bob@example.com")
		cred, err := keyA.Get(optsB, pkOrigin, softkey.Tamper{UV: true})
		if err != nil {
			t.Fatal(err)
		}
		st, b := a.verifyKey(tokenB, cred)
		refused("key A on Bob's sign-in", st, b)

		// A passwordless token with a code method: only a key finishes it.
		for _, m := range []map[string]string{
			{"method": "totp", "code": "123456"},
			{"method": "email", "code": "123456"},
			{"method": "recovery_code", "code": "aaaa-bbbb-cccc-dddd"},
		} {
			token, _ := passwordless()
			m["sign_in_token"] = token
			st, b, _ := a.call("POST", "/api/v1/sign-in/verify", "", m)
			refused("a passwordless token with "+m["method"], st, b)
		}

		// Bob's password sign-in finished by A's passwordless assertion (the
		// answer to a discoverable ceremony, signed by A's key, UV on).
		tokenB, _ = a.secondStep("bob@example.com")
		_, pskOpts := passwordless()
		cred, _ = keyA.Get(pskOpts, pkOrigin, softkey.Tamper{UV: true})
		st, b = a.verifyKey(tokenB, cred)
		refused("A's passwordless answer on Bob's password sign-in", st, b)

		// A passwordless token finished with A's answer to Bob's second-step
		// ceremony: another ceremony's challenge.
		_, optsB = a.secondStep("bob@example.com")
		token, _ := passwordless()
		cred, _ = keyA.Get(optsB, pkOrigin, softkey.Tamper{UV: true})
		st, b = a.verifyKey(token, cred)
		refused("a passwordless token with the answer to Bob's ceremony", st, b)

		// A's second-step token finished with an answer to a passwordless ceremony.
		tokenA, _ := a.secondStep("owner@example.com")
		_, pskOpts = passwordless()
		cred, _ = keyA.Get(pskOpts, pkOrigin, softkey.Tamper{UV: true})
		st, b = a.verifyKey(tokenA, cred)
		refused("A's token with the answer to a passwordless ceremony", st, b)
	})
}

// TestPasskeyBeginPerIP: POST /api/v1/sign-in/passkey needs no account and
// stores a ceremony each time, so a client address may begin only so many an
// hour: of 60 parallel requests from one address exactly the cap get a
// token, the others 429 too_many_attempts with Retry-After; another address
// is not stopped, and the hour over, the first begins again (RL-12).
func TestPasskeyBeginPerIP(t *testing.T) { // RL-12
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		limits := twostep.DefaultLimits
		limits.PasskeyBegin = twostep.Cap{Max: 20, Window: time.Hour}
		a := newPasskeyAPIWith(t, db, limits, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")})
		begin := func(ip string) (int, map[string]any, *http.Response) {
			return a.call("POST", "/api/v1/sign-in/passkey", "", nil, "X-Forwarded-For", ip)
		}
		var mu sync.Mutex
		got := map[int]int{}
		var wg sync.WaitGroup
		for range 60 {
			wg.Go(func() {
				st, b, resp := begin("203.0.113.7")
				if st == 429 && (b["code"] != "too_many_attempts" || resp.Header.Get("Retry-After") == "") {
					t.Errorf("429 %v, Retry-After %q", b, resp.Header.Get("Retry-After"))
				}
				if st == 200 && b["sign_in_token"] == nil {
					t.Errorf("200 without a token: %v", b)
				}
				mu.Lock()
				got[st]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if diff := cmp.Diff(map[int]int{200: 20, 429: 40}, got); diff != "" {
			t.Errorf("60 parallel begins from one address (-want +got) %s", diff)
		}
		if st, b, _ := begin("198.51.100.9"); st != 200 {
			t.Errorf("another address: %d %v, want 200", st, b)
		}
		a.clock.Advance(time.Hour)
		if st, b, _ := begin("203.0.113.7"); st != 200 {
			t.Errorf("an hour later: %d %v, want 200", st, b)
		}
	})
}

// TestPasskeyEnrolledInSignInIsNotPhishingResistant: a key registered during
// the sign-in that had to enrol proves nothing the password before it did
// not (someone who phished the password can register their own key), so the
// session says amr pwd, hwk, user without mfa and does not satisfy a
// product asking for acr phishing-resistant; the same key asserted at a
// later sign-in does (OP-04, SU-03).
func TestPasskeyEnrolledInSignInIsNotPhishingResistant(t *testing.T) { // OP-04, SU-03
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		a := newPasskeyAPI(t, db)
		ctx := context.Background()
		owner := a.passwordSession("owner@example.com")
		a.member("joe@example.com", twostep.RoleMember)
		st, b, _ := a.call("PUT", "/api/v1/org/policy", owner, map[string]any{"two_step": "required", "grace_period_days": 0,
			"allowed_methods": []string{"webauthn"}, "allow_legacy_clients": false})
		a.want(st, 200, b, "required policy")
		st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "joe@example.com", "password": apiPassword})
		a.want(st, 200, b, "joe signs in")
		token := b["sign_in_token"].(string)
		st, b, _ = a.call("POST", "/api/v1/account/factors", token, map[string]string{"method": "webauthn"})
		a.want(st, 201, b, "joe adds a key with the sign-in token")
		key, cred, err := softkey.Create(raw(t, b["options"]), pkOrigin, softkey.Tamper{UV: true})
		if err != nil {
			t.Fatal(err)
		}
		st, b, _ = a.call("POST", "/api/v1/account/factors/"+b["id"].(string)+"/verify", token, map[string]any{"credential": cred})
		a.want(st, 200, b, "joe's key")
		st, b, _ = a.call("POST", "/api/v1/sign-in/complete", "", map[string]string{"sign_in_token": token})
		a.want(st, 200, b, "complete")
		if diff := cmp.Diff([]string{"pwd", "hwk", "user"}, amr(b)); diff != "" {
			t.Errorf("enrolled in the sign-in: amr (-want +got) %s", diff)
		}
		enrolled := b["session_token"].(string)

		cl, _, err := a.svc.CreateOIDCClient(ctx, nil, twostep.NewOIDCClient{Name: "Notes", RedirectURIs: []string{"https://notes.example/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		ask := func(session string) *twostep.AuthRequest {
			t.Helper()
			r, err := a.svc.CreateAuthRequest(ctx, twostep.NewAuthRequest{ClientID: cl.ID, RedirectURI: "https://notes.example/cb",
				ResponseType: "code", Scopes: []string{"openid"}, ACRValues: []string{twostep.ACRPhishingResistant}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.svc.ResumeAuthRequest(ctx, r.ID, session, "203.0.113.7", "test"); err != nil {
				t.Fatal(err)
			}
			if r, err = a.svc.AuthRequest(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := ask(enrolled); r.Done() {
			t.Errorf("a key enrolled in the sign-in met phishing-resistant: acr %q", r.ACR)
		}

		st, b, _ = a.call("POST", "/api/v1/sign-in/passkey", "", nil)
		a.want(st, 200, b, "begin passkey sign-in")
		token = b["sign_in_token"].(string)
		cred, _ = key.Get(raw(t, b["options"]), pkOrigin, softkey.Tamper{UV: true})
		st, b = a.verifyKey(token, cred)
		a.want(st, 200, b, "the key, later")
		if r := ask(b["session_token"].(string)); !r.Done() || r.ACR != twostep.ACRPhishingResistant {
			t.Errorf("the key asserted: done %v, acr %q", r.Done(), r.ACR)
		}
	})
}
