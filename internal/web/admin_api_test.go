package web_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAPIFreeText: every free-text field refuses control characters and the
// characters that reorder text (U+202E makes "Pixel\u202Egnp.exe" read as
// "Pixelexe.png"), with 400 invalid_request naming the field, and keeps
// nothing of the refused request (AU-04: CR/LF would forge lines wherever
// the text is shown or logged). Ordinary text in any script passes.
func TestAPIFreeText(t *testing.T) { // AU-04
	a := newAPI(t, false)
	owner := a.session("owner@example.com")
	st, b, _ := a.call("POST", "/api/v1/account/factors", owner, map[string]string{"method": "totp", "label": "Pixel"})
	a.want(st, 201, b, "add a factor to rename")
	factor := "/api/v1/account/factors/" + b["id"].(string)

	fields := []struct {
		name         string
		method, path string
		body         func(v string) map[string]any
		field        string
		good         string // a value that passes, so the refusal is the characters' doing
		goodStatus   int
	}{
		// First: adding a factor of the same kind replaces a pending one.
		{"factor label change", "PATCH", factor,
			func(v string) map[string]any { return map[string]any{"label": v} }, "label", "هاتف العمل", 200},
		{"new factor label", "POST", "/api/v1/account/factors",
			func(v string) map[string]any { return map[string]any{"method": "totp", "label": v} }, "label", "Téléphone — bureau 📱", 201},
		{"e-mail factor address", "POST", "/api/v1/account/factors",
			func(v string) map[string]any {
				return map[string]any{"method": "email", "address": "joe" + v + "@example.com"}
			}, "address", "", 201},
		{"invitation e-mail", "POST", "/api/v1/org/members",
			func(v string) map[string]any {
				return map[string]any{"email": "new" + v + "@example.com", "role": "member"}
			}, "email", "", 201},
		{"new account e-mail", "PUT", "/api/v1/account/email",
			func(v string) map[string]any { return map[string]any{"email": "moved" + v + "@example.com"} }, "email", "", 202},
	}
	bad := []struct {
		name, value, says string
	}{
		{"NUL", "a\x00b", "U+0000"},
		{"CR LF", "a\r\nBcc: x", "U+000D"},
		{"LF", "a\nb", "U+000A"},
		{"tab", "a\tb", "U+0009"},
		{"DEL", "a\x7fb", "U+007F"},
		{"C1 next line", "a\u0085b", "U+0085"},
		{"line separator", "a\u2028b", "U+2028"},
		{"right-to-left override", "Pixel\u202Egnp.exe", "U+202E"},
		{"left-to-right embedding", "a\u202Ab", "U+202A"},
		{"first strong isolate", "\u2068a\u2069", "U+2068"},
		{"pop directional isolate", "a\u2069", "U+2069"},
		{"right-to-left mark", "a\u200Fb", "U+200F"},
		{"left-to-right mark", "a\u200Eb", "U+200E"},
		{"Arabic letter mark", "a\u061Cb", "U+061C"},
	}
	for _, f := range fields {
		for _, c := range bad {
			t.Run(f.name+"/"+c.name, func(t *testing.T) {
				st, b, _ := a.call(f.method, f.path, owner, f.body(c.value))
				got := map[string]any{"status": st, "code": b["code"], "field": b["field"]}
				want := map[string]any{"status": 400, "code": "invalid_request", "field": f.field}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%q: (-want +got):\n%s", c.value, diff)
				}
				if d, _ := b["detail"].(string); !strings.Contains(d, c.says) {
					t.Errorf("%q: detail %q does not say %q", c.value, d, c.says)
				}
			})
		}
		t.Run(f.name+"/ordinary text", func(t *testing.T) {
			if st, b, _ := a.call(f.method, f.path, owner, f.body(f.good)); st != f.goodStatus {
				t.Errorf("%q: %d %v, want %d", f.good, st, b, f.goodStatus)
			}
		})
	}
	// Nothing refused was kept: the factors are the two accepted ones.
	st, list, _ := a.call("GET", "/api/v1/account/factors", owner, nil)
	a.want(st, 200, list, "list factors")
	st, members, _ := a.call("GET", "/api/v1/org/members", owner, nil)
	a.want(st, 200, members, "list members")
	if s := fmt.Sprint(list, members); strings.ContainsAny(s, "\x00\r\u202E\u2068\u200F") {
		t.Errorf("a refused value was stored: %s", s)
	}
}

// TestAPIInviteCap: one address gets at most 5 invitations a day, then 429
// too_many_attempts with Retry-After until the day is over: a quota on
// messages, as OOB-10 puts on codes, so that nobody is mailed without end.
func TestAPIInviteCap(t *testing.T) { // OOB-10
	a := newAPI(t, false)
	owner := a.session("owner@example.com")
	invite := func() (int, map[string]any, string) {
		st, b, resp := a.call("POST", "/api/v1/org/members", owner, map[string]any{"email": "pat@example.com", "role": "member"})
		return st, b, resp.Header.Get("Retry-After")
	}
	for i := 1; i <= 5; i++ {
		if st, b, _ := invite(); st != 201 {
			t.Fatalf("invitation %d: %d %v", i, st, b)
		}
		a.clock.Advance(time.Minute)
	}
	st, b, retry := invite()
	if st != 429 || b["code"] != "too_many_attempts" {
		t.Fatalf("sixth invitation within a day: %d %v, want 429 too_many_attempts", st, b)
	}
	// The day started with the first invitation, five minutes ago.
	if n, err := strconv.Atoi(retry); err != nil || n != int((24*time.Hour-5*time.Minute).Seconds()) {
		t.Errorf("Retry-After %q, want the rest of the day", retry)
	}
	if n := a.queued("invitation"); n != 5 {
		t.Errorf("%d invitations e-mailed, want 5", n)
	}
	// Another address is not held up by this one.
	if st, b, _ := a.call("POST", "/api/v1/org/members", owner, map[string]any{"email": "sam@example.com", "role": "member"}); st != 201 {
		t.Errorf("another address: %d %v", st, b)
	}
	a.clock.Advance(24 * time.Hour)
	owner = a.session("owner@example.com")
	if st, b, _ := invite(); st != 201 {
		t.Errorf("the next day: %d %v", st, b)
	}
}

// TestAPIMemberSSO: nobody is moved to SSO while the organisation has no SSO
// connection (409 conflict saying so), an SSO invitation says that the
// member cannot sign in yet, and an SSO member can be taken off SSO.
func TestAPIMemberSSO(t *testing.T) { // ORG-02
	a := newAPI(t, false)
	owner := a.session("owner@example.com")
	st, b, _ := a.call("POST", "/api/v1/org/members", owner, map[string]any{"email": "sso@example.com", "role": "member", "sso": true})
	a.want(st, 201, b, "invite an SSO member")
	if b["can_sign_in"] != false || !strings.Contains(fmt.Sprint(b["warning"]), "no single sign-on (SSO) connection yet") {
		t.Errorf("SSO invitation without a connection: %v", b)
	}
	sso := b["id"].(string)
	st, b, _ = a.call("POST", "/api/v1/org/members", owner, map[string]any{"email": "pwd@example.com", "role": "member"})
	a.want(st, 201, b, "invite a member")
	if b["can_sign_in"] != true || b["warning"] != nil {
		t.Errorf("invitation with a password: %v", b)
	}
	st, b, _ = a.call("PATCH", "/api/v1/org/members/"+b["id"].(string), owner, map[string]any{"sso": true})
	if st != 409 || b["code"] != "conflict" || !strings.Contains(fmt.Sprint(b["detail"]), "no single sign-on (SSO) connection yet") {
		t.Errorf("moving a member to SSO without a connection: %d %v", st, b)
	}
	st, b, _ = a.call("PATCH", "/api/v1/org/members/"+sso, owner, map[string]any{"sso": false})
	if st != 200 || b["sso"] != false {
		t.Errorf("taking a member off SSO: %d %v", st, b)
	}
}

// queued counts the messages with template tmpl waiting for delivery.
func (a *api) queued(tmpl string) int {
	a.t.Helper()
	now := a.clock.Now()
	msgs, err := a.db.ClaimMessages(context.Background(), now, now.Add(time.Minute), 1000)
	if err != nil {
		a.t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.Template == tmpl {
			n++
		}
	}
	return n
}
