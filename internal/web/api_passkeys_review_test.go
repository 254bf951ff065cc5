package web_test

import (
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
