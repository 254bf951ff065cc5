package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayers keeps the dependency direction of DESIGN.md §1: cmd/twostep →
// {web, oidc, verify, store, notify, loadgen} → twostep; adapters never import each
// other; the domain does no I/O.
func TestLayers(t *testing.T) {
	const mod = "github.com/twostep/twostep/"
	tests := []struct {
		pkg       string
		forbidden []string
	}{
		{"internal/twostep", []string{mod + "internal/store", mod + "internal/web", mod + "internal/sso", mod + "internal/notify", mod + "internal/oidc", mod + "internal/verify",
			mod + "cmd/", "database/sql", "net/http", "net/smtp", "os/exec"}},
		{"internal/store", []string{mod + "internal/web", mod + "internal/sso", mod + "internal/notify", mod + "internal/oidc", mod + "internal/verify", mod + "cmd/"}},
		{"internal/notify", []string{mod + "internal/store", mod + "internal/web", mod + "internal/sso", mod + "internal/oidc", mod + "internal/verify", mod + "cmd/"}},
		{"internal/web", []string{mod + "internal/store", mod + "internal/sso", mod + "internal/notify", mod + "internal/oidc", mod + "internal/verify", mod + "cmd/"}},
		{"internal/oidc", []string{mod + "internal/store", mod + "internal/sso", mod + "internal/notify", mod + "internal/web", mod + "internal/verify", mod + "cmd/"}},
		// The Verify API (Twilio's shape) speaks only the domain.
		{"internal/verify", []string{mod + "internal/store", mod + "internal/sso", mod + "internal/notify", mod + "internal/web", mod + "internal/oidc", mod + "cmd/"}},
		// WebAuthn ceremonies (go-webauthn imports net/http, so not in the
		// domain): they speak only the domain, and the test authenticator
		// only what a browser would.
		{"internal/passkey", []string{mod + "internal/store", mod + "internal/sso", mod + "internal/web", mod + "internal/notify", mod + "internal/oidc", mod + "internal/verify", mod + "internal/loadgen", mod + "cmd/"}},
		{"internal/passkey/softkey", []string{mod + "internal/twostep", mod + "internal/store", mod + "internal/web", mod + "cmd/"}},
		// The OIDC client of organisations' own providers (API.md §12) makes HTTP calls for the domain.
		{"internal/sso", []string{mod + "internal/store", mod + "internal/notify", mod + "internal/web", mod + "internal/oidc", mod + "internal/verify", mod + "internal/passkey", mod + "cmd/"}},
		// The shared test helpers serve the domain's tests and every adapter's:
		// they speak domain types only.
		{"internal/twosteptest", []string{mod + "internal/store", mod + "internal/web", mod + "internal/notify", mod + "internal/oidc", mod + "internal/verify", mod + "cmd/"}},
		// The load generator is a client of the server: it seeds through the
		// domain and speaks HTTP, and needs no adapter.
		{"internal/loadgen", []string{mod + "internal/store", mod + "internal/web", mod + "internal/notify", mod + "internal/oidc", mod + "cmd/"}},
	}
	for _, tc := range tests {
		out, err := exec.Command("go", "list", "-deps", "../../"+tc.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", tc.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range tc.forbidden {
				if dep == f || strings.HasPrefix(dep, f) && strings.HasSuffix(f, "/") || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s", tc.pkg, dep)
				}
			}
		}
	}
}
