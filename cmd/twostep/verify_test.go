package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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

// TestReadmeVerify runs the README's Verify API example with bash, the real
// curl and jq against a real server: the key from `twostep apikey create`, a
// service, a code e-mailed, and its check. Only the address (the test server
// has its own port) and 123456 (by the code the outbox holds) are replaced.
func TestReadmeVerify(t *testing.T) { // API-02
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section, ok := strings.CutPrefix(string(readme)[strings.Index(string(readme), "\n## Verify API\n")+1:], "## Verify API\n")
	if !ok {
		t.Fatal("the README has no Verify API section")
	}
	_, block, _ := strings.Cut(section, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	var first, second []string
	var wants []string
	for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
		switch {
		case strings.HasPrefix(l, "# "):
			wants = append(wants, strings.TrimPrefix(l, "# "))
		case strings.Contains(l, "VerificationCheck") || len(second) > 0:
			second = append(second, l)
		default:
			first = append(first, l)
		}
	}
	if len(first) != 3 || len(second) != 1 || len(wants) != 2 {
		t.Fatalf("unexpected example:\n%s", block)
	}
	dir := t.TempDir()
	if r := runCmd(t, dir, nil, "a long and good password\n", "org", "create", "--name", "Cloud Legal", "--owner", "owner@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	srv := serve(t, dir, nil)
	host := strings.TrimPrefix(srv.url, "http://")
	bash := func(script string, env ...string) string {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.ReplaceAll(script, "localhost:8080", host))
		cmd.Dir = dir
		cmd.Env = append([]string{"PATH=" + filepath.Dir(binary) + ":" + os.Getenv("PATH")}, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v:\n%s\n%s", err, script, out)
		}
		return string(out)
	}
	out := bash(strings.Join(first, "\n") + "\necho \"$KEY_ID\"; echo \"$KEY_SECRET\"; echo \"$SERVICE\"\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 {
		t.Fatalf("output:\n%s", out)
	}
	answer, keyID, secret, service := lines[len(lines)-4], lines[len(lines)-3], lines[len(lines)-2], lines[len(lines)-1]
	for _, want := range []string{`"status":"pending"`, `"valid":false`, `"channel":"email"`, `"to":"joe@example.com"`} {
		if !strings.Contains(wants[0], want) || !strings.Contains(answer, want) {
			t.Errorf("start: %s lacks %s", answer, want)
		}
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
			if m.To == "joe@example.com" {
				code = regexp.MustCompile(`\b\d{6}\b`).FindString(m.Text)
			}
		}
	}
	if code == "" {
		t.Fatal("no code e-mailed")
	}
	answer = bash(strings.ReplaceAll(second[0], "123456", code), "KEY_ID="+keyID, "KEY_SECRET="+secret, "SERVICE="+service)
	for _, want := range []string{`"status":"approved"`, `"valid":true`} {
		if !strings.Contains(wants[1], want) || !strings.Contains(answer, want) {
			t.Errorf("check: %s lacks %s", answer, want)
		}
	}
}
