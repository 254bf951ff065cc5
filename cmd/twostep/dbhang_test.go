package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDatabaseHangs puts PostgreSQL behind a proxy that stops forwarding
// without refusing anything, as a network that drops packets does (issue 12,
// item 2). /readyz answers 503 within its second, the API 503 unavailable with
// Retry-After once its database deadline (TWOSTEP_DATABASE_TIMEOUT, 5s by
// default) has passed, the outage is logged once, and everything recovers by
// itself when the proxy forwards again (API.md §3.4).
func TestDatabaseHangs(t *testing.T) {
	srv, p := serveBehindProxy(t)
	pw := map[string]string{"email": "joe@example.com", "password": "a long and good password"}
	_, res := call(t, "POST", srv.url+"/api/v1/sign-in", "", pw)
	session, _ := res["session_token"].(string)
	if session == "" {
		t.Fatalf("sign-in before the hang: %v", res)
	}

	type answer struct {
		status     int
		retryAfter string
		code       string
		took       time.Duration
	}
	ask := func(method, path, token string, body any) answer {
		t.Helper()
		var rd *strings.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		} else {
			rd = strings.NewReader("")
		}
		req, err := http.NewRequest(method, srv.url+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("%s %s: no answer after %v: %v", method, path, time.Since(start), err)
		}
		defer resp.Body.Close()
		var problem struct{ Code string }
		json.NewDecoder(resp.Body).Decode(&problem)
		return answer{resp.StatusCode, resp.Header.Get("Retry-After"), problem.Code, time.Since(start)}
	}

	p.hang()
	tests := []struct {
		name, method, path, token string
		body                      any
		within                    time.Duration
		code                      string
	}{
		{"readiness", "GET", "/readyz", "", nil, 3 * time.Second, ""},
		{"sign-in", "POST", "/api/v1/sign-in", "", pw, 8 * time.Second, "unavailable"},
		{"account", "GET", "/api/v1/account", session, nil, 8 * time.Second, "unavailable"},
		{"readiness again", "GET", "/readyz", "", nil, 3 * time.Second, ""},
	}
	for _, tc := range tests {
		a := ask(tc.method, tc.path, tc.token, tc.body)
		if a.status != 503 || a.retryAfter == "" || a.code != tc.code || a.took > tc.within {
			t.Errorf("%s with the database hanging: %d, Retry-After %q, code %q after %v; want 503 with Retry-After, code %q, within %v",
				tc.name, a.status, a.retryAfter, a.code, a.took.Round(time.Millisecond), tc.code, tc.within)
		}
	}
	if a := ask("GET", "/healthz", "", nil); a.status != 200 {
		t.Errorf("/healthz with the database hanging: %d, want 200 (the process is up)", a.status)
	}

	p.restore()
	for deadline := time.Now().Add(15 * time.Second); ask("GET", "/readyz", "", nil).status != 200; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still not ready 15s after the database came back")
		}
	}
	if a := ask("POST", "/api/v1/sign-in", "", pw); a.status != 200 {
		t.Errorf("sign-in after the database came back: %+v", a)
	}
	if a := ask("GET", "/api/v1/account", session, nil); a.status != 200 {
		t.Errorf("account after the database came back: %+v", a)
	}

	// One record for the outage, at ERROR, with the error under "err"; none of
	// the failures an internal error.
	out := srv.output()
	var outage []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `msg="the database did not answer in time"`) {
			outage = append(outage, line)
		}
	}
	if len(outage) != 1 || !strings.Contains(outage[0], "level=ERROR") || !strings.Contains(outage[0], " err=") {
		t.Errorf("want one ERROR record that the database did not answer in time, with err; got %d:\n%s", len(outage), out)
	}
	if strings.Contains(out, "request failed") || strings.Contains(out, "panic") {
		t.Errorf("the outage was logged as an internal error or panicked:\n%s", out)
	}
}
