package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAPIKeyCommands: `twostep apikey create` prints the key id alone on its
// first line and the secret alone on its second; the key then works against
// the running server's Verify API (HTTP Basic), an e-mailed code is checked,
// `apikey list` shows it used, and after `apikey revoke` it no longer works
// (API-01, API-02).
func TestAPIKeyCommands(t *testing.T) { // API-01, API-02
	dir, env, srv := startOIDC(t)
	r := runCmd(t, dir, env, "correct horse battery staple\n", "org", "create", "--name", "TuneCore", "--owner", "owner@tunecore.example", "--password-stdin")
	if r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	oneLineError(t, runCmd(t, dir, env, "", "apikey", "create", "--org", "tunecore"), "apikey create needs --org and --name")
	oneLineError(t, runCmd(t, dir, env, "", "apikey", "create", "--org", "nobody", "--name", "backend"), "--org")
	r = runCmd(t, dir, env, "", "apikey", "create", "--org", "tunecore", "--name", "backend")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 2 || !regexp.MustCompile(`^SK[0-9a-f]{32}$`).MatchString(lines[0]) || len(lines[1]) < 43 {
		t.Fatalf("apikey create: %+v", r)
	}
	id, secret := lines[0], lines[1]

	call := func(method, path string, form url.Values, id, secret string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.url+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	st, svc := call("POST", "/verify/v2/Services", url.Values{"FriendlyName": {"TuneCore"}}, id, secret)
	if st != 201 {
		t.Fatalf("service: %d %v", st, svc)
	}
	path := "/verify/v2/Services/" + svc["sid"].(string)
	st, v := call("POST", path+"/Verifications", url.Values{"To": {"ann@example.com"}, "Channel": {"email"}}, id, secret)
	if st != 201 || v["status"] != "pending" {
		t.Fatalf("verification: %d %v", st, v)
	}
	code := ""
	for deadline := time.Now().Add(5 * time.Second); code == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(srv.url + "/api/v1/dev/outbox")
		if err != nil {
			t.Fatal(err)
		}
		var msgs []struct{ To, Text string }
		json.NewDecoder(resp.Body).Decode(&msgs)
		resp.Body.Close()
		for _, m := range msgs {
			if m.To == "ann@example.com" {
				code = regexp.MustCompile(`\b\d{6}\b`).FindString(m.Text)
			}
		}
	}
	if code == "" {
		t.Fatal("no code e-mailed")
	}
	st, chk := call("POST", "/v2/Services/"+svc["sid"].(string)+"/VerificationCheck", url.Values{"To": {"ann@example.com"}, "Code": {code}}, id, secret)
	if st != 200 || chk["status"] != "approved" || chk["valid"] != true {
		t.Fatalf("check: %d %v", st, chk)
	}
	r = runCmd(t, dir, env, "", "apikey", "list")
	if r.code != 0 || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "backend") || !strings.Contains(r.stdout, "last used") ||
		strings.Contains(r.stdout, secret) {
		t.Errorf("apikey list: %+v", r)
	}
	oneLineError(t, runCmd(t, dir, env, "", "apikey", "revoke", "SK00000000000000000000000000000000"), "no API key")
	if r = runCmd(t, dir, env, "", "apikey", "revoke", id); r.code != 0 {
		t.Fatalf("apikey revoke: %+v", r)
	}
	if st, body := call("GET", path, nil, id, secret); st != 401 || body["code"] != float64(20003) {
		t.Errorf("revoked key: %d %v", st, body)
	}
}
