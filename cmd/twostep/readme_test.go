package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestReadmeCurl runs every curl line of the README's API section, with the
// real curl, against a real server: the README's examples must work as written
// (issue 11, item 18). Only placeholders are replaced: the address (the test
// server has its own port), each "…" by the value of its field (the password,
// then what earlier answers gave), 123456 by the app's current code, and
// $SESSION_TOKEN (set in the environment). The comment under a line is what
// the answer must show: every "field":value in it without "…" must appear.
func TestReadmeCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is not installed")
		}
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## API\n")
	if start < 0 {
		t.Fatal("the README has no API section")
	}
	section = section[start+len("\n## API\n"):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	type step struct{ line, want string }
	var steps []step
	lines := strings.Split(section, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "curl ") {
			continue
		}
		s := step{line: l}
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "# ") {
			s.want = strings.TrimPrefix(lines[i+1], "# ")
		}
		steps = append(steps, s)
	}
	if len(steps) < 3 {
		t.Fatalf("%d curl lines in the README's API section, want the sign-in example", len(steps))
	}

	// joe@example.com with a password and an authenticator app, as the example says.
	const password = "a long and good password"
	dir := t.TempDir()
	if r := runCmd(t, dir, nil, password+"\n", "org", "create", "--name", "Cloud Legal", "--owner", "joe@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	srv := serve(t, dir, nil)
	api := srv.url + "/api/v1"
	st, res := call(t, "POST", api+"/sign-in", "", map[string]string{"email": "joe@example.com", "password": password})
	if st != 200 {
		t.Fatalf("sign-in: %d %v", st, res)
	}
	session, _ := res["session_token"].(string)
	st, res = call(t, "POST", api+"/account/factors", session, map[string]string{"method": "totp"})
	if st != 201 {
		t.Fatalf("add an authenticator app: %d %v", st, res)
	}
	secret, _ := res["secret"].(string)
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, res := call(t, "POST", api+"/account/factors/"+res["id"].(string)+"/verify", session, map[string]string{"code": code}); st != 200 {
		t.Fatalf("verify the authenticator app: %d %v", st, res)
	}

	u, _ := url.Parse(srv.url)
	known := map[string]string{"password": password}
	placeholder := regexp.MustCompile(`"(\w+)":"…"`)
	wantPair := regexp.MustCompile(`"\w+":(?:"[^"…]*"|true|false|-?\d+)`)
	for _, s := range steps {
		line := strings.ReplaceAll(s.line, "localhost:8080", u.Host)
		line = placeholder.ReplaceAllStringFunc(line, func(m string) string {
			field := placeholder.FindStringSubmatch(m)[1]
			v, ok := known[field]
			if !ok {
				t.Fatalf("README line %q: no value for %q yet", s.line, field)
			}
			return `"` + field + `":"` + v + `"`
		})
		if strings.Contains(line, "123456") {
			// The code the app shows next: the enrolment used this time step's.
			next, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			line = strings.ReplaceAll(line, "123456", next)
		}
		if strings.Contains(line, "…") {
			t.Fatalf("README line %q keeps a placeholder this test cannot fill", s.line)
		}
		cmd := exec.Command("sh", "-c", line)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SESSION_TOKEN=" + known["session_token"]}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("README line %q (%s): %v\n%s", s.line, curl, err, stderr.String())
		}
		out := strings.TrimSpace(stdout.String())
		var answer map[string]any
		if err := json.Unmarshal([]byte(out), &answer); err != nil {
			t.Fatalf("README line %q answered %q, not a JSON object", s.line, out)
		}
		for k, v := range answer {
			if v, ok := v.(string); ok {
				known[k] = v
			}
		}
		for _, pair := range wantPair.FindAllString(s.want, -1) {
			if !strings.Contains(out, pair) {
				t.Errorf("README line %q: the answer lacks %s, which the README shows:\n%s", s.line, pair, out)
			}
		}
	}
}

// TestDocsLinks: the README and docs/ stand alone in a clone: every relative
// link points at a file of the repository (issue 11, item 18).
func TestDocsLinks(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)#\s]+)(?:#[^)]*)?\)`)
	for _, doc := range []string{"../../README.md", "../../docs/configuration.md", "../../docs/api.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			path := filepath.Join(filepath.Dir(doc), target)
			if rel, err := filepath.Rel("../..", path); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links to %s, outside the repository", doc, target)
			} else if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to %s, which is not in the repository", doc, target)
			}
		}
	}
}
