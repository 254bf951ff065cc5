package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/passkey"
	"github.com/twostep/twostep/internal/passkey/softkey"
	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
	"github.com/twostep/twostep/internal/web"
)

// pkOrigin is where the browser stands: the base URL (RP ID localhost).
const pkOrigin = "http://localhost:8080"

// newPasskeyAPI is newAPI on db with passkeys offered (base URL
// http://localhost:8080) beside authenticator apps and e-mail.
func newPasskeyAPI(t testing.TB, db *store.DB) *api {
	t.Helper()
	return newPasskeyAPIWith(t, db, twostep.Limits{}, nil)
}

// newPasskeyAPIWith is newPasskeyAPI with the service's limits (zero:
// the defaults) and the proxies whose X-Forwarded-For the handler believes.
func newPasskeyAPIWith(t testing.TB, db *store.DB, limits twostep.Limits, proxies []netip.Prefix) *api {
	t.Helper()
	sealer := twosteptest.NewSealer(t)
	clock := twosteptest.NewClock(time.Date(2026, 11, 23, 9, 0, 15, 0, time.UTC))
	rp, err := passkey.New(passkey.Options{BaseURL: pkOrigin, DisplayName: "Twostep"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := twostep.New(twostep.Options{Store: db, Sealer: sealer, Rand: rand.Reader, Clock: clock.Now,
		Methods: []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodWebAuthn}, BaseURL: pkOrigin,
		Authenticators: rp, Hasher: twostep.NewHasher(twosteptest.CheapArgon2, 4, 100, time.Second, rand.Reader), Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(pkOrigin)
	h, err := web.New(web.Options{Service: svc, BaseURL: base, Clock: clock.Now, TrustedProxies: proxies})
	if err != nil {
		t.Fatal(err)
	}
	a := &api{t: t, svc: svc, clock: clock, db: db, sealer: sealer}
	a.srv = httptest.NewServer(h)
	t.Cleanup(a.srv.Close)
	if _, _, _, err := svc.CreateOrg(context.Background(), twostep.NewOrg{Name: "Cloud Legal", OwnerEmail: "owner@example.com", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	return a
}

// member adds a member with the API password.
func (a *api) member(email string, role twostep.Role) {
	a.t.Helper()
	if _, _, err := a.svc.CreateAccount(context.Background(), twostep.NewAccount{Org: "cloud-legal", Email: email, Role: role, Password: apiPassword}); err != nil {
		a.t.Fatal(err)
	}
}

// passwordSession signs email in with the password alone (it has no second step yet).
func (a *api) passwordSession(email string) string {
	a.t.Helper()
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": email, "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	if b["status"] != "signed_in" {
		a.t.Fatalf("sign-in: %v, want signed_in", b)
	}
	return b["session_token"].(string)
}

// addKey registers a new key through the API with token (a confirmed session)
// and returns it, its factor id and the answer to the verification.
func (a *api) addKey(token, label string) (*softkey.Key, string, map[string]any) {
	a.t.Helper()
	st, b, _ := a.call("POST", "/api/v1/account/factors", token, map[string]string{"method": "webauthn", "label": label})
	a.want(st, 201, b, "add webauthn factor")
	if b["status"] != "pending" || b["method"] != "webauthn" || b["label"] != label {
		a.t.Fatalf("new factor %v", b)
	}
	k, cred, err := softkey.Create(raw(a.t, b["options"]), pkOrigin, softkey.Tamper{UV: true})
	if err != nil {
		a.t.Fatal(err)
	}
	id := b["id"].(string)
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+id+"/verify", token, map[string]any{"credential": cred})
	a.want(st, 200, b, "verify webauthn factor")
	return k, id, b
}

// secondStep signs email in with the password and returns the sign-in token
// and the webauthn options of the answer.
func (a *api) secondStep(email string) (string, json.RawMessage) {
	a.t.Helper()
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": email, "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	if b["status"] != "second_step" {
		a.t.Fatalf("sign-in: %v, want second_step", b)
	}
	var opts json.RawMessage
	for _, m := range b["methods"].([]any) {
		if m := m.(map[string]any); m["method"] == "webauthn" {
			if opts != nil {
				a.t.Fatalf("more than one webauthn entry in %v", b["methods"])
			}
			opts = raw(a.t, m["options"])
		}
	}
	if opts == nil {
		a.t.Fatalf("no webauthn among %v", b["methods"])
	}
	return b["sign_in_token"].(string), opts
}

func (a *api) verifyKey(token string, cred json.RawMessage) (int, map[string]any) {
	a.t.Helper()
	st, b, _ := a.call("POST", "/api/v1/sign-in/verify", "", map[string]any{"sign_in_token": token, "method": "webauthn", "credential": cred})
	return st, b
}

func raw(t testing.TB, v any) json.RawMessage {
	t.Helper()
	if v == nil {
		t.Fatal("no options")
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func amr(b map[string]any) []string {
	var out []string
	for _, v := range b["amr"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

// events returns the types of the account's audit events, oldest first.
func (a *api) events(email string) []twostep.EventType {
	a.t.Helper()
	acct, err := a.db.AccountByEmail(context.Background(), email)
	if err != nil {
		a.t.Fatal(err)
	}
	evs, err := a.db.Events(context.Background(), twostep.EventFilter{AccountID: acct.ID, Limit: 100})
	if err != nil {
		a.t.Fatal(err)
	}
	var out []twostep.EventType
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i].Type)
	}
	return out
}

// TestPasskeySecondStep: a member registers a key through the API (recovery
// codes come with the first method), and it is then the second step, one
// methods entry for all keys; amr says hwk and user, and mfa when the key
// verified the holder (WA-03: UV inspected).
func TestPasskeySecondStep(t *testing.T) { // WA-03, WA-06
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		a := newPasskeyAPI(t, db)
		session := a.passwordSession("owner@example.com")
		k, id, b := a.addKey(session, "YubiKey 5")
		if f := b["factor"].(map[string]any); f["status"] != "active" || f["id"] != id {
			t.Fatalf("verified factor %v", f)
		}
		if codes, _ := b["recovery_codes"].([]any); len(codes) != 10 {
			t.Fatalf("first method: %d recovery codes, want 10", len(codes))
		}
		// A second key: still one methods entry (checked by secondStep).
		a.addKey(session, "Phone")
		// WA-06: a server with a name offers keys, and a new organisation allows them.
		st, org, _ := a.call("GET", "/api/v1/org", session, nil)
		a.want(st, 200, org, "org")
		if ms := org["policy"].(map[string]any)["allowed_methods"].([]any); !slices.Contains(ms, any("webauthn")) {
			t.Errorf("allowed methods %v lack webauthn", ms)
		}

		for _, tc := range []struct {
			uv   bool
			want []string
		}{{true, []string{"pwd", "hwk", "user", "mfa"}}, {false, []string{"pwd", "hwk", "user"}}} {
			token, opts := a.secondStep("owner@example.com")
			var o struct {
				PublicKey struct {
					Challenge        string `json:"challenge"`
					UserVerification string `json:"userVerification"`
					Allow            []any  `json:"allowCredentials"`
				} `json:"publicKey"`
			}
			json.Unmarshal(opts, &o)
			if c, _ := base64.RawURLEncoding.DecodeString(o.PublicKey.Challenge); len(c) < 32 { // WA-01
				t.Errorf("challenge of %d bytes, want 32", len(c))
			}
			if o.PublicKey.UserVerification != "preferred" || len(o.PublicKey.Allow) != 2 {
				t.Errorf("options: uv %q, %d keys allowed; want preferred, 2", o.PublicKey.UserVerification, len(o.PublicKey.Allow))
			}
			cred, err := k.Get(opts, pkOrigin, softkey.Tamper{UV: tc.uv})
			if err != nil {
				t.Fatal(err)
			}
			st, b := a.verifyKey(token, cred)
			a.want(st, 200, b, "verify with the key")
			if diff := cmp.Diff(tc.want, amr(b)); b["status"] != "signed_in" || diff != "" {
				t.Errorf("uv=%v: %v, amr (-want +got) %s", tc.uv, b["status"], diff)
			}
		}
		// The list names each key with its last use.
		req, _ := http.NewRequest("GET", a.srv.URL+"/api/v1/account/factors", nil)
		req.Header.Set("Authorization", "Bearer "+session)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list []map[string]any
		json.NewDecoder(resp.Body).Decode(&list)
		labels := map[string]bool{}
		for _, f := range list {
			labels[f["label"].(string)] = f["method"] == "webauthn" && f["status"] == "active" && f["last_used_at"] != nil
		}
		if diff := cmp.Diff(map[string]bool{"YubiKey 5": true, "Phone": true}, labels); diff != "" {
			t.Errorf("keys listed (-want +got) %s", diff)
		}
	})
}

// TestPasskeyListRenameRemove: the member sees each key with its name and
// last use, renames it (audited), removes it (audited, notice).
func TestPasskeyListRenameRemove(t *testing.T) {
	a := newPasskeyAPI(t, storetest.SQLite(t))
	session := a.passwordSession("owner@example.com")
	_, id, b := a.addKey(session, "YubiKey")
	// Its first use is its registration.
	f := b["factor"].(map[string]any)
	if f["last_used_at"] == nil || f["passkey"] == nil {
		t.Fatalf("factor %v: want last_used_at and passkey", f)
	}
	if pk := f["passkey"].(map[string]any); pk["user_verified"] != true || pk["synced"] != false {
		t.Errorf("passkey %v, want user_verified, not synced", pk)
	}
	st, b, _ := a.call("PATCH", "/api/v1/account/factors/"+id, session, map[string]string{"label": "Blue key"})
	a.want(st, 200, b, "rename")
	if b["label"] != "Blue key" {
		t.Errorf("label %v", b["label"])
	}
	_, _, second := a.addKey(session, "Spare")
	sid := second["factor"].(map[string]any)["id"].(string)
	st, b, _ = a.call("DELETE", "/api/v1/account/factors/"+sid, session, nil)
	a.want(st, 204, b, "remove")
	got := a.events("owner@example.com")
	for _, want := range []twostep.EventType{twostep.EventFactorAdded, twostep.EventTwoStepEnabled, twostep.EventFactorRenamed, twostep.EventFactorRemoved} {
		if !slices.Contains(got, want) {
			t.Errorf("audit %v lacks %s", got, want)
		}
	}
	var templates []string
	twosteptest.Drain(t, a.db, a.sealer, a.clock.Now(), func(m *twostep.OutboxMessage, _ map[string]string) {
		templates = append(templates, m.Template)
	})
	for _, want := range []string{"two_step_enabled", "factor_added", "factor_removed"} {
		if !slices.Contains(templates, want) {
			t.Errorf("notices %v lack %s", templates, want)
		}
	}
}

// TestPasskeyAssertionRefused: each wrong field of an assertion is refused
// through the API, counted as a wrong second step (WA-02); a key of another
// account and a key never registered too.
func TestPasskeyAssertionRefused(t *testing.T) { // WA-02
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		a := newPasskeyAPI(t, db)
		k, _, _ := a.addKey(a.passwordSession("owner@example.com"), "YubiKey")
		a.member("bob@example.com", twostep.RoleMember)
		bobs, _, _ := a.addKey(a.passwordSession("bob@example.com"), "Bob's key")
		stranger, _, err := softkey.Create(json.RawMessage(`{"publicKey":{"challenge":"AAAA","rp":{"id":"localhost"},"user":{"id":"AAAA"}}}`), pkOrigin, softkey.Tamper{})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			key    *softkey.Key
			origin string
			tamper softkey.Tamper
		}{
			{name: "wrong origin", key: k, origin: "http://localhost:9999"},
			{name: "wrong rpIdHash", key: k, tamper: softkey.Tamper{RPID: "example.com"}},
			{name: "wrong type", key: k, tamper: softkey.Tamper{Type: "webauthn.create"}},
			{name: "wrong challenge", key: k, tamper: softkey.Tamper{Challenge: make([]byte, 32)}},
			{name: "bad signature", key: k, tamper: softkey.Tamper{BadSignature: true}},
			{name: "UP missing", key: k, tamper: softkey.Tamper{NoUP: true}},
			{name: "unknown credential", key: stranger},
			{name: "credential of another account", key: bobs},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				a.t = t
				token, opts := a.secondStep("owner@example.com")
				origin := pkOrigin
				if tc.origin != "" {
					origin = tc.origin
				}
				cred, err := tc.key.Get(opts, origin, tc.tamper)
				if err != nil {
					t.Fatal(err)
				}
				st, b := a.verifyKey(token, cred)
				if st != 400 || b["code"] != "invalid_code" {
					t.Fatalf("status %d %v, want 400 invalid_code", st, b)
				}
				// Counted like a wrong code, on the account (RL-03).
				failed := 0
				for _, e := range a.events("owner@example.com") {
					if e == twostep.EventSecondStepFailed {
						failed++
					}
				}
				if failed != i+1 {
					t.Errorf("%d second_step.failed events, want %d", failed, i+1)
				}
				// The holder's own key still works on that sign-in, with new options.
				st, b, _ = a.call("POST", "/api/v1/sign-in/send", "", map[string]string{"sign_in_token": token, "method": "webauthn"})
				a.want(st, 202, b, "new options")
				good, err := k.Get(raw(t, b["options"]), pkOrigin, softkey.Tamper{UV: true})
				if err != nil {
					t.Fatal(err)
				}
				st, b = a.verifyKey(token, good)
				a.want(st, 200, b, "the right key after a refusal")
			})
		}
	})
}

// TestPasskeyChallengeSingleUse: a ceremony serves once — after a refused
// answer, after a right one, in parallel — and not after it expires (WA-01).
func TestPasskeyChallengeSingleUse(t *testing.T) { // WA-01
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		a := newPasskeyAPI(t, db)
		k, _, _ := a.addKey(a.passwordSession("owner@example.com"), "YubiKey")

		// A refused answer spends the challenge: the right answer to the same options is refused.
		token, opts := a.secondStep("owner@example.com")
		bad, _ := k.Get(opts, pkOrigin, softkey.Tamper{BadSignature: true})
		if st, b := a.verifyKey(token, bad); st != 400 {
			t.Fatalf("bad signature: %d %v", st, b)
		}
		good, _ := k.Get(opts, pkOrigin, softkey.Tamper{UV: true})
		if st, b := a.verifyKey(token, good); st != 400 || b["code"] != "invalid_code" {
			t.Fatalf("replayed challenge after a refusal: %d %v, want 400 invalid_code", st, b)
		}

		// A right answer replayed on the same sign-in: the token is spent.
		token, opts = a.secondStep("owner@example.com")
		good, _ = k.Get(opts, pkOrigin, softkey.Tamper{UV: true})
		if st, b := a.verifyKey(token, good); st != 200 {
			t.Fatalf("first answer: %d %v", st, b)
		}
		if st, b := a.verifyKey(token, good); st != 410 {
			t.Fatalf("replay: %d %v, want 410 expired", st, b)
		}

		// N parallel answers to one ceremony: one session.
		token, opts = a.secondStep("owner@example.com")
		good, _ = k.Get(opts, pkOrigin, softkey.Tamper{UV: true})
		var mu sync.Mutex
		signedIn := 0
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				st, b, _ := a.call("POST", "/api/v1/sign-in/verify", "", map[string]any{"sign_in_token": token, "method": "webauthn", "credential": good})
				if st == 200 && b["status"] == "signed_in" {
					mu.Lock()
					signedIn++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if signedIn != 1 {
			t.Errorf("%d parallel answers to one challenge signed in, want 1", signedIn)
		}

		// Expired: five minutes and a second later, the right answer is refused.
		token, opts = a.secondStep("owner@example.com")
		good, _ = k.Get(opts, pkOrigin, softkey.Tamper{UV: true})
		a.clock.Advance(twostep.WebAuthnTTL + time.Second)
		if st, b := a.verifyKey(token, good); st != 400 {
			t.Fatalf("expired challenge: %d %v, want 400", st, b)
		}
	})
}

// TestPasskeySignCountRegression: a key whose counter goes back is refused,
// flagged, logged and audited (WA-04); the counter going forward is fine.
func TestPasskeySignCountRegression(t *testing.T) { // WA-04
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		a := newPasskeyAPI(t, db)
		session := a.passwordSession("owner@example.com")
		k, id, _ := a.addKey(session, "YubiKey")
		k.SignCount = 40
		token, opts := a.secondStep("owner@example.com")
		cred, _ := k.Get(opts, pkOrigin, softkey.Tamper{UV: true}) // 41
		st, b := a.verifyKey(token, cred)
		a.want(st, 200, b, "counter forward")
		session = b["session_token"].(string)

		back := uint32(7)
		token, opts = a.secondStep("owner@example.com")
		cred, _ = k.Get(opts, pkOrigin, softkey.Tamper{UV: true, SignCount: &back})
		if st, b := a.verifyKey(token, cred); st != 400 || b["code"] != "invalid_code" {
			t.Fatalf("counter back: %d %v, want 400 invalid_code", st, b)
		}
		if got := a.events("owner@example.com"); !slices.Contains(got, twostep.EventWebAuthnSignCount) {
			t.Errorf("audit %v lacks %s", got, twostep.EventWebAuthnSignCount)
		}
		st, list, _ := a.call("GET", "/api/v1/account", session, nil)
		a.want(st, 200, list, "account")
		for _, m := range list["two_step"].(map[string]any)["methods"].([]any) {
			if m := m.(map[string]any); m["id"] == id {
				if pk := m["passkey"].(map[string]any); pk["clone_warning"] != true {
					t.Errorf("key %v not flagged", m)
				}
			}
		}
	})
}

// TestPasskeyRegisteredElsewhere: a credential id registered to one account
// is refused to another (WA-05), and nothing is activated.
func TestPasskeyRegisteredElsewhere(t *testing.T) { // WA-05
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		a := newPasskeyAPI(t, db)
		k, _, _ := a.addKey(a.passwordSession("owner@example.com"), "YubiKey")
		a.member("bob@example.com", twostep.RoleMember)
		bob := a.passwordSession("bob@example.com")
		st, b, _ := a.call("POST", "/api/v1/account/factors", bob, map[string]string{"method": "webauthn"})
		a.want(st, 201, b, "bob adds a key")
		id := b["id"].(string)
		cred, err := k.Attest(raw(t, b["options"]), pkOrigin, softkey.Tamper{UV: true})
		if err != nil {
			t.Fatal(err)
		}
		st, b, _ = a.call("POST", "/api/v1/account/factors/"+id+"/verify", bob, map[string]any{"credential": cred})
		if st != 400 || b["code"] != "invalid_request" || b["reason"] != "credential_taken" {
			t.Fatalf("the owner's key for bob: %d %v, want 400 credential_taken", st, b)
		}
		st, list, _ := a.call("GET", "/api/v1/account/factors", bob, nil)
		a.want(st, 200, list, "bob's factors")
		if st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "bob@example.com", "password": apiPassword}); st != 200 || b["status"] != "signed_in" {
			t.Errorf("bob has a second step now: %d %v", st, b)
		}
	})
}

// TestPasswordless: a passkey that verifies its holder is the whole sign-in
// (amr hwk, user, mfa); one that does not is refused with the words API.md
// gives (WA-03); a key of nobody is invalid_credentials; the token serves once.
func TestPasswordless(t *testing.T) { // WA-03, RL-09
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		a := newPasskeyAPI(t, db)
		k, _, _ := a.addKey(a.passwordSession("owner@example.com"), "Phone passkey")
		begin := func() (string, json.RawMessage) {
			st, b, _ := a.call("POST", "/api/v1/sign-in/passkey", "", nil)
			a.want(st, 200, b, "begin passkey sign-in")
			return b["sign_in_token"].(string), raw(t, b["options"])
		}
		token, opts := begin()
		cred, _ := k.Get(opts, pkOrigin, softkey.Tamper{UV: true})
		st, b := a.verifyKey(token, cred)
		a.want(st, 200, b, "passwordless")
		if diff := cmp.Diff([]string{"hwk", "user", "mfa"}, amr(b)); b["status"] != "signed_in" || diff != "" {
			t.Errorf("passwordless: %v, amr (-want +got) %s", b["status"], diff)
		}
		if st, b := a.verifyKey(token, cred); st != 410 {
			t.Errorf("replay: %d %v, want 410", st, b)
		}

		token, opts = begin()
		cred, _ = k.Get(opts, pkOrigin, softkey.Tamper{UV: false})
		st, b = a.verifyKey(token, cred)
		if st != 400 || b["code"] != "invalid_request" || b["detail"] != "this key did not verify you: sign in with your password, then use the key" {
			t.Errorf("without UV: %d %v", st, b)
		}

		token, opts = begin()
		cred, _ = k.Get(opts, pkOrigin, softkey.Tamper{UV: true, BadSignature: true})
		if st, b := a.verifyKey(token, cred); st != 401 || b["code"] != "invalid_credentials" {
			t.Errorf("bad signature: %d %v, want 401 invalid_credentials", st, b)
		}

		// RL-09: an account in back-off after wrong second steps is not let
		// in by its passkey either, even the right one.
		for i := 0; ; i++ {
			token, opts := a.secondStep("owner@example.com")
			cred, _ := k.Get(opts, pkOrigin, softkey.Tamper{UV: true, BadSignature: true})
			st, _ := a.verifyKey(token, cred)
			if st == 429 {
				break
			}
			if i == 30 {
				t.Fatal("no back-off after 30 wrong keys")
			}
		}
		token, opts = begin()
		cred, _ = k.Get(opts, pkOrigin, softkey.Tamper{UV: true})
		if st, b := a.verifyKey(token, cred); st != 429 || b["code"] != "too_many_attempts" {
			t.Errorf("passkey of a locked account: %d %v, want 429", st, b)
		}
	})
}

// TestAdminsPhishingResistant: with the policy on, an owner proves only a
// key (no recovery code, no app); an owner without one proves what it has,
// then must enrol a key (ORG-03, ORG-02).
func TestAdminsPhishingResistant(t *testing.T) { // ORG-03
	a := newPasskeyAPI(t, storetest.SQLite(t))
	owner := a.passwordSession("owner@example.com")
	a.addKey(owner, "YubiKey")
	a.member("admin@example.com", twostep.RoleAdmin)
	admin := a.passwordSession("admin@example.com")
	st, b, _ := a.call("POST", "/api/v1/account/factors", admin, map[string]string{"method": "totp"})
	a.want(st, 201, b, "admin adds an app")
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b["secret"].(string))
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+b["id"].(string)+"/verify", admin, map[string]string{"code": a.code(secret)})
	a.want(st, 200, b, "admin verifies the app")

	st, b, _ = a.call("PUT", "/api/v1/org/policy", owner, map[string]any{"two_step": "optional", "grace_period_days": 0,
		"allowed_methods": []string{"totp", "email"}, "allow_legacy_clients": false, "admins_phishing_resistant": true})
	if st != 400 || b["reason"] != "phishing_resistant_webauthn" {
		t.Fatalf("phishing resistance without webauthn allowed: %d %v", st, b)
	}
	st, b, _ = a.call("PUT", "/api/v1/org/policy", owner, map[string]any{"two_step": "optional", "grace_period_days": 0,
		"allowed_methods": []string{"totp", "email", "webauthn"}, "allow_legacy_clients": false, "admins_phishing_resistant": true})
	a.want(st, 200, b, "policy")
	if b["admins_phishing_resistant"] != true {
		t.Fatalf("policy %v", b)
	}

	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "owner signs in")
	var methods []string
	for _, m := range b["methods"].([]any) {
		methods = append(methods, m.(map[string]any)["method"].(string))
	}
	if diff := cmp.Diff([]string{"webauthn"}, methods); diff != "" {
		t.Errorf("owner's methods (-want +got) %s", diff)
	}
	st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": b["sign_in_token"].(string), "method": "recovery_code", "code": "aaaa-bbbb-cccc-dddd"})
	if st != 400 {
		t.Errorf("owner with a recovery code: %d %v, want 400", st, b)
	}

	a.clock.Advance(time.Minute) // a new TOTP step
	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "admin@example.com", "password": apiPassword})
	a.want(st, 200, b, "admin signs in")
	st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": b["sign_in_token"].(string), "method": "totp", "code": a.code(secret)})
	a.want(st, 200, b, "admin proves the app")
	if diff := cmp.Diff([]any{"webauthn"}, b["allowed_methods"]); b["status"] != "enrollment_required" || diff != "" {
		t.Errorf("admin after the app: %v, allowed (-want +got) %s", b, diff)
	}
}

// TestWebAuthnNotOfferedOnIP: with an IP address in the base URL, passkeys
// are not offered, and the answer says why.
func TestWebAuthnNotOfferedOnIP(t *testing.T) {
	a := newAPI(t, false)
	session := a.passwordSession("owner@example.com")
	st, b, _ := a.call("POST", "/api/v1/account/factors", session, map[string]string{"method": "webauthn"})
	if st != 400 || b["reason"] == nil {
		t.Fatalf("webauthn on twostep.test without Authenticators: %d %v", st, b)
	}
	if err := twostep.WebAuthnAvailability("http://127.0.0.1:8080"); err == nil {
		t.Error("an IP address was accepted for WebAuthn")
	}
	if err := twostep.WebAuthnAvailability("http://localhost:8080"); err != nil {
		t.Errorf("localhost refused: %v", err)
	}
}

// TestOfferWebAuthnOnce: an organisation whose list was every method gets
// webauthn once the server offers it, one with a narrower list does not,
// and an owner who takes it out keeps it out.
func TestOfferWebAuthnOnce(t *testing.T) {
	db := storetest.SQLite(t)
	sealer := twosteptest.NewSealer(t)
	hasher := twostep.NewHasher(twosteptest.CheapArgon2, 4, 100, time.Second, rand.Reader)
	ctx := context.Background()
	old, err := twostep.New(twostep.Options{Store: db, Sealer: sealer, Rand: rand.Reader, Hasher: hasher, BaseURL: "http://127.0.0.1:8080",
		Methods: []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail}})
	if err != nil {
		t.Fatal(err)
	}
	every, _, _, err := old.CreateOrg(ctx, twostep.NewOrg{Name: "Every", OwnerEmail: "a@example.com", Password: apiPassword})
	if err != nil {
		t.Fatal(err)
	}
	narrow, _, _, err := old.CreateOrg(ctx, twostep.NewOrg{Name: "Narrow", OwnerEmail: "b@example.com", Password: apiPassword})
	if err != nil {
		t.Fatal(err)
	}
	narrow.Policy.AllowedMethods = []twostep.Method{twostep.MethodTOTP}
	if err := db.UpdateOrg(ctx, narrow); err != nil {
		t.Fatal(err)
	}
	rp, _ := passkey.New(passkey.Options{BaseURL: pkOrigin})
	svc, err := twostep.New(twostep.Options{Store: db, Sealer: sealer, Rand: rand.Reader, Hasher: hasher, BaseURL: pkOrigin,
		Methods: []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodWebAuthn}, Authenticators: rp})
	if err != nil {
		t.Fatal(err)
	}
	methods := func(id string) []twostep.Method {
		o, err := db.Org(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return o.Policy.AllowedMethods
	}
	if err := svc.OfferWebAuthn(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]twostep.Method{"totp", "email", "webauthn"}, methods(every.ID)); diff != "" {
		t.Errorf("every method (-want +got) %s", diff)
	}
	if diff := cmp.Diff([]twostep.Method{"totp"}, methods(narrow.ID)); diff != "" {
		t.Errorf("narrow (-want +got) %s", diff)
	}
	o, _ := db.Org(ctx, every.ID)
	o.Policy.AllowedMethods = []twostep.Method{"totp", "email"} // the owner takes it out
	db.UpdateOrg(ctx, o)
	if err := svc.OfferWebAuthn(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]twostep.Method{"totp", "email"}, methods(every.ID)); diff != "" {
		t.Errorf("taken out, then (-want +got) %s", diff)
	}
}

// TestPasskeyConfirmIdentity: an account whose only method is a key confirms
// its identity with the password and the key (SU-01), and a refused answer
// confirms nothing.
func TestPasskeyConfirmIdentity(t *testing.T) { // SU-01
	a := newPasskeyAPI(t, storetest.SQLite(t))
	k, _, _ := a.addKey(a.passwordSession("owner@example.com"), "YubiKey")
	token, opts := a.secondStep("owner@example.com")
	cred, _ := k.Get(opts, pkOrigin, softkey.Tamper{UV: true})
	st, b := a.verifyKey(token, cred)
	a.want(st, 200, b, "sign in with the key")
	session := b["session_token"].(string)

	send := func() json.RawMessage {
		st, b, _ := a.call("POST", "/api/v1/account/confirm-identity/send", session, map[string]string{"method": "webauthn"})
		a.want(st, 202, b, "confirm-identity/send")
		return raw(t, b["options"])
	}
	bad, _ := k.Get(send(), pkOrigin, softkey.Tamper{UV: true, BadSignature: true})
	st, b, _ = a.call("POST", "/api/v1/account/confirm-identity", session, map[string]any{"password": apiPassword, "method": "webauthn", "credential": bad})
	if st != 400 || b["code"] != "invalid_code" {
		t.Fatalf("a bad signature confirmed: %d %v", st, b)
	}
	good, _ := k.Get(send(), pkOrigin, softkey.Tamper{UV: true})
	st, b, _ = a.call("POST", "/api/v1/account/confirm-identity", session, map[string]any{"password": apiPassword, "method": "webauthn", "credential": good})
	a.want(st, 200, b, "confirm with the key")
	if b["session_token"] == nil || b["confirmed_until"] == nil {
		t.Errorf("confirmation %v", b)
	}
}

// TestPasskeyEnrolmentRequired: under a required policy, a member without a
// method enrols a key with the sign-in token alone, then completes the
// sign-in with the key's amr (ORG-01).
func TestPasskeyEnrolmentRequired(t *testing.T) { // ORG-01
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		a := newPasskeyAPI(t, db)
		owner := a.passwordSession("owner@example.com")
		a.member("joe@example.com", twostep.RoleMember)
		st, b, _ := a.call("PUT", "/api/v1/org/policy", owner, map[string]any{"two_step": "required", "grace_period_days": 0,
			"allowed_methods": []string{"webauthn"}, "allow_legacy_clients": false})
		a.want(st, 200, b, "required policy")
		st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "joe@example.com", "password": apiPassword})
		a.want(st, 200, b, "joe signs in")
		if b["status"] != "enrollment_required" {
			t.Fatalf("joe: %v, want enrollment_required", b)
		}
		token := b["sign_in_token"].(string)
		st, b, _ = a.call("POST", "/api/v1/account/factors", token, map[string]string{"method": "webauthn"})
		a.want(st, 201, b, "joe adds a key with the sign-in token")
		_, cred, err := softkey.Create(raw(t, b["options"]), pkOrigin, softkey.Tamper{UV: true})
		if err != nil {
			t.Fatal(err)
		}
		st, b, _ = a.call("POST", "/api/v1/account/factors/"+b["id"].(string)+"/verify", token, map[string]any{"credential": cred})
		a.want(st, 200, b, "joe's key")
		st, b, _ = a.call("POST", "/api/v1/sign-in/complete", "", map[string]string{"sign_in_token": token})
		a.want(st, 200, b, "complete")
		// No mfa: a key registered in this sign-in is not yet a proof
		// (TestPasskeyEnrolledInSignInIsNotPhishingResistant).
		if diff := cmp.Diff([]string{"pwd", "hwk", "user"}, amr(b)); b["status"] != "signed_in" || diff != "" {
			t.Errorf("complete: %v, amr (-want +got) %s", b["status"], diff)
		}
	})
}

// BenchmarkPasskeyJourney: password then key through the real handler on
// SQLite (cheap Argon2, so the WebAuthn work and the database show).
func BenchmarkPasskeyJourney(b *testing.B) {
	a := newPasskeyAPI(b, storetest.SQLite(b))
	k, _, _ := a.addKey(a.passwordSession("owner@example.com"), "YubiKey")
	b.ResetTimer()
	for b.Loop() {
		token, opts := a.secondStep("owner@example.com")
		cred, err := k.Get(opts, pkOrigin, softkey.Tamper{UV: true})
		if err != nil {
			b.Fatal(err)
		}
		if st, body := a.verifyKey(token, cred); st != 200 {
			b.Fatalf("%d %v", st, body)
		}
	}
}
