package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/twostep"
)

// TestErrorMapping: the one mapper gives each error its status, problem code,
// reason, field, English detail, Retry-After and tries left; an error it does
// not know is a 500 with an error id, in the body and in the log, never a
// retryable 503 (RL-01 for the waits, AU-03 for the log).
func TestErrorMapping(t *testing.T) {
	type answer struct {
		Status     int
		RetryAfter string
		Body       map[string]any
	}
	left := func(n int) error { return &twostep.CodeError{AttemptsLeft: n} }
	tests := []struct {
		name string
		err  error
		want answer
	}{
		{"invalid with args", fmt.Errorf("add factor: %w", &twostep.InvalidError{Field: "phone", Code: twostep.ReasonPhoneCountryNotAllowed,
			Args: map[string]string{"Country": "US", "Countries": "FR, JP"}}),
			answer{400, "", map[string]any{"type": "about:blank", "title": "Invalid request", "status": 400.0, "code": "invalid_request",
				"field": "phone", "reason": "phone_country_not_allowed", "detail": "phone numbers in US cannot receive codes from this server (allowed: FR, JP)"}}},
		{"invalid, no field", badRequest("", reasonBodyEmpty),
			answer{400, "", map[string]any{"type": "about:blank", "title": "Invalid request", "status": 400.0, "code": "invalid_request",
				"reason": "body_empty", "detail": "the body is empty: send a JSON object"}}},
		{"invalid with a minimum", &twostep.InvalidError{Field: "password", Code: twostep.ReasonPasswordShort, Args: map[string]string{"Min": "8"}},
			answer{400, "", map[string]any{"type": "about:blank", "title": "Invalid request", "status": 400.0, "code": "invalid_request",
				"field": "password", "reason": "password_short", "detail": "password must be at least 8 characters"}}},
		{"not JSON", errNotJSON, answer{415, "", problemBody(415, "invalid_request", "send Content-Type: application/json")}},
		{"credentials", twostep.ErrInvalidCredentials, answer{401, "", problemBody(401, "invalid_credentials", "The e-mail or password is wrong.")}},
		{"code", twostep.ErrInvalidCode, answer{400, "", problemBody(400, "invalid_code", "The code is wrong.")}},
		{"code, tries left", left(3), answer{400, "", with(problemBody(400, "invalid_code", "The code is wrong."), "attempts_left", 3.0)}},
		{"code, none left", left(0), answer{400, "", with(problemBody(400, "invalid_code", "The code is wrong."), "attempts_left", 0.0)}},
		{"expired", twostep.ErrExpired, answer{410, "", problemBody(410, "expired", "This sign-in or link is no longer valid; start again.")}},
		{"throttled", &twostep.ThrottledError{Err: twostep.ErrThrottled, RetryAfter: 30 * time.Second},
			answer{429, "30", with(problemBody(429, "too_many_attempts", "Too many attempts; try again later."), "retry_after", 30.0)}},
		{"resend too soon", &twostep.ThrottledError{Err: twostep.ErrResendTooSoon, RetryAfter: 12 * time.Second},
			answer{429, "12", with(problemBody(429, "resend_too_soon", "A code was sent moments ago; wait before asking again."), "retry_after", 12.0)}},
		{"confirm identity", twostep.ErrConfirmIdentity, answer{403, "", problemBody(403, "confirm_identity_required",
			"Confirm your identity first (POST /api/v1/account/confirm-identity).")}},
		{"client upgrade", &twostep.UpgradeError{MinClientVersion: "3.1.0"}, answer{403, "", with(problemBody(403, "client_upgrade_required",
			"This app version cannot do two-step verification; update it."), "min_client_version", "3.1.0")}},
		{"sso", twostep.ErrSSOManaged, answer{403, "", problemBody(403, "sso_managed", "This account signs in through its organisation's single sign-on.")}},
		{"enrolment required", twostep.ErrEnrolmentRequired, answer{403, "", problemBody(403, "policy_requires_two_step",
			"Your organisation requires two-step verification: set up a method to finish signing in.")}},
		{"policy requires two-step", twostep.ErrPolicyRequiresTwoStep, answer{409, "", problemBody(409, "policy_requires_two_step",
			"Your organisation requires two-step verification.")}},
		{"method not allowed", twostep.ErrMethodNotAllowed, answer{403, "", problemBody(403, "method_not_allowed_by_policy", "Your organisation does not allow this method.")}},
		{"not found", twostep.ErrNotFound, answer{404, "", problemBody(404, "not_found", "Not found.")}},
		{"forbidden", twostep.ErrForbidden, answer{403, "", problemBody(403, "forbidden", "You may not do this.")}},
		{"unauthenticated", twostep.ErrUnauthenticated, answer{401, "", problemBody(401, "unauthenticated", "Sign in first: the token is missing, unknown or expired.")}},
		{"last owner", twostep.ErrLastOwner, answer{409, "", problemBody(409, "conflict",
			"The organisation must keep an owner who can sign in (not through SSO, with a password): make another member owner first.")}},
		{"no SSO connection", twostep.ErrNoSSOConnection, answer{409, "", problemBody(409, "conflict",
			"This organisation has no single sign-on (SSO) connection yet, so a member moved to SSO could not sign in.")}},
		{"conflict", twostep.ErrConflict, answer{409, "", problemBody(409, "conflict", "This conflicts with the current state.")}},
		{"delivery failed", twostep.ErrDeliveryFailed, answer{502, "", problemBody(502, "delivery_failed", "The code could not be delivered.")}},
		{"unavailable", fmt.Errorf("store: account: %w: dial tcp: refused", twostep.ErrUnavailable),
			answer{503, "5", with(problemBody(503, "unavailable", "The service is unavailable; try again shortly."), "retry_after", 5.0)}},
		{"busy", &twostep.ThrottledError{Err: twostep.ErrBusy, RetryAfter: time.Second},
			answer{503, "1", with(problemBody(503, "unavailable", "The service is busy; try again shortly."), "retry_after", 1.0)}},
		{"database deadline", fmt.Errorf("store: account: %w", context.DeadlineExceeded),
			answer{503, "5", with(problemBody(503, "unavailable", "The service is unavailable; try again shortly."), "retry_after", 5.0)}},
		{"client gone", context.Canceled, answer{499, "", map[string]any{"type": "about:blank", "title": "Client Closed Request", "status": 499.0, "code": "unavailable"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil)), clock: time.Now}
			rec := httptest.NewRecorder()
			s.apiError(rec, httptest.NewRequest("POST", "/api/v1/x", nil), tc.err)
			got := answer{Status: rec.Code, RetryAfter: rec.Header().Get("Retry-After")}
			if err := json.Unmarshal(rec.Body.Bytes(), &got.Body); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Only the database out of reach is worth the operator's attention.
			if logged, want := logs.Len() > 0, tc.want.Status == 503 && !errors.Is(tc.err, twostep.ErrBusy); logged != want {
				t.Errorf("logged %v, want %v: %s", logged, want, logs.String())
			}
		})
	}

	// A bug: 500, an error id in the body and the same in the log line, with
	// the error; no Retry-After, nothing of the error in the body.
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	rec := httptest.NewRecorder()
	s.apiError(rec, httptest.NewRequest("GET", "/api/v1/account", nil), errors.New("store: scan account: sql: converting NULL to string"))
	var body map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	id, _ := body["error_id"].(string)
	if rec.Code != 500 || body["code"] != "internal_error" || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) ||
		rec.Header().Get("Retry-After") != "" || strings.Contains(rec.Body.String(), "NULL") || !strings.Contains(fmt.Sprint(body["detail"]), id) {
		t.Errorf("unknown error: %d %v Retry-After %q", rec.Code, body, rec.Header().Get("Retry-After"))
	}
	if line := logs.String(); !strings.Contains(line, "error_id="+id) || !strings.Contains(line, "converting NULL") || !strings.Contains(line, "level=ERROR") {
		t.Errorf("the log does not hold the error id %s and the error: %q", id, line)
	}
	// Each one gets its own id.
	if again := describe(errors.New("x")).ErrorID; again == "" || again == id {
		t.Errorf("error ids %q then %q", id, again)
	}
}

// TestErrorPageInternal: a page that fails on a bug says so with 500 and shows
// the error id the log has.
func TestErrorPageInternal(t *testing.T) {
	var logs bytes.Buffer
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil)), pages: p, clock: time.Now}
	for _, tc := range []struct{ lang, says string }{
		{"en", "tell the person who runs Twostep this error id: "},
		{"fr", "donnez ce numéro d’erreur à la personne qui gère Twostep : "},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/account/security", nil)
		r.Header.Set("Accept-Language", tc.lang)
		s.pageError(rec, r, errors.New("template data: nil pointer"))
		m := regexp.MustCompile(regexp.QuoteMeta(tc.says) + `([0-9a-f]{16})`).FindStringSubmatch(rec.Body.String())
		if rec.Code != http.StatusInternalServerError || m == nil || rec.Header().Get("Retry-After") != "" {
			t.Fatalf("%s: %d Retry-After %q, want 500 with the error id:\n%s", tc.lang, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
		if !strings.Contains(logs.String(), "error_id="+m[1]) {
			t.Errorf("%s: the log lacks error id %s: %s", tc.lang, m[1], logs.String())
		}
	}
}

// TestCatalogueComplete: every reason code declared in the domain and here has
// words in every language the pages speak and in the API's English, and so has
// every message and detail the mapping names.
func TestCatalogueComplete(t *testing.T) {
	codes := reasonConstants(t, "../twostep", "Reason")
	codes = append(codes, reasonConstants(t, ".", "twostep.Reason")...)
	if len(codes) < 60 {
		t.Fatalf("found only %d reason codes: %v", len(codes), codes)
	}
	catalogue := func(file string) map[string]bool {
		data, err := assets.ReadFile("locales/" + file)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		ids := map[string]bool{}
		for id := range m {
			ids[id] = true
		}
		return ids
	}
	api := catalogue("api.en.json")
	pageIDs := map[string][]string{}
	for _, c := range codes {
		if !regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`).MatchString(c) {
			t.Errorf("reason %q is not snake_case", c)
		}
		if !api["reason."+c] {
			t.Errorf("api.en.json: no words for reason %q", c)
		}
		pageIDs["invalid."+c] = append(pageIDs["invalid."+c], "reason "+c)
	}
	for _, m := range errorMapping {
		if !api[m.detail] {
			t.Errorf("api.en.json: no detail %q for %v", m.detail, m.err)
		}
		pageIDs[m.message] = append(pageIDs[m.message], m.err.Error())
	}
	for _, id := range []string{"error.internal", "error.unavailable", "code.wrong_left", "code.wrong_none", "send.cap", "send.cap_phone", "send.failed", "send.failed_phone"} {
		pageIDs[id] = append(pageIDs[id], "describe")
	}
	if !api["problem.internal_error"] {
		t.Error("api.en.json: no detail for an internal error")
	}
	for _, lang := range languages {
		msgs := catalogue(lang.String() + ".json")
		for id, why := range pageIDs {
			if !msgs[id] {
				t.Errorf("%s.json: no message %q (for %s)", lang, id, strings.Join(why, ", "))
			}
		}
	}
}

// reasonConstants are the values of the constants of type typ declared in the
// Go files of dir (tests aside).
func reasonConstants(t *testing.T, dir, typ string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if vs.Type == nil || string(src[fset.Position(vs.Type.Pos()).Offset:fset.Position(vs.Type.End()).Offset]) != typ {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok {
						out = append(out, strings.Trim(lit.Value, `"`))
					}
				}
			}
		}
	}
	return out
}

func problemBody(status int, code, detail string) map[string]any {
	return map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": float64(status), "code": code, "detail": detail}
}

func with(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}
