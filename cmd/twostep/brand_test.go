package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/twosteptest"
)

// TestBrandSettingsRefused: a wrong brand setting stops the binary with one
// line that names the setting and says what it wants.
func TestBrandSettingsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"colour name", []string{"TWOSTEP_ACCENT_COLOR=blue"}, `TWOSTEP_ACCENT_COLOR="blue": must be a hexadecimal colour as #RRGGBB or #RGB, such as #0b57d0`},
		{"no hash", []string{"TWOSTEP_ACCENT_COLOR=0b57d0"}, `TWOSTEP_ACCENT_COLOR="0b57d0": must be a hexadecimal colour as #RRGGBB or #RGB`},
		{"not hex", []string{"TWOSTEP_ACCENT_COLOR=#12345z"}, `TWOSTEP_ACCENT_COLOR="#12345z": must be a hexadecimal colour`},
		{"logo url", []string{"TWOSTEP_LOGO_URL=javascript:alert(1)"}, `TWOSTEP_LOGO_URL="javascript:alert(1)": must be an https:// URL of an image`},
		{"product name", []string{"TWOSTEP_PRODUCT_NAME=" + strings.Repeat("x", 65)}, "TWOSTEP_PRODUCT_NAME=\"" + strings.Repeat("x", 65) + "\": must be 1 to 64 characters on one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range []string{"migrate", "serve"} {
				oneLineError(t, runCmd(t, t.TempDir(), tc.env, "", cmd), tc.want)
			}
		})
	}
	t.Run("logo file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "twostep-data"), 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "twostep-data", "logo.png"), []byte("<html>not a picture</html>"), 0o600)
		oneLineError(t, runCmd(t, dir, nil, "", "serve", "--listen", "127.0.0.1:0"), "twostep-data/logo.png: is not a png image")
	})
}

// TestBrandEverywhere runs the binary with a product name, an accent and a
// logo file in the data directory: the pages show them, and a message in the
// outbox names the product in its subject and text.
func TestBrandEverywhere(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "twostep-data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	logo := []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="4" height="4" fill="#fc0"/></svg>`)
	if err := os.WriteFile(filepath.Join(data, "logo.svg"), logo, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, dir, []string{"TWOSTEP_PRODUCT_NAME=Acme Files", "TWOSTEP_ACCENT_COLOR=#fc0"})
	setup := setupLink(t, srv)[1]
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	_, page := get(setup[len(srv.url):])
	for _, want := range []string{`<span class="product">Acme Files</span>`, "· Acme Files</title>", `<img class="logo" src="/static/logo?v=`} {
		if !strings.Contains(page, want) {
			t.Errorf("setup page lacks %q:\n%s", want, page)
		}
	}
	resp, body := get("/static/logo")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || body != string(logo) {
		t.Errorf("/static/logo: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if _, css := get("/static/brand.css"); !strings.Contains(css, "--brand: #ffcc00;") || !strings.Contains(css, "--brand-text: #000000;") {
		t.Errorf("brand.css:\n%s", css)
	}

	if r := runCmd(t, dir, nil, "owner's long passphrase\n", "org", "create", "--name", "Acme", "--owner", "ann@acme.example", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	r := runCmd(t, dir, nil, "correct horse battery staple\n", "user", "create", "--org", "acme", "--email", "joe@acme.example", "--password-stdin")
	if r.code != 0 {
		t.Fatalf("user create: %+v", r)
	}
	resp, err := http.Post(srv.url+"/api/v1/password-reset", "application/json", strings.NewReader(`{"email":"joe@acme.example"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var msgs []struct{ To, Subject, Text string }
	twosteptest.WaitFor(t, 10*time.Second, "the reset e-mail in the outbox", func() bool {
		_, body := get("/api/v1/dev/outbox")
		msgs = nil
		json.Unmarshal([]byte(body), &msgs)
		for _, m := range msgs {
			if m.To == "joe@acme.example" {
				return true
			}
		}
		return false
	})
	for _, m := range msgs {
		if m.To == "joe@acme.example" && (m.Subject != "Acme Files: Reset your password" || !strings.Contains(m.Text, "Acme Files")) {
			t.Errorf("reset e-mail: subject %q, text:\n%s", m.Subject, m.Text)
		}
	}
}
