package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
	"github.com/twostep/twostep/internal/web"
)

// fuzzRoutes are the JSON endpoints a fuzzed body goes to, with whether they
// need the session token.
var fuzzRoutes = []struct {
	method, path string
	session      bool
}{
	{"POST", "/api/v1/sign-in", false},
	{"POST", "/api/v1/sign-in/verify", false},
	{"POST", "/api/v1/sign-in/send", false},
	{"POST", "/api/v1/sign-in/complete", false},
	{"POST", "/api/v1/password-reset", false},
	{"POST", "/api/v1/account/factors", true},
	{"POST", "/api/v1/account/confirm-identity", true},
	{"PATCH", "/api/v1/account/settings", true},
	{"PUT", "/api/v1/account/email", true},
	{"PUT", "/api/v1/account/password", true},
	{"PUT", "/api/v1/org/policy", true},
	{"POST", "/api/v1/org/members", true},
}

// FuzzAPIBodies sends arbitrary bodies to every JSON endpoint: no panic, no
// 5xx, and every refusal is problem details with a code.
func FuzzAPIBodies(f *testing.F) {
	for _, b := range []string{`{"email":"owner@example.com","password":"correct horse battery"}`, `{}`, ``, `[]`, `null`, `{"email":1}`,
		`{"method":"sms","phone":"06 12 34 56 78","country":"FR"}`, `{"two_step":"required","grace_period_days":-1,"allowed_methods":["x"],"allow_legacy_clients":true}`,
		`{"sign_in_token":"x","method":"totp","code":"123456"}`, `{"locale":"ja"}`, "{\"email\":\"\xff\"}", `{"a":{"b":[[[[[[]]]]]]}}`} {
		for i := range fuzzRoutes {
			f.Add(uint8(i), []byte(b))
		}
	}
	db := storetest.SQLite(f)
	sealer := twosteptest.NewSealer(f)
	svc, err := twostep.New(twostep.Options{Store: db, Sealer: sealer, Rand: rand.Reader, BaseURL: "http://twostep.test",
		Methods: []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodSMS, twostep.MethodVoice},
		Hasher:  twostep.NewHasher(twosteptest.CheapArgon2, 4, 1000, time.Second, rand.Reader),
		Limits:  twostep.Limits{Account: twostep.Limit{Free: 1 << 30}, Email: twostep.Limit{Free: 1 << 30}, IP: twostep.Limit{Free: 1 << 30}, Attempts: 5}})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	if _, _, _, err := svc.CreateOrg(ctx, twostep.NewOrg{Name: "Cloud Legal", OwnerEmail: "owner@example.com", Password: "correct horse battery"}); err != nil {
		f.Fatal(err)
	}
	res, err := svc.SignIn(ctx, twostep.SignInRequest{Email: "owner@example.com", Password: "correct horse battery"})
	if err != nil {
		f.Fatal(err)
	}
	session := res.SessionToken
	base, _ := url.Parse("http://twostep.test")
	h, err := web.New(web.Options{Service: svc, BaseURL: base})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if r.session {
			req.Header.Set("Authorization", "Bearer "+session)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var p struct {
				Code   string `json:"code"`
				Status int    `json:"status"`
			}
			if rec.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Code == "" || p.Status != rec.Code {
				t.Fatalf("%s %s %q: %d %q is not problem details", r.method, r.path, body, rec.Code, rec.Body)
			}
		}
	})
}
