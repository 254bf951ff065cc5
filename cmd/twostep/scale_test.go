package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/store/storetest"
)

// readmeBlock returns the first block of kind (```kind) in the README's
// section titled title.
func readmeBlock(t *testing.T, title, kind string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## "+title+"\n")
	if start < 0 {
		t.Fatalf("the README has no section %q", title)
	}
	section = section[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	begin := strings.Index(section, "```"+kind+"\n")
	if begin < 0 {
		t.Fatalf("the README's section %q has no %s block", title, kind)
	}
	block := section[begin+len("```"+kind+"\n"):]
	return block[:strings.Index(block, "```")]
}

// TestReadmeInstances runs the README's deployment of three instances on one
// PostgreSQL behind nginx (its nginx lines, with only the addresses replaced)
// and the load generator through it: every second step succeeds, each
// instance serves a share of them, and the shares add up to what the load
// generator counted, so none was answered twice or lost (RL-03: the throttles
// they count are the database's, whichever instance answers).
func TestReadmeInstances(t *testing.T) { // RL-03
	bin := nginx(t)
	dbURL := storetest.PostgresSchemaURL(t)
	dir := t.TempDir()
	// Without TWOSTEP_TRUSTED_PROXIES: nginx is on loopback here, and a
	// trusted proxy's address is never a loopback client, so the test could
	// not read each instance's /metrics.
	env := []string{"TWOSTEP_DATABASE_URL=" + dbURL, "TWOSTEP_SECRET_KEY_FILE=" + filepath.Join(dir, "secret.key")}
	csv := filepath.Join(dir, "load.csv")
	if r := runCmd(t, dir, env, "", "bench", "prepare", "--accounts", "60", "--out", csv); r.code != 0 {
		t.Fatalf("bench prepare: %+v", r)
	}
	var instances []*server
	conf := readmeBlock(t, "Many instances", "nginx")
	for i, addr := range []string{"10.0.0.11:8080", "10.0.0.12:8080", "10.0.0.13:8080"} {
		instances = append(instances, serve(t, dir, env))
		u, _ := url.Parse(instances[i].url)
		if !strings.Contains(conf, addr) {
			t.Fatalf("the README's nginx block has no %q to replace", addr)
		}
		conf = strings.ReplaceAll(conf, addr, u.Host)
	}
	port := freePort(t)
	if !strings.Contains(conf, "listen 80;") {
		t.Fatal("the README's nginx block has no \"listen 80;\" to replace")
	}
	conf = strings.ReplaceAll(conf, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port))
	startNginx(t, bin, port, conf)
	lb := fmt.Sprintf("http://127.0.0.1:%d", port)

	before := make([]float64, len(instances))
	for i, s := range instances {
		before[i] = routeCount(t, s.url, "/api/v1/sign-in/verify")
	}
	r := runCmd(t, dir, env, "", "bench", "run", "--url", lb, "--csv", csv, "--mode", "verify", "-c", "6", "-d", "2s")
	t.Logf("bench run through nginx:\n%s", r.stdout)
	if r.code != 0 || !strings.Contains(r.stdout, "\nerrors:      none\n") {
		t.Fatalf("bench run through nginx: %+v", r)
	}
	m := regexp.MustCompile(`statuses:    verify 200: (\d+)\n`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no second step succeeded through nginx:\n%s", r.stdout)
	}
	want, _ := strconv.ParseFloat(m[1], 64)
	total := 0.0
	for i, s := range instances {
		n := routeCount(t, s.url, "/api/v1/sign-in/verify") - before[i]
		t.Logf("instance %d answered %.0f second steps", i+1, n)
		if n == 0 {
			t.Errorf("instance %d answered no second step", i+1)
		}
		total += n
	}
	if total != want {
		t.Errorf("the instances answered %.0f second steps, the load generator counted %.0f", total, want)
	}
}

// routeCount reads from the server at base how many requests it served on route.
func routeCount(t *testing.T, base, route string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s/metrics: %s", base, resp.Status)
	}
	prefix := `twostep_http_request_seconds_count{route="` + route + `"} `
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	return 0
}

// TestReadmeBench runs the README's load generator commands (every sh block
// of "Load generator") with bash as they are, with only the sizes made small
// (200 accounts, 4 in flight, 1 s) and the ports free ones: each run exits 0
// and reports no error.
func TestReadmeBench(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Load generator\n")
	if start < 0 {
		t.Fatal("the README has no section \"Load generator\"")
	}
	section = section[start+1:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	var script strings.Builder
	runs := 0
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		script.WriteString(block[1])
		runs += strings.Count(block[1], "twostep bench run ")
	}
	if runs < 7 {
		t.Fatalf("%d bench run lines in the README's load generator section, want the second step, the reference and the new modes", runs)
	}
	s := script.String()
	for _, r := range [][2]string{{"--accounts 20000", "--accounts 200"}, {"-d 10s", "-d 1s"}, {"-c 32", "-c 4"},
		{"127.0.0.1:8080", fmt.Sprintf("127.0.0.1:%d", freePort(t))}, {"127.0.0.1:8081", fmt.Sprintf("127.0.0.1:%d", freePort(t))},
		{"auth.bench.test:8081", "auth.bench.test"}, {"127.0.0.1:8090", fmt.Sprintf("127.0.0.1:%d", freePort(t))}} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("the README's load generator commands have no %q to replace", r[0])
		}
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	dir := t.TempDir()
	cmd := exec.Command(bash, "-c", "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n"+s)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + filepath.Dir(binary) + ":" + os.Getenv("PATH"), "HOME=" + dir}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README's load generator commands: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("%s", stdout.String())
	if n := strings.Count(stdout.String(), "\nerrors:      none\n"); n != runs {
		t.Errorf("%d of %d runs reported no error:\n%s", n, runs, stdout.String())
	}
}
