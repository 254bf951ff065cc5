package web_test

import (
	"encoding/json"
	"testing"
)

func decodeList(t *testing.T, raw string) []map[string]any {
	t.Helper()
	var list []map[string]any
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		t.Fatalf("not a JSON list: %v\n%s", err, raw)
	}
	return list
}

// TestAPISessions: GET /api/v1/account/sessions lists where the account is
// signed in, the caller's own marked current; DELETE of another one ends it
// (CS-02: only the account's own; SU-01: a fresh confirmation).
func TestAPISessions(t *testing.T) {
	a := newAPI(t, false)
	signIn := func() string {
		st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword},
			"User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15")
		a.want(st, 200, b, "sign-in")
		return b["session_token"].(string)
	}
	first, second := signIn(), signIn()
	req := func(method, path, token string) (int, []map[string]any) {
		t.Helper()
		st, b, _ := a.call(method, path, token, nil)
		var list []map[string]any
		if raw, ok := b["_raw"].(string); ok && raw != "" && st == 200 {
			list = decodeList(t, raw)
		}
		return st, list
	}
	st, list := req("GET", "/api/v1/account/sessions", first)
	if st != 200 || len(list) != 2 {
		t.Fatalf("GET sessions: %d %v, want 2", st, list)
	}
	var mine, theirs string
	for _, s := range list {
		if s["current"] == true {
			mine = s["id"].(string)
		} else {
			theirs = s["id"].(string)
		}
		if s["browser"] != "Safari" || s["ip"] != "127.0.0.1" {
			t.Errorf("session %v: want Safari from 127.0.0.1", s)
		}
	}
	if mine == "" || theirs == "" {
		t.Fatalf("sessions %v: want one current, one other", list)
	}
	if st, _ := req("DELETE", "/api/v1/account/sessions/"+mine, first); st != 404 {
		t.Errorf("DELETE own session: %d, want 404 (sign out instead)", st)
	}
	if st, _ := req("DELETE", "/api/v1/account/sessions/ses_nope", first); st != 404 {
		t.Errorf("DELETE unknown session: %d, want 404", st)
	}
	if st, _ := req("DELETE", "/api/v1/account/sessions/"+theirs, first); st != 204 {
		t.Errorf("DELETE other session: %d, want 204", st)
	}
	if st, _ := req("GET", "/api/v1/account", second); st != 401 {
		t.Errorf("the ended session still works: %d", st)
	}
}
