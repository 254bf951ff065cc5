package verify_test

import (
	"encoding/base32"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// newTOTP sets up a verified authenticator app for the entity and returns
// its factor SID and seed.
func (f *fixture) newTOTP(identity string) (string, []byte) {
	f.t.Helper()
	st, body, _ := f.post(f.path("/Entities/"+identity+"/Factors"), url.Values{"FactorType": {"totp"}, "FriendlyName": {"Ann's phone"}})
	f.want(st, 201, body, "create factor")
	binding := body["binding"].(map[string]any)
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(binding["secret"].(string))
	if err != nil || len(seed) < 20 {
		f.t.Fatalf("seed %q: %v", binding["secret"], err)
	}
	sid := body["sid"].(string)
	if !strings.HasPrefix(sid, "YF") || body["status"] != "unverified" || body["identity"] != identity ||
		!strings.HasPrefix(binding["uri"].(string), "otpauth://totp/TuneCore:") || body["factor_type"] != "totp" {
		f.t.Fatalf("factor: %v", body)
	}
	code := twostep.TOTPCode(seed, twostep.TOTPStep(f.clock.Now()))
	st, body, _ = f.post(f.path("/Entities/"+identity+"/Factors/"+sid), url.Values{"AuthPayload": {wrongCode(code)}})
	f.want(st, 200, body, "verify with a wrong code")
	if body["status"] != "unverified" || body["binding"] != nil {
		f.t.Fatalf("wrong code verified the factor, or the seed came again: %v", body)
	}
	st, body, _ = f.post(f.path("/Entities/"+identity+"/Factors/"+sid), url.Values{"AuthPayload": {code}})
	f.want(st, 200, body, "verify")
	if body["status"] != "verified" {
		f.t.Fatalf("verify: %v", body)
	}
	f.clock.Advance(30 * time.Second) // the step used to verify is spent
	return sid, seed
}

// TestVerifyTOTP: an app set up through Entities/Factors and checked through
// Challenges; a wrong code or a replayed step is a 201 pending (OTP-08); a
// factor not verified cannot be challenged; another organisation sees nothing.
func TestVerifyTOTP(t *testing.T) { // OTP-05, OTP-08, OTP-12, API-02
	f := newFixture(t, options{})
	st, body, _ := f.post(f.path("/Entities/ann/Factors"), url.Values{"FactorType": {"push"}, "FriendlyName": {"x"}})
	f.wantError(st, body, 400, 60200, "push factor")
	st, body, _ = f.post(f.path("/Entities/bob/Factors"), url.Values{"FactorType": {"totp"}, "FriendlyName": {"Bob's"}})
	f.want(st, 201, body, "unverified factor")
	st, body, _ = f.post(f.path("/Entities/bob/Challenges"), url.Values{"FactorSid": {body["sid"].(string)}, "AuthPayload": {"123456"}})
	f.wantError(st, body, 400, 60200, "challenge of an unverified factor")

	sid, seed := f.newTOTP("ann")
	code := twostep.TOTPCode(seed, twostep.TOTPStep(f.clock.Now()))
	for _, tc := range []struct {
		payload, status string
	}{{wrongCode(code), "pending"}, {code, "approved"}, {code, "pending"}} { // the last: the same step again
		st, body, _ := f.post(f.path("/Entities/ann/Challenges"), url.Values{"FactorSid": {sid}, "AuthPayload": {tc.payload}})
		f.want(st, 201, body, "challenge")
		if body["status"] != tc.status || !strings.HasPrefix(body["sid"].(string), "YC") || body["factor_sid"] != sid {
			t.Errorf("challenge %s: %v, want %s", tc.payload, body, tc.status)
		}
	}
	// Another entity's path, another organisation: not found.
	st, body, _ = f.post(f.path("/Entities/bob/Challenges"), url.Values{"FactorSid": {sid}, "AuthPayload": {code}})
	f.wantError(st, body, 404, 20404, "another entity's factor")
	_, otherID, otherSecret := f.newOrg("Other Org")
	st, body, _ = f.post(f.path("/Entities/ann/Challenges"), url.Values{"FactorSid": {sid}, "AuthPayload": {code}}, otherID, otherSecret)
	f.wantError(st, body, 404, 20404, "another organisation")
}

// TestVerifyTOTPBackOff: each entity has the account's failure cap and
// back-off (RL-01): after 10 wrong codes, even the right one is refused with
// 429 (RL-08) until the back-off ends.
func TestVerifyTOTPBackOff(t *testing.T) { // RL-01, RL-08
	f := newFixture(t, options{})
	sid, seed := f.newTOTP("ann")
	code := twostep.TOTPCode(seed, twostep.TOTPStep(f.clock.Now()))
	for i := 0; i < 10; i++ { // the right code in newTOTP cleared the wrong one before
		st, body, _ := f.post(f.path("/Entities/ann/Challenges"), url.Values{"FactorSid": {sid}, "AuthPayload": {wrongCode(code)}})
		f.want(st, 201, body, "wrong "+itoa(i))
	}
	st, body, resp := f.post(f.path("/Entities/ann/Challenges"), url.Values{"FactorSid": {sid}, "AuthPayload": {code}})
	f.wantError(st, body, http.StatusTooManyRequests, 60202, "locked entity")
	if resp.Header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// Another entity of the service is not locked.
	sid2, seed2 := f.newTOTP("bob")
	st, body, _ = f.post(f.path("/Entities/bob/Challenges"), url.Values{"FactorSid": {sid2}, "AuthPayload": {twostep.TOTPCode(seed2, twostep.TOTPStep(f.clock.Now()))}})
	if st != 201 || body["status"] != "approved" {
		t.Errorf("bob: %d %v", st, body)
	}
	f.clock.Advance(31 * time.Second)
	st, body, _ = f.post(f.path("/Entities/ann/Challenges"), url.Values{"FactorSid": {sid}, "AuthPayload": {twostep.TOTPCode(seed, twostep.TOTPStep(f.clock.Now()))}})
	if st != 201 || body["status"] != "approved" {
		t.Errorf("after the back-off: %d %v", st, body)
	}
}

// TestVerifyTOTPParallel: 20 parallel challenges with one code approve once
// (OTP-09), on SQLite and PostgreSQL.
func TestVerifyTOTPParallel(t *testing.T) { // OTP-09
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			o := options{}
			if backend == "postgres" {
				o.db = storetest.Postgres(t)
			}
			f := newFixture(t, o)
			sid, seed := f.newTOTP("ann")
			code := twostep.TOTPCode(seed, twostep.TOTPStep(f.clock.Now()))
			var wg sync.WaitGroup
			var mu sync.Mutex
			got := map[string]int{}
			for range 20 {
				wg.Go(func() {
					st, body, _ := f.post(f.path("/Entities/ann/Challenges"), url.Values{"FactorSid": {sid}, "AuthPayload": {code}})
					mu.Lock()
					defer mu.Unlock()
					got[itoa(st)+" "+fmtStatus(body)]++
				})
			}
			wg.Wait()
			// Replays count as failures, so the tenth locks the entity (429).
			if got["201 approved"] != 1 || got["201 pending"]+got["429 60202"] != 19 {
				t.Errorf("20 parallel challenges: %v", got)
			}
		})
	}
}

func fmtStatus(body map[string]any) string {
	if s, ok := body["status"].(string); ok {
		return s
	}
	return strings.TrimSpace(itoa(int(body["code"].(float64))))
}
