package verify_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

var (
	sidVA = regexp.MustCompile(`^VA[0-9a-f]{32}$`)
	sidVE = regexp.MustCompile(`^VE[0-9a-f]{32}$`)
	sidAC = regexp.MustCompile(`^AC[0-9a-f]{32}$`)
	isoTS = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
)

// TestVerifyAuthentication: HTTP Basic with the key id and secret; nothing
// else gets in, and the answer does not say whether the id exists (API-01).
func TestVerifyAuthentication(t *testing.T) { // API-01
	f := newFixture(t, options{})
	for _, tc := range []struct {
		name       string
		id, secret string
	}{
		{"no credentials", "", ""},
		{"wrong secret", f.keyID, f.secret + "x"},
		{"unknown key", "SK00000000000000000000000000000000", f.secret},
	} {
		st, body, resp := f.post("/v2/Services", url.Values{"FriendlyName": {"x"}}, tc.id, tc.secret)
		if tc.id == "" {
			st, body, resp = f.do("POST", "/v2/Services", url.Values{"FriendlyName": {"x"}}, "", "")
		}
		f.wantError(st, body, http.StatusUnauthorized, 20003, tc.name)
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// A revoked key stops working.
	if err := f.svc.RevokeAPIKey(context.Background(), nil, f.keyID); err != nil {
		t.Fatal(err)
	}
	st, body, _ := f.do("GET", f.path(""), nil)
	f.wantError(st, body, http.StatusUnauthorized, 20003, "revoked key")
}

// TestVerifyServices: Twilio's Service fields; CodeLength 6–10 (OOB-01);
// both path roots; a key sees only its organisation's services.
func TestVerifyServices(t *testing.T) { // OOB-01, API-02
	f := newFixture(t, options{})
	for _, tc := range []struct {
		form   url.Values
		status int
		code   int
	}{
		{url.Values{"FriendlyName": {"CLIP STUDIO"}, "CodeLength": {"8"}}, 201, 0},
		{url.Values{"FriendlyName": {"x"}, "CodeLength": {"5"}}, 400, 60200},
		{url.Values{"FriendlyName": {"x"}, "CodeLength": {"11"}}, 400, 60200},
		{url.Values{"FriendlyName": {"x"}, "CodeLength": {"six"}}, 400, 60200},
		{url.Values{"CodeLength": {"6"}}, 400, 60200},
	} {
		st, body, _ := f.post("/verify/v2/Services", tc.form)
		if tc.code != 0 {
			f.wantError(st, body, tc.status, tc.code, tc.form.Encode())
			continue
		}
		f.want(st, tc.status, body, tc.form.Encode())
		if !sidVA.MatchString(body["sid"].(string)) || !sidAC.MatchString(body["account_sid"].(string)) ||
			body["friendly_name"] != "CLIP STUDIO" || body["code_length"] != float64(8) || !isoTS.MatchString(body["date_created"].(string)) ||
			body["url"] != "https://id.example.com/verify/v2/Services/"+body["sid"].(string) {
			t.Errorf("service: %v", body)
		}
	}
	st, body, _ := f.do("GET", "/v2/Services/"+f.service, nil)
	f.want(st, 200, body, "fetch service")
	if body["code_length"] != float64(6) || body["friendly_name"] != "TuneCore" {
		t.Errorf("default code length: %v", body)
	}
	// Another organisation's key finds nothing here.
	_, otherID, otherSecret := f.newOrg("Other Org")
	for _, p := range []string{"/v2/Services/" + f.service, "/verify/v2/Services/" + f.service + "/Verifications/VE00000000000000000000000000000000"} {
		st, body, _ = f.do("GET", p, nil, otherID, otherSecret)
		f.wantError(st, body, 404, 20404, "other org: "+p)
	}
	st, body, _ = f.post("/v2/Services/"+f.service+"/Verifications", url.Values{"To": {"+33612345678"}, "Channel": {"sms"}}, otherID, otherSecret)
	f.wantError(st, body, 404, 20404, "other org sends")
	st, body, _ = f.do("GET", "/v2/Nothing", nil)
	f.wantError(st, body, 404, 20404, "unknown path")
}

// TestVerifySMSJourney speaks exactly what Twilio's SDKs send and reads what
// they read: a code by SMS, a wrong check (200 pending, valid false), the
// right one (approved, valid true), then 20404 for the used verification.
func TestVerifySMSJourney(t *testing.T) { // API-02, OOB-03, OOB-05
	f := newFixture(t, options{})
	st, v, _ := f.post(f.path("/Verifications"), url.Values{"To": {"+33 6 12 34 56 78"}, "Channel": {"sms"}, "Locale": {"fr"}})
	f.want(st, 201, v, "start")
	sid := v["sid"].(string)
	attempts, _ := v["send_code_attempts"].([]any)
	if !sidVE.MatchString(sid) || v["service_sid"] != f.service || v["to"] != "+33612345678" || v["channel"] != "sms" ||
		v["status"] != "pending" || v["valid"] != false || len(attempts) != 1 || !isoTS.MatchString(v["date_created"].(string)) ||
		!isoTS.MatchString(v["date_updated"].(string)) || !sidAC.MatchString(v["account_sid"].(string)) {
		t.Fatalf("verification: %v", v)
	}
	if a := attempts[0].(map[string]any); a["channel"] != "sms" || !strings.HasPrefix(a["attempt_sid"].(string), "VL") {
		t.Errorf("send attempt: %v", a)
	}
	channel, code := f.sent("+33612345678")
	if channel != "sms" || len(code) != 6 {
		t.Fatalf("sent %s %q", channel, code)
	}
	st, got, _ := f.do("GET", f.path("/Verifications/"+sid), nil)
	f.want(st, 200, got, "fetch")
	if got["status"] != "pending" || got["sid"] != sid {
		t.Errorf("fetch: %v", got)
	}
	st, chk, _ := f.post(f.path("/VerificationCheck"), url.Values{"To": {"+33612345678"}, "Code": {wrongCode(code)}})
	f.want(st, 200, chk, "wrong code")
	if chk["status"] != "pending" || chk["valid"] != false || chk["sid"] != sid {
		t.Errorf("wrong code: %v", chk)
	}
	st, chk, _ = f.post(f.path("/VerificationCheck"), url.Values{"VerificationSid": {sid}, "Code": {code}})
	f.want(st, 200, chk, "right code")
	want := map[string]any{"sid": sid, "service_sid": f.service, "account_sid": v["account_sid"], "to": "+33612345678",
		"channel": "sms", "status": "approved", "valid": true, "amount": nil, "payee": nil, "sna": nil,
		"date_created": v["date_created"], "date_updated": chk["date_updated"]}
	if diff := cmp.Diff(want, chk); diff != "" {
		t.Errorf("check (-want +got):\n%s", diff)
	}
	// Approved: the code is used up and the verification is gone (20404).
	st, chk, _ = f.post(f.path("/VerificationCheck"), url.Values{"VerificationSid": {sid}, "Code": {code}})
	f.wantError(st, chk, 404, 20404, "check again")
	st, got, _ = f.do("GET", f.path("/Verifications/"+sid), nil)
	f.wantError(st, got, 404, 20404, "fetch approved")
	// Bad input names Twilio's parameter.
	for _, form := range []url.Values{{"To": {"+33612345678"}}, {"Code": {"123456"}}} {
		st, body, _ := f.post(f.path("/VerificationCheck"), form)
		f.wantError(st, body, 400, 60200, "check "+form.Encode())
	}
	for _, form := range []url.Values{{"To": {"0612345678"}, "Channel": {"sms"}}, {"To": {"+33612345678"}, "Channel": {"whatsapp"}},
		{"To": {"not-an-address"}, "Channel": {"email"}}, {"Channel": {"sms"}}} {
		st, body, _ := f.post(f.path("/Verifications"), form)
		f.wantError(st, body, 400, 60200, "start "+form.Encode())
		if !strings.Contains(body["message"].(string), "`") {
			t.Errorf("message names no parameter: %v", body)
		}
	}
	// Every use of the key is in the audit, without the code or the number (API-01, AU-02).
	evs, err := f.db.Events(context.Background(), twostep.EventFilter{OrgID: f.orgID, Type: twostep.EventAPIKeyUsed, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range evs {
		if e.ActorID != f.keyID || e.Detail["key_id"] != f.keyID {
			t.Errorf("event not attributed to the key: %+v", e)
		}
		s := strings.Join([]string{e.Detail["operation"].(string), e.Detail["sid"].(string), e.Detail["outcome"].(string)}, " ")
		if strings.Contains(s, code) || strings.Contains(s, "612345678") {
			t.Errorf("event holds a code or number: %s", s)
		}
		ops = append(ops, e.Detail["operation"].(string)+" "+e.Detail["outcome"].(string))
	}
	slices.Reverse(ops)
	wantOps := []string{"service.create created", "verification.create pending", "verification.fetch pending",
		"verification.check pending", "verification.check approved"}
	if diff := cmp.Diff(wantOps, ops); diff != "" {
		t.Errorf("audited uses (-want +got):\n%s", diff)
	}
	k, err := f.db.APIKey(context.Background(), f.keyID)
	if err != nil || !k.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("last use %v, %v", k.LastUsedAt, err)
	}
}

// TestVerifyEmailAndCall: e-mail and call channels, a service with 8-digit codes.
func TestVerifyEmailAndCall(t *testing.T) { // API-02
	f := newFixture(t, options{})
	st, svc, _ := f.post("/v2/Services", url.Values{"FriendlyName": {"TuneCore"}, "CodeLength": {"8"}})
	f.want(st, 201, svc, "service")
	f.service = svc["sid"].(string)
	for _, tc := range []struct{ to, channel, sent string }{
		{"Joe@Example.com", "email", "email"},
		{"+33145678901", "call", "voice"}, // a fixed line takes calls
	} {
		st, v, _ := f.post(f.path("/Verifications"), url.Values{"To": {tc.to}, "Channel": {tc.channel}})
		f.want(st, 201, v, tc.channel)
		if v["channel"] != tc.channel {
			t.Errorf("%s: %v", tc.channel, v)
		}
		channel, code := f.sent(v["to"].(string))
		if channel != tc.sent || len(code) != 8 {
			t.Fatalf("%s: sent %s %q", tc.channel, channel, code)
		}
		st, chk, _ := f.post(f.path("/VerificationCheck"), url.Values{"To": {tc.to}, "Code": {code}})
		f.want(st, 200, chk, tc.channel+" check")
		if chk["status"] != "approved" || chk["valid"] != true {
			t.Errorf("%s: %v", tc.channel, chk)
		}
	}
	// A fixed line does not take SMS.
	st, body, _ := f.post(f.path("/Verifications"), url.Values{"To": {"+33145678901"}, "Channel": {"sms"}})
	f.wantError(st, body, 400, 60200, "sms to a fixed line")
}

// TestVerifyResend: a new verification to the same To within 10 minutes
// sends again on the same one, with a new code that replaces the first
// (OOB-06), no sooner than the cooldown (60203 with Retry-After), at most 5
// sends.
func TestVerifyResend(t *testing.T) { // OOB-06, OOB-10, API-02
	f := newFixture(t, options{})
	form := url.Values{"To": {"+33612345678"}, "Channel": {"sms"}}
	st, v1, _ := f.post(f.path("/Verifications"), form)
	f.want(st, 201, v1, "first")
	_, first := f.sent("+33612345678")
	st, body, resp := f.post(f.path("/Verifications"), form)
	f.wantError(st, body, 429, 60203, "inside the cooldown")
	if resp.Header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// Another channel has its own cooldown: "call me instead" works at once.
	st, v2, _ := f.post(f.path("/Verifications"), url.Values{"To": {"+33612345678"}, "Channel": {"call"}})
	f.want(st, 201, v2, "call instead")
	_, second := f.sent("+33612345678")
	if v2["sid"] != v1["sid"] || len(v2["send_code_attempts"].([]any)) != 2 || v2["channel"] != "call" {
		t.Fatalf("resend made another verification: %v", v2)
	}
	if first != second {
		st, chk, _ := f.post(f.path("/VerificationCheck"), url.Values{"To": {"+33612345678"}, "Code": {first}})
		f.want(st, 200, chk, "old code")
		if chk["status"] != "pending" {
			t.Errorf("the replaced code still works: %v", chk)
		}
	}
	for i := 3; i <= 5; i++ {
		f.clock.Advance(31 * time.Second)
		st, v, _ := f.post(f.path("/Verifications"), form)
		f.want(st, 201, v, "send "+itoa(i))
		if v["sid"] != v1["sid"] {
			t.Fatalf("send %d made another verification", i)
		}
	}
	f.clock.Advance(31 * time.Second)
	st, body, resp = f.post(f.path("/Verifications"), form)
	f.wantError(st, body, 429, 60203, "sixth send")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// After the 10 minutes (and the hour of the per-number cap, which the
	// five sends used up), a new verification.
	f.clock.Advance(time.Hour)
	st, v, _ := f.post(f.path("/Verifications"), form)
	f.want(st, 201, v, "after expiry")
	if v["sid"] == v1["sid"] {
		t.Error("an expired verification was reused")
	}
}

// TestVerifyChecksCapped: at most 5 checks a verification (RL-06); the
// sixth answers 429 (60202) even with the right code.
func TestVerifyChecksCapped(t *testing.T) { // RL-06, API-02
	f := newFixture(t, options{})
	st, v, _ := f.post(f.path("/Verifications"), url.Values{"To": {"+33612345678"}, "Channel": {"sms"}})
	f.want(st, 201, v, "start")
	_, code := f.sent("+33612345678")
	for i := 1; i <= 5; i++ {
		st, chk, _ := f.post(f.path("/VerificationCheck"), url.Values{"To": {"+33612345678"}, "Code": {wrongCode(code)}})
		f.want(st, 200, chk, "wrong "+itoa(i))
		if chk["status"] != "pending" || chk["valid"] != false {
			t.Errorf("wrong %d: %v", i, chk)
		}
	}
	st, body, resp := f.post(f.path("/VerificationCheck"), url.Values{"To": {"+33612345678"}, "Code": {code}})
	f.wantError(st, body, 429, 60202, "sixth check")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	st, got, _ := f.do("GET", f.path("/Verifications/"+v["sid"].(string)), nil)
	f.want(st, 200, got, "fetch")
	if got["status"] != "max_attempts_reached" {
		t.Errorf("status %v", got["status"])
	}
}

// TestVerifyExpiry: a code works for 10 minutes (OOB-02).
func TestVerifyExpiry(t *testing.T) { // OOB-02
	for _, tc := range []struct {
		after  time.Duration
		status int
	}{{9*time.Minute + 59*time.Second, 200}, {10*time.Minute + time.Second, 404}} {
		f := newFixture(t, options{})
		st, v, _ := f.post(f.path("/Verifications"), url.Values{"To": {"+33612345678"}, "Channel": {"sms"}})
		f.want(st, 201, v, "start")
		_, code := f.sent("+33612345678")
		f.clock.Advance(tc.after)
		st, chk, _ := f.post(f.path("/VerificationCheck"), url.Values{"To": {"+33612345678"}, "Code": {code}})
		if tc.status == 404 {
			f.wantError(st, chk, 404, 20404, "expired")
		} else if st != 200 || chk["status"] != "approved" {
			t.Errorf("after %v: %d %v", tc.after, st, chk)
		}
	}
}

// TestVerifyCancel: Status=canceled ends a verification; its code no longer works.
func TestVerifyCancel(t *testing.T) { // API-02
	f := newFixture(t, options{})
	st, v, _ := f.post(f.path("/Verifications"), url.Values{"To": {"+33612345678"}, "Channel": {"sms"}})
	f.want(st, 201, v, "start")
	_, code := f.sent("+33612345678")
	sid := v["sid"].(string)
	st, body, _ := f.post(f.path("/Verifications/"+sid), url.Values{"Status": {"approved"}})
	f.wantError(st, body, 400, 60200, "approve by hand")
	st, body, _ = f.post(f.path("/Verifications/"+sid), url.Values{"Status": {"canceled"}})
	f.want(st, 200, body, "cancel")
	if body["status"] != "canceled" || body["valid"] != false {
		t.Errorf("cancel: %v", body)
	}
	st, body, _ = f.post(f.path("/VerificationCheck"), url.Values{"VerificationSid": {sid}, "Code": {code}})
	f.wantError(st, body, 404, 20404, "check canceled")
	st, body, _ = f.post(f.path("/Verifications/"+sid), url.Values{"Status": {"canceled"}})
	f.wantError(st, body, 404, 20404, "cancel again")
}

// TestVerifyTollFraud: the country list (60605), premium numbers and the
// caps (60410 with Retry-After): per number, and per organisation a day
// (TWOSTEP_VERIFY_ORG_DAILY_LIMIT); a refused send is audited.
func TestVerifyTollFraud(t *testing.T) { // OOB-10, API-02
	f := newFixture(t, options{countries: []string{"FR", "BE"}, orgDaily: 3})
	st, body, _ := f.post(f.path("/Verifications"), url.Values{"To": {"+12025550123"}, "Channel": {"sms"}})
	f.wantError(st, body, 403, 60605, "country not allowed")
	// Premium-rate numbers are refused (60410).
	st, body, _ = f.post(f.path("/Verifications"), url.Values{"To": {"+33899123456"}, "Channel": {"call"}})
	f.wantError(st, body, 403, 60410, "premium rate")
	for i, to := range []string{"+33612345601", "+33612345602", "+32470123456"} {
		st, body, _ := f.post(f.path("/Verifications"), url.Values{"To": {to}, "Channel": {"sms"}})
		f.want(st, 201, body, "send "+itoa(i))
	}
	st, body, resp := f.post(f.path("/Verifications"), url.Values{"To": {"+33612345604"}, "Channel": {"sms"}})
	f.wantError(st, body, 403, 60410, "organisation's daily cap")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// E-mail is not under the daily SMS cap.
	st, body, _ = f.post(f.path("/Verifications"), url.Values{"To": {"joe@example.com"}, "Channel": {"email"}})
	f.want(st, 201, body, "e-mail")
	evs, err := f.db.Events(context.Background(), twostep.EventFilter{OrgID: f.orgID, Type: twostep.EventDeliveryCapped})
	if err != nil || len(evs) != 1 || evs[0].Detail["cap"] != "org" || evs[0].ActorID != f.keyID {
		t.Errorf("capped events %+v, %v", evs, err)
	}
	// The per-number cap (5 an hour) holds across verifications of the organisation.
	g := newFixture(t, options{})
	for i := 0; i < 5; i++ {
		st, body, _ := g.post(g.path("/Verifications"), url.Values{"To": {"+33612345678"}, "Channel": {"sms"}})
		g.want(st, 201, body, "number "+itoa(i))
		g.clock.Advance(31 * time.Second)
		if i == 2 { // a new verification after the first was canceled
			g.post(g.path("/Verifications/"+body["sid"].(string)), url.Values{"Status": {"canceled"}})
		}
	}
	st, body, _ = g.post(g.path("/Verifications"), url.Values{"To": {"+33612345678"}, "Channel": {"sms"}})
	g.wantError(st, body, 403, 60410, "per-number cap")
}

// TestVerifyParallelChecks: 20 parallel checks of one code approve once
// (OOB-03, API-02), on SQLite and on PostgreSQL.
func TestVerifyParallelChecks(t *testing.T) { // OOB-03, RL-05, API-02
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			o := options{}
			if backend == "postgres" {
				o.db = storetest.Postgres(t)
			}
			f := newFixture(t, o)
			st, v, _ := f.post(f.path("/Verifications"), url.Values{"To": {"+33612345678"}, "Channel": {"sms"}})
			f.want(st, 201, v, "start")
			_, code := f.sent("+33612345678")
			var wg sync.WaitGroup
			var mu sync.Mutex
			statuses := map[string]int{}
			for range 20 {
				wg.Go(func() {
					st, body, _ := f.post(f.path("/VerificationCheck"), url.Values{"To": {"+33612345678"}, "Code": {code}})
					mu.Lock()
					defer mu.Unlock()
					key := itoa(st)
					if st == 200 {
						key += " " + body["status"].(string)
					}
					statuses[key]++
				})
			}
			wg.Wait()
			if statuses["200 approved"] != 1 || statuses["200 approved"]+statuses["404"]+statuses["429"] != 20 {
				t.Errorf("20 parallel checks: %v", statuses)
			}
		})
	}
}
